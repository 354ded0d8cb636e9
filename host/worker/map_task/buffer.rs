//! A map task's buffered output: one arena of keys and values per
//! partition, indexed by entries that keep each key's first 16 bytes, so
//! that sorting rarely reads the arena; and the values of one key as the
//! combiner reads them.

use plugin_api::Values;

use super::MapError;

/// Bytes of index per buffered record.
pub(super) const INDEX_ENTRY: usize = std::mem::size_of::<Entry>();

/// One buffered record: where its key and value are in the arena, and the
/// key's first [`PREFIX`] bytes (big-endian, zero-padded) to compare
/// cheaply: most keys (words, ids) fit, and then sorting never reads the
/// arena.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    prefix: u128,
    start: usize,
    klen: u32,
    vlen: u32,
}

/// The bytewise order of two entries' keys. Equal zero-padded prefixes: a
/// key no longer than the prefix is then the start of the other, so length
/// decides; only two longer keys need their tails compared (a memcmp call
/// per equal pair was a third of the CPU of a task over many small files).
fn key_order(arena: &[u8], a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.prefix.cmp(&b.prefix).then_with(|| {
        if a.klen as usize <= PREFIX || b.klen as usize <= PREFIX {
            return a.klen.cmp(&b.klen);
        }
        let ka = &arena[a.start + PREFIX..a.start + a.klen as usize];
        let kb = &arena[b.start + PREFIX..b.start + b.klen as usize];
        ka.cmp(kb)
    })
}

/// Whether two entries of `arena` hold the same key (the bytes past the
/// prefix compared only for keys longer than it).
fn same_key_in(arena: &[u8], a: &Entry, b: &Entry) -> bool {
    let tail = |e: &Entry| &arena[e.start + PREFIX..e.start + e.klen as usize];
    a.prefix == b.prefix && a.klen == b.klen && (a.klen as usize <= PREFIX || tail(a) == tail(b))
}

/// One partition's records before sorting: keys and values packed in an
/// arena, indexed by [`Entry`].
#[derive(Default)]
pub(super) struct PartitionBuf {
    pub(super) arena: Vec<u8>,
    pub(super) index: Vec<Entry>,
}

/// How many entries ahead of the one being read [`PartitionBuf::prefetch`]
/// is asked for.
pub(super) const FETCH_AHEAD: usize = 16;

/// Bytes of a key kept in its [`Entry`].
const PREFIX: usize = 16;

fn key_prefix(key: &[u8]) -> u128 {
    let mut b = [0u8; PREFIX];
    let n = key.len().min(PREFIX);
    b[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(b)
}

impl PartitionBuf {
    pub(super) fn push(&mut self, key: &[u8], value: &[u8]) -> Result<(), MapError> {
        let too_long = |what: &'static str, len: usize| MapError::TooLong { what, len };
        let klen = u32::try_from(key.len()).map_err(|_| too_long("key", key.len()))?;
        let vlen = u32::try_from(value.len()).map_err(|_| too_long("value", value.len()))?;
        self.index.push(Entry {
            prefix: key_prefix(key),
            start: self.arena.len(),
            klen,
            vlen,
        });
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(value);
        Ok(())
    }

    pub(super) fn key_of(&self, e: &Entry) -> &[u8] {
        &self.arena[e.start..e.start + e.klen as usize]
    }

    /// Whether two entries hold the same key.
    pub(super) fn same_key(&self, a: &Entry, b: &Entry) -> bool {
        same_key_in(&self.arena, a, b)
    }

    /// Asks the processor to bring `e`'s record into the cache (a hint; a
    /// no-op where it cannot be given).
    #[inline]
    pub(super) fn prefetch(&self, e: &Entry) {
        #[cfg(target_arch = "x86_64")]
        if let Some(record) = self.arena.get(e.start..) {
            // SAFETY: SSE is part of x86_64; a prefetch never faults,
            // whatever the address, and this one is inside the arena.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(record.as_ptr().cast());
            }
        }
    }

    pub(super) fn value_of(&self, e: &Entry) -> &[u8] {
        let v = e.start + e.klen as usize;
        &self.arena[v..v + e.vlen as usize]
    }

    /// Sorts the index by key, keeping emission order among equal keys:
    /// an unstable sort by key alone, then each run of equal keys by
    /// `start` (records are appended to the arena, so the one emitted first
    /// starts first). Faster than the stable sort (no scratch buffer, fewer
    /// moves) and than breaking ties by `start` in one sort, which makes
    /// every entry distinct and so takes from the sort its quick pass over
    /// keys seen many times (a word in most of 50,000 files): 4% of a task
    /// over many small files.
    pub(super) fn sort(&mut self) {
        let arena = &self.arena;
        self.index.sort_unstable_by(|a, b| key_order(arena, a, b));
        let mut rest = &mut self.index[..];
        while let Some(first) = rest.first() {
            let same = rest
                .iter()
                .position(|e| !same_key_in(arena, first, e))
                .unwrap_or(rest.len());
            let (group, tail) = rest.split_at_mut(same);
            if group.len() > 1 {
                group.sort_unstable_by_key(|e| e.start);
            }
            rest = tail;
        }
    }

    /// Framed size of its records before combining.
    pub(super) fn framed_len(&self) -> usize {
        self.arena.len() + self.index.len() * 8
    }

    pub(super) fn clear(&mut self) {
        self.arena.clear();
        self.index.clear();
    }
}

/// The values of one key within a sorted partition buffer.
pub(super) struct RangeValues<'a> {
    pub(super) buf: &'a PartitionBuf,
    pub(super) entries: std::slice::Iter<'a, Entry>,
}

impl Values for RangeValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        self.entries.next().map(|e| self.buf.value_of(e))
    }
}
