//! Property-style check of the scheduling rules: for many random
//! interleavings of submissions, requests and completions across several
//! workers, the core is compared after every step with a model the test
//! keeps from the assignments it returned.

use std::collections::BTreeMap;

use super::*;
use crate::core::{Phase, PhaseProgress};

/// Where a task stands, as the test sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Pending,
    Running(WorkerId),
    Done(WorkerId),
}

/// A submitted job, as the test sees it.
struct ModelJob {
    id: JobId,
    spec: JobSpec,
    maps: Vec<Slot>,
    reduces: Vec<Slot>,
}

impl ModelJob {
    fn slots(&self, phase: Phase) -> &[Slot] {
        match phase {
            Phase::Map => &self.maps,
            Phase::Reduce => &self.reduces,
        }
    }

    fn slot_mut(&mut self, task: TaskId) -> &mut Slot {
        match task.phase {
            Phase::Map => &mut self.maps[task.index as usize],
            Phase::Reduce => &mut self.reduces[task.index as usize],
        }
    }

    fn maps_done(&self) -> bool {
        self.maps.iter().all(|s| matches!(s, Slot::Done(_)))
    }

    fn succeeded(&self) -> bool {
        self.reduces.iter().all(|s| matches!(s, Slot::Done(_)))
    }

    /// Tasks that may be handed out now, by the rules.
    fn available(&self) -> impl Iterator<Item = TaskId> + '_ {
        let maps = self
            .maps
            .iter()
            .enumerate()
            .map(|(i, s)| (m(self.id.0, i as u32), s));
        let reduces_open = self.maps_done();
        let reduces = self
            .reduces
            .iter()
            .enumerate()
            .filter(move |_| reduces_open)
            .map(|(i, s)| (r(self.id.0, i as u32), s));
        maps.chain(reduces)
            .filter(|(_, s)| **s == Slot::Pending)
            .map(|(t, _)| t)
    }

    fn progress(&self, phase: Phase) -> PhaseProgress {
        let slots = self.slots(phase);
        PhaseProgress {
            total: slots.len() as u32,
            done: slots.iter().filter(|s| matches!(s, Slot::Done(_))).count() as u32,
            running: slots
                .iter()
                .filter(|s| matches!(s, Slot::Running(_)))
                .count() as u32,
        }
    }

    fn expected_state(&self) -> JobState {
        let untouched = |s: &Slot| *s == Slot::Pending;
        if self.succeeded() {
            JobState::Succeeded
        } else if self.maps.iter().all(untouched) && self.reduces.iter().all(untouched) {
            JobState::Queued
        } else {
            JobState::Running
        }
    }
}

struct World {
    s: Scheduler,
    now: Instant,
    workers: Vec<WorkerId>,
    to_submit: Vec<JobSpec>,
    jobs: Vec<ModelJob>,
    /// Assignments being run, by worker.
    running: Vec<(WorkerId, Assignment)>,
    /// How many times each task was handed out.
    handed: BTreeMap<TaskId, u32>,
}

impl World {
    fn model_available(&self) -> Option<TaskId> {
        self.jobs.iter().flat_map(ModelJob::available).min()
    }

    fn submit(&mut self) {
        let spec = self.to_submit.remove(0);
        let id = self.s.submit(spec.clone(), self.now).expect("valid spec");
        assert_eq!(id, JobId(self.jobs.len() as u32), "job ids in a row from 0");
        self.jobs.push(ModelJob {
            id,
            maps: vec![Slot::Pending; spec.files.len()],
            reduces: vec![Slot::Pending; spec.n_reduce as usize],
            spec,
        });
    }

