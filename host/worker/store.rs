//! [`MapOutputStore`]: the map output this worker holds, by job and map task,
//! one sorted run of frames per reduce partition, each in memory or in a
//! file of the worker's work directory ([`super::spill`]).
//!
//! The store owns the worker's memory limits and work directory: map tasks
//! ask it whether their output may stay in memory, and dropping a job's
//! output (or everything) frees its memory and deletes its files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::child::HANDED_OVER_PREFIX;
use super::held::HeldDir;
use super::spill::{Charge, DiskRange, MemoryBudget, MemoryLimits, Run, RunFile, WorkDir};
use crate::core::{Attempt, JobId};

/// One partition of one map task's output, as a reduce asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRef {
    /// The job.
    pub job: JobId,
    /// The map task's index.
    pub map_task: u32,
    /// The map attempt wanted (`None`: any, an older peer).
    pub attempt: Option<Attempt>,
    /// The partition (reduce task index).
    pub reduce_task: u32,
}

/// How a store is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The worker's memory limit in bytes (see [`MemoryLimits`]).
    pub memory_limit: u64,
    /// The folder in which the worker's scratch folder is created.
    pub work_dir: PathBuf,
    /// Where finished map output is kept for a successor, if anywhere.
    pub held: Option<Arc<HeldDir>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            memory_limit: super::spill::default_memory_limit(),
            work_dir: std::env::temp_dir(),
            held: None,
        }
    }
}

/// The output of one map task attempt: for each partition, its records as
/// alternating key and value frames, sorted by key.
#[derive(Debug)]
pub struct MapOutput {
    /// The attempt that produced it (`None`: unknown, an older
    /// coordinator).
    pub attempt: Option<Attempt>,
    /// One sorted run per reduce partition.
    pub partitions: Vec<Run>,
    /// The store memory its in-memory runs hold, given back when dropped.
    pub charge: Option<Charge>,
    /// The coordinator state (`RegisterReply.state_id`) it was made under;
    /// set by [`MapOutputStore::insert`] (0: unknown).
    pub state: u64,
}

impl MapOutput {
    /// An output with no memory charge.
    pub fn new(attempt: Option<Attempt>, partitions: Vec<Run>) -> Self {
        MapOutput {
            attempt,
            partitions,
            charge: None,
            state: 0,
        }
    }

    /// Total bytes held, in memory and on disk.
    pub fn len(&self) -> u64 {
        self.partitions.iter().map(Run::len).sum()
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
        job: JobId,
        /// The map task.
        map_task: u32,
    },
    /// It holds another attempt's output.
    #[error(
        "this worker holds attempt {held} of job {job} map task {map_task}, not attempt {wanted}"
    )]
    OtherAttempt {
        /// The job.
        job: JobId,
        /// The map task.
        map_task: u32,
        /// The attempt held.
        held: Attempt,
        /// The attempt asked for.
        wanted: Attempt,
    },
    /// The partition index is out of range.
    #[error("job {job} map task {map_task} has {n} partitions, not {reduce_task}+1")]
    NoPartition {
        /// The job.
        job: JobId,
        /// The map task.
        map_task: u32,
        /// The partition asked for.
        reduce_task: u32,
        /// Partitions held.
        n: usize,
    },
}

/// Held outputs by `(job, map task)`.
type Outputs = HashMap<(JobId, u32), Arc<MapOutput>>;

/// Map outputs by `(job, map task)`. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct MapOutputStore {
    inner: Arc<Mutex<Outputs>>,
    memory_limit: u64,
    limits: MemoryLimits,
    memory: Arc<MemoryBudget>,
    work_dir: Arc<WorkDir>,
    held: Option<Arc<HeldDir>>,
    /// The coordinator state new outputs are made under.
    state: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for MapOutputStore {
    fn default() -> Self {
        Self::new(StoreConfig::default())
    }
}

