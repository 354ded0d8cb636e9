//! Sorted runs of key/value frames: [`Run`] (in memory or a byte range of a
//! [`RunFile`]), what map tasks store, the store serves and reduce tasks
//! merge; [`RunWriter`] appends to a run file, [`DiskRange`] and
//! [`RangeReader`] read a range of one back.

use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::RunFile;

/// Appends to a [`RunFile`] from its start, counting the bytes written.
#[derive(Debug)]
pub struct RunWriter {
    file: Arc<RunFile>,
    pos: u64,
}

impl RunWriter {
    /// A writer at the start of `file`.
    pub fn new(file: Arc<RunFile>) -> Self {
        RunWriter { file, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The file written.
    pub fn file(&self) -> &Arc<RunFile> {
        &self.file
    }
}

impl Write for RunWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A byte range of a [`RunFile`].
#[derive(Debug, Clone)]
pub struct DiskRange {
    /// The file.
    pub file: Arc<RunFile>,
    /// Where the range starts.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

impl DiskRange {
    /// A reader over the range.
    pub fn reader(&self) -> RangeReader {
        RangeReader {
            range: self.clone(),
            pos: 0,
        }
    }
}

/// Reads a [`DiskRange`] front to back.
#[derive(Debug)]
pub struct RangeReader {
    range: DiskRange,
    pos: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.range.len - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self
            .range
            .file
            .file
            .read_at(&mut buf[..n], self.range.offset + self.pos)?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} is shorter than expected",
                    self.range.file.path.display()
                ),
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

/// A sorted run of alternating key and value frames.
#[derive(Debug, Clone)]
pub enum Run {
    /// In memory, possibly in several pieces (frames may straddle them).
    Memory(Vec<Bytes>),
    /// On local disk.
    Disk(DiskRange),
}

impl Run {
    /// A run held in one buffer.
    pub fn memory(bytes: impl Into<Bytes>) -> Self {
        Run::Memory(vec![bytes.into()])
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Run::Memory(chunks) => chunks.iter().map(|c| c.len() as u64).sum(),
            Run::Disk(d) => d.len,
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of it held in memory.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Run::Memory(chunks) => chunks.iter().map(Bytes::len).sum(),
            Run::Disk(_) => 0,
        }
    }

    /// The whole run in one buffer (reads a disk run into memory).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Run::Memory(chunks) if chunks.len() == 1 => Ok(chunks[0].clone()),
            Run::Memory(chunks) => Ok(Bytes::from(chunks.concat())),
            Run::Disk(d) => {
                let mut buf = vec![0; d.len as usize];
                d.file.read_exact_at(&mut buf, d.offset)?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::spill::WorkDir;

    #[test]
    fn run_files_vanish_with_their_last_handle_and_work_dirs_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let dir = WorkDir::new(parent.path());
        assert!(dir.created().is_none());
        let file = dir.create_file("spill").unwrap();
        let mut w = RunWriter::new(file.clone());
        w.write_all(b"hello world").unwrap();
        let range = DiskRange {
            file: file.clone(),
            offset: 6,
            len: 5,
        };
        let mut got = String::new();
        range.reader().read_to_string(&mut got).unwrap();
        assert_eq!(got, "world");
        assert_eq!(&Run::Disk(range).to_bytes().unwrap()[..], b"world");
        let path = file.path().to_path_buf();
        drop((w, file));
        assert!(!path.exists());
        let root = dir.created().unwrap().to_path_buf();
        assert!(root.exists());
        drop(dir);
        assert!(!root.exists());
    }
}
