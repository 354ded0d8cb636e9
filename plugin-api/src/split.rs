//! How an app's input may be cut ([`InputFormat`]) and the line-record rule
//! that cuts it ([`read_line_split`]).
//!
//! A line-record split is a byte range `[offset, offset + len)` of a file. It
//! owns every line that **starts** inside it (Hadoop's `LineRecordReader`
//! rule): a line starts at byte 0 and after every `\n`. So a split that does
//! not begin at 0 skips the rest of the line it begins in (the previous split
//! owns it), and the last line it owns is read to its `\n` (or the end of the
//! file) even past the range. Over any cut of a file into consecutive
//! ranges, the owned bytes are the file's bytes, each exactly once, always
//! whole lines: `\r\n` ends are kept whole (a split never ends between `\r`
//! and `\n`), a last line without `\n` belongs to the split it starts in, and
//! a line longer than a split belongs to the one split it starts in while
//! the others it crosses own nothing.

use std::io;

/// How an app's input may be cut into map tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Each map call sees a whole file (the default, and what apps built
    /// before input splits get). Several small files may still go to one
    /// map task, one map call each.
    #[default]
    WholeFiles,
    /// Records are `\n`-terminated lines: a large file may be cut into
    /// byte ranges, and each map call sees the whole lines that start in
    /// its range ([`MapInput::offset`](crate::MapInput::offset) says where).
    Lines,
    /// Records are `\n`-terminated lines, as with [`InputFormat::Lines`],
    /// and which file a line comes from does not matter to the app (word
    /// counts, edge lists, lines to sort): besides being cut like `Lines`,
    /// the lines of several small files may come in one map call, joined in
    /// order (each file's last line ended with a `\n`, one added where the
    /// file has none), as a Hadoop mapper sees every file of a
    /// `CombineTextInputFormat` split. A table an app keeps per map call
    /// then combines across those files, which for many small files is
    /// most of the map side's work. [`MapInput::path`](crate::MapInput::path)
    /// and [`offset`](crate::MapInput::offset) say where the call's first
    /// line is. A host older than this format reads an app declaring it as
    /// [`InputFormat::WholeFiles`] (never cut, never joined: the safe
    /// reading).
    JoinedLines,
}

impl InputFormat {
    /// The number that crosses the ABI.
    pub fn to_code(self) -> u32 {
        match self {
            InputFormat::WholeFiles => 0,
            InputFormat::Lines => 1,
            InputFormat::JoinedLines => 2,
        }
    }

    /// The format a number from the ABI stands for; an unknown number (a
    /// newer app) is read as the safe [`InputFormat::WholeFiles`].
    pub fn from_code(code: u32) -> Self {
        match code {
            1 => InputFormat::Lines,
            2 => InputFormat::JoinedLines,
            _ => InputFormat::WholeFiles,
        }
    }

    /// Whether records are lines, so that a file may be cut into ranges
    /// ([`InputFormat::Lines`] and [`InputFormat::JoinedLines`]).
    pub fn is_lines(self) -> bool {
        matches!(self, InputFormat::Lines | InputFormat::JoinedLines)
    }
}

/// The lines of a split: where they start in the file, and their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineSplit {
    /// The file offset of `bytes[0]` (meaningful only when `bytes` is not
    /// empty).
    pub offset: u64,
    /// The whole lines owned by the split.
    pub bytes: Vec<u8>,
}

/// How many bytes past a split's range are read at a time while looking
/// for the end of its last line.
const TAIL_CHUNK: usize = 64 * 1024;

/// Reads the lines owned by the split `[offset, offset + len)` through
/// `read_at(buf, pos)`, which fills `buf` from file position `pos` and
/// returns how many bytes it read (fewer only at the end of the file, `0`
/// past it). Reads the range, one byte before it, and the tail of its last
/// line: memory is bounded by the split, not by the file.
pub fn read_line_split(
    mut read_at: impl FnMut(&mut [u8], u64) -> io::Result<usize>,
    offset: u64,
    len: u64,
) -> io::Result<LineSplit> {
    if len == 0 {
        return Ok(LineSplit::default());
    }
    let end = offset.saturating_add(len);
    // From one byte before the range, to see whether a line starts at
    // `offset`, to the range's last byte.
    let begin = offset.saturating_sub(1);
    let want = usize::try_from(end - begin)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "split too large"))?;
    let mut buf = vec![0u8; want];
    let got = read_full(&mut read_at, &mut buf, begin)?;
    buf.truncate(got);
    // Index in `buf` of the first owned byte.
    let first = if offset == 0 {
        0
    } else {
        // A line starts at p in [offset, end) when byte p-1 is '\n', so
        // look at bytes offset-1 .. end-1 (all of `buf` but byte end-1).
        let starts = &buf[..got.min(want - 1)];
        match starts.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(LineSplit::default()),
        }
    };
    if first >= buf.len() {
        return Ok(LineSplit::default());
    }
    // The last owned line ends at the first '\n' at or after byte end-1.
    let at_eof = got < want;
    if !at_eof && buf.last() != Some(&b'\n') {
        let mut pos = end;
        let mut chunk = vec![0u8; TAIL_CHUNK];
        loop {
            let n = read_full(&mut read_at, &mut chunk, pos)?;
            match chunk[..n].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    buf.extend_from_slice(&chunk[..=i]);
                    break;
                }
                None => buf.extend_from_slice(&chunk[..n]),
            }
            if n < chunk.len() {
                break;
            }
            pos += n as u64;
        }
    }
    buf.drain(..first);
    Ok(LineSplit {
        offset: begin + first as u64,
        bytes: buf,
    })
}

/// Fills `buf` from `pos` until it is full or the file ends; the count read.
fn read_full(
    read_at: &mut impl FnMut(&mut [u8], u64) -> io::Result<usize>,
    buf: &mut [u8],
    pos: u64,
) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_at(&mut buf[filled..], pos + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// [`read_line_split`] over bytes in memory (tests, and the testing
/// helpers).
pub fn line_split_of(file: &[u8], offset: u64, len: u64) -> LineSplit {
    let read_at = |buf: &mut [u8], pos: u64| -> io::Result<usize> {
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(file.len());
        let n = buf.len().min(file.len() - start);
        buf[..n].copy_from_slice(&file[start..start + n]);
        Ok(n)
    };
    // Reading from memory cannot fail.
    read_line_split(read_at, offset, len).unwrap_or_default()
}

/// Cuts `len` bytes into consecutive ranges of `split_size` (the last one
/// shorter): `(offset, len)` pairs. An empty file is one empty range.
pub fn cut(len: u64, split_size: u64) -> Vec<(u64, u64)> {
    let size = split_size.max(1);
    if len == 0 {
        return vec![(0, 0)];
    }
    (0..len.div_ceil(size))
        .map(|k| {
            let start = k * size;
            (start, size.min(len - start))
        })
        .collect()
}

#[cfg(test)]
mod tests;
