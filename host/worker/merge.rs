//! K-way merge of sorted runs of key/value frames, grouped by key: what a
//! reduce task feeds to the app, one key at a time with its values streamed.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use bytes::Bytes;
use plugin_api::Values;

/// A run whose frames are cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("map output run {run} is corrupt: truncated frame at byte {offset}")]
pub struct CorruptRun {
    /// Index of the run.
    pub run: usize,
    /// Offset of the bad frame.
    pub offset: usize,
}

struct Cursor {
    buf: Bytes,
    pos: usize,
}

impl Cursor {
    fn frame(&mut self, run: usize) -> Result<Bytes, CorruptRun> {
        let offset = self.pos;
        let corrupt = CorruptRun { run, offset };
        let rest = &self.buf[self.pos..];
        let (len, _) = rest.split_first_chunk::<4>().ok_or(corrupt.clone())?;
        let len = u32::from_be_bytes(*len) as usize;
        let start = self.pos + 4;
        if self.buf.len() - start < len {
            return Err(corrupt);
        }
        self.pos = start + len;
        Ok(self.buf.slice(start..start + len))
    }

    fn next_pair(&mut self, run: usize) -> Result<Option<(Bytes, Bytes)>, CorruptRun> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.frame(run)?;
        let value = self.frame(run)?;
        Ok(Some((key, value)))
    }
}

#[derive(PartialEq, Eq)]
struct Head {
    key: Bytes,
    run: usize,
    value: Bytes,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Merges runs, each sorted by key, into one key-ordered stream. Values of
/// equal keys come in run order.
pub struct Merger {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<Head>>,
    error: Option<CorruptRun>,
}

impl Merger {
    /// A merger over `runs`.
    pub fn new(runs: Vec<Bytes>) -> Result<Self, CorruptRun> {
        let mut m = Merger {
            cursors: runs.into_iter().map(|buf| Cursor { buf, pos: 0 }).collect(),
            heap: BinaryHeap::new(),
            error: None,
        };
        for run in 0..m.cursors.len() {
            m.advance(run)?;
        }
        Ok(m)
    }

    fn advance(&mut self, run: usize) -> Result<(), CorruptRun> {
        if let Some((key, value)) = self.cursors[run].next_pair(run)? {
            self.heap.push(Reverse(Head { key, run, value }));
        }
        Ok(())
    }

    /// The next distinct key; its values are then read with
    /// [`Merger::values`]. Values of the previous key not read are skipped.
    pub fn next_key(&mut self, previous: Option<&[u8]>) -> Result<Option<Bytes>, CorruptRun> {
        if let Some(prev) = previous {
            while self.pop_value(prev)?.is_some() {}
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(self.heap.peek().map(|Reverse(h)| h.key.clone()))
    }

    fn pop_value(&mut self, key: &[u8]) -> Result<Option<Bytes>, CorruptRun> {
        match self.heap.peek() {
            Some(Reverse(h)) if h.key == key => {}
            _ => return Ok(None),
        }
        let Some(Reverse(head)) = self.heap.pop() else {
            return Ok(None);
        };
        self.advance(head.run)?;
        Ok(Some(head.value))
    }

    /// The values of `key` (the key last returned by [`Merger::next_key`]).
    pub fn values<'a>(&'a mut self, key: &'a [u8]) -> GroupValues<'a> {
        GroupValues {
            merger: self,
            key,
            current: Bytes::new(),
        }
    }

    /// Takes an error met while streaming values, if any.
    pub fn take_error(&mut self) -> Option<CorruptRun> {
        self.error.take()
    }
}

/// The values of one key, streamed out of the merge.
pub struct GroupValues<'a> {
    merger: &'a mut Merger,
    key: &'a [u8],
    current: Bytes,
}

impl Values for GroupValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        match self.merger.pop_value(self.key) {
            Ok(Some(v)) => {
                self.current = v;
                Some(&self.current)
            }
            Ok(None) => None,
            Err(e) => {
                self.merger.error = Some(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::frame::encode_frames;

    fn run(pairs: &[(&str, &str)]) -> Bytes {
        Bytes::from(encode_frames(pairs.iter().flat_map(|(k, v)| [*k, *v])))
    }

    fn collect(runs: Vec<Bytes>) -> Vec<(String, Vec<String>)> {
        let mut m = Merger::new(runs).unwrap();
        let mut out = Vec::new();
        let mut prev: Option<Bytes> = None;
        while let Some(key) = m.next_key(prev.as_deref()).unwrap() {
            let mut vals = Vec::new();
            let mut g = m.values(&key);
            while let Some(v) = g.next_value() {
                vals.push(String::from_utf8(v.to_vec()).unwrap());
            }
            out.push((String::from_utf8(key.to_vec()).unwrap(), vals));
            prev = Some(key);
        }
        out
    }

    #[test]
    fn merges_and_groups_in_key_then_run_order() {
        let got = collect(vec![
            run(&[("a", "1"), ("c", "2")]),
            run(&[]),
            run(&[("a", "3"), ("b", "4"), ("c", "5"), ("c", "6")]),
        ]);
        assert_eq!(
            got,
            vec![
                ("a".into(), vec!["1".into(), "3".into()]),
                ("b".into(), vec!["4".into()]),
                ("c".into(), vec!["2".into(), "5".into(), "6".into()]),
            ]
        );
    }

    #[test]
    fn unread_values_are_skipped() {
        let mut m = Merger::new(vec![run(&[("a", "1"), ("a", "2"), ("b", "3")])]).unwrap();
        let a = m.next_key(None).unwrap().unwrap();
        assert_eq!(&a[..], b"a");
        let b = m.next_key(Some(&a)).unwrap().unwrap();
        assert_eq!(&b[..], b"b");
        assert_eq!(m.values(&b).next_value(), Some(&b"3"[..]));
        assert_eq!(m.next_key(Some(&b)).unwrap(), None);
    }

    #[test]
    fn corrupt_runs_are_errors() {
        let mut bytes = run(&[("a", "1")]).to_vec();
        bytes.pop();
        assert_eq!(
            Merger::new(vec![Bytes::from(bytes)]).err(),
            Some(CorruptRun { run: 0, offset: 5 })
        );
    }
}
