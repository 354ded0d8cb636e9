//! One job: its state enum, its counters, its tasks, and the transitions of
//! a single job. Touches nothing but the job; the façade carries each transition's
//! consequences to the workers and the queue of available tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blame::crash_limit;
use super::task::{AttemptOutcome, Task, TaskState};

mod counted;
mod kind;
mod loss;
mod notes;
mod parked;

pub use counted::{Counters, PhaseCounts};
pub use notes::OutputLoss;

use crate::core::error::CoreError;
use crate::core::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use crate::core::messages::{Failure, FinishedTask, JobSpec, TaskCounters, WorkerKind};

mod restore;
mod speculation;

/// A job's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JobState {
    /// No task handed out yet.
    Queued,
    /// Some task handed out, not ended.
    Running,
    /// Every reduce task finished.
    Succeeded,
    /// A task failed for good.
    Failed,
    /// A client cancelled it.
    Cancelled,
}

impl JobState {
    /// The state's name as the coordinator shows it (metrics labels, web
    /// pages, messages): `queued`, `running`, `succeeded`, `failed`,
    /// `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended (successfully or not).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// What a job must do after a task attempt failed or was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed (a stale loss), or the task was parked (see
    /// [`TaskState::Parked`]): nothing to offer.
    Unchanged,
    /// The task is pending again and may be offered.
    Retry,
    /// The job has failed for good and must be ended.
    FailJob,
}

/// What an accepted finish report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The attempt that finished.
    pub attempt: Attempt,
    /// How long it ran.
    pub took: Duration,
    /// Whether that was the job's last reduce.
    pub job_succeeded: bool,
}

/// What ending a job released.
#[derive(Debug)]
pub struct Ended {
    /// Tasks that were running, with their workers (now pending).
    pub running: Vec<(TaskId, WorkerId)>,
    /// Every worker that ran one of the job's maps.
    pub touched: BTreeSet<WorkerId>,
}

/// A job as the core keeps it.
#[derive(Debug)]
pub struct Job {
    id: JobId,
    spec: Arc<JobSpec>,
    state: JobState,
    /// Per-task state; emptied when the ended job is compacted.
    maps: Vec<Task>,
    reduces: Vec<Task>,
    n_map: u32,
    map_counts: PhaseCounts,
    reduce_counts: PhaseCounts,
    /// Alive workers whose map output a failed reduce could not fetch; the
    /// job's reduces wait until each proves alive (heartbeat) or dies.
    blocked_on: BTreeSet<WorkerId>,
    /// Every worker that ran one of this job's map tasks (they may hold its
    /// data and are told to drop it when the job ends).
    touched: BTreeSet<WorkerId>,
    errors: Vec<String>,
    /// Fetch failures reported against each map worker since it last lost
    /// its output of this job.
    fetch_failures: BTreeMap<WorkerId, u32>,
    /// The last crash `(cause, error)` of each parked task.
    last_crash: BTreeMap<TaskId, (String, String)>,
    counters: Counters,
    /// What each task contributed to `counters`.
    counted: counted::Counted,
    /// Why done maps became pending again, the last few.
    notes: notes::Notes,
    submitted_at: Instant,
    finished_at: Option<Instant>,
    /// Maps recorded as finished before a coordinator restart whose output
    /// no worker has reported yet: an output a worker reports is adopted
    /// only if it is of the recorded attempt.
    recorded_maps: BTreeMap<u32, FinishedTask>,
    /// The kind of worker its tasks went to (see `job/kind.rs`).
    kind: Option<WorkerKind>,
}

impl Job {
    /// A queued job; every task pending.
    pub fn new(id: JobId, spec: JobSpec, now: Instant) -> Self {
        let n_map = spec.n_map();
        let n_reduce = spec.n_reduce as usize;
        Job {
            id,
            spec: Arc::new(spec),
            state: JobState::Queued,
            maps: (0..n_map).map(|_| Task::new()).collect(),
            reduces: (0..n_reduce).map(|_| Task::new()).collect(),
            n_map: n_map as u32,
            map_counts: PhaseCounts::default(),
            reduce_counts: PhaseCounts::default(),
            blocked_on: BTreeSet::new(),
            touched: BTreeSet::new(),
            errors: Vec::new(),
            fetch_failures: BTreeMap::new(),
            last_crash: BTreeMap::new(),
            counters: Counters::default(),
            counted: counted::Counted::default(),
            notes: notes::Notes::default(),
            submitted_at: now,
            finished_at: None,
            recorded_maps: BTreeMap::new(),
            kind: None,
        }
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// What was submitted.
    pub fn spec(&self) -> &Arc<JobSpec> {
        &self.spec
    }

    /// Where it stands.
    pub fn state(&self) -> JobState {
        self.state
    }

    /// How many tasks of `phase` are done and running (`O(1)`).
    pub fn counts(&self, phase: Phase) -> PhaseCounts {
        match phase {
            Phase::Map => self.map_counts,
            Phase::Reduce => self.reduce_counts,
        }
    }

    /// The tasks of one phase, by index (empty once the job is compacted).
    pub fn tasks(&self, phase: Phase) -> &[Task] {
        match phase {
            Phase::Map => &self.maps,
            Phase::Reduce => &self.reduces,
        }
    }

    /// Why it failed (or that it was cancelled).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Its counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Why its progress went back (done maps pending again), oldest first.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lines()
    }

