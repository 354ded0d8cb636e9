//! Workers as the core keeps them: registration, signs of life, the index
//! of the longest silent, and what a worker holds (running tasks, map
//! output). Touches nothing but the workers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::core::error::CoreError;
use crate::core::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use crate::core::messages::WorkerKind;

/// One worker.
#[derive(Debug)]
pub struct Worker {
    /// Where it serves map output; `None` if it registered without one.
    address: Option<String>,
    /// What its registration shows it runs.
    kind: WorkerKind,
    alive: bool,
    last_seen: Instant,
    /// Tasks it is running.
    running: BTreeSet<TaskId>,
    /// Finished map tasks whose output it holds.
    map_outputs: BTreeSet<TaskId>,
    /// Jobs whose reduces wait for this worker to prove alive, because a
    /// reduce could not fetch from it.
    suspect_for: BTreeSet<JobId>,
    /// Tasks it finished (accepted reports).
    completed: u64,
    /// Every attempt handed to it, oldest first.
    ran: Vec<(TaskId, Attempt)>,
}

impl Worker {
    /// The address it registered with, if any.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Which apps it runs.
    pub fn kind(&self) -> WorkerKind {
        self.kind
    }

    /// Whether it has not been declared dead.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Its last sign of life.
    pub fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// The tasks it runs, in order.
    pub fn running(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.running.iter().copied()
    }

    /// Tasks it finished.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Every attempt handed to it, oldest first.
    pub fn ran(&self) -> &[(TaskId, Attempt)] {
        &self.ran
    }
}

/// What a worker held when it was declared dead.
#[derive(Debug)]
pub struct Remains {
    /// Tasks it was running.
    pub running: BTreeSet<TaskId>,
    /// Finished maps whose output it held.
    pub map_outputs: BTreeSet<TaskId>,
    /// Jobs whose reduces waited for it.
    pub suspect_for: BTreeSet<JobId>,
}

/// Every worker ever registered, by id, with the alive ones indexed by
/// last sign of life.
#[derive(Debug, Default)]
pub struct Workers {
    by_id: BTreeMap<WorkerId, Worker>,
    /// Alive workers by last sign of life, for finding the dead cheaply.
    by_last_seen: BTreeSet<(Instant, WorkerId)>,
    next_id: u32,
}

impl Workers {
    /// Registers a worker (an empty address counts as none). Ids start at 0
    /// and are never reused.
    pub fn register(&mut self, address: Option<String>, now: Instant) -> WorkerId {
        let id = WorkerId(self.next_id);
        self.next_id += 1;
        let address = address.filter(|a| !a.is_empty());
        self.by_id.insert(
            id,
            Worker {
                kind: WorkerKind::of_registration(address.as_deref()),
                address,
                alive: true,
                last_seen: now,
                running: BTreeSet::new(),
                map_outputs: BTreeSet::new(),
                suspect_for: BTreeSet::new(),
                completed: 0,
                ran: Vec::new(),
            },
        );
        self.by_last_seen.insert((now, id));
        id
    }

    /// Records a sign of life from `worker`; errors if it is unknown or
    /// dead. Returns the jobs it was suspect for, which it no longer is.
    ///
    /// A course worker ([`WorkerKind::CompiledIn`]) declared dead is taken
    /// back as a fresh worker under its id instead: it cannot register
    /// again (it exits on the error), and it holds nothing the core still
    /// counts on (its tasks and map output were given up when it died, so
    /// its reports of them are stale).
    pub fn touch(&mut self, worker: WorkerId, now: Instant) -> Result<BTreeSet<JobId>, CoreError> {
        let w = self
            .by_id
            .get_mut(&worker)
            .ok_or(CoreError::UnknownWorker(worker))?;
        if !w.alive {
            if w.kind != WorkerKind::CompiledIn {
                return Err(CoreError::WorkerDead(worker));
            }
            w.alive = true;
            w.last_seen = now;
            self.by_last_seen.insert((now, worker));
            return Ok(BTreeSet::new());
        }
        self.by_last_seen.remove(&(w.last_seen, worker));
        w.last_seen = w.last_seen.max(now);
        self.by_last_seen.insert((w.last_seen, worker));
        Ok(std::mem::take(&mut w.suspect_for))
    }

