//! Read-only views of jobs and workers, for `PollJob`, `mr jobs` and
//! `mr workers`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::{Attempt, JobId, TaskId, WorkerId};
use super::job::{Counters, Job, JobSpec, JobState, Task, TaskState};
use super::scheduler::Scheduler;
use super::CoreError;

/// Progress of one phase of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseProgress {
    /// Tasks in the phase.
    pub total: u32,
    /// Finished.
    pub done: u32,
    /// Handed out and not finished.
    pub running: u32,
}

/// A job's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job.
    pub id: JobId,
    /// What was submitted.
    pub spec: Arc<JobSpec>,
    /// Where it stands.
    pub state: JobState,
    /// Map progress.
    pub maps: PhaseProgress,
    /// Reduce progress.
    pub reduces: PhaseProgress,
    /// Errors that failed it (empty unless it failed or was cancelled).
    pub errors: Vec<String>,
    /// Counters so far.
    pub counters: Counters,
    /// When it was submitted.
    pub submitted_at: Instant,
    /// When it ended.
    pub finished_at: Option<Instant>,
}

/// Whether a worker is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Heard from within the timeout.
    Alive,
    /// Declared dead.
    Dead,
}

/// A worker's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The worker.
    pub id: WorkerId,
    /// Where it serves map output.
    pub address: String,
    /// Alive or dead.
    pub state: WorkerState,
    /// Time since its last sign of life.
    pub last_seen_ago: Duration,
    /// The tasks it runs, with their attempts.
    pub running: Vec<(TaskId, Attempt)>,
    /// Tasks it finished.
    pub tasks_completed: u64,
}

fn progress(tasks: &[Task]) -> PhaseProgress {
    let mut p = PhaseProgress {
        total: tasks.len() as u32,
        ..PhaseProgress::default()
    };
    for t in tasks {
        match t.state {
            TaskState::Done { .. } => p.done += 1,
            TaskState::Running { .. } => p.running += 1,
            TaskState::Pending => {}
        }
    }
    p
}

fn status_of(job: &Job) -> JobStatus {
    JobStatus {
        id: job.id,
        spec: Arc::clone(&job.spec),
        state: job.state,
        maps: progress(&job.maps),
        reduces: progress(&job.reduces),
        errors: job.errors.clone(),
        counters: job.counters,
        submitted_at: job.submitted_at,
        finished_at: job.finished_at,
    }
}

impl Scheduler {
    /// One job's status.
    pub fn job_status(&self, job: JobId) -> Result<JobStatus, CoreError> {
        self.jobs
            .get(&job)
            .map(status_of)
            .ok_or(CoreError::UnknownJob(job))
    }

    /// How many jobs are queued or running.
    pub fn unfinished_jobs(&self) -> usize {
        self.jobs.values().filter(|j| !j.state.is_ended()).count()
    }

    /// Every job's status, oldest first.
    pub fn job_statuses(&self) -> Vec<JobStatus> {
        self.jobs.values().map(status_of).collect()
    }

    /// Every worker's status, by id.
    pub fn worker_statuses(&self, now: Instant) -> Vec<WorkerStatus> {
        self.workers
            .iter()
            .map(|(&id, w)| WorkerStatus {
                id,
                address: self.address_of(id),
                state: if w.alive {
                    WorkerState::Alive
                } else {
                    WorkerState::Dead
                },
                last_seen_ago: now.saturating_duration_since(w.last_seen),
                running: w
                    .running
                    .iter()
                    .filter_map(|t| {
                        let job = self.jobs.get(&t.job)?;
                        match job.task(t.phase, t.index)?.state {
                            TaskState::Running { attempt, .. } => Some((*t, attempt)),
                            _ => None,
                        }
                    })
                    .collect(),
                tasks_completed: w.completed,
            })
            .collect()
    }
}