    /// When it was submitted and when it ended.
    pub fn times(&self) -> (Instant, Option<Instant>) {
        (self.submitted_at, self.finished_at)
    }

    /// Number of map tasks.
    pub fn n_map(&self) -> u32 {
        self.n_map
    }

    /// Drops what only an unfinished job needs: per-task state and the
    /// input list. Its summary, counters, progress and errors remain.
    /// Nothing if the job has not ended.
    pub fn compact(&mut self) {
        if !self.state.is_ended() {
            return;
        }
        self.maps = Vec::new();
        self.reduces = Vec::new();
        self.blocked_on = BTreeSet::new();
        self.touched = BTreeSet::new();
        if !self.spec.files.is_empty() {
            let mut spec = JobSpec::clone(&self.spec);
            spec.files = Vec::new();
            self.spec = Arc::new(spec);
        }
    }

    /// Applies `change` to one task and keeps the phase counts in step
    /// with its state before and after: every task transition goes
    /// through here.
    fn change_task<R>(
        &mut self,
        task: TaskId,
        change: impl FnOnce(&mut Task) -> R,
    ) -> Result<R, CoreError> {
        let (tasks, counts) = match task.phase {
            Phase::Map => (&mut self.maps, &mut self.map_counts),
            Phase::Reduce => (&mut self.reduces, &mut self.reduce_counts),
        };
        let t = tasks
            .get_mut(task.index as usize)
            .ok_or(CoreError::unknown_task(task))?;
        counts.remove(t.state());
        let result = change(t);
        counts.add(t.state());
        Ok(result)
    }

    /// One task, or the error for an index outside the job.
    pub fn task(&self, task: TaskId) -> Result<&Task, CoreError> {
        self.tasks(task.phase)
            .get(task.index as usize)
            .ok_or(CoreError::unknown_task(task))
    }

