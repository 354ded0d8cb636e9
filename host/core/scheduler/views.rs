//! Outputs and views of the façade: the queues the caller drains
//! (`poll_*`) and the read-only status of jobs, tasks and workers, built by
//! [`crate::core::status`].

use std::time::Instant;

use super::Scheduler;
use crate::core::error::CoreError;
use crate::core::ids::{JobId, Phase, WorkerId};
use crate::core::messages::{Event, TaskRun, WorkerKind};
use crate::core::status::{self, JobStatus, Summary, TaskStatus, WorkerRun, WorkerStatus};

impl Scheduler {
    /// The next job whose status may have changed since the last call
    /// (submitted, a task moved, ended, forgotten), lowest id first.
    pub fn poll_changed_job(&mut self) -> Option<JobId> {
        self.jobs.take_changed()
    }

    /// How many tasks' states the core holds, over every job kept (ended
    /// jobs hold none once compacted).
    pub fn tasks_held(&self) -> usize {
        self.jobs
            .iter()
            .map(|j| j.tasks(Phase::Map).len() + j.tasks(Phase::Reduce).len())
            .sum()
    }

    /// How many ended jobs the history holds.
    pub fn ended_jobs(&self) -> usize {
        self.jobs.ended_count()
    }

    /// The next thing the outside world should act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The run time of the next finished task attempt not yet polled.
    pub fn poll_task_run(&mut self) -> Option<TaskRun> {
        self.runs.pop_front()
    }

    /// How many tasks can be handed out now.
    pub fn available_tasks(&self) -> usize {
        self.available.len()
    }

    /// How many tasks a worker of `kind` could be handed now, counting at
    /// most `at_most` (the number of workers worth waking): tasks of jobs
    /// bound to the other kind do not count.
    pub fn available_tasks_for(&self, kind: WorkerKind, at_most: usize) -> usize {
        let jobs = &self.jobs;
        self.available.count_up_to(at_most, |job| {
            jobs.get(job).is_ok_and(|j| j.may_run_on(kind))
        })
    }

    /// Whether any task can be handed out now.
    pub fn has_available_task(&self) -> bool {
        self.available.len() > 0
    }

    /// One job's status.
    pub fn job_status(&self, job: JobId) -> Result<JobStatus, CoreError> {
        self.jobs.get(job).map(status::job_status)
    }

    /// Every job's status, oldest first.
    pub fn job_statuses(&self) -> Vec<JobStatus> {
        self.jobs.iter().map(status::job_status).collect()
    }

    /// Coordinator-wide totals for metrics, without walking any task.
    pub fn summary(&self) -> Summary {
        status::summary(&self.jobs, &self.workers)
    }

    /// How many jobs are queued or running.
    pub fn unfinished_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| !j.state().is_ended()).count()
    }

    /// Every worker's status, by id.
    pub fn worker_statuses(&self, now: Instant) -> Vec<WorkerStatus> {
        status::worker_statuses(&self.workers, &self.jobs, now)
    }

    /// Up to `limit` tasks of `job`'s `phase` from index `offset` on, with
    /// their attempts; and how many tasks the phase has.
    pub fn task_statuses(
        &self,
        job: JobId,
        phase: Phase,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<TaskStatus>), CoreError> {
        let j = self.jobs.get(job)?;
        let total = j.tasks(phase).len();
        Ok((total, status::task_statuses(j, phase, offset, limit)))
    }

    /// The last `limit` attempts handed to `worker`, newest first; `None`
    /// for an unknown worker.
    pub fn worker_runs(&self, worker: WorkerId, limit: usize) -> Option<Vec<WorkerRun>> {
        status::worker_runs(&self.workers, &self.jobs, worker, limit)
    }
}
