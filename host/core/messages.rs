//! What crosses the [`Scheduler`](super::Scheduler) façade: the inputs it
//! takes (a job spec, task reports) and the outputs it hands back
//! (assignments, events, finished attempts' run times).
//!
//! Plain data with no behaviour beyond small accessors; the coordinator's
//! `convert` module turns these to and from the wire.

use std::sync::Arc;
use std::time::Duration;

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
    /// A name for people (may be empty).
    pub name: String,
    /// Who submitted it, as the client said (may be empty).
    pub submitted_by: String,
}

/// What a worker measured while running one task attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounters {
    /// Bytes read (a map's input file).
    pub input_bytes: u64,
    /// Records read (a map: 1 per file).
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
    /// For a map: its input file.
    pub fn file(&self) -> Option<&str> {
        match self.task.phase {
            Phase::Map => self
                .spec
                .files
                .get(self.task.index as usize)
                .map(String::as_str),
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
}