    fn ask(&mut self, w: WorkerId) {
        let expected = self.model_available();
        let got = ask(&mut self.s, w, self.now);
        assert_eq!(
            got.as_ref().map(|a| a.task),
            expected,
            "the minimum available task"
        );
        let Some(a) = got else { return };
        let job = &mut self.jobs[a.task.job.0 as usize];
        let locations = match a.task.phase {
            Phase::Map => vec![],
            Phase::Reduce => {
                assert!(job.maps_done(), "reduce {:?} before its maps", a.task);
                job.maps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| match s {
                        Slot::Done(holder) => loc(i as u32, 1, *holder),
                        other => panic!("map {i} is {other:?}"),
                    })
                    .collect()
            }
        };
        assert_eq!(a, assignment(job.spec.clone(), a.task, 1, locations));
        let slot = job.slot_mut(a.task);
        assert_eq!(*slot, Slot::Pending, "{:?} handed out twice", a.task);
        *slot = Slot::Running(w);
        *self.handed.entry(a.task).or_default() += 1;
        self.running.push((w, a));
    }

    fn finish(&mut self, k: usize) {
        let (w, a) = self.running.remove(k);
        assert_eq!(
            finish(&mut self.s, w, &a, self.now),
            ReportOutcome::Accepted
        );
        let slot = self.jobs[a.task.job.0 as usize].slot_mut(a.task);
        assert_eq!(*slot, Slot::Running(w));
        *slot = Slot::Done(w);
        // A second report on the same attempt changes nothing.
        assert_eq!(finish(&mut self.s, w, &a, self.now), ReportOutcome::Ignored);
    }

    /// Compares the core with the model.
    fn check(&self) {
        // No task runs on two workers, and each runs where the model says.
        let mut seen: BTreeMap<TaskId, WorkerId> = BTreeMap::new();
        for ws in self.s.worker_statuses(self.now) {
            for (task, attempt) in ws.running {
                assert_eq!(attempt, Attempt(1));
                if let Some(other) = seen.insert(task, ws.id) {
                    panic!("{task:?} runs on {other:?} and {:?}", ws.id);
                }
            }
        }
        let mut expected: BTreeMap<TaskId, WorkerId> = BTreeMap::new();
        for (w, a) in &self.running {
            expected.insert(a.task, *w);
        }
        assert_eq!(seen, expected);

        for job in &self.jobs {
            let st = self.s.job_status(job.id).expect("known job");
            assert_eq!(st.state, job.expected_state(), "{:?}", job.id);
            assert_eq!(st.maps, job.progress(Phase::Map), "{:?}", job.id);
            assert_eq!(st.reduces, job.progress(Phase::Reduce), "{:?}", job.id);
        }
        assert_eq!(
            self.s.has_available_task(),
            self.model_available().is_some()
        );
    }
}

fn random_specs(rng: &mut Rng) -> Vec<JobSpec> {
    let n_jobs = 1 + rng.below(4);
    (0..n_jobs)
        .map(|_| spec(1 + rng.below(4) as u32, 1 + rng.below(3) as u32))
        .collect()
}

fn run_seed(seed: u64) {
    let t0 = Instant::now();
    let mut rng = Rng::new(seed);
    let mut s = new_sched();
    let n_workers = 1 + rng.below(4) as usize;
    let workers = register(&mut s, n_workers, t0);
    let mut world = World {
        s,
        now: t0,
        workers,
        to_submit: random_specs(&mut rng),
        jobs: Vec::new(),
        running: Vec::new(),
        handed: BTreeMap::new(),
    };

    let mut steps = 0;
    loop {
        let all_done = world.to_submit.is_empty()
            && world.running.is_empty()
            && world.model_available().is_none();
        if all_done {
            break;
        }
        steps += 1;
        assert!(steps < 10_000, "seed {seed}: no progress");
        // Time moves, but stays well within the worker timeout.
        world.now = t0 + ms(steps);
        match rng.below(6) {
            0 if !world.to_submit.is_empty() => world.submit(),
            1 | 2 if !world.running.is_empty() => {
                let k = rng.below(world.running.len() as u64) as usize;
                world.finish(k);
            }
            _ => {
                let w = world.workers[rng.below(n_workers as u64) as usize];
                world.ask(w);
            }
        }
        world.check();
    }

    // Every job succeeded, each task handed out exactly once.
    let mut expected_handed = BTreeMap::new();
    for job in &world.jobs {
        let st = world.s.job_status(job.id).expect("known job");
        assert_eq!(st.state, JobState::Succeeded, "seed {seed}, {:?}", job.id);
        let total = job.maps.len() + job.reduces.len();
        assert_eq!(st.counters.task_attempts, total as u64);
        assert_eq!(st.counters.task_failures, 0);
        for i in 0..job.maps.len() as u32 {
            expected_handed.insert(m(job.id.0, i), 1);
        }
        for i in 0..job.reduces.len() as u32 {
            expected_handed.insert(r(job.id.0, i), 1);
        }
    }
    assert_eq!(world.handed, expected_handed, "seed {seed}");
    for &w in &world.workers.clone() {
        assert_eq!(ask(&mut world.s, w, world.now), None);
    }
}

#[test]
fn random_interleavings_keep_fifo_order_and_exclusivity() {
    for seed in 0..200 {
        run_seed(seed);
    }
}

#[test]
fn the_prng_is_deterministic_and_varied() {
    let draw = |seed| {
        let mut rng = Rng::new(seed);
        (0..8).map(|_| rng.below(100)).collect::<Vec<_>>()
    };
    assert_eq!(draw(0), draw(0));
    assert_ne!(draw(0), draw(1));
    assert_ne!(draw(0), vec![0; 8]);
}
