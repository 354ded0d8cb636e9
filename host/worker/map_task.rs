//! Running a map task: the app's map over the inputs of one split (whole
//! files, or the lines of a range of one file), partitioned by key,
//! sorted, combined, and framed into one run per partition.
//!
//! Emitted records are buffered per partition. When the buffers outgrow
//! their budget they are sorted, combined and written to a spill file, one
//! sorted run per partition, and emptied. At the end, an unspilled task
//! keeps its output in memory if the store has room for it (else writes it
//! to one file); a task that spilled merges its runs partition by partition
//! (combining again) into one output file. Memory stays near the budget
//! however large the task's output.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use bytes::Bytes;
use plugin_api::Values;

use super::merge::{MergeError, Merger};
use super::spill::{
    Charge, DiskRange, FrameWriter, MemoryBudget, MemoryLimits, Run, RunWriter, WorkDir,
};
use crate::plugin::LoadedApp;
use buffer::{PartitionBuf, RangeValues, INDEX_ENTRY};
use plugin_api::abi::AppCallError;

/// How an error names where in a file a map call's lines start.
fn at_offset(offset: u64) -> String {
    if offset == 0 {
        String::new()
    } else {
        format!(" (the lines from byte {offset})")
    }
}

/// Why a map task failed. The texts are the task's failure message.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The app's map failed over an input; its own message, after the
    /// input's path (and where in the file the call's lines start).
    #[error("{path}{}: {error}", at_offset(*.offset))]
    App {
        /// The input's path.
        path: String,
        /// Where the call's lines start in the file.
        offset: u64,
        /// What the app said.
        error: AppCallError,
    },
    /// The app's code failed outside a map call (its partitioner or
    /// combiner); its own message.
    #[error(transparent)]
    AppCode(#[from] AppCallError),
    /// An input could not be read; the reader's explanation.
    #[error(transparent)]
    UnreadableInput(#[from] crate::worker::input_error::InputReadError),
    /// The map emitted a key or value too long to frame.
    #[error("map emitted a {what} of {len} bytes (the limit is 4 GiB)")]
    TooLong {
        /// `key` or `value`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The app's partitioner named a partition that does not exist.
    #[error("the app's partitioner returned {partition} for {n_reduce} partitions")]
    BadPartition {
        /// The partition returned.
        partition: u32,
        /// How many there are.
        n_reduce: u32,
    },
    /// Buffered output could not be spilled.
    #[error("cannot spill map output to local disk: {0}")]
    Spill(#[source] std::io::Error),
    /// The merged output file could not be written.
    #[error("cannot write map output to local disk: {0}")]
    WriteOutput(#[source] std::io::Error),
    /// Framing sorted output failed.
    #[error("cannot write map output: {0}")]
    Frame(#[source] std::io::Error),
    /// Merging the spills failed.
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// What a map task produced besides its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Records stored (after the combiner).
    pub records: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Times the buffers were spilled to disk.
    pub spills: u32,
}

/// Where a map task may keep its output.
#[derive(Debug, Clone, Copy)]
pub struct MapConfig<'a> {
    /// Memory limits of the worker.
    pub limits: MemoryLimits,
    /// The store's budget for output kept in memory.
    pub memory: &'a Arc<MemoryBudget>,
    /// Where spills and on-disk output go.
    pub work_dir: &'a WorkDir,
}

/// A map task's output, ready for the store.
#[derive(Debug)]
pub struct MapResult {
    /// One sorted run per partition.
    pub partitions: Vec<Run>,
    /// The store memory the in-memory runs hold.
    pub charge: Option<Charge>,
    /// Counts.
    pub stats: MapStats,
}

/// The map task's state between `emit` calls.
struct Mapper<'a> {
    app: &'a dyn LoadedApp,
    args: &'a [u8],
    n_reduce: u32,
    custom_partitioner: bool,
    cfg: MapConfig<'a>,
    parts: Vec<PartitionBuf>,
    buffered: usize,
    /// Spill files: one range per partition each.
    spills: Vec<Vec<DiskRange>>,
    /// What the last spill wrote.
    last_spill: MapStats,
    failure: Option<MapError>,
}

impl Mapper<'_> {
    fn emit(&mut self, key: &[u8], value: &[u8]) -> Result<(), MapError> {
        let p = if self.custom_partitioner {
            match self
                .app
                .partition(key, self.n_reduce, self.args)
                .map_err(MapError::AppCode)?
            {
                p if p < self.n_reduce => p,
                p => {
                    return Err(MapError::BadPartition {
                        partition: p,
                        n_reduce: self.n_reduce,
                    })
                }
            }
        } else {
            plugin_api::ihash(key) % self.n_reduce
        };
        self.parts[p as usize].push(key, value)?;
        self.buffered += key.len() + value.len() + INDEX_ENTRY;
        if self.buffered > self.cfg.limits.map_buffer {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts, combines and writes every partition buffer to a new spill
    /// file, then empties the buffers.
    fn spill(&mut self) -> Result<(), MapError> {
        let io = MapError::Spill;
        let file = self.cfg.work_dir.create_file("spill").map_err(io)?;
        let mut out = FrameWriter::new(BufWriter::with_capacity(1 << 20, RunWriter::new(file)));
        let mut ranges = Vec::with_capacity(self.parts.len());
        let mut stats = MapStats::default();
        for part in &mut self.parts {
            let start = out.bytes();
            sort_and_frame(self.app, part, self.args, &mut out, &mut stats)?;
            part.clear();
            ranges.push((start, out.bytes() - start));
        }
        let writer = out
            .into_inner()
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        let file = writer.file().clone();
        self.spills.push(
            ranges
                .into_iter()
                .map(|(offset, len)| DiskRange {
                    file: file.clone(),
                    offset,
                    len,
                })
                .collect(),
        );
        self.buffered = 0;
        self.last_spill = stats;
        Ok(())
    }

    fn finish(mut self) -> Result<MapResult, MapError> {
        if self.spills.is_empty() {
            let framed: usize = self.parts.iter().map(PartitionBuf::framed_len).sum();
            if self.cfg.memory.try_reserve(framed) {
                let mut charge = Charge::reserved(self.cfg.memory.clone(), framed);
                let mut stats = MapStats::default();
                let mut partitions = Vec::with_capacity(self.parts.len());
                for part in &mut self.parts {
                    let mut out = FrameWriter::new(Vec::with_capacity(part.framed_len()));
                    sort_and_frame(self.app, part, self.args, &mut out, &mut stats)?;
                    *part = PartitionBuf::default();
                    partitions.push(Run::memory(Bytes::from(out.into_inner())));
                }
                charge.resize(stats.bytes as usize);
                return Ok(MapResult {
                    partitions,
                    charge: Some(charge),
                    stats,
                });
            }
        }
        if self.buffered > 0 || self.spills.is_empty() {
            self.spill()?;
        }
        self.parts = Vec::new();
        self.merge_spills()
    }

    /// Merges the spill files partition by partition into one output file.
    fn merge_spills(self) -> Result<MapResult, MapError> {
        let io = MapError::WriteOutput;
        let mut stats = MapStats {
            spills: self.spills.len() as u32,
            ..MapStats::default()
        };
        if self.spills.len() == 1 {
            // One spill is already sorted and combined: keep it as it is.
            let partitions: Vec<Run> = self.spills[0].iter().cloned().map(Run::Disk).collect();
            stats.records = self.last_spill.records;
            stats.bytes = self.last_spill.bytes;
            return Ok(MapResult {
                partitions,
                charge: None,
                stats,
            });
        }
        let file = self.cfg.work_dir.create_file("map-out").map_err(io)?;
        let mut out = FrameWriter::new(BufWriter::with_capacity(1 << 20, RunWriter::new(file)));
        let buffer = self.cfg.limits.merge_buffer_per_run(self.spills.len());
        let combine = self.app.has_combiner();
        let mut ranges = Vec::with_capacity(self.n_reduce as usize);
        let mut key = Vec::new();
        for p in 0..self.n_reduce as usize {
            let start = out.bytes();
            let runs: Vec<Run> = self
                .spills
                .iter()
                .map(|s| Run::Disk(s[p].clone()))
                .collect();
            let mut merger = Merger::new(runs, buffer)?;
            while merger.next_key(&mut key)? {
                if combine {
                    let value = self
                        .app
                        .combine(&key, &mut merger.values(), self.args)
                        .map_err(MapError::AppCode)?;
                    if let Some(e) = merger.take_error() {
                        return Err(e.into());
                    }
                    out.pair(&key, &value).map_err(io)?;
                } else {
                    let mut values = merger.values();
                    while let Some(v) = values.next_value() {
                        out.pair(&key, v).map_err(io)?;
                    }
                    if let Some(e) = merger.take_error() {
                        return Err(e.into());
                    }
                }
            }
            ranges.push((start, out.bytes() - start));
        }
        stats.records = out.records();
        stats.bytes = out.bytes();
        let writer = out
            .into_inner()
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        let file = writer.file().clone();
        let partitions = ranges
            .into_iter()
            .map(|(offset, len)| {
                Run::Disk(DiskRange {
                    file: file.clone(),
                    offset,
                    len,
                })
            })
            .collect();
        Ok(MapResult {
            partitions,
            charge: None,
            stats,
        })
    }
}

/// Runs `app`'s map over one input and returns one sorted (and, if the app
/// has a combiner, combined) run per partition. Errors are the app's message
/// or the engine's own explanation.
pub fn run_map(
    app: &dyn LoadedApp,
    path: &str,
    contents: &[u8],
    args: &[u8],
    n_reduce: u32,
    cfg: MapConfig<'_>,
) -> Result<MapResult, MapError> {
    let mut inputs = std::iter::once(Ok(MapSource::new(
        path.to_string(),
        0,
        contents.to_vec().into(),
    )));
    run_map_inputs(app, &mut inputs, args, n_reduce, cfg)
}

/// One map call's input, as read from a split.
#[derive(Debug)]
pub struct MapSource {
    /// The path, as the job names it (of the first file, when joined).
    pub path: String,
    /// Where `contents` starts in the file.
    pub offset: u64,
    /// A whole file, a range's lines, or several files' lines joined.
    pub contents: bytes::Bytes,
    /// When several inputs were joined into this call, each of them, so
    /// that a failing call can say which file failed (empty otherwise).
    pub joined: Vec<JoinedPart>,
}

/// One input of a joined map call: where it is in the call's contents.
#[derive(Debug)]
pub struct JoinedPart {
    /// Its path, as the job names it.
    pub path: String,
    /// Where its lines start in its file.
    pub offset: u64,
    /// Where its bytes are in the joined contents.
    pub range: std::ops::Range<usize>,
}

impl MapSource {
    /// One input's call: `contents`, from byte `offset` of `path`.
    pub fn new(path: String, offset: u64, contents: bytes::Bytes) -> Self {
        MapSource {
            path,
            offset,
            contents,
            joined: Vec::new(),
        }
    }
}

/// [`run_map`] over the inputs of one split, read one at a time as the
/// iterator yields them (so only one is in memory at once), one map call
/// each, into one output. A read error ends the task with that error.
pub fn run_map_inputs(
    app: &dyn LoadedApp,
    inputs: &mut dyn Iterator<Item = Result<MapSource, MapError>>,
    args: &[u8],
    n_reduce: u32,
    cfg: MapConfig<'_>,
) -> Result<MapResult, MapError> {
    let mut mapper = Mapper {
        app,
        args,
        n_reduce,
        custom_partitioner: app.has_partitioner(),
        cfg,
        parts: (0..n_reduce).map(|_| PartitionBuf::default()).collect(),
        buffered: 0,
        spills: Vec::new(),
        last_spill: MapStats::default(),
        failure: None,
    };
    for input in inputs {
        let input = input?;
        app.map(
            &input.path,
            input.offset,
            &input.contents,
            args,
            &mut |key, value| {
                if mapper.failure.is_none() {
                    if let Err(e) = mapper.emit(key, value) {
                        mapper.failure = Some(e);
                    }
                }
            },
        )
        .map_err(|e| app_failed(app, &input, args, e))?;
        if let Some(e) = mapper.failure.take() {
            return Err(e);
        }
    }
    mapper.finish()
}

/// The error of a failed map call over `input`, naming the file: for a
/// call of joined inputs, the first of them whose own call fails (each is
/// mapped again alone, its records dropped: the task fails anyway), so the
/// path and the app's offsets are that file's.
fn app_failed(
    app: &dyn LoadedApp,
    input: &MapSource,
    args: &[u8],
    error: AppCallError,
) -> MapError {
    for part in &input.joined {
        let contents = input.contents.slice(part.range.clone());
        if let Err(error) = app.map(&part.path, part.offset, &contents, args, &mut |_, _| {}) {
            return MapError::App {
                path: part.path.clone(),
                offset: part.offset,
                error,
            };
        }
    }
    MapError::App {
        path: input.path.clone(),
        offset: input.offset,
        error,
    }
}

/// Sorts `part` and writes its records to `out`, combining each key's values
/// when the app has a combiner.
fn sort_and_frame<W: Write>(
    app: &dyn LoadedApp,
    part: &mut PartitionBuf,
    args: &[u8],
    out: &mut FrameWriter<W>,
    stats: &mut MapStats,
) -> Result<(), MapError> {
    let io = MapError::Frame;
    part.sort();
    let part = &*part;
    let combine = app.has_combiner();
    let index = &part.index;
    let (records, bytes) = (out.records(), out.bytes());
    // Sorted entries point all over the arena: ask for each record's bytes
    // some entries before they are read (over a large buffer, most reads
    // would otherwise miss the cache, one at a time).
    let fetch_ahead = |k: usize| {
        if let Some(e) = index.get(k + buffer::FETCH_AHEAD) {
            part.prefetch(e);
        }
    };
    for e in index.iter().take(buffer::FETCH_AHEAD) {
        part.prefetch(e);
    }
    let mut i = 0;
    while i < index.len() {
        fetch_ahead(i);
        let key = part.key_of(&index[i]);
        let mut end = i + 1;
        while end < index.len() && part.same_key(&index[end], &index[i]) {
            fetch_ahead(end);
            end += 1;
        }
        if combine && end - i > 1 {
            let mut values = RangeValues {
                buf: part,
                entries: index[i..end].iter(),
            };
            let combined = app
                .combine(key, &mut values, args)
                .map_err(MapError::AppCode)?;
            out.pair(key, &combined).map_err(io)?;
        } else {
            for e in &index[i..end] {
                out.pair(key, part.value_of(e)).map_err(io)?;
            }
        }
        i = end;
    }
    stats.records += out.records() - records;
    stats.bytes += out.bytes() - bytes;
    Ok(())
}

mod buffer;

#[cfg(test)]
mod tests;