    /// When the longest-silent alive worker times out.
    pub fn next_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.by_last_seen.first().map(|(seen, _)| *seen + timeout)
    }

    /// The longest-silent alive worker, if it has timed out at `now`.
    pub fn first_timed_out(&self, timeout: Duration, now: Instant) -> Option<WorkerId> {
        let &(seen, worker) = self.by_last_seen.first()?;
        (seen + timeout <= now).then_some(worker)
    }

    /// Declares `worker` dead and hands back what it held; `None` if it is
    /// unknown or already dead.
    pub fn kill(&mut self, worker: WorkerId) -> Option<Remains> {
        let w = self.by_id.get_mut(&worker)?;
        if !w.alive {
            return None;
        }
        w.alive = false;
        self.by_last_seen.remove(&(w.last_seen, worker));
        Some(Remains {
            running: std::mem::take(&mut w.running),
            map_outputs: std::mem::take(&mut w.map_outputs),
            suspect_for: std::mem::take(&mut w.suspect_for),
        })
    }

    /// `worker` now runs `task`.
    pub fn start(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(w) = self.by_id.get_mut(&worker) {
            w.running.insert(task);
        }
    }

    /// Records that `worker` was handed `attempt` of `task`.
    pub fn record_run(&mut self, worker: WorkerId, task: TaskId, attempt: Attempt) {
        if let Some(w) = self.by_id.get_mut(&worker) {
            w.ran.push((task, attempt));
        }
    }

    /// `worker` no longer runs `task` (it failed, or its job ended).
    pub fn stop(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(w) = self.by_id.get_mut(&worker) {
            w.running.remove(&task);
        }
    }

    /// `worker` finished `task`; for a map, it now holds the output.
    pub fn finish(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(w) = self.by_id.get_mut(&worker) {
            w.running.remove(&task);
            w.completed += 1;
            if task.phase == Phase::Map {
                w.map_outputs.insert(task);
            }
        }
    }

    /// `worker` holds the output of map `task` (it said so when it
    /// registered).
    pub fn hold(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(w) = self.by_id.get_mut(&worker) {
            w.map_outputs.insert(task);
        }
    }

    /// Takes every task recorded as running on `worker`.
    pub fn take_running(&mut self, worker: WorkerId) -> BTreeSet<TaskId> {
        self.by_id
            .get_mut(&worker)
            .map(|w| std::mem::take(&mut w.running))
            .unwrap_or_default()
    }

    /// `job` ended: no worker holds its output or is suspect for it.
    pub fn forget_job(&mut self, job: JobId) {
        for w in self.by_id.values_mut() {
            w.suspect_for.remove(&job);
            w.map_outputs.retain(|t| t.job != job);
        }
    }

    /// A reduce of `job` could not fetch from `peer`: if `peer` is alive and
    /// holds some of the job's map output, it is suspect until it proves
    /// alive or dies. Whether it became suspect.
    pub fn suspect(&mut self, peer: WorkerId, job: JobId) -> bool {
        let Some(w) = self.by_id.get_mut(&peer) else {
            return false;
        };
        if !w.alive || !w.map_outputs.iter().any(|t| t.job == job) {
            return false;
        }
        w.suspect_for.insert(job);
        true
    }

    /// `worker`'s kind; errors if it is unknown.
    pub fn kind(&self, worker: WorkerId) -> Result<WorkerKind, CoreError> {
        self.by_id
            .get(&worker)
            .map(Worker::kind)
            .ok_or(CoreError::UnknownWorker(worker))
    }

    /// One worker.
    pub fn get(&self, worker: WorkerId) -> Option<&Worker> {
        self.by_id.get(&worker)
    }

    /// Every worker, by id.
    pub fn iter(&self) -> impl Iterator<Item = (WorkerId, &Worker)> + '_ {
        self.by_id.iter().map(|(&id, w)| (id, w))
    }
}
