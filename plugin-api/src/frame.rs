//! The engine's byte formats: length-delimited frames and the partition hash.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes. Map
//! output alternates key and value frames, and so does `mr-out-<r>`; job
//! arguments are one frame per argument.
//!
//! This is the only place that encodes or decodes a frame's length:
//! [`frame_header`] (checked: a frame holds at most `u32::MAX` bytes) and
//! [`frame_len`]. Everything else — [`write_frame`], [`push_frame`],
//! [`encode_frames`], [`Frames`], [`read_frame`] and the host's readers and
//! writers — goes through those two.

use std::io::{self, Read, Write};

/// Bytes in a frame's length prefix.
pub const HEADER_LEN: usize = 4;

/// The default partition hash: 64-bit FNV-1a started from state 0 (not the
/// usual offset basis), masked to the low 31 bits. A key goes to partition
/// `ihash(key) % n_reduce`.
pub fn ihash(key: &[u8]) -> u32 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    (h & 0x7fff_ffff) as u32
}

/// A frame body longer than the `u32::MAX` bytes a length prefix can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLong {
    /// The body's length.
    pub len: usize,
}

impl std::fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a frame of {} bytes is longer than the {} bytes a frame can hold",
            self.len,
            u32::MAX
        )
    }
}

impl std::error::Error for FrameTooLong {}

impl From<FrameTooLong> for io::Error {
    fn from(e: FrameTooLong) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// The length prefix of a frame holding `len` bytes: the one frame encoder.
pub fn frame_header(len: usize) -> Result<[u8; HEADER_LEN], FrameTooLong> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| FrameTooLong { len })
}

/// The body length a frame's prefix announces: the one frame decoder.
pub fn frame_len(header: [u8; HEADER_LEN]) -> usize {
    u32::from_be_bytes(header) as usize
}

/// Writes one frame holding `bytes` to `out`; a body longer than
/// `u32::MAX` is an [`io::ErrorKind::InvalidInput`] error and writes
/// nothing.
pub fn write_frame<W: Write + ?Sized>(out: &mut W, bytes: &[u8]) -> io::Result<()> {
    out.write_all(&frame_header(bytes.len())?)?;
    out.write_all(bytes)
}

/// Appends one frame holding `bytes` to `out`.
pub fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), FrameTooLong> {
    out.extend_from_slice(&frame_header(bytes.len())?);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Encodes `items` as consecutive frames.
pub fn encode_frames<I, B>(items: I) -> Result<Vec<u8>, FrameTooLong>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for item in items {
        push_frame(&mut out, item.as_ref())?;
    }
    Ok(out)
}

/// A frame that runs past the end of its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedFrame {
    /// Offset of the frame's length prefix.
    pub offset: usize,
}

impl std::fmt::Display for TruncatedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "truncated frame at byte {}", self.offset)
    }
}

impl std::error::Error for TruncatedFrame {}

/// Iterates over the frames of a buffer, borrowing each.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Frames<'a> {
    /// Frames of `buf`, from the start.
    pub fn new(buf: &'a [u8]) -> Self {
        Frames { buf, pos: 0 }
    }

    /// Byte offset of the next frame.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], TruncatedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let offset = self.pos;
        let Some((header, body)) = rest.split_first_chunk::<HEADER_LEN>() else {
            self.pos = self.buf.len();
            return Some(Err(TruncatedFrame { offset }));
        };
        let len = frame_len(*header);
        if body.len() < len {
            self.pos = self.buf.len();
            return Some(Err(TruncatedFrame { offset }));
        }
        self.pos += HEADER_LEN + len;
        Some(Ok(&body[..len]))
    }
}

/// Why [`read_frame`] could not read a frame.
#[derive(Debug)]
pub enum ReadFrameError {
    /// The stream ended inside the frame.
    Truncated,
    /// The stream failed.
    Io(io::Error),
}

impl std::fmt::Display for ReadFrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFrameError::Truncated => f.write_str("truncated frame"),
            ReadFrameError::Io(e) => write!(f, "cannot read a frame: {e}"),
        }
    }
}

impl std::error::Error for ReadFrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadFrameError::Truncated => None,
            ReadFrameError::Io(e) => Some(e),
        }
    }
}

/// Reads the next frame's body from `reader` into `out` (replacing its
/// contents). `out` grows only as far as the data goes, so a corrupt length
/// cannot allocate gigabytes up front.
pub fn read_frame<R: Read + ?Sized>(
    reader: &mut R,
    out: &mut Vec<u8>,
) -> Result<(), ReadFrameError> {
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadFrameError::Truncated,
        _ => ReadFrameError::Io(e),
    })?;
    let len = frame_len(header);
    out.clear();
    let got = reader
        .take(len as u64)
        .read_to_end(out)
        .map_err(ReadFrameError::Io)?;
    if got < len {
        return Err(ReadFrameError::Truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ihash_matches_the_published_vectors() {
        assert_eq!(ihash(b""), 0);
        assert_eq!(ihash(b"a"), 42195);
        assert_eq!(ihash(b"the"), 975051163);
        assert_eq!(ihash(b"hello world"), 684268156);
    }

    #[test]
    fn frames_round_trip() {
        let buf = encode_frames(["", "a", "héllo"]).unwrap();
        assert_eq!(buf[..4], [0, 0, 0, 0]);
        let got: Vec<&[u8]> = Frames::new(&buf).map(|f| f.unwrap()).collect();
        assert_eq!(got, vec![&b""[..], b"a", "héllo".as_bytes()]);

        let mut written = Vec::new();
        for f in ["", "a", "héllo"] {
            write_frame(&mut written, f.as_bytes()).unwrap();
        }
        assert_eq!(written, buf);

        let mut reader = &buf[..];
        let mut out = Vec::new();
        for want in ["", "a", "héllo"] {
            read_frame(&mut reader, &mut out).unwrap();
            assert_eq!(out, want.as_bytes());
        }
        assert!(matches!(
            read_frame(&mut reader, &mut out),
            Err(ReadFrameError::Truncated)
        ));
    }

    #[test]
    fn lengths_past_u32_are_errors_not_wrapped() {
        let too_long = u32::MAX as usize + 1;
        assert_eq!(frame_header(too_long), Err(FrameTooLong { len: too_long }));
        assert_eq!(frame_header(u32::MAX as usize), Ok([0xff; 4]));
        assert_eq!(frame_len([0, 0, 1, 2]), 258);
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut buf = encode_frames(["abc"]).unwrap();
        buf.pop();
        let got: Vec<_> = Frames::new(&buf).collect();
        assert_eq!(got, vec![Err(TruncatedFrame { offset: 0 })]);
        let got: Vec<_> = Frames::new(&[0, 0]).collect();
        assert_eq!(got, vec![Err(TruncatedFrame { offset: 0 })]);
        let mut out = Vec::new();
        assert!(matches!(
            read_frame(&mut &buf[..], &mut out),
            Err(ReadFrameError::Truncated)
        ));
    }
}
