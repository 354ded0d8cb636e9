//! A job and its tasks as the core keeps them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};

/// What a client submitted, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// Input files, one map task each, in submission order.
    pub files: Vec<String>,
    /// Absolute output directory.
    pub output_dir: String,
    /// The app's name.
    pub app: String,
    /// Number of reduce tasks (output partitions).
    pub n_reduce: u32,
    /// Opaque app arguments.
    pub args: Vec<u8>,
}

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

/// Where one task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Waiting for a worker (or for its job's maps, for a reduce).
    Pending,
    /// Handed to a worker.
    Running {
        worker: WorkerId,
        attempt: Attempt,
        since: Instant,
    },
    /// Finished; for a map, `worker` holds the output.
    Done { worker: WorkerId, attempt: Attempt },
}

/// One task and its history.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub state: TaskState,
    /// Attempts handed out so far (the last attempt number).
    pub attempts: u32,
    /// Attempts lost because their worker died.
    pub lost: u32,
    /// Retryable failures reported.
    pub retries: u32,
}

impl Task {
    fn new() -> Self {
        Task {
            state: TaskState::Pending,
            attempts: 0,
            lost: 0,
            retries: 0,
        }
    }
}

/// A job as the core keeps it.
#[derive(Debug)]
pub(crate) struct Job {
    pub id: JobId,
    pub spec: Arc<JobSpec>,
    pub state: JobState,
    pub maps: Vec<Task>,
    pub reduces: Vec<Task>,
    pub maps_done: u32,
    pub reduces_done: u32,
    /// Alive workers whose map output a failed reduce could not fetch; the
    /// job's reduces wait until each proves alive (heartbeat) or dies.
    pub blocked_on: BTreeSet<WorkerId>,
    /// Every worker that ran one of this job's map tasks (they may hold its
    /// data and are told to drop it when the job ends).
    pub touched: BTreeSet<WorkerId>,
    pub errors: Vec<String>,
    pub counters: super::Counters,
    pub submitted_at: Instant,
    pub finished_at: Option<Instant>,
}

impl Job {
    pub fn new(id: JobId, spec: JobSpec, now: Instant) -> Self {
        let n_map = spec.files.len();
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
            counters: Counters::default(),
            submitted_at: now,
            finished_at: None,
        }
    }

    pub fn n_map(&self) -> u32 {
        self.maps.len() as u32
    }

    pub fn task(&self, phase: Phase, index: u32) -> Option<&Task> {
        match phase {
            Phase::Map => self.maps.get(index as usize),
            Phase::Reduce => self.reduces.get(index as usize),
        }
    }

    pub fn task_mut(&mut self, phase: Phase, index: u32) -> Option<&mut Task> {
        match phase {
            Phase::Map => self.maps.get_mut(index as usize),
            Phase::Reduce => self.reduces.get_mut(index as usize),
        }
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
            .filter(|(_, t)| t.state == TaskState::Pending)
            .map(|(i, _)| TaskId::reduce(self.id, i as u32))
    }

    /// A human description of a task, naming its input for a map.
    pub fn describe(&self, phase: Phase, index: u32) -> String {
        match phase {
            Phase::Map => match self.spec.files.get(index as usize) {
                Some(file) => format!("map task {index} (input {file})"),
                None => format!("map task {index}"),
            },
            Phase::Reduce => format!("reduce task {index}"),
        }
    }
}
