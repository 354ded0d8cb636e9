//! Running a map task: the app's map over one input, partitioned by key,
//! sorted, combined, and framed into one run per partition.

use bytes::Bytes;
use plugin_api::frame::push_frame;
use plugin_api::Values;

use crate::plugin::App;

/// What a map task produced besides its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Records stored (after the combiner).
    pub records: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// One partition's records before sorting: keys and values packed in an
/// arena, indexed by `(start, key length, value length)`.
#[derive(Default)]
struct PartitionBuf {
    arena: Vec<u8>,
    index: Vec<(usize, u32, u32)>,
}

impl PartitionBuf {
    fn push(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let too_long = |what: &str, n: usize| {
            format!("map emitted a {what} of {n} bytes (the limit is 4 GiB)")
        };
        let klen = u32::try_from(key.len()).map_err(|_| too_long("key", key.len()))?;
        let vlen = u32::try_from(value.len()).map_err(|_| too_long("value", value.len()))?;
        self.index.push((self.arena.len(), klen, vlen));
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(value);
        Ok(())
    }

    fn key(&self, i: usize) -> &[u8] {
        let (start, klen, _) = self.index[i];
        &self.arena[start..start + klen as usize]
    }

    fn value(&self, i: usize) -> &[u8] {
        let (start, klen, vlen) = self.index[i];
        let v = start + klen as usize;
        &self.arena[v..v + vlen as usize]
    }
}

/// The values of one key within a sorted partition buffer.
struct RangeValues<'a> {
    buf: &'a PartitionBuf,
    next: usize,
    end: usize,
}

impl Values for RangeValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        Some(self.buf.value(self.next - 1))
    }
}

/// Runs `app`'s map over one input and returns one sorted (and, if the app
/// has a combiner, combined) run per partition. Errors are the app's message
/// or the engine's own explanation.
pub fn run_map(
    app: &dyn App,
    path: &str,
    contents: &[u8],
    args: &[u8],
    n_reduce: u32,
) -> Result<(Vec<Bytes>, MapStats), String> {
    let mut parts: Vec<PartitionBuf> = (0..n_reduce).map(|_| PartitionBuf::default()).collect();
    let mut failure: Option<String> = None;
    let custom_partitioner = app.has_partitioner();
    let mut emit = |key: &[u8], value: &[u8]| {
        if failure.is_some() {
            return;
        }
        let p = if custom_partitioner {
            match app.partition(key, n_reduce, args) {
                Ok(p) if p < n_reduce => p,
                Ok(p) => {
                    failure = Some(format!(
                        "the app's partitioner returned {p} for {n_reduce} partitions"
                    ));
                    return;
                }
                Err(e) => {
                    failure = Some(e);
                    return;
                }
            }
        } else {
            plugin_api::ihash(key) % n_reduce
        };
        if let Err(e) = parts[p as usize].push(key, value) {
            failure = Some(e);
        }
    };
    app.map(path, contents, args, &mut emit)?;
    if let Some(e) = failure {
        return Err(e);
    }
    let mut stats = MapStats::default();
    let mut runs = Vec::with_capacity(parts.len());
    for mut part in parts {
        let run = sort_and_frame(app, &mut part, args, &mut stats)?;
        runs.push(Bytes::from(run));
    }
    Ok((runs, stats))
}

fn sort_and_frame(
    app: &dyn App,
    part: &mut PartitionBuf,
    args: &[u8],
    stats: &mut MapStats,
) -> Result<Vec<u8>, String> {
    let mut index = std::mem::take(&mut part.index);
    index.sort_by(|a, b| {
        let ka = &part.arena[a.0..a.0 + a.1 as usize];
        let kb = &part.arena[b.0..b.0 + b.1 as usize];
        ka.cmp(kb)
    });
    part.index = index;
    let mut out = Vec::with_capacity(part.arena.len() + part.index.len() * 8);
    let combine = app.has_combiner();
    let n = part.index.len();
    let mut i = 0;
    while i < n {
        let key = part.key(i);
        let mut end = i + 1;
        while end < n && part.key(end) == key {
            end += 1;
        }
        if combine && end - i > 1 {
            let mut values = RangeValues {
                buf: part,
                next: i,
                end,
            };
            let combined = app.combine(key, &mut values, args)?;
            push_frame(&mut out, key);
            push_frame(&mut out, &combined);
            stats.records += 1;
        } else {
            for j in i..end {
                push_frame(&mut out, key);
                push_frame(&mut out, part.value(j));
                stats.records += 1;
            }
        }
        i = end;
    }
    stats.bytes += out.len() as u64;
    Ok(out)
}
