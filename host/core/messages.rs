//! What crosses the [`Scheduler`](super::Scheduler) façade: the inputs it
//! takes (a job spec, task reports) and the outputs it hands back
//! (assignments, events, finished attempts' run times).
//!
//! Plain data with no behaviour beyond small accessors; the coordinator's
//! `convert` module turns these to and from the wire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::state::{Counters, JobState};

/// Which apps a worker runs, as far as the coordinator can tell. A job's
/// tasks all go to one kind ([`Scheduler::next_task`](super::Scheduler::next_task)):
/// a course worker's compiled-in app and the coordinator's plugin of the
/// same name need not agree on map output or output format, so mixing them
/// in one job corrupts its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    /// Runs the coordinator's plugins, checked by hash (our `mr worker`,
    /// which registers with the address it serves on).
    Plugin,
    /// Runs apps compiled into it, which the coordinator cannot verify: the
    /// CS 162 course's worker, which registers without an address.
    CompiledIn,
}

impl WorkerKind {
    /// The kind a registration shows: without an address, a course worker.
    pub fn of_registration(address: Option<&str>) -> WorkerKind {
        match address {
            Some(a) if !a.is_empty() => WorkerKind::Plugin,
            _ => WorkerKind::CompiledIn,
        }
    }
}

/// What a client submitted, already validated. Serialisable, so the
/// coordinator's durable store keeps every field (fields added later must
/// have a `#[serde(default)]`, so records written before still load).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobSpec {
    /// Input files in submission order (folders and globs expanded).
    pub files: Vec<String>,
    /// What each map task reads, by map index. Empty: one whole-file task
    /// per input file (what jobs submitted without a split size get).
    #[serde(default)]
    pub splits: Vec<Split>,
    /// Absolute output directory.
    pub output_dir: String,
    /// The app's name.
    pub app: String,
    /// Number of reduce tasks (output partitions).
    pub n_reduce: u32,
    /// Opaque app arguments.
    pub args: Vec<u8>,
    /// A name for people (may be empty).
    #[serde(default)]
    pub name: String,
    /// Who submitted it, as the client said (may be empty).
    #[serde(default)]
    pub submitted_by: String,
    /// Whether stragglers get backup attempts; `None`: as the coordinator
    /// is configured (`SchedulerConfig::speculation`).
    #[serde(default)]
    pub speculation: Option<bool>,
}

impl JobSpec {
    /// A spec for `app` over the whole `files` into `output_dir` with
    /// `n_reduce` partitions: no splits, arguments or label, speculation as
    /// the coordinator is configured.
    pub fn new(
        app: impl Into<String>,
        files: Vec<String>,
        output_dir: impl Into<String>,
        n_reduce: u32,
    ) -> Self {
        JobSpec {
            files,
            splits: Vec::new(),
            output_dir: output_dir.into(),
            app: app.into(),
            n_reduce,
            args: Vec::new(),
            name: String::new(),
            submitted_by: String::new(),
            speculation: None,
        }
    }

    /// The number of map tasks.
    pub fn n_map(&self) -> usize {
        if self.splits.is_empty() {
            self.files.len()
        } else {
            self.splits.len()
        }
    }

    /// What map task `index` reads, if there is such a task.
    pub fn split(&self, index: u32) -> Option<Split> {
        let i = index as usize;
        if self.splits.is_empty() {
            self.files.get(i).map(|f| Split {
                inputs: vec![InputRange::whole(f.clone())],
            })
        } else {
            self.splits.get(i).cloned()
        }
    }
}

/// What one map task reads: one or more pieces of input files, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// The pieces; several whole small files, or one byte range.
    pub inputs: Vec<InputRange>,
}

impl Split {
    /// The input file when the split is exactly one whole file (what a
    /// worker that predates splits can run).
    pub fn whole_file(&self) -> Option<&str> {
        match self.inputs.as_slice() {
            [one] if one.len.is_none() => Some(&one.path),
            _ => None,
        }
    }

    /// How the split names its input in messages.
    pub fn describe(&self) -> String {
        match self.inputs.as_slice() {
            [one] => one.describe(),
            [first, .., last] => format!(
                "{} files, {} .. {}",
                self.inputs.len(),
                first.describe(),
                last.describe()
            ),
            [] => "no input".to_string(),
        }
    }
}

/// A piece of an input file: the whole file, or the line records that start
/// in a byte range of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputRange {
    /// The path, as the job names it.
    pub path: String,
    /// Where the range starts (0 for a whole file).
    pub offset: u64,
    /// The range's length; `None` for the whole file.
    pub len: Option<u64>,
}

impl InputRange {
    /// All of `path`.
    pub fn whole(path: String) -> Self {
        InputRange {
            path,
            offset: 0,
            len: None,
        }
    }

    /// `path`, or `path[offset..offset+len]` for a range.
    pub fn describe(&self) -> String {
        match self.len {
            None => self.path.clone(),
            Some(len) => format!("{}[{}..{}]", self.path, self.offset, self.offset + len),
        }
    }
}

