//! Property-style check with faults: random interleavings of submissions,
//! requests, completions, retryable and fatal failures (some naming an
//! unreachable peer), heartbeats, worker deaths and new registrations. A
//! model kept from the core's answers predicts every assignment (task,
//! attempt, map locations), every event, and every job's state, progress,
//! errors and attempt/failure counters.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::core::{Phase, PhaseProgress};

const MAX: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Pending,
    Running(WorkerId, u32),
    Done(WorkerId, u32),
}

#[derive(Debug, Clone)]
struct Task {
    slot: Slot,
    attempts: u32,
    lost: u32,
    retries: u32,
}

struct Job {
    id: JobId,
    spec: JobSpec,
    tasks: Vec<(TaskId, Task)>,
    state: JobState,
    blocked: BTreeSet<WorkerId>,
    fetch_failures: BTreeMap<WorkerId, u32>,
    touched: BTreeSet<WorkerId>,
    errors: Vec<String>,
    failures: u64,
}

impl Job {
    fn task(&mut self, id: TaskId) -> &mut Task {
        &mut self.tasks.iter_mut().find(|(t, _)| *t == id).unwrap().1
    }

    fn phase(&self, phase: Phase) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(move |(t, _)| t.phase == phase)
            .map(|(_, t)| t)
    }

    /// Every map output held by `worker` is lost (the core forgets the
    /// fetch failures against a worker once it lost some output).
    fn lose_outputs_of(&mut self, worker: WorkerId) {
        for (id, t) in &mut self.tasks {
            if id.phase == Phase::Map && matches!(t.slot, Slot::Done(w, _) if w == worker) {
                t.slot = Slot::Pending;
                self.fetch_failures.remove(&worker);
            }
        }
    }

    fn maps_done(&self) -> bool {
        self.phase(Phase::Map)
            .all(|t| matches!(t.slot, Slot::Done(..)))
    }

    fn available(&self) -> impl Iterator<Item = TaskId> + '_ {
        let open = !self.state.is_ended();
        let reduces_open = open && self.maps_done() && self.blocked.is_empty();
        self.tasks
            .iter()
            .filter(move |(id, t)| {
                t.slot == Slot::Pending && (id.phase == Phase::Map && open || reduces_open)
            })
            .map(|(id, _)| *id)
    }

    fn progress(&self, phase: Phase) -> PhaseProgress {
        let count = |f: fn(&Slot) -> bool| self.phase(phase).filter(|t| f(&t.slot)).count() as u32;
        PhaseProgress {
            total: count(|_| true),
            done: count(|s| matches!(s, Slot::Done(..))),
            // An ended job runs nothing, whatever its workers still do.
            running: if self.state.is_ended() {
                0
            } else {
                count(|s| matches!(s, Slot::Running(..)))
            },
        }
    }

    fn describe(&self, id: TaskId) -> String {
        match id.phase {
            Phase::Map => format!("map task {} (input f{})", id.index, id.index),
            Phase::Reduce => format!("reduce task {}", id.index),
        }
    }
}

struct Sim {
    s: Scheduler,
    now: Instant,
    alive: BTreeSet<WorkerId>,
    jobs: Vec<Job>,
    running: Vec<(WorkerId, Assignment)>,
    events: Vec<Event>,
}

impl Sim {
    fn touch(&mut self, w: WorkerId) {
        for j in &mut self.jobs {
            j.blocked.remove(&w);
        }
    }

    fn end(&mut self, job: usize, state: JobState) {
        let j = &mut self.jobs[job];
        j.state = state;
        j.blocked.clear();
        let workers = j
            .touched
            .iter()
            .filter(|w| self.alive.contains(w))
            .map(|&w| (w, at(w)))
            .collect();
        self.events.push(Event::JobEnded { job: j.id, workers });
    }

    fn register(&mut self) {
        let w = register1(&mut self.s, self.now);
        self.alive.insert(w);
    }

    fn submit(&mut self, n_map: u32, n_reduce: u32) {
        let id = submit(&mut self.s, n_map, n_reduce, self.now);
        assert_eq!(id, JobId(self.jobs.len() as u32));
        let fresh = || Task {
            slot: Slot::Pending,
            attempts: 0,
            lost: 0,
            retries: 0,
        };
        let maps = (0..n_map).map(|i| (m(id.0, i), fresh()));
        let reduces = (0..n_reduce).map(|i| (r(id.0, i), fresh()));
        self.jobs.push(Job {
            id,
            spec: spec(n_map, n_reduce),
            tasks: maps.chain(reduces).collect(),
            state: JobState::Queued,
            blocked: BTreeSet::new(),
            fetch_failures: BTreeMap::new(),
            touched: BTreeSet::new(),
            errors: Vec::new(),
            failures: 0,
        });
    }

