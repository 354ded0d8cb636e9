//! [`CoreError`]: what the core refuses, one enum for the whole layer. The
//! coordinator maps each variant to a gRPC status (`convert::status_of`).

use super::ids::{JobId, Phase, TaskId, WorkerId};

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
    /// A job that ended and was dropped from the bounded history.
    #[error(
        "job {0} ended and was forgotten: the coordinator keeps only the most recent ended jobs \
         (--retain-jobs) for a while (--retain-for)"
    )]
    JobForgotten(JobId),
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
    /// Restoring a job whose id is taken.
    #[error("job {0} exists already")]
    JobExists(JobId),
    /// Cancelling a job that already ended.
    #[error("job {0} has already ended")]
    JobEnded(JobId),
}

impl CoreError {
    /// The error for a task id outside its job.
    pub(super) fn unknown_task(task: TaskId) -> Self {
        CoreError::UnknownTask {
            job: task.job,
            phase: task.phase,
            index: task.index,
        }
    }
}