impl MapOutputStore {
    /// An empty store. Its scratch folder is created inside
    /// `config.work_dir` when first needed and removed when the last clone
    /// of the store is dropped.
    pub fn new(config: StoreConfig) -> Self {
        let limits = MemoryLimits::from_limit(config.memory_limit);
        MapOutputStore {
            inner: Arc::default(),
            memory_limit: config.memory_limit,
            limits,
            memory: Arc::new(MemoryBudget::new(limits.store)),
            work_dir: Arc::new(WorkDir::new(config.work_dir)),
            held: config.held,
            state: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Outputs> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every operation is a single insert/remove), so poisoning is moot.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker's memory limit, in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Takes in map output computed elsewhere (by an executor process): in
    /// memory, charged to the budget, if it fits; else written to one
    /// scratch file.
    pub fn adopt(&self, partitions: Vec<Bytes>) -> std::io::Result<(Vec<Run>, Option<Charge>)> {
        let total: usize = partitions.iter().map(Bytes::len).sum();
        if self.memory.try_reserve(total) {
            let charge = Charge::reserved(Arc::clone(&self.memory), total);
            return Ok((
                partitions.into_iter().map(Run::memory).collect(),
                Some(charge),
            ));
        }
        let file = self.work_dir.create_file("map-output")?;
        let mut offset = 0;
        let mut runs = Vec::with_capacity(partitions.len());
        for part in partitions {
            file.write_all_at(&part, offset)?;
            let len = part.len() as u64;
            runs.push(Run::Disk(DiskRange {
                file: Arc::clone(&file),
                offset,
                len,
            }));
            offset += len;
        }
        Ok((runs, None))
    }

    /// Takes in map output an executor process left in a file it moved
    /// into this worker's scratch folder (one range per partition): the
    /// file is this store's from now on, removed with the output. Only a
    /// file named as the executor names them, directly in the folder, is
    /// taken: a reply cannot make the worker adopt (and later delete) any
    /// other file. Each range is `(path, offset, len)`.
    pub fn adopt_files(&self, ranges: &[(&str, u64, u64)]) -> std::io::Result<Vec<Run>> {
        let folder = self.work_dir.path()?;
        let mut files: Vec<(&str, Arc<RunFile>)> = Vec::new();
        let mut runs = Vec::with_capacity(ranges.len());
        for &(name, offset, len) in ranges {
            let file = match files.iter().find(|(p, _)| *p == name) {
                Some((_, f)) => Arc::clone(f),
                None => {
                    let path = std::path::Path::new(name);
                    let named = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(HANDED_OVER_PREFIX));
                    if !named || path.parent() != Some(folder) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "the executor named {name} as map output, not a file it moves into {}",
                                folder.display()
                            ),
                        ));
                    }
                    let f = Arc::new(RunFile::adopt(path.to_path_buf())?);
                    files.push((name, Arc::clone(&f)));
                    f
                }
            };
            runs.push(Run::Disk(DiskRange { file, offset, len }));
        }
        Ok(runs)
    }

    /// How the worker's memory limit is divided.
    pub fn limits(&self) -> MemoryLimits {
        self.limits
    }

    /// The budget for map output kept in memory.
    pub fn memory(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }

    /// The worker's scratch folder.
    pub fn work_dir(&self) -> &Arc<WorkDir> {
        &self.work_dir
    }

    /// Stores a map task's output, replacing any earlier attempt's; with a
    /// [`HeldDir`], in its file there (kept in memory if that fails).
    pub fn insert(&self, job: JobId, map_task: u32, mut output: MapOutput) {
        output.state = self.state();
        if let (Some(held), Some(attempt)) = (&self.held, output.attempt) {
            match held.persist(output.state, job, map_task, attempt, &output.partitions) {
                Ok(runs) => {
                    output.partitions = runs;
                    output.charge = None;
                }
                Err(e) => tracing::warn!(%job, map_task, "cannot keep map output on disk: {e}"),
            }
        }
        let old = self.lock().insert((job, map_task), Arc::new(output));
        drop(old); // outside the lock: may delete files
    }

    /// Takes in what a predecessor left in the [`HeldDir`]; how many.
    pub fn adopt_held(&self) -> usize {
        let Some(held) = &self.held else {
            return 0;
        };
        let adopted = match held.adopt() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(dir = %held.path().display(), "cannot adopt held map output: {e}");
                return 0;
            }
        };
        let n = adopted.len();
        let mut outputs = self.lock();
        for a in adopted {
            let output = MapOutput {
                state: a.state,
                ..MapOutput::new(Some(a.attempt), a.partitions)
            };
            outputs.insert((a.job, a.map_task), Arc::new(output));
        }
        n
    }

    /// Sets the coordinator state (`RegisterReply.state_id`) that outputs
    /// made from now on belong to.
    pub fn set_state(&self, state: u64) {
        self.state
            .store(state, std::sync::atomic::Ordering::Relaxed);
    }

    fn state(&self) -> u64 {
        self.state.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One partition of a map task's output: only the attempt asked for,
    /// when the asker names one and the held output's attempt is known.
    pub fn partition(&self, part: PartitionRef) -> Result<Run, StoreError> {
        let PartitionRef {
            job,
            map_task,
            attempt,
            reduce_task,
        } = part;
        let out = self
            .lock()
            .get(&(job, map_task))
            .cloned()
            .ok_or(StoreError::Missing { job, map_task })?;
        if let (Some(wanted), Some(held)) = (attempt, out.attempt) {
            if wanted != held {
                return Err(StoreError::OtherAttempt {
                    job,
                    map_task,
                    held,
                    wanted,
                });
            }
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

    /// Drops everything held for `job` (its memory and its files); returns
    /// the bytes freed.
    pub fn remove_job(&self, job: JobId) -> u64 {
        let mut removed = Vec::new();
        self.lock().retain(|(j, _), out| {
            if *j == job {
                removed.push(Arc::clone(out));
                false
            } else {
                true
            }
        });
        removed.iter().map(|o| o.len()).sum()
    }

    /// Every output held whose attempt and coordinator state are known, as
    /// `(state, job, map task, attempt)`, sorted (reported when the worker
    /// registers: again after a coordinator restart, or afresh with what a
    /// predecessor left in the work dir).
    pub fn held(&self) -> Vec<(u64, JobId, u32, Attempt)> {
        let mut held: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, out)| out.state != 0)
            .filter_map(|(&(job, map), out)| out.attempt.map(|a| (out.state, job, map, a)))
            .collect();
        held.sort();
        held
    }

    /// Keeps only the outputs listed (those the coordinator adopted) and
    /// drops the others; returns how many were dropped.
    pub fn keep_only(&self, keep: &[(JobId, u32, Attempt)]) -> usize {
        let mut dropped = Vec::new();
        self.lock().retain(|&(job, map), out| {
            let kept = out.attempt.is_some_and(|a| keep.contains(&(job, map, a)));
            if !kept {
                dropped.push(Arc::clone(out));
            }
            kept
        });
        dropped.len()
    }

    /// Drops everything (the worker was declared dead and starts afresh).
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    /// Bytes held, in memory and on disk.
    pub fn bytes_held(&self) -> u64 {
        self.lock().values().map(|o| o.len()).sum()
    }

    /// Bytes of map output held in memory.
    pub fn memory_held(&self) -> usize {
        self.memory.used()
    }
}

#[cfg(test)]
mod tests;