    fn ask(&mut self, w: WorkerId) {
        self.touch(w);
        let expected = self.jobs.iter().flat_map(Job::available).min();
        let got = ask(&mut self.s, w, self.now);
        assert_eq!(got.as_ref().map(|a| a.task), expected);
        let Some(a) = got else { return };
        let j = &mut self.jobs[a.task.job.0 as usize];
        let locs = match a.task.phase {
            Phase::Map => vec![],
            Phase::Reduce => j
                .phase(Phase::Map)
                .enumerate()
                .map(|(i, t)| match t.slot {
                    Slot::Done(h, att) => loc(i as u32, att, h),
                    other => panic!("reduce before map {i} is done: {other:?}"),
                })
                .collect(),
        };
        let t = j.task(a.task);
        t.attempts += 1;
        t.slot = Slot::Running(w, t.attempts);
        let attempt = t.attempts;
        assert_eq!(a, assignment(j.spec.clone(), a.task, attempt, locs));
        j.state = JobState::Running;
        if a.task.phase == Phase::Map {
            j.touched.insert(w);
        }
        self.running.push((w, a));
    }

    /// The worker of `running[k]` reports it finished, or failed with
    /// `failure`; the report is stale if its job ended.
    fn report(&mut self, k: usize, failure: Option<Failure>) {
        let (w, a) = self.running.remove(k);
        self.touch(w);
        let job = a.task.job.0 as usize;
        let stale = self.jobs[job].state.is_ended();
        let outcome = match &failure {
            None => finish(&mut self.s, w, &a, self.now),
            Some(f) => fail(&mut self.s, w, &a, f.clone(), self.now),
        };
        let expected = if stale {
            ReportOutcome::Ignored
        } else {
            ReportOutcome::Accepted
        };
        assert_eq!(outcome, expected);
        if stale {
            return;
        }
        let j = &mut self.jobs[job];
        let describe = j.describe(a.task);
        assert_eq!(j.task(a.task).slot, Slot::Running(w, a.attempt.0));
        let Some(f) = failure else {
            j.task(a.task).slot = Slot::Done(w, a.attempt.0);
            if j.phase(Phase::Reduce)
                .all(|t| matches!(t.slot, Slot::Done(..)))
            {
                self.end(job, JobState::Succeeded);
            }
            return;
        };
        j.failures += 1;
        let t = j.task(a.task);
        t.slot = Slot::Pending;
        if !f.retry {
            j.errors.push(format!("{describe} failed: {}", f.error));
            return self.end(job, JobState::Failed);
        }
        if let Some(peer) = f.unreachable {
            // The peer's fault: not held against the task; after MAX such
            // failures the peer's map output of the job is taken for lost.
            let n = j.fetch_failures.entry(peer).or_insert(0);
            *n += 1;
            if *n >= MAX {
                j.blocked.remove(&peer);
                j.lose_outputs_of(peer);
                return;
            }
            let holds = j
                .phase(Phase::Map)
                .any(|t| matches!(t.slot, Slot::Done(h, _) if h == peer));
            if self.alive.contains(&peer) && holds {
                j.blocked.insert(peer);
            }
            return;
        }
        t.retries += 1;
        if t.retries >= MAX {
            let n = t.retries;
            j.errors.push(format!(
                "{describe} failed {n} times; the last error: {}",
                f.error
            ));
            self.end(job, JobState::Failed);
        }
    }

    /// `victim` falls silent; every other alive worker heartbeats.
    fn kill(&mut self, victim: WorkerId) {
        self.now += TIMEOUT;
        let survivors: Vec<WorkerId> = self
            .alive
            .iter()
            .copied()
            .filter(|&w| w != victim)
            .collect();
        for &w in &survivors {
            self.s.heartbeat(w, self.now).unwrap();
            self.touch(w);
        }
        self.s.tick(self.now);
        self.alive.remove(&victim);
        self.running.retain(|(w, _)| *w != victim);
        self.events.push(Event::WorkerDied(victim));
        for j in &mut self.jobs {
            for (_, t) in &mut j.tasks {
                if j.state.is_ended() || !matches!(t.slot, Slot::Running(w, _) if w == victim) {
                    continue;
                }
                // Lost without evidence: re-run, never held against it.
                t.slot = Slot::Pending;
                t.lost += 1;
                j.failures += 1;
            }
        }
        for j in &mut self.jobs {
            j.blocked.remove(&victim);
            if j.state.is_ended() {
                continue;
            }
            // Its map output is lost; its finished reduces stay done.
            j.lose_outputs_of(victim);
        }
    }