    /// Ids of every map task.
    pub fn map_ids(&self) -> impl Iterator<Item = TaskId> + '_ {
        (0..self.n_map()).map(|i| TaskId::map(self.id, i))
    }

    /// Ids of every task, maps then reduces.
    pub fn all_ids(&self) -> impl Iterator<Item = TaskId> + '_ {
        let reduces = (0..self.spec.n_reduce).map(|i| TaskId::reduce(self.id, i));
        self.map_ids().chain(reduces)
    }

    /// Whether the job's reduce tasks may be handed out.
    pub fn reduces_open(&self) -> bool {
        self.map_counts.done == self.n_map && self.blocked_on.is_empty() && !self.state.is_ended()
    }

    /// Ids of the pending reduce tasks.
    pub fn pending_reduces(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.reduces
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state() == TaskState::Pending)
            .map(|(i, _)| TaskId::reduce(self.id, i as u32))
    }

    /// Every finished map: `(index, attempt, worker holding the output)`.
    pub fn map_outputs(&self) -> impl Iterator<Item = (u32, Attempt, WorkerId)> + '_ {
        self.maps
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t.state() {
                TaskState::Done { worker, attempt } => Some((i as u32, attempt, worker)),
                _ => None,
            })
    }

    /// Whether a report from `worker` on `attempt` (`None`: not sent) of
    /// `task` is current: the task runs on that worker and attempt, and the
    /// job has not ended.
    pub fn is_current(
        &self,
        task: TaskId,
        worker: WorkerId,
        attempt: Option<Attempt>,
    ) -> Result<bool, CoreError> {
        if self.state.is_ended() {
            return Ok(false);
        }
        Ok(self.task(task)?.is_current(worker, attempt))
    }

    /// Hands `task` to `worker`: its next attempt starts now.
    pub fn assign(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        now: Instant,
    ) -> Result<Attempt, CoreError> {
        let attempt = self.change_task(task, |t| t.assign(worker, now))?;
        self.counters.task_attempts += 1;
        if self.state == JobState::Queued {
            self.state = JobState::Running;
        }
        if task.phase == Phase::Map {
            self.touched.insert(worker);
        }
        Ok(attempt)
    }

    /// `task` is pending again if it was running on `worker` (which says it
    /// runs nothing); not the task's fault. Whether it changed.
    pub fn release(&mut self, task: TaskId, worker: WorkerId) -> bool {
        self.change_task(task, |t| {
            let running = t.is_running_on(worker);
            if running {
                t.reset();
            }
            running
        })
        .unwrap_or(false)
    }

    /// Applies a current finish report; `None` if the task was not running.
    pub fn finish(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        counters: TaskCounters,
        now: Instant,
    ) -> Option<Finished> {
        let (attempt, took) = self.change_task(task, |t| t.finish(worker, now)).ok()??;
        self.counted
            .record(&mut self.counters, task.phase, task.index, counters);
        Some(Finished {
            attempt,
            took,
            job_succeeded: self.reduce_counts.done == self.spec.n_reduce,
        })
    }

    /// Applies a current failure report: the task is pending again, and the
    /// job fails if the failure is final, the task failed retryably `max`
    /// times, or it crashed its process too often in a row (see
    /// [`crash_limit`]).
    pub fn fail(
        &mut self,
        task: TaskId,
        failure: &Failure,
        max: u32,
    ) -> Result<Verdict, CoreError> {
        let describe = self.describe(task);
        self.task(task)?;
        self.counters.task_failures += 1;
        let error = &failure.error;
        if let Some(cause) = &failure.crash {
            let other_crashes = self.other_crashes(task);
            let n = self.change_task(task, Task::crash)?;
            if other_crashes == 0 && n >= max && n < crash_limit(max, 1) {
                // Crashing alone so far: wait for the others' evidence.
                self.change_task(task, Task::park)?;
                self.last_crash.insert(task, (cause.clone(), error.clone()));
                return Ok(Verdict::Unchanged);
            }
            if n >= crash_limit(max, other_crashes) {
                self.fail_crashing(task, n, cause, error);
                return Ok(Verdict::FailJob);
            }
            return Ok(Verdict::Retry);
        }
        if let (true, Some(peer)) = (failure.retry, failure.unreachable) {
            // The peer's fault, not the task's: never held against it.
            self.change_task(task, Task::release_after_fetch)?;
            *self.fetch_failures.entry(peer).or_insert(0) += 1;
            return Ok(Verdict::Retry);
        }
        if !failure.retry {
            self.change_task(task, Task::reset)?;
            self.errors.push(format!("{describe} failed: {error}"));
            return Ok(Verdict::FailJob);
        }
        let n = self.change_task(task, Task::retry)?;
        if n >= max {
            self.errors.push(format!(
                "{describe} failed {n} times; the last error: {error}"
            ));
            return Ok(Verdict::FailJob);
        }
        Ok(Verdict::Retry)
    }

    /// Records how the attempt of `task` open on `worker` ended (history
    /// only: the transitions above changed the task's state).
    pub fn close_attempt(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        outcome: AttemptOutcome,
        now: Instant,
    ) {
        // History only: the state (and so the counts) stays as it is.
        let _ = self.change_task(task, |t| t.close(worker, outcome, now));
    }

    /// Records why the job is about to end.
    pub fn note(&mut self, error: impl Into<String>) {
        self.errors.push(error.into());
    }

    /// Ends the job in `state`; its running tasks become pending. `None` if
    /// it had already ended.
    pub fn end(&mut self, state: JobState, now: Instant) -> Option<Ended> {
        if self.state.is_ended() {
            return None;
        }
        self.state = state;
        self.finished_at = Some(now);
        self.blocked_on.clear();
        let id = self.id;
        let mut running = Vec::new();
        for (phase, tasks, counts) in [
            (Phase::Map, &mut self.maps, &mut self.map_counts),
            (Phase::Reduce, &mut self.reduces, &mut self.reduce_counts),
        ] {
            if counts.running == 0 {
                continue;
            }
            for (i, t) in tasks.iter_mut().enumerate() {
                if let TaskState::Running { worker, .. } = t.state() {
                    let task = TaskId {
                        job: id,
                        phase,
                        index: i as u32,
                    };
                    running.push((task, worker));
                    if let Some(backup) = t.take_backup() {
                        running.push((task, backup));
                        t.close(backup, AttemptOutcome::Abandoned, now);
                    }
                    t.reset();
                    t.close(worker, AttemptOutcome::Abandoned, now);
                }
            }
            counts.running = 0;
        }
        Some(Ended {
            running,
            touched: std::mem::take(&mut self.touched),
        })
    }

    /// A description of a task for an error message, naming a map's input.
    fn describe(&self, task: TaskId) -> String {
        let index = task.index;
        match task.phase {
            Phase::Map => match self.spec.split(index) {
                Some(split) => format!("map task {index} (input {})", split.describe()),
                None => format!("map task {index}"),
            },
            Phase::Reduce => format!("reduce task {index}"),
        }
    }
}
