//! Streaming k-way merge of sorted runs of key/value frames, grouped by key:
//! what a reduce task feeds to the app (and what a map task uses to combine
//! its spilled runs), one key at a time with its values streamed.
//!
//! Runs in memory are read in place; runs on disk through a bounded read
//! buffer each, so a merge holds one record per run plus its buffers, never
//! a whole run.

use std::cmp::Ordering;
use std::io::{self, BufRead, BufReader};

use bytes::{Bytes, BytesMut};
use plugin_api::frame::{frame_len, read_frame, ReadFrameError, HEADER_LEN};
use plugin_api::Values;

use super::spill::{RangeReader, Run};

/// Why a merge stopped.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A run's frames are cut short.
    #[error("map output run {run} is corrupt: truncated frame at byte {offset}")]
    Corrupt {
        /// Index of the run.
        run: usize,
        /// Offset of the bad frame.
        offset: u64,
    },
    /// A run on disk could not be read.
    #[error("cannot read map output run {run}: {source}")]
    Io {
        /// Index of the run.
        run: usize,
        /// The I/O error.
        source: io::Error,
    },
}

/// Why one source could not produce its next record.
enum ReadError {
    Truncated,
    Io(io::Error),
}

/// Frames held in memory, possibly split across pieces.
struct MemorySource {
    chunks: Vec<Bytes>,
    chunk: usize,
    pos: usize,
}

impl MemorySource {
    fn at_end(&mut self) -> bool {
        while self.chunk < self.chunks.len() && self.pos >= self.chunks[self.chunk].len() {
            self.chunk += 1;
            self.pos = 0;
        }
        self.chunk >= self.chunks.len()
    }

    /// The next `n` bytes: a slice of one piece when they lie in it, else a
    /// copy gathered across pieces.
    fn take(&mut self, n: usize) -> Option<Bytes> {
        if n == 0 {
            return Some(Bytes::new());
        }
        if self.at_end() {
            return None;
        }
        let c = &self.chunks[self.chunk];
        if c.len() - self.pos >= n {
            let b = c.slice(self.pos..self.pos + n);
            self.pos += n;
            return Some(b);
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            if self.at_end() {
                return None;
            }
            let c = &self.chunks[self.chunk];
            let k = (c.len() - self.pos).min(n - out.len());
            out.extend_from_slice(&c[self.pos..self.pos + k]);
            self.pos += k;
        }
        Some(out.freeze())
    }

    fn frame(&mut self) -> Result<Bytes, ReadError> {
        let header = self.take(HEADER_LEN).ok_or(ReadError::Truncated)?;
        let header = header[..].try_into().map_err(|_| ReadError::Truncated)?;
        self.take(frame_len(header)).ok_or(ReadError::Truncated)
    }
}

/// Frames read from disk through a buffer into reused vectors.
struct DiskSource {
    reader: BufReader<RangeReader>,
}

impl DiskSource {
    fn at_end(&mut self) -> Result<bool, ReadError> {
        Ok(self.reader.fill_buf().map_err(ReadError::Io)?.is_empty())
    }

    fn frame_into(&mut self, out: &mut Vec<u8>) -> Result<(), ReadError> {
        read_frame(&mut self.reader, out).map_err(|e| match e {
            ReadFrameError::Truncated => ReadError::Truncated,
            ReadFrameError::Io(e) => ReadError::Io(e),
        })
    }
}

