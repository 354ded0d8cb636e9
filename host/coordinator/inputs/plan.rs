//! Planning a job's map tasks from its measured input files: files of line
//! records larger than a task are cut into byte ranges, the others packed
//! together, as Hadoop's `FileInputFormat` and `CombineFileInputFormat` do,
//! with the tasks evened out so that no worker waits on a short last task.
//!
//! `--split-size` is the most a task reads. Within it the planner aims at
//! equal tasks: it takes the fewest tasks that respect the split size,
//! rounds their number up to a multiple of the live workers (so the last
//! round of tasks keeps every worker busy), and shares the bytes equally
//! among them, but never aims below [`MIN_EVEN_SPLIT`] (or the split size,
//! if smaller): a task costs a round trip and an output of its own. A file
//! is cut into equal ranges; small files go, in order, to the task their
//! middle byte falls in, so packs are even whatever the file sizes.

use plugin_api::split::cut;
use plugin_api::InputFormat;

use crate::core::{InputRange, Split};

/// The smallest task the planner aims at when it evens tasks out (Spark's
/// `openCostInBytes` plays the same part): below it, more tasks cost more
/// than the parallelism they buy.
pub const MIN_EVEN_SPLIT: u64 = 4 << 20;

/// The map tasks for `files` (each with its size) of an app reading
/// `format`, with `workers` live workers (0 when none has registered yet):
/// a file of line records larger than a task is cut into equal ranges (each
/// its own task); other files are packed, in order, into tasks of at most
/// `split_size` bytes (a file larger than that, which cannot be cut, is a
/// task of its own). Never empty for a non-empty `files`.
pub fn plan_splits(
    files: &[(String, u64)],
    format: InputFormat,
    split_size: u64,
    workers: usize,
) -> Vec<Split> {
    let size = split_size.max(1);
    let target = even_target(files, format, size, workers);
    let cuttable = |len: u64| format.is_lines() && len > target;
    let mut splits = Vec::new();
    let mut pack = Split::default();
    let (mut packed, mut pack_index, mut before) = (0u64, 0u64, 0u64);
    for (path, len) in files {
        let len = *len;
        if cuttable(len) {
            for (offset, len) in cut_evenly(len, target) {
                splits.push(Split {
                    inputs: vec![InputRange {
                        path: path.clone(),
                        offset,
                        len: Some(len),
                    }],
                });
            }
            continue;
        }
        // The task this file's middle byte falls in, counting the packed
        // files' bytes only.
        let index = (before + len / 2) / target;
        before += len;
        let full = packed.saturating_add(len) > size;
        if !pack.inputs.is_empty() && (index > pack_index || full) {
            splits.push(std::mem::take(&mut pack));
            packed = 0;
            // A pack closed early for its size: the next one takes its
            // place in the sequence, so the files of this place that follow
            // join it instead of making a pack of their own.
            pack_index = index.max(pack_index + 1);
        }
        pack.inputs.push(InputRange::whole(path.clone()));
        packed = packed.saturating_add(len);
    }
    if !pack.inputs.is_empty() {
        splits.push(pack);
    }
    splits
}

/// The bytes per task the planner aims at: the total shared equally among
/// the fewest tasks of at most `size` bytes, their number rounded up to a
/// multiple of `workers`; at least `MIN_EVEN_SPLIT` (or `size`, if smaller)
/// and at most `size`.
fn even_target(files: &[(String, u64)], format: InputFormat, size: u64, workers: usize) -> u64 {
    let cuttable = |len: u64| format.is_lines() && len > size;
    let mut tasks = 0u64;
    let (mut total, mut packed) = (0u64, 0u64);
    for (_, len) in files {
        total = total.saturating_add(*len);
        if cuttable(*len) {
            tasks += len.div_ceil(size);
        } else {
            packed = packed.saturating_add(*len);
        }
    }
    tasks += packed.div_ceil(size);
    let workers = workers.max(1) as u64;
    let tasks = tasks.max(1).div_ceil(workers) * workers;
    total.div_ceil(tasks).clamp(size.min(MIN_EVEN_SPLIT), size)
}

/// Cuts `len` bytes into the fewest consecutive ranges of at most `target`
/// bytes, all of one length but the last (shorter by less than their
/// number): `(offset, len)` pairs.
fn cut_evenly(len: u64, target: u64) -> Vec<(u64, u64)> {
    let pieces = len.div_ceil(target.max(1));
    cut(len, len.div_ceil(pieces.max(1)))
}