/// What a worker measured while running one task attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskCounters {
    /// Bytes read (a map's inputs: whole files or the lines of a range).
    pub input_bytes: u64,
    /// Inputs read (a map: one per file or range of its split).
    pub input_records: u64,
    /// Records written (map output after the combiner, or reduce output).
    pub output_records: u64,
    /// Bytes written.
    pub output_bytes: u64,
    /// Bytes fetched from map workers (a reduce).
    pub shuffle_bytes: u64,
}

/// A worker's report on one task attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The reporting worker.
    pub worker: WorkerId,
    /// The task.
    pub task: TaskId,
    /// The attempt reported on; `None` from older workers, which do not
    /// send it (then only the worker is checked).
    pub attempt: Option<Attempt>,
}

/// How a task attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error, as the worker reported it.
    pub error: String,
    /// Whether another attempt may succeed (an unreachable peer, say).
    pub retry: bool,
    /// For a fetch failure: the map worker that could not be reached.
    pub unreachable: Option<WorkerId>,
    /// Evidence that the task killed the process running its app code: how
    /// it died (`"killed by signal SIGSEGV"`, `"exit code 1"`). Such a
    /// crash is held against the task (see `state::blame`); `retry` is
    /// ignored.
    pub crash: Option<String>,
}

/// What became of a task report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The report was applied.
    Accepted,
    /// The report was stale (another attempt, a dead worker, an ended job)
    /// and changed nothing.
    Ignored,
}

/// Where a finished map task's output can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLocation {
    /// The map task.
    pub task: u32,
    /// The attempt that produced the output.
    pub attempt: Attempt,
    /// The worker holding it.
    pub worker: WorkerId,
    /// The address (host:port) that worker registered with; `None` for a
    /// worker that gave none (how to reach it then is the service's rule).
    pub address: Option<String>,
}

/// A task handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The task.
    pub task: TaskId,
    /// This assignment's attempt number.
    pub attempt: Attempt,
    /// The job's specification.
    pub spec: Arc<JobSpec>,
    /// Number of map tasks of the job.
    pub n_map: u32,
    /// For a reduce: where every map task's output is, by map index.
    pub map_locations: Vec<MapLocation>,
}

impl Assignment {
    /// For a map: what it reads.
    pub fn split(&self) -> Option<Split> {
        match self.task.phase {
            Phase::Map => self.spec.split(self.task.index),
            Phase::Reduce => None,
        }
    }
}

/// Something the world outside the core should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A job ended: these workers may hold its map output and should drop it.
    JobEnded {
        /// The job.
        job: JobId,
        /// `(worker, registered address)` of every alive worker that ran one
        /// of its maps.
        workers: Vec<(WorkerId, Option<String>)>,
    },
    /// A worker was declared dead.
    WorkerDied(WorkerId),
    /// A course worker declared dead was heard from again and taken back
    /// as a fresh worker under its id (it cannot register again).
    WorkerReturned(WorkerId),
    /// An ended job left the bounded history: whatever the caller keeps
    /// about it can go too.
    JobForgotten(JobId),
}

/// The run time of one accepted (finished) task attempt, from its
/// assignment to its report: raw data for whoever keeps metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRun {
    /// The task.
    pub task: TaskId,
    /// The attempt that finished.
    pub attempt: Attempt,
    /// How long it ran.
    pub took: Duration,
    /// What the attempt measured (the durable store records it with the
    /// task, so a restored job's counters count it).
    pub counters: TaskCounters,
}

/// A map output a worker says it holds when it registers (after a
/// coordinator restart, or when it adopts what a killed predecessor left
/// in its work folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeldOutput {
    /// The job.
    pub job: JobId,
    /// The map task's index.
    pub map: u32,
    /// The attempt that produced it.
    pub attempt: Attempt,
}

/// A task that finished before a coordinator restart, as the durable
/// store recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedTask {
    /// The attempt that finished.
    pub attempt: Attempt,
    /// What it measured.
    pub counters: TaskCounters,
}

/// How a job ended, as the durable store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// Succeeded, failed or cancelled.
    pub state: JobState,
    /// Why it failed (or that it was cancelled).
    pub errors: Vec<String>,
    /// Its final counters.
    pub counters: Counters,
    /// When it ended.
    pub finished_at: Instant,
}

/// A job as the durable store recorded it, to be put back into a fresh
/// core after a coordinator restart ([`Scheduler::restore_job`]).
///
/// [`Scheduler::restore_job`]: super::Scheduler::restore_job
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredJob {
    /// Its id (kept: clients know it).
    pub id: JobId,
    /// What was submitted.
    pub spec: JobSpec,
    /// When it was submitted.
    pub submitted_at: Instant,
    /// Map tasks recorded as finished, by index. Their output lived on
    /// workers: each runs again unless a worker that registers holds it.
    pub maps_done: Vec<(u32, FinishedTask)>,
    /// Reduce tasks recorded as finished, by index: their output is in the
    /// job's folder, so they stay finished.
    pub reduces_done: Vec<(u32, FinishedTask)>,
    /// How it ended, if it had.
    pub end: Option<JobEnd>,
}
