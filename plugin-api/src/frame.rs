//! The engine's byte formats: length-delimited frames and the partition hash.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes. Map
//! output alternates key and value frames, and so does `mr-out-<r>`; job
//! arguments are one frame per argument.

use crate::AppError;

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

/// Appends one frame holding `bytes` to `out`.
///
/// # Panics
/// If `bytes` is longer than `u32::MAX`, which no frame can hold.
pub fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("frame longer than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes `items` as consecutive frames.
pub fn encode_frames<I, B>(items: I) -> Vec<u8>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for item in items {
        push_frame(&mut out, item.as_ref());
    }
    out
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
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            self.pos = self.buf.len();
            return Some(Err(TruncatedFrame { offset }));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if body.len() < len {
            self.pos = self.buf.len();
            return Some(Err(TruncatedFrame { offset }));
        }
        self.pos += 4 + len;
        Some(Ok(&body[..len]))
    }
}

/// Decodes an 8-byte big-endian `u64`, the encoding the bundled apps use for
/// counts.
pub fn decode_u64(bytes: &[u8]) -> Result<u64, AppError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        AppError::msg(format!(
            "expected an 8-byte big-endian count, got {} bytes",
            bytes.len()
        ))
    })?;
    Ok(u64::from_be_bytes(arr))
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
        let buf = encode_frames(["", "a", "héllo"]);
        assert_eq!(buf[..4], [0, 0, 0, 0]);
        let got: Vec<&[u8]> = Frames::new(&buf).map(|f| f.unwrap()).collect();
        assert_eq!(got, vec![&b""[..], b"a", "héllo".as_bytes()]);
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut buf = encode_frames(["abc"]);
        buf.pop();
        let got: Vec<_> = Frames::new(&buf).collect();
        assert_eq!(got, vec![Err(TruncatedFrame { offset: 0 })]);
        let got: Vec<_> = Frames::new(&[0, 0]).collect();
        assert_eq!(got, vec![Err(TruncatedFrame { offset: 0 })]);
    }

    #[test]
    fn decode_u64_checks_length() {
        assert_eq!(decode_u64(&7u64.to_be_bytes()), Ok(7));
        assert!(decode_u64(b"abc").is_err());
    }
}
