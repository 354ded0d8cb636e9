//! One job: its state enum, its counters, its tasks, and the transitions of
//! a single job. Touches nothing but the job; the façade carries each transition's
//! consequences to the workers and the queue of available tasks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::task::{Task, TaskState};
use crate::core::error::CoreError;
use crate::core::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use crate::core::messages::{JobSpec, TaskCounters};

/// A job's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Whether the job has ended (successfully or not).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Per-job counters, summed from the reports of accepted task attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes of input read by map tasks.
    pub input_bytes: u64,
    /// Input records (files) read by map tasks.
    pub input_records: u64,
    /// Records emitted by map tasks (after the combiner).
    pub map_output_records: u64,
    /// Bytes of map output stored (after the combiner).
    pub map_output_bytes: u64,
    /// Bytes fetched by reduce tasks.
    pub shuffle_bytes: u64,
    /// Records written by reduce tasks.
    pub reduce_output_records: u64,
    /// Bytes written by reduce tasks.
    pub reduce_output_bytes: u64,
    /// Task assignments handed out.
    pub task_attempts: u64,
    /// Task attempts that failed or were lost with their worker.
    pub task_failures: u64,
}

/// How many tasks of one phase are done and running, kept on every task
/// transition so a status view costs `O(1)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    /// Finished.
    pub done: u32,
    /// Handed out and not finished.
    pub running: u32,
}

impl PhaseCounts {
    fn add(&mut self, state: TaskState) {
        match state {
            TaskState::Done { .. } => self.done += 1,
            TaskState::Running { .. } => self.running += 1,
            TaskState::Pending => {}
        }
    }

    fn remove(&mut self, state: TaskState) {
        match state {
            TaskState::Done { .. } => self.done -= 1,
            TaskState::Running { .. } => self.running -= 1,
            TaskState::Pending => {}
        }
    }
}

/// What a job must do after a task attempt failed or was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed (a stale loss).
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
    counters: Counters,
    submitted_at: Instant,
    finished_at: Option<Instant>,
}

impl Job {
    /// A queued job; every task pending.
    pub fn new(id: JobId, spec: JobSpec, now: Instant) -> Self {
        let n_map = spec.files.len();
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
            counters: Counters::default(),
            submitted_at: now,
            finished_at: None,
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
        let c = &mut self.counters;
        c.input_bytes += counters.input_bytes;
        c.input_records += counters.input_records;
        c.shuffle_bytes += counters.shuffle_bytes;
        match task.phase {
            Phase::Map => {
                c.map_output_records += counters.output_records;
                c.map_output_bytes += counters.output_bytes;
            }
            Phase::Reduce => {
                c.reduce_output_records += counters.output_records;
                c.reduce_output_bytes += counters.output_bytes;
            }
        }
        Some(Finished {
            attempt,
            took,
            job_succeeded: self.reduce_counts.done == self.spec.n_reduce,
        })
    }

    /// Applies a current failure report: the task is pending again, and the
    /// job fails if the failure is final or the task failed `max` times.
    pub fn fail(
        &mut self,
        task: TaskId,
        error: &str,
        retry: bool,
        max: u32,
    ) -> Result<Verdict, CoreError> {
        let describe = self.describe(task);
        self.counters.task_failures += 1;
        if !retry {
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

    /// `task` was running on `worker`, which died: pending again, or the job
    /// fails once the task has been lost `max` times.
    pub fn lose_running(&mut self, task: TaskId, worker: WorkerId, max: u32) -> Verdict {
        if self.state.is_ended() {
            return Verdict::Unchanged;
        }
        let describe = self.describe(task);
        let Some(lost) = self.change_task(task, |t| t.lose(worker)).ok().flatten() else {
            return Verdict::Unchanged;
        };
        self.counters.task_failures += 1;
        if lost >= max {
            self.errors.push(format!(
                "{describe} was lost with its worker {lost} times (last on worker {worker}); \
                 the task may be crashing its worker"
            ));
            return Verdict::FailJob;
        }
        Verdict::Retry
    }

    /// Map `task`'s output lived on `worker`, which died: the map must run
    /// again while the job still needs it. Whether it changed.
    pub fn lose_output(&mut self, task: TaskId, worker: WorkerId) -> bool {
        if self.state.is_ended() {
            return false;
        }
        self.change_task(task, |t| t.lose_output(worker))
            .unwrap_or(false)
    }

    /// The job's reduces wait until `peer` proves alive or dies.
    pub fn block_on(&mut self, peer: WorkerId) {
        self.blocked_on.insert(peer);
    }

    /// `worker` proved alive or died: it no longer blocks the reduces.
    pub fn unblock(&mut self, worker: WorkerId) {
        self.blocked_on.remove(&worker);
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
                    running.push((
                        TaskId {
                            job: id,
                            phase,
                            index: i as u32,
                        },
                        worker,
                    ));
                    t.reset();
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
            Phase::Map => match self.spec.files.get(index as usize) {
                Some(file) => format!("map task {index} (input {file})"),
                None => format!("map task {index}"),
            },
            Phase::Reduce => format!("reduce task {index}"),
        }
    }
}
