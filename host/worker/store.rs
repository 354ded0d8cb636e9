//! [`MapOutputStore`]: the map output this worker holds, by job and map task,
//! one sorted run of frames per reduce partition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// The output of one map task attempt: for each partition, its records as
/// alternating key and value frames, sorted by key.
#[derive(Debug, Clone)]
pub struct MapOutput {
    /// The attempt that produced it.
    pub attempt: u32,
    /// One sorted run per reduce partition.
    pub partitions: Vec<Bytes>,
}

impl MapOutput {
    /// Total bytes held.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Bytes::len).sum()
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a partition cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// This worker holds no output for that map task.
    #[error("this worker holds no output of job {job} map task {map_task}")]
    Missing {
        /// The job.
        job: u32,
        /// The map task.
        map_task: u32,
    },
    /// It holds another attempt's output.
    #[error(
        "this worker holds attempt {held} of job {job} map task {map_task}, not attempt {wanted}"
    )]
    OtherAttempt {
        /// The job.
        job: u32,
        /// The map task.
        map_task: u32,
        /// The attempt held.
        held: u32,
        /// The attempt asked for.
        wanted: u32,
    },
    /// The partition index is out of range.
    #[error("job {job} map task {map_task} has {n} partitions, not {reduce_task}+1")]
    NoPartition {
        /// The job.
        job: u32,
        /// The map task.
        map_task: u32,
        /// The partition asked for.
        reduce_task: u32,
        /// Partitions held.
        n: usize,
    },
}

/// Held outputs by `(job, map task)`.
type Outputs = HashMap<(u32, u32), Arc<MapOutput>>;

/// Map outputs by `(job, map task)`. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MapOutputStore {
    inner: Arc<Mutex<Outputs>>,
}

impl MapOutputStore {
    fn lock(&self) -> MutexGuard<'_, Outputs> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every operation is a single insert/remove), so poisoning is moot.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a map task's output, replacing any earlier attempt's.
    pub fn insert(&self, job: u32, map_task: u32, output: MapOutput) {
        self.lock().insert((job, map_task), Arc::new(output));
    }

    /// One partition of a map task's output. `attempt` 0 accepts any.
    pub fn partition(
        &self,
        job: u32,
        map_task: u32,
        reduce_task: u32,
        attempt: u32,
    ) -> Result<Bytes, StoreError> {
        let out = self
            .lock()
            .get(&(job, map_task))
            .cloned()
            .ok_or(StoreError::Missing { job, map_task })?;
        if attempt != 0 && out.attempt != attempt {
            return Err(StoreError::OtherAttempt {
                job,
                map_task,
                held: out.attempt,
                wanted: attempt,
            });
        }
        out.partitions
            .get(reduce_task as usize)
            .cloned()
            .ok_or(StoreError::NoPartition {
                job,
                map_task,
                reduce_task,
                n: out.partitions.len(),
            })
    }

    /// Drops everything held for `job`; returns the bytes freed.
    pub fn remove_job(&self, job: u32) -> usize {
        let mut map = self.lock();
        let mut freed = 0;
        map.retain(|(j, _), out| {
            if *j == job {
                freed += out.len();
                false
            } else {
                true
            }
        });
        freed
    }

    /// Drops everything (the worker was declared dead and starts afresh).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Bytes held.
    pub fn bytes_held(&self) -> usize {
        self.lock().values().map(|o| o.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(attempt: u32) -> MapOutput {
        MapOutput {
            attempt,
            partitions: vec![Bytes::from_static(b"p0"), Bytes::from_static(b"p1")],
        }
    }

    #[test]
    fn serves_partitions_by_attempt() {
        let s = MapOutputStore::default();
        s.insert(1, 0, output(2));
        assert_eq!(s.partition(1, 0, 1, 0), Ok(Bytes::from_static(b"p1")));
        assert_eq!(s.partition(1, 0, 0, 2), Ok(Bytes::from_static(b"p0")));
        assert_eq!(
            s.partition(1, 0, 0, 1),
            Err(StoreError::OtherAttempt {
                job: 1,
                map_task: 0,
                held: 2,
                wanted: 1
            })
        );
        assert_eq!(
            s.partition(1, 1, 0, 0),
            Err(StoreError::Missing {
                job: 1,
                map_task: 1
            })
        );
        assert!(matches!(
            s.partition(1, 0, 5, 0),
            Err(StoreError::NoPartition { n: 2, .. })
        ));
    }

    #[test]
    fn remove_job_frees_only_that_job() {
        let s = MapOutputStore::default();
        s.insert(1, 0, output(1));
        s.insert(2, 0, output(1));
        assert_eq!(s.remove_job(1), 4);
        assert!(s.partition(1, 0, 0, 0).is_err());
        assert!(s.partition(2, 0, 0, 0).is_ok());
        assert_eq!(s.bytes_held(), 4);
    }
}
