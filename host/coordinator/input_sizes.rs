//! What a map task could have read: each job's input sizes, measured at
//! submission, bound the counters a worker reports, so a rogue worker with
//! a valid token cannot make a job claim `input 1000000000000155 B`. A map
//! task reads its split (at most the files it names, from the range's start
//! to their end, since the last line may run past the range), and a record
//! is at least one byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::core::{JobId, JobSpec, Phase, TaskCounters, TaskId};

/// The input sizes of the jobs submitted here, by job.
#[derive(Debug, Default)]
pub struct InputSizes {
    jobs: Mutex<HashMap<JobId, Arc<JobInputs>>>,
}

#[derive(Debug)]
struct JobInputs {
    sizes: Vec<u64>,
    largest: u64,
}

/// What each map task of `spec` could read at most, in task order, from
/// the sizes of its input files as admission measured them (or the object
/// listing gave them); no I/O. A file missing from `sizes` counts as empty.
pub fn measure(spec: &JobSpec, sizes: &[(String, u64)]) -> Vec<u64> {
    let sizes: HashMap<&str, u64> = sizes.iter().map(|(f, n)| (f.as_str(), *n)).collect();
    let size_of = |path: &str| sizes.get(path).copied().unwrap_or(0);
    if spec.splits.is_empty() {
        return spec.files.iter().map(|f| size_of(f)).collect();
    }
    spec.splits
        .iter()
        .map(|split| {
            split
                .inputs
                .iter()
                .map(|r| size_of(&r.path).saturating_sub(r.offset))
                .fold(0u64, u64::saturating_add)
        })
        .collect()
}

impl InputSizes {
    /// Records the most each of `job`'s map tasks could read, in task order.
    pub fn insert(&self, job: JobId, sizes: Vec<u64>) {
        let largest = sizes.iter().copied().max().unwrap_or(0);
        self.lock()
            .insert(job, Arc::new(JobInputs { sizes, largest }));
    }

    /// Forgets `job` (once it is no longer kept).
    pub fn forget(&self, job: JobId) {
        self.lock().remove(&job);
    }

    /// `counters` as reported for `task`, with the input counters of a map
    /// task cut to what it could have read: its split's size (the largest
    /// task's when the index is unknown), and no more records than bytes
    /// (one for an empty file).
    pub fn clamp(&self, task: TaskId, mut counters: TaskCounters) -> TaskCounters {
        if task.phase != Phase::Map {
            return counters;
        }
        let Some(inputs) = self.lock().get(&task.job).cloned() else {
            return counters;
        };
        let bound = inputs
            .sizes
            .get(task.index as usize)
            .copied()
            .unwrap_or(inputs.largest);
        counters.input_bytes = counters.input_bytes.min(bound);
        counters.input_records = counters.input_records.min(counters.input_bytes.max(1));
        counters
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Arc<JobInputs>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{InputRange, Split};

    #[test]
    fn a_task_could_read_its_files_from_the_range_start_on() {
        let sizes = [("/a".to_string(), 100), ("/b".to_string(), 30)];
        let mut spec = JobSpec::new("wc", vec!["/a".into(), "/b".into()], "/out", 1);
        assert_eq!(measure(&spec, &sizes), [100, 30], "whole files");
        spec.splits = vec![
            Split {
                inputs: vec![InputRange {
                    path: "/a".into(),
                    offset: 0,
                    len: Some(60),
                }],
            },
            Split {
                inputs: vec![
                    InputRange {
                        path: "/a".into(),
                        offset: 60,
                        len: Some(40),
                    },
                    InputRange::whole("/b".into()),
                ],
            },
        ];
        assert_eq!(measure(&spec, &sizes), [100, 70]);
        assert_eq!(measure(&spec, &[]), [0, 0], "unknown files are empty");
    }

    fn map(job: u32, index: u32) -> TaskId {
        TaskId {
            job: JobId(job),
            phase: Phase::Map,
            index,
        }
    }

    #[test]
    fn map_inputs_are_cut_to_the_files_size() {
        let s = InputSizes::default();
        s.insert(JobId(1), vec![12, 0, 500]);
        let huge = TaskCounters {
            input_bytes: u64::MAX,
            input_records: u64::MAX,
            output_bytes: 7,
            ..TaskCounters::default()
        };
        let c = s.clamp(map(1, 0), huge);
        assert_eq!(
            (c.input_bytes, c.input_records, c.output_bytes),
            (12, 12, 7)
        );
        let c = s.clamp(map(1, 1), huge);
        assert_eq!((c.input_bytes, c.input_records), (0, 1));
        assert_eq!(s.clamp(map(1, 9), huge).input_bytes, 500, "largest file");
        let honest = TaskCounters {
            input_bytes: 10,
            input_records: 1,
            ..TaskCounters::default()
        };
        assert_eq!(s.clamp(map(1, 0), honest), honest);
        let reduce = TaskId {
            phase: Phase::Reduce,
            ..map(1, 0)
        };
        assert_eq!(s.clamp(reduce, huge), huge);
        s.forget(JobId(1));
        assert_eq!(s.clamp(map(1, 0), huge), huge);
    }
}
