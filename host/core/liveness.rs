//! Workers: registration, signs of life, and what happens when one dies.

use std::collections::BTreeSet;
use std::time::Instant;

use super::ids::{JobId, Phase, TaskId, WorkerId};
use super::job::{JobState, TaskState};
use super::scheduler::{Event, Scheduler};
use super::CoreError;

/// A worker as the core keeps it.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Where it serves map output; `None` for an older build.
    pub address: Option<String>,
    pub alive: bool,
    pub last_seen: Instant,
    /// Tasks it is running.
    pub running: BTreeSet<TaskId>,
    /// Finished map tasks whose output it holds.
    pub map_outputs: BTreeSet<TaskId>,
    /// Jobs whose reduces wait for this worker to prove alive, because a
    /// reduce could not fetch from it.
    pub suspect_for: BTreeSet<JobId>,
    /// Tasks it finished (accepted reports).
    pub completed: u64,
}

impl Scheduler {
    /// Registers a worker serving on `address` (`None`: an older build,
    /// reached at the legacy port). Ids start at 0 and are never reused.
    pub fn register_worker(&mut self, address: Option<String>, now: Instant) -> WorkerId {
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        self.workers.insert(
            id,
            Worker {
                address: address.filter(|a| !a.is_empty()),
                alive: true,
                last_seen: now,
                running: BTreeSet::new(),
                map_outputs: BTreeSet::new(),
                suspect_for: BTreeSet::new(),
                completed: 0,
            },
        );
        self.last_seen.insert((now, id));
        id
    }

    /// Records a heartbeat.
    pub fn heartbeat(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        self.touch(worker, now)
    }

    /// Records a sign of life from `worker`; errors if it is unknown or dead.
    pub(crate) fn touch(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        let w = self
            .workers
            .get_mut(&worker)
            .ok_or(CoreError::UnknownWorker(worker))?;
        if !w.alive {
            return Err(CoreError::WorkerDead(worker));
        }
        self.last_seen.remove(&(w.last_seen, worker));
        w.last_seen = w.last_seen.max(now);
        self.last_seen.insert((w.last_seen, worker));
        let cleared = std::mem::take(&mut w.suspect_for);
        for job in cleared {
            if let Some(j) = self.jobs.get_mut(&job) {
                j.blocked_on.remove(&worker);
            }
            self.open_reduces_if_ready(job);
        }
        Ok(())
    }

    /// When the core next needs [`Scheduler::tick`]: the moment the
    /// longest-silent alive worker times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.last_seen
            .first()
            .map(|(seen, _)| *seen + self.config.worker_timeout)
    }

    /// Declares dead every worker silent for the timeout at `now`.
    pub fn tick(&mut self, now: Instant) {
        while let Some(&(seen, worker)) = self.last_seen.first() {
            if seen + self.config.worker_timeout > now {
                break;
            }
            self.declare_dead(worker, now);
        }
    }

    /// Marks `worker` dead: its running tasks and the map output it held
    /// become available again.
    pub(crate) fn declare_dead(&mut self, worker: WorkerId, now: Instant) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        if !w.alive {
            return;
        }
        w.alive = false;
        self.last_seen.remove(&(w.last_seen, worker));
        let running = std::mem::take(&mut w.running);
        let outputs = std::mem::take(&mut w.map_outputs);
        let suspect_for = std::mem::take(&mut w.suspect_for);
        self.events.push_back(Event::WorkerDied(worker));

        let mut affected: BTreeSet<JobId> = suspect_for;
        for task in running {
            affected.insert(task.job);
            self.lose_running_task(task, worker, now);
        }
        for task in outputs {
            affected.insert(task.job);
            self.lose_map_output(task, worker);
        }
        for job in affected {
            if let Some(j) = self.jobs.get_mut(&job) {
                j.blocked_on.remove(&worker);
            }
            self.open_reduces_if_ready(job);
        }
    }

    /// A task running on a dead worker: pending again, or its job fails once
    /// the task has been lost too often.
    fn lose_running_task(&mut self, task: TaskId, worker: WorkerId, now: Instant) {
        let max = self.config.max_task_attempts;
        let Some(job) = self.jobs.get_mut(&task.job) else {
            return;
        };
        if job.state.is_ended() {
            return;
        }
        let describe = job.describe(task.phase, task.index);
        let Some(t) = job.task_mut(task.phase, task.index) else {
            return;
        };
        if !matches!(t.state, TaskState::Running { worker: w, .. } if w == worker) {
            return;
        }
        t.state = TaskState::Pending;
        t.lost += 1;
        let lost = t.lost;
        job.counters.task_failures += 1;
        if lost >= max {
            job.errors.push(format!(
                "{describe} was lost with its worker {lost} times (last on worker {worker}); \
                 the task may be crashing its worker"
            ));
            self.end_job(task.job, JobState::Failed, now);
            return;
        }
        if task.phase == Phase::Map || job.reduces_open() {
            self.available.insert(task);
        }
    }

    /// A finished map whose output lived on a dead worker: run it again
    /// while its job still needs it.
    fn lose_map_output(&mut self, task: TaskId, worker: WorkerId) {
        let Some(job) = self.jobs.get_mut(&task.job) else {
            return;
        };
        if job.state.is_ended() {
            return;
        }
        let Some(t) = job.task_mut(task.phase, task.index) else {
            return;
        };
        if !matches!(t.state, TaskState::Done { worker: w, .. } if w == worker) {
            return;
        }
        t.state = TaskState::Pending;
        job.maps_done -= 1;
        self.close_reduces(task.job);
        self.available.insert(task);
    }
}