    fn check(&mut self) {
        assert_eq!(events(&mut self.s), std::mem::take(&mut self.events));
        let mut running: Vec<(WorkerId, TaskId, Attempt)> = Vec::new();
        for j in self.jobs.iter().filter(|j| !j.state.is_ended()) {
            for (id, t) in &j.tasks {
                if let Slot::Running(w, a) = t.slot {
                    running.push((w, *id, Attempt(a)));
                }
            }
        }
        running.sort();
        let mut got: Vec<(WorkerId, TaskId, Attempt)> = Vec::new();
        for ws in self.s.worker_statuses(self.now) {
            let dead = ws.state == crate::core::WorkerState::Dead;
            assert_eq!(dead, !self.alive.contains(&ws.id), "{:?}", ws.id);
            got.extend(ws.running.iter().map(|&(t, a)| (ws.id, t, a)));
        }
        assert_eq!(got, running, "running tasks");
        for j in &self.jobs {
            let st = self.s.job_status(j.id).unwrap();
            assert_eq!(st.state, j.state, "{:?}", j.id);
            assert_eq!(st.maps, j.progress(Phase::Map), "{:?}", j.id);
            assert_eq!(st.reduces, j.progress(Phase::Reduce), "{:?}", j.id);
            assert_eq!(st.errors, j.errors, "{:?}", j.id);
            let attempts: u32 = j.tasks.iter().map(|(_, t)| t.attempts).sum();
            assert_eq!(st.counters.task_attempts, attempts as u64, "{:?}", j.id);
            assert_eq!(st.counters.task_failures, j.failures, "{:?}", j.id);
        }
    }
}

fn run_seed(seed: u64) {
    let t0 = Instant::now();
    let mut rng = Rng::new(seed);
    let mut sim = Sim {
        s: new_sched(),
        now: t0,
        alive: BTreeSet::new(),
        jobs: Vec::new(),
        running: Vec::new(),
        events: Vec::new(),
    };
    let n_jobs = 2 + rng.below(3);
    sim.register();
    sim.register();
    let mut step = 0u64;
    loop {
        step += 1;
        assert!(step < 20_000, "seed {seed}: no progress");
        sim.now += ms(1);
        let calm = step > 300;
        let all_ended =
            sim.jobs.len() as u64 == n_jobs && sim.jobs.iter().all(|j| j.state.is_ended());
        if all_ended && calm {
            break;
        }
        if sim.alive.is_empty() {
            sim.register();
        }
        let n_workers = sim.s.worker_statuses(sim.now).len() as u64;
        let alive: Vec<WorkerId> = sim.alive.iter().copied().collect();
        let any_worker = alive[rng.below(alive.len() as u64) as usize];
        let n_running = sim.running.len() as u64;
        let roll = rng.below(if calm { 12 } else { 24 });
        match roll {
            0 | 1 if (sim.jobs.len() as u64) < n_jobs => {
                sim.submit(1 + rng.below(3) as u32, 1 + rng.below(3) as u32);
            }
            2..=6 if n_running > 0 => sim.report(rng.below(n_running) as usize, None),
            12..=14 if n_running > 0 => {
                let k = rng.below(n_running) as usize;
                let peer = match rng.below(3) {
                    0 => None,
                    _ => Some(WorkerId(rng.below(n_workers) as u32)),
                };
                let f = failure(&format!("flaky at step {step}"), true, peer);
                sim.report(k, Some(f));
            }
            15 if n_running > 0 && rng.below(4) == 0 => {
                let k = rng.below(n_running) as usize;
                sim.report(k, Some(failure("fatal", false, None)));
            }
            16 | 17 => sim.kill(any_worker),
            18 if n_workers < 8 => sim.register(),
            19 => {
                sim.s.heartbeat(any_worker, sim.now).unwrap();
                sim.touch(any_worker);
            }
            _ => sim.ask(any_worker),
        }
        sim.check();
    }
    for j in &sim.jobs {
        if j.state == JobState::Succeeded {
            // Every reduce is done (a map whose output was lost after the
            // reduces fetched it may have been left to rerun).
            let done = j
                .phase(Phase::Reduce)
                .all(|t| matches!(t.slot, Slot::Done(..)));
            assert!(done, "seed {seed}");
        }
        for (_, t) in &j.tasks {
            assert!(t.retries <= MAX, "seed {seed}");
        }
    }
}

#[test]
fn random_faults_keep_the_rules() {
    for seed in 0..200 {
        run_seed(seed);
    }
}