enum Kind {
    Memory {
        src: MemorySource,
        key: Bytes,
        value: Bytes,
    },
    Disk {
        src: DiskSource,
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

/// One run being merged, positioned on its current record.
struct Source {
    kind: Kind,
    /// Offset of the current record's start within the run.
    offset: u64,
    /// Offset of the next record.
    next_offset: u64,
}

impl Source {
    fn new(run: Run, buffer: usize) -> Self {
        let kind = match run {
            Run::Memory(chunks) => Kind::Memory {
                src: MemorySource {
                    chunks,
                    chunk: 0,
                    pos: 0,
                },
                key: Bytes::new(),
                value: Bytes::new(),
            },
            Run::Disk(range) => Kind::Disk {
                src: DiskSource {
                    reader: BufReader::with_capacity(buffer, range.reader()),
                },
                key: Vec::new(),
                value: Vec::new(),
            },
        };
        Source {
            kind,
            offset: 0,
            next_offset: 0,
        }
    }

    fn key(&self) -> &[u8] {
        match &self.kind {
            Kind::Memory { key, .. } => key,
            Kind::Disk { key, .. } => key,
        }
    }

    fn value(&self) -> &[u8] {
        match &self.kind {
            Kind::Memory { value, .. } => value,
            Kind::Disk { value, .. } => value,
        }
    }

    /// Moves to the next record; `false` at the end of the run. A truncated
    /// frame is reported at the offset of the frame that is cut short.
    fn advance(&mut self, run: usize) -> Result<bool, MergeError> {
        let start = self.next_offset;
        let corrupt = |offset| MergeError::Corrupt { run, offset };
        let io = |source| MergeError::Io { run, source };
        let (klen, vlen) = match &mut self.kind {
            Kind::Memory { src, key, value } => {
                if src.at_end() {
                    return Ok(false);
                }
                *key = src.frame().map_err(|_| corrupt(start))?;
                let vstart = start + 4 + key.len() as u64;
                *value = src.frame().map_err(|_| corrupt(vstart))?;
                (key.len(), value.len())
            }
            Kind::Disk { src, key, value } => {
                let map = |offset: u64| {
                    move |e| match e {
                        ReadError::Truncated => corrupt(offset),
                        ReadError::Io(e) => io(e),
                    }
                };
                if src.at_end().map_err(map(start))? {
                    return Ok(false);
                }
                src.frame_into(key).map_err(map(start))?;
                let vstart = start + 4 + key.len() as u64;
                src.frame_into(value).map_err(map(vstart))?;
                (key.len(), value.len())
            }
        };
        self.offset = start;
        self.next_offset = start + 8 + klen as u64 + vlen as u64;
        Ok(true)
    }
}

/// Merges runs, each sorted by key, into one key-ordered stream. Values of
/// equal keys come in run order (and, within a run, in stored order).
pub struct Merger {
    sources: Vec<Source>,
    /// A min-heap of indices into `sources` with a current record, ordered
    /// by (key, index).
    heap: Vec<usize>,
    /// The key last returned by [`Merger::next_key`], once it returned one.
    current: Vec<u8>,
    has_current: bool,
    /// Whether the top source's record was handed out and must be advanced
    /// before the heap is looked at again.
    consumed: bool,
    error: Option<MergeError>,
}

impl Merger {
    /// A merger over `runs`; runs on disk are read through `buffer` bytes
    /// each.
    pub fn new(runs: Vec<Run>, buffer: usize) -> Result<Self, MergeError> {
        let mut m = Merger {
            sources: runs.into_iter().map(|r| Source::new(r, buffer)).collect(),
            heap: Vec::new(),
            current: Vec::new(),
            has_current: false,
            consumed: false,
            error: None,
        };
        for i in 0..m.sources.len() {
            if m.sources[i].advance(i)? {
                m.heap.push(i);
                let n = m.heap.len() - 1;
                m.sift_up(n);
            }
        }
        Ok(m)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match self.sources[a].key().cmp(self.sources[b].key()) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => a < b,
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.less(self.heap[i], self.heap[parent]) {
                self.heap.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < n && self.less(self.heap[l], self.heap[smallest]) {
                smallest = l;
            }
            if r < n && self.less(self.heap[r], self.heap[smallest]) {
                smallest = r;
            }
            if smallest == i {
                return;
            }
            self.heap.swap(i, smallest);
            i = smallest;
        }
    }

    /// Advances the top source past its current record.
    fn advance_top(&mut self) -> Result<(), MergeError> {
        let Some(&top) = self.heap.first() else {
            return Ok(());
        };
        if self.sources[top].advance(top)? {
            self.sift_down(0);
        } else {
            let last = self.heap.pop().expect("not empty");
            if !self.heap.is_empty() {
                self.heap[0] = last;
                self.sift_down(0);
            }
        }
        Ok(())
    }

    fn top_is_current(&self) -> bool {
        self.has_current
            && self
                .heap
                .first()
                .is_some_and(|&top| self.sources[top].key() == self.current.as_slice())
    }

    /// Moves to the next distinct key and copies it into `key`; `false` at
    /// the end. Values of the previous key not read are skipped. Then
    /// [`Merger::values`] streams the key's values.
    pub fn next_key(&mut self, key: &mut Vec<u8>) -> Result<bool, MergeError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.consumed {
            self.consumed = false;
            self.advance_top()?;
        }
        while self.top_is_current() {
            self.advance_top()?;
        }
        let Some(&top) = self.heap.first() else {
            return Ok(false);
        };
        self.current.clear();
        self.current.extend_from_slice(self.sources[top].key());
        self.has_current = true;
        key.clear();
        key.extend_from_slice(&self.current);
        Ok(true)
    }

    /// The values of the key last returned by [`Merger::next_key`].
    pub fn values(&mut self) -> GroupValues<'_> {
        GroupValues { merger: self }
    }

    /// Takes an error met while streaming values, if any.
    pub fn take_error(&mut self) -> Option<MergeError> {
        self.error.take()
    }

    fn next_value(&mut self) -> Option<&[u8]> {
        if self.error.is_some() {
            return None;
        }
        if self.consumed {
            self.consumed = false;
            if let Err(e) = self.advance_top() {
                self.error = Some(e);
                return None;
            }
        }
        if !self.top_is_current() {
            return None;
        }
        self.consumed = true;
        Some(self.sources[self.heap[0]].value())
    }
}

/// The values of one key, streamed out of the merge. Each value borrows the
/// run it came from until the next call.
pub struct GroupValues<'a> {
    merger: &'a mut Merger,
}

impl Values for GroupValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        self.merger.next_value()
    }
}

#[cfg(test)]
mod tests;
