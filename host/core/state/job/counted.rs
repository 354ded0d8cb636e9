//! A job's counters: [`Counters`] (its totals), [`PhaseCounts`] (done and
//! running tasks per phase, kept on every transition) and [`Counted`], job
//! counters that count each task once, by the attempt of it that was
//! accepted last: a map that runs again after its output was lost (its
//! worker died, reduces could not fetch it) replaces its earlier
//! contribution instead of adding to it. `task_attempts` and
//! `task_failures` are not kept here: they count every attempt.

use std::collections::BTreeMap;

use crate::core::ids::Phase;
use crate::core::messages::TaskCounters;
use crate::core::state::task::{Task, TaskState};

/// Per-job counters: each task counted once, by its accepted attempt
/// (see [`Counted`]); `task_attempts` and `task_failures` count every attempt.
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
    pub(super) fn add(&mut self, state: TaskState) {
        match state {
            TaskState::Done { .. } | TaskState::Restored { .. } => self.done += 1,
            TaskState::Running { .. } => self.running += 1,
            TaskState::Pending | TaskState::Parked => {}
        }
    }

    pub(super) fn remove(&mut self, state: TaskState) {
        match state {
            TaskState::Done { .. } | TaskState::Restored { .. } => self.done -= 1,
            TaskState::Running { .. } => self.running -= 1,
            TaskState::Pending | TaskState::Parked => {}
        }
    }

    /// The counts of `tasks`, from scratch (a job restored from the store).
    pub(super) fn of(tasks: &[Task]) -> Self {
        let mut c = PhaseCounts::default();
        tasks.iter().for_each(|t| c.add(t.state()));
        c
    }
}

/// The counters each task contributed to its job's, by phase and index.
#[derive(Debug, Default)]
pub(super) struct Counted {
    maps: BTreeMap<u32, TaskCounters>,
    reduces: BTreeMap<u32, TaskCounters>,
}

impl Counted {
    /// Counts `t` as task `index`'s in `job`, in place of what an earlier
    /// accepted attempt of the same task contributed.
    pub(super) fn record(&mut self, job: &mut Counters, phase: Phase, index: u32, t: TaskCounters) {
        let tasks = match phase {
            Phase::Map => &mut self.maps,
            Phase::Reduce => &mut self.reduces,
        };
        if let Some(old) = tasks.insert(index, t) {
            apply(job, phase, &old, u64::saturating_sub);
        }
        apply(job, phase, &t, u64::saturating_add);
    }
}

/// Adds (or subtracts) one task's counters to its job's with `op`.
fn apply(c: &mut Counters, phase: Phase, t: &TaskCounters, op: fn(u64, u64) -> u64) {
    c.input_bytes = op(c.input_bytes, t.input_bytes);
    c.input_records = op(c.input_records, t.input_records);
    c.shuffle_bytes = op(c.shuffle_bytes, t.shuffle_bytes);
    match phase {
        Phase::Map => {
            c.map_output_records = op(c.map_output_records, t.output_records);
            c.map_output_bytes = op(c.map_output_bytes, t.output_bytes);
        }
        Phase::Reduce => {
            c.reduce_output_records = op(c.reduce_output_records, t.output_records);
            c.reduce_output_bytes = op(c.reduce_output_bytes, t.output_bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: u64) -> TaskCounters {
        TaskCounters {
            input_bytes: bytes,
            input_records: 1,
            output_records: 2,
            output_bytes: 3,
            shuffle_bytes: 0,
        }
    }

    #[test]
    fn a_task_finishing_again_replaces_its_contribution() {
        let mut counted = Counted::default();
        let mut job = Counters::default();
        counted.record(&mut job, Phase::Map, 0, read(10));
        counted.record(&mut job, Phase::Map, 1, read(5));
        counted.record(&mut job, Phase::Map, 0, read(10));
        counted.record(&mut job, Phase::Reduce, 0, read(7));
        assert_eq!(job.input_bytes, 22);
        assert_eq!(job.input_records, 3);
        assert_eq!((job.map_output_records, job.map_output_bytes), (4, 6));
        assert_eq!((job.reduce_output_records, job.reduce_output_bytes), (2, 3));
    }
}
