//! Read-only views of jobs and workers, for `PollJob`, `mr jobs`,
//! `mr workers`, metrics and the web UI (task tables with every attempt,
//! what a worker ran). Reads the state, changes nothing; durations are
//! computed against a `now` the caller passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::messages::JobSpec;
use super::state::{
    AttemptOutcome, AttemptRecord, Counters, Job, JobState, Jobs, TaskState, Workers,
};

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
    /// Why its progress went back ("map 5 runs again: worker 3 died"), the
    /// last few, oldest first.
    pub notes: Vec<String>,
    /// When it was submitted.
    pub submitted_at: Instant,
    /// When it ended.
    pub finished_at: Option<Instant>,
}

/// Tasks of one phase over all unfinished jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTotals {
    /// Waiting for a worker.
    pub pending: u64,
    /// Handed out and not finished.
    pub running: u64,
    /// Finished.
    pub done: u64,
}

/// Totals over the whole coordinator, for metrics: `O(jobs kept +
/// workers)`, no walk over tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Jobs kept, by state: queued, running, succeeded, failed, cancelled.
    pub jobs: [(JobState, u64); 5],
    /// Map tasks of unfinished jobs.
    pub maps: TaskTotals,
    /// Reduce tasks of unfinished jobs.
    pub reduces: TaskTotals,
    /// Workers alive.
    pub workers_alive: u64,
    /// Workers declared dead.
    pub workers_dead: u64,
    /// Task attempts handed out, over every job ever (forgotten ones too).
    pub task_attempts: u64,
    /// Task attempts failed or lost, over every job ever.
    pub task_failures: u64,
}

/// The coordinator-wide totals.
pub fn summary(jobs: &Jobs, workers: &Workers) -> Summary {
    let mut s = Summary {
        jobs: [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .map(|state| (state, 0)),
        maps: TaskTotals::default(),
        reduces: TaskTotals::default(),
        workers_alive: 0,
        workers_dead: 0,
        task_attempts: jobs.forgotten_totals().0,
        task_failures: jobs.forgotten_totals().1,
    };
    for job in jobs.iter() {
        if let Some(slot) = s.jobs.iter_mut().find(|(st, _)| *st == job.state()) {
            slot.1 += 1;
        }
        let c = job.counters();
        s.task_attempts += c.task_attempts;
        s.task_failures += c.task_failures;
        if job.state().is_ended() {
            continue;
        }
        for (phase, totals) in [(Phase::Map, &mut s.maps), (Phase::Reduce, &mut s.reduces)] {
            let p = progress(job, phase);
            totals.running += u64::from(p.running);
            totals.done += u64::from(p.done);
            totals.pending += u64::from(p.total - p.done - p.running);
        }
    }
    for (_, w) in workers.iter() {
        if w.is_alive() {
            s.workers_alive += 1;
        } else {
            s.workers_dead += 1;
        }
    }
    s
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
    /// The address it registered with (`None`: it gave none).
    pub address: Option<String>,
    /// Alive or dead.
    pub state: WorkerState,
    /// Time since its last sign of life.
    pub last_seen_ago: Duration,
    /// The tasks it runs, with their attempts.
    pub running: Vec<(TaskId, Attempt)>,
    /// Tasks it finished.
    pub tasks_completed: u64,
}

/// A phase's progress from the counts the job keeps (`O(1)`).
fn progress(job: &Job, phase: Phase) -> PhaseProgress {
    let counts = job.counts(phase);
    PhaseProgress {
        total: match phase {
            Phase::Map => job.n_map(),
            Phase::Reduce => job.spec().n_reduce,
        },
        done: counts.done,
        running: counts.running,
    }
}

/// One job's status, in time independent of its number of tasks.
pub fn job_status(job: &Job) -> JobStatus {
    let (submitted_at, finished_at) = job.times();
    JobStatus {
        id: job.id(),
        spec: Arc::clone(job.spec()),
        state: job.state(),
        maps: progress(job, Phase::Map),
        reduces: progress(job, Phase::Reduce),
        errors: job.errors().to_vec(),
        counters: job.counters(),
        notes: job.notes(),
        submitted_at,
        finished_at,
    }
}

/// Every worker's status at `now`, by id.
pub fn worker_statuses(workers: &Workers, jobs: &Jobs, now: Instant) -> Vec<WorkerStatus> {
    workers
        .iter()
        .map(|(id, w)| WorkerStatus {
            id,
            address: w.address().map(str::to_string),
            state: if w.is_alive() {
                WorkerState::Alive
            } else {
                WorkerState::Dead
            },
            last_seen_ago: now.saturating_duration_since(w.last_seen()),
            running: w
                .running()
                .filter_map(|t| {
                    let attempt = jobs.get(t.job).ok()?.task(t).ok()?.attempt_on(id)?;
                    Some((t, attempt))
                })
                .collect(),
            tasks_completed: w.completed(),
        })
        .collect()
}

/// Where one task stands, without its state's private details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStage {
    /// Waiting for a worker (or for its job's maps).
    Pending,
    /// Handed to a worker.
    Running,
    /// Finished.
    Done,
}

