//! The scheduler core: jobs, tasks and workers as explicit state machines.
//!
//! Pure and synchronous: no tokio, no tonic, no clock reads. Every input takes
//! `now`; the core says when it next needs a [`Scheduler::tick`]
//! ([`Scheduler::next_deadline`]) and what the outside world should do
//! ([`Scheduler::poll_event`]). The coordinator service wraps it behind a
//! mutex; tests drive it directly with invented time.
//!
//! Rules it enforces:
//! - jobs are served first come, first served, and no worker idles while any
//!   task can run: a worker gets the first available task in job order, maps
//!   before reduces, and a job's reduces become available only once all its
//!   maps are done;
//! - no task runs on two workers at once; every assignment carries an attempt
//!   number, and reports from another attempt or from a worker declared dead
//!   change nothing;
//! - a worker silent for the timeout is dead: its running tasks become
//!   available again, and so do its finished map tasks while their job still
//!   needs their output; a task lost with its worker `max_task_attempts` times
//!   fails its job;
//! - a non-retryable task failure fails its job at once; retryable ones are
//!   retried up to `max_task_attempts` times.
//!
//! Choosing a task costs `O(log n)`: available tasks live in one ordered set
//! keyed by (job, phase, index).
//!
//! Layout (state in one place, behaviour beside the part it touches, one
//! façade composing them; no file imports a sibling's behaviour back):
//! - [`scheduler`]: the [`Scheduler`] façade and its [`SchedulerConfig`];
//!   its documentation lists every operation;
//! - `state/`: the state types and their own transitions: a job and its
//!   tasks (`job.rs`), all jobs (`jobs.rs`), workers and their liveness
//!   index (`worker.rs`), the ordered set of available tasks
//!   (`available.rs`);
//! - [`messages`]: what crosses the façade (job specs, reports,
//!   assignments, events, finished attempts' run times);
//! - [`status`]: read-only views for polls, listings and metrics;
//! - `ids`: the newtype identifiers.
//!
//! Policy that is not scheduling lives outside: how to reach a worker that
//! registered without an address is the coordinator's wire rule
//! (`coordinator::convert`), and metric buckets are the coordinator's
//! (`coordinator::metrics`), fed from [`Scheduler::poll_task_run`].

mod ids;
pub mod messages;
pub mod scheduler;
mod state;
pub mod status;

#[cfg(test)]
mod tests;

pub use ids::{Attempt, JobId, Phase, TaskId, WorkerId};
pub use messages::{
    Assignment, Event, Failure, JobSpec, MapLocation, Report, ReportOutcome, TaskCounters, TaskRun,
};
pub use scheduler::{Scheduler, SchedulerConfig};
pub use state::{Counters, JobState};
pub use status::{JobStatus, PhaseProgress, WorkerState, WorkerStatus};

/// What the core refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A job with no input files.
    #[error("a job needs at least one input file")]
    NoInputFiles,
    /// A job with `n_reduce` of 0.
    #[error("n_reduce must be at least 1")]
    ZeroReduce,
    /// A job id that was never handed out.
    #[error("no job with id {0}")]
    UnknownJob(JobId),
    /// A worker id that was never handed out.
    #[error("no worker with id {0}; register first")]
    UnknownWorker(WorkerId),
    /// A worker that was declared dead; it must drop its state and register
    /// again.
    #[error(
        "worker {0} was declared dead (no heartbeat in time); drop its state and register again"
    )]
    WorkerDead(WorkerId),
    /// A task index outside its job.
    #[error("job {job} has no {phase} task {index}")]
    UnknownTask {
        /// The job.
        job: JobId,
        /// Map or reduce.
        phase: Phase,
        /// The index that does not exist.
        index: u32,
    },
    /// Cancelling a job that already ended.
    #[error("job {0} has already ended")]
    JobEnded(JobId),
}

impl CoreError {
    /// The error for a task id outside its job.
    pub(crate) fn unknown_task(task: TaskId) -> Self {
        CoreError::UnknownTask {
            job: task.job,
            phase: task.phase,
            index: task.index,
        }
    }
}
