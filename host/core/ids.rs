//! Newtype identifiers used throughout the core.

use std::fmt;

/// A job's id: handed out from 0 upwards, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u32);

/// A worker's id: handed out from 0 upwards, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u32);

/// An attempt number: 1 for a task's first assignment, then 2, 3, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(pub u32);

/// The phase a task belongs to. Maps order before reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// One task per input file.
    Map,
    /// One task per output partition.
    Reduce,
}

/// A task: its job, phase and index within the phase. The derived order is
/// the scheduling order: by job, then maps before reduces, then index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// The job.
    pub job: JobId,
    /// Map or reduce.
    pub phase: Phase,
    /// Index within the phase.
    pub index: u32,
}

impl TaskId {
    /// Map task `index` of `job`.
    pub fn map(job: JobId, index: u32) -> Self {
        TaskId {
            job,
            phase: Phase::Map,
            index,
        }
    }

    /// Reduce task `index` of `job`.
    pub fn reduce(job: JobId, index: u32) -> Self {
        TaskId {
            job,
            phase: Phase::Reduce,
            index,
        }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Map => "map",
            Phase::Reduce => "reduce",
        })
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {} {} task {}", self.job, self.phase, self.index)
    }
}
