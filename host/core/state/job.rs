//! One job: its state enum, its counters, its tasks, and the transitions of
//! a single job. Touches nothing but the job; the façade carries each transition's
//! consequences to the workers and the queue of available tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blame::crash_limit;
use super::task::{AttemptOutcome, Task, TaskState};

mod parked;

use crate::core::error::CoreError;
use crate::core::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use crate::core::messages::{Failure, FinishedTask, JobSpec, TaskCounters};

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
    /// Whether the job has ended (successfully or not).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Per-job counters, summed from the reports of accepted task attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    maps: Vec<Task>,
    reduces: Vec<Task>,
    maps_done: u32,
    reduces_done: u32,
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
    submitted_at: Instant,
    finished_at: Option<Instant>,
    /// Maps recorded as finished before a coordinator restart whose output
    /// no worker has reported yet: an output a worker reports is adopted
    /// only if it is of the recorded attempt.
    recorded_maps: BTreeMap<u32, FinishedTask>,
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
            maps_done: 0,
            reduces_done: 0,
            blocked_on: BTreeSet::new(),
            touched: BTreeSet::new(),
            errors: Vec::new(),
            fetch_failures: BTreeMap::new(),
            last_crash: BTreeMap::new(),
            counters: Counters::default(),
            submitted_at: now,
            finished_at: None,
            recorded_maps: BTreeMap::new(),
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

    /// The tasks of one phase, by index.
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
        self.maps.len() as u32
    }

    fn task_mut(&mut self, task: TaskId) -> Result<&mut Task, CoreError> {
        let tasks = match task.phase {
            Phase::Map => &mut self.maps,
            Phase::Reduce => &mut self.reduces,
        };
        tasks
            .get_mut(task.index as usize)
            .ok_or(CoreError::unknown_task(task))
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
        self.maps_done == self.n_map() && self.blocked_on.is_empty() && !self.state.is_ended()
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
        let t = self.task(task)?;
        Ok(!self.state.is_ended() && t.is_current(worker, attempt))
    }

    /// Hands `task` to `worker`: its next attempt starts now.
    pub fn assign(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        now: Instant,
    ) -> Result<Attempt, CoreError> {
        let attempt = self.task_mut(task)?.assign(worker, now);
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
        match self.task_mut(task) {
            Ok(t) if t.is_running_on(worker) => {
                t.reset();
                true
            }
            _ => false,
        }
    }

    /// Applies a current finish report; `None` if the task was not running.
    pub fn finish(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        counters: TaskCounters,
        now: Instant,
    ) -> Option<Finished> {
        let (attempt, took) = self.task_mut(task).ok()?.finish(worker, now)?;
        match task.phase {
            Phase::Map => {
                add_map(&mut self.counters, &counters);
                self.maps_done += 1;
            }
            Phase::Reduce => {
                add_reduce(&mut self.counters, &counters);
                self.reduces_done += 1;
            }
        }
        Some(Finished {
            attempt,
            took,
            job_succeeded: self.reduces_done == self.spec.n_reduce,
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
            let t = self.task_mut(task)?;
            let n = t.crash();
            if other_crashes == 0 && n >= max && n < crash_limit(max, 1) {
                // Crashing alone so far: wait for the others' evidence.
                t.park();
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
            self.task_mut(task)?.release_after_fetch();
            *self.fetch_failures.entry(peer).or_insert(0) += 1;
            return Ok(Verdict::Retry);
        }
        let t = self.task_mut(task)?;
        if !failure.retry {
            t.reset();
            self.errors.push(format!("{describe} failed: {error}"));
            return Ok(Verdict::FailJob);
        }
        let n = t.retry();
        if n >= max {
            self.errors.push(format!(
                "{describe} failed {n} times; the last error: {error}"
            ));
            return Ok(Verdict::FailJob);
        }
        Ok(Verdict::Retry)
    }

    /// `task` was running on `worker`, which was lost without evidence
    /// against the task (timed out, killed from outside, cut off): pending
    /// again, however often it happens; nothing is held against the task.
    pub fn lose_running(&mut self, task: TaskId, worker: WorkerId) -> Verdict {
        if self.state.is_ended() {
            return Verdict::Unchanged;
        }
        if !self.task_mut(task).is_ok_and(|t| t.lose(worker)) {
            return Verdict::Unchanged;
        }
        self.counters.task_failures += 1;
        Verdict::Retry
    }

    /// `worker` holds `attempt`'s output of map `task`, left on its machine
    /// by a predecessor (a worker restarted on the same `--work-dir`):
    /// see `Task::adopt`. `None` if nothing changed, else the predecessor
    /// it came from (`Some(None)`: the output had been lost).
    pub fn adopt_output(
        &mut self,
        task: TaskId,
        attempt: Attempt,
        worker: WorkerId,
    ) -> Option<Option<WorkerId>> {
        if self.state.is_ended() || task.phase != Phase::Map {
            return None;
        }
        let from = self.task_mut(task).ok()?.adopt(worker, attempt)?;
        if from.is_none() {
            self.maps_done += 1;
        }
        self.touched.insert(worker);
        Some(from)
    }

    /// Map `task`'s output lived on `worker`, which died: the map must run
    /// again while the job still needs it. Whether it changed.
    pub fn lose_output(&mut self, task: TaskId, worker: WorkerId) -> bool {
        if self.state.is_ended() {
            return false;
        }
        if !self.task_mut(task).is_ok_and(|t| t.lose_output(worker)) {
            return false;
        }
        self.maps_done -= 1;
        self.fetch_failures.remove(&worker);
        true
    }

    /// Fetch failures reported against `peer` (alive or not) since it last
    /// lost its output of this job.
    pub fn fetch_failures(&self, peer: WorkerId) -> u32 {
        self.fetch_failures.get(&peer).copied().unwrap_or(0)
    }

    /// Every map whose output `peer` holds is pending again (reduces could
    /// not fetch it too often: Hadoop's rule for re-executing a map); the
    /// maps to offer.
    pub fn lose_outputs_of(&mut self, peer: WorkerId) -> Vec<TaskId> {
        self.fetch_failures.remove(&peer);
        let held: Vec<TaskId> = self
            .map_outputs()
            .filter(|&(_, _, w)| w == peer)
            .map(|(i, _, _)| TaskId::map(self.id, i))
            .collect();
        held.into_iter()
            .filter(|&t| self.lose_output(t, peer))
            .collect()
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
        if let Ok(t) = self.task_mut(task) {
            t.close(worker, outcome, now);
        }
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
        for (phase, tasks) in [
            (Phase::Map, &mut self.maps),
            (Phase::Reduce, &mut self.reduces),
        ] {
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

/// Adds a finished map attempt's counters to its job's.
fn add_map(c: &mut Counters, t: &TaskCounters) {
    c.input_bytes = c.input_bytes.saturating_add(t.input_bytes);
    c.input_records = c.input_records.saturating_add(t.input_records);
    c.shuffle_bytes = c.shuffle_bytes.saturating_add(t.shuffle_bytes);
    c.map_output_records = c.map_output_records.saturating_add(t.output_records);
    c.map_output_bytes = c.map_output_bytes.saturating_add(t.output_bytes);
}

/// Adds a finished reduce attempt's counters to its job's.
fn add_reduce(c: &mut Counters, t: &TaskCounters) {
    c.input_bytes = c.input_bytes.saturating_add(t.input_bytes);
    c.input_records = c.input_records.saturating_add(t.input_records);
    c.shuffle_bytes = c.shuffle_bytes.saturating_add(t.shuffle_bytes);
    c.reduce_output_records = c.reduce_output_records.saturating_add(t.output_records);
    c.reduce_output_bytes = c.reduce_output_bytes.saturating_add(t.output_bytes);
}