/// One task with its attempts, for a job's task table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// The task.
    pub task: TaskId,
    /// A map task's input file (`None` for a reduce).
    pub input: Option<String>,
    /// Where it stands.
    pub stage: TaskStage,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

impl TaskStatus {
    /// The last attempt's error, if it failed.
    pub fn last_error(&self) -> Option<&str> {
        self.attempts.iter().rev().find_map(|a| match &a.outcome {
            AttemptOutcome::Failed { error } => Some(error.as_str()),
            _ => None,
        })
    }
}

/// One attempt a worker was handed, for a worker's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRun {
    /// The task.
    pub task: TaskId,
    /// The attempt (its worker is the one asked about).
    pub record: AttemptRecord,
}

/// Up to `limit` tasks of `job`'s `phase` from index `offset` on.
pub fn task_statuses(job: &Job, phase: Phase, offset: usize, limit: usize) -> Vec<TaskStatus> {
    let spec = job.spec();
    job.tasks(phase)
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, t)| TaskStatus {
            task: TaskId {
                job: job.id(),
                phase,
                index: i as u32,
            },
            input: match phase {
                Phase::Map => spec.split(i as u32).map(|s| describe_split(&s)),
                Phase::Reduce => None,
            },
            stage: match t.state() {
                // Parked: waiting until the job's other tasks tell.
                TaskState::Pending | TaskState::Parked => TaskStage::Pending,
                TaskState::Running { .. } => TaskStage::Running,
                TaskState::Done { .. } | TaskState::Restored { .. } => TaskStage::Done,
            },
            attempts: t.history().to_vec(),
        })
        .collect()
}

/// What a map task reads, for people: a file, a file's byte range, or the
/// first of several packed files.
fn describe_split(split: &super::Split) -> String {
    match split.inputs.as_slice() {
        [] => String::new(),
        [one] => match one.len {
            None => one.path.clone(),
            Some(len) => format!("{} [{}+{len}]", one.path, one.offset),
        },
        [first, rest @ ..] => format!("{} and {} more", first.path, rest.len()),
    }
}

/// The last `limit` attempts handed to `worker`, newest first; `None` for
/// an unknown worker.
pub fn worker_runs(
    workers: &Workers,
    jobs: &Jobs,
    worker: WorkerId,
    limit: usize,
) -> Option<Vec<WorkerRun>> {
    let w = workers.get(worker)?;
    Some(
        w.ran()
            .iter()
            .rev()
            .take(limit)
            .filter_map(|&(task, attempt)| {
                let t = jobs.get(task.job).ok()?.task(task).ok()?;
                let record = t
                    .history()
                    .iter()
                    .find(|r| r.attempt == attempt && r.worker == worker)?;
                Some(WorkerRun {
                    task,
                    record: record.clone(),
                })
            })
            .collect(),
    )
}
