//! Helpers for the value encoding most apps use (a count or id as an 8-byte
//! big-endian `u64`, so byte order is numeric order), and the default text
//! form of output records that [`crate::App::format`] falls back to.
//!
//! A counting app needs nothing else: map emits `encode_u64(1)`, reduce
//! returns `encode_u64(sum_u64(values)?)`, and the default `format` prints
//! `key\tcount` lines.

use std::io::Write;

use crate::{AppError, Records, Values};

/// A value that is not what [`decode_u64`] or [`sum_u64`] expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Not exactly 8 bytes.
    WrongLength {
        /// Its length.
        len: usize,
    },
    /// The sum does not fit a `u64`.
    Overflow,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::WrongLength { len } => {
                write!(f, "expected an 8-byte big-endian count, got {len} bytes")
            }
            ValueError::Overflow => f.write_str("the sum overflows a u64"),
        }
    }
}

impl std::error::Error for ValueError {}

/// Encodes `n` as 8 big-endian bytes (`&encode_u64(n)` is an emit value;
/// `encode_u64(n).to_vec()` a reduce result).
pub fn encode_u64(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes an 8-byte big-endian `u64`, the encoding of [`encode_u64`].
pub fn decode_u64(bytes: &[u8]) -> Result<u64, ValueError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| ValueError::WrongLength { len: bytes.len() })?;
    Ok(u64::from_be_bytes(arr))
}

/// The checked sum of a stream of [`encode_u64`] values: an error on a value
/// that is not 8 bytes or when the total overflows.
pub fn sum_u64(values: &mut dyn Values) -> Result<u64, ValueError> {
    let mut total: u64 = 0;
    while let Some(value) = values.next_value() {
        total = total
            .checked_add(decode_u64(value)?)
            .ok_or(ValueError::Overflow)?;
    }
    Ok(total)
}

/// Writes `bytes` as [`write_records`] shows a key or value.
fn write_field(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    let text = std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0);
    match decode_u64(bytes) {
        Ok(n) if !text => write!(out, "{n}"),
        _ => write!(out, "{}", String::from_utf8_lossy(bytes)),
    }
}

/// The default output format: one `key\tvalue\n` line per record, in the
/// order given (`mr-out-0`, `mr-out-1`, ..., each in ascending key order).
///
/// A key or value of exactly 8 bytes that is not text (not valid UTF-8, or
/// holding a zero byte, as every [`encode_u64`] of a number below 2^56 does)
/// is shown as the decimal [`decode_u64`] of it; anything else is shown as
/// UTF-8 text, invalid sequences replaced by `U+FFFD`.
/// Write your own [`crate::App::format`] for anything else (sorting by
/// value, other number encodings, ...).
pub fn write_records(records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
    let mut out = std::io::BufWriter::new(out);
    while let Some((key, value)) = records.next_record() {
        write_field(&mut out, key)?;
        out.write_all(b"\t")?;
        write_field(&mut out, value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SliceRecords, SliceValues};

    #[test]
    fn decode_u64_checks_length() {
        assert_eq!(decode_u64(&encode_u64(7)), Ok(7));
        assert_eq!(decode_u64(b"abc"), Err(ValueError::WrongLength { len: 3 }));
    }

    #[test]
    fn sum_u64_adds_and_checks() {
        let values = [encode_u64(2).to_vec(), encode_u64(40).to_vec()];
        assert_eq!(sum_u64(&mut SliceValues::new(&values)), Ok(42));
        assert_eq!(sum_u64(&mut SliceValues::new(&[])), Ok(0));
        let values = [encode_u64(u64::MAX).to_vec(), encode_u64(1).to_vec()];
        assert_eq!(
            sum_u64(&mut SliceValues::new(&values)),
            Err(ValueError::Overflow)
        );
        let values = [vec![1, 2, 3]];
        assert_eq!(
            sum_u64(&mut SliceValues::new(&values)),
            Err(ValueError::WrongLength { len: 3 })
        );
    }

    #[test]
    fn default_format_shows_numbers_and_text() {
        let records = [
            (b"word".to_vec(), encode_u64(3).to_vec()),
            (encode_u64(9).to_vec(), encode_u64(1 << 60).to_vec()),
            (b"8 chars!".to_vec(), b"abcdefgh".to_vec()),
            (vec![0xff, b'x'], b"tab\there".to_vec()),
        ];
        let mut out = Vec::new();
        write_records(&mut SliceRecords::new(&records), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "word\t3\n9\t{}\n8 chars!\tabcdefgh\n\u{fffd}x\ttab\there\n",
                1u64 << 60
            )
        );
    }
}
