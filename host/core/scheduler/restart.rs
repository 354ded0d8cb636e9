//! Restart in the façade: rebuilding a core from the durable store
//! ([`Scheduler::restore_job`], [`Scheduler::reserve_job_ids`]) and taking
//! over the map output registering workers still hold
//! ([`Scheduler::register_worker_holding`], [`Scheduler::adopt_outputs`],
//! [`Scheduler::register_and_adopt`]).

use std::collections::BTreeSet;
use std::time::Instant;

use super::Scheduler;
use crate::core::error::CoreError;
use crate::core::ids::{Attempt, JobId, TaskId, WorkerId};
use crate::core::messages::{HeldOutput, RestoredJob, WorkerKind};
use crate::core::state::{Job, JobState, TaskState};

impl Scheduler {
    /// Puts back a job the durable store recorded (a coordinator restart;
    /// see [`Job::restore`] for what it keeps). An unfinished job's pending
    /// maps become available at once; one whose every reduce had finished
    /// but whose end was not recorded succeeds now (the caller commits it).
    /// Returns the job's state.
    pub fn restore_job(&mut self, job: RestoredJob, now: Instant) -> Result<JobState, CoreError> {
        let job = self.jobs.restore(Job::restore(job))?;
        let id = job.id();
        if job.state().is_ended() {
            return Ok(job.state());
        }
        if job.all_reduces_done() {
            self.end_job(id, JobState::Succeeded, now);
            return Ok(JobState::Succeeded);
        }
        let pending: Vec<_> = job
            .map_ids()
            .filter(|&t| job.task(t).is_ok_and(|t| t.state() == TaskState::Pending))
            .collect();
        self.available.extend(pending);
        Ok(job.state())
    }

    /// Job ids handed out from now on are at least `next` (the store's
    /// record of the next id: ids are never reused, even of forgotten jobs).
    pub fn reserve_job_ids(&mut self, next: JobId) {
        self.jobs.reserve_ids(next.0);
    }

    /// Registers a worker (as [`register_worker`](Self::register_worker))
    /// that says it holds `held` map outputs: each output of a pending map
    /// of an unfinished job is adopted (the map is done, held by this
    /// worker) unless the store recorded another attempt of that map as
    /// the one that finished. Returns the worker's id and the outputs
    /// adopted; the worker may drop the others.
    pub fn register_worker_holding(
        &mut self,
        address: Option<String>,
        held: &[HeldOutput],
        now: Instant,
    ) -> (WorkerId, Vec<HeldOutput>) {
        let kind = WorkerKind::of_registration(address.as_deref());
        let worker = self.workers.register(address, now);
        let mut adopted = Vec::new();
        for &h in held {
            let Ok(job) = self.jobs.get_mut(h.job) else {
                continue;
            };
            // Bound first: binding a job that keeps nothing changes nothing.
            if !job.may_run_on(kind) {
                continue;
            }
            job.bind(kind);
            if !job.adopt(h.map, h.attempt, worker) {
                continue;
            }
            let task = TaskId::map(h.job, h.map);
            self.available.remove(task);
            self.workers.hold(worker, task);
            self.available.open_reduces(job);
            adopted.push(h);
        }
        (worker, adopted)
    }

    /// Registers a worker that offers the map outputs `held` (made under
    /// this coordinator's job state): first those a restored job still
    /// needs ([`Scheduler::register_worker_holding`]), then those a
    /// predecessor on the same machine made and left behind
    /// ([`Scheduler::adopt_outputs`]). Returns its id and every output
    /// taken over; the worker may drop the rest.
    pub fn register_and_adopt(
        &mut self,
        address: Option<String>,
        held: &[HeldOutput],
        now: Instant,
    ) -> (WorkerId, Vec<HeldOutput>) {
        let (worker, mut adopted) = self.register_worker_holding(address, held, now);
        let rest: Vec<(TaskId, Attempt)> = held
            .iter()
            .filter(|h| !adopted.contains(h))
            .map(|h| (TaskId::map(h.job, h.map), h.attempt))
            .collect();
        let moved = self.adopt_outputs(worker, &rest, now).unwrap_or_default();
        adopted.extend(
            rest.iter()
                .filter(|(t, _)| moved.contains(t))
                .map(|&(t, attempt)| HeldOutput {
                    job: t.job,
                    map: t.index,
                    attempt,
                }),
        );
        (worker, adopted)
    }

    /// `worker` (just registered) holds map outputs a predecessor on its
    /// machine left in their shared `--work-dir`, as `(map task, attempt)`:
    /// each such map that is pending (its output was lost) or done with
    /// that attempt on another worker becomes done on `worker`, and every
    /// predecessor so found is declared dead at once (it held the folder's
    /// lock, which `worker` now holds). Returns the maps adopted.
    pub fn adopt_outputs(
        &mut self,
        worker: WorkerId,
        held: &[(TaskId, Attempt)],
        now: Instant,
    ) -> Result<Vec<TaskId>, CoreError> {
        self.touch(worker, now)?;
        let kind = self.workers.kind(worker)?;
        let mut adopted = Vec::new();
        let mut predecessors = BTreeSet::new();
        for &(task, attempt) in held {
            let Ok(job) = self.jobs.get_mut(task.job) else {
                continue;
            };
            if !job.may_run_on(kind) {
                continue;
            }
            job.bind(kind);
            let Some(from) = job.adopt_output(task, attempt, worker) else {
                continue;
            };
            self.available.remove(task);
            self.available.open_reduces(job);
            self.workers.finish(worker, task);
            predecessors.extend(from.filter(|&w| w != worker));
            adopted.push(task);
        }
        for old in predecessors {
            self.declare_dead(old, now);
        }
        Ok(adopted)
    }
}
