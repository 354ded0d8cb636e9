//! `wc`: the word-count mapreduce app.
//!
//! A word is a maximal run of Unicode alphabetic characters, lowercased as a
//! whole with [`str::to_lowercase`]. Map counts each file's words itself
//! (in-mapper combining) and emits `word -> count`; reduce and combine sum the
//! counts; format prints `count\tword` lines, least frequent first.
//!
//! Encodings: keys are the word's UTF-8 bytes, values 8-byte big-endian `u64`.
//!
//! The counting loop ([`count_words`]) is public so that a sequential word
//! count (the benchmark's baseline) can share it: it scans bytes, takes
//! ASCII letters by table and decodes only non-ASCII characters, borrows
//! words that are already lowercase ASCII, and hashes with FxHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Write};

use plugin_api::{decode_u64, export_app, App, AppError, Args, Emit, MapInput, Records, Values};

/// The word-count app.
#[derive(Debug, Default)]
pub struct WordCount;

impl App for WordCount {
    const NAME: &'static str = "wc";
    const DESCRIPTION: &'static str = "Counts words (Unicode alphabetic runs, lowercased)";
    const HAS_COMBINER: bool = true;

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let text = utf8(input.contents)?;
        let mut counts = WordCounts::default();
        count_words(text, &mut counts);
        for (word, count) in &counts {
            out.emit(word.as_bytes(), &count.to_be_bytes());
        }
        Ok(())
    }

    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        _args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        sum(key, values)
    }

    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        _args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        sum(key, values)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        let mut rows: Vec<(u64, Vec<u8>)> = Vec::new();
        while let Some((word, count)) = records.next_record() {
            rows.push((decode_u64(count)?, word.to_vec()));
        }
        rows.sort_unstable();
        let mut out = BufWriter::new(out);
        for (count, word) in &rows {
            write!(out, "{count}\t")?;
            out.write_all(word)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

export_app!(WordCount);

/// `bytes` as text, or the error every app reports for non-UTF-8 input.
fn utf8(bytes: &[u8]) -> Result<&str, AppError> {
    std::str::from_utf8(bytes).map_err(|e| {
        AppError::msg(format!(
            "input is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })
}

/// Word counts: lowercased word -> occurrences.
pub type WordCounts = HashMap<String, u64, BuildHasherDefault<FxHasher>>;

/// FxHash (as in rustc) with a final mix: one rotate, xor and multiply per
/// 8 bytes. Not DoS-resistant, which a map task's private table does not
/// need.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending only on low input bits,
        // and the table indexes by low bits: fold the high half in.
        (self.hash ^ (self.hash >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Adds one to the count of `word`, allocating only for a new word.
#[inline]
fn bump(counts: &mut WordCounts, word: &str) {
    match counts.get_mut(word) {
        Some(n) => *n += 1,
        None => {
            counts.insert(word.to_owned(), 1);
        }
    }
}

/// Counts the words of `text` into `counts`: maximal runs of Unicode
/// alphabetic characters, each lowercased as a whole.
pub fn count_words(text: &str, counts: &mut WordCounts) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut lower = String::new();
    let mut i = 0;
    while i < n {
        // Skip separators.
        let b = bytes[i];
        if b < 0x80 {
            if !b.is_ascii_alphabetic() {
                i += 1;
                continue;
            }
        } else {
            let c = next_char(text, i);
            if !c.is_alphabetic() {
                i += c.len_utf8();
                continue;
            }
        }
        // A word starts at `i`.
        let start = i;
        let mut upper = false;
        let mut ascii = true;
        while i < n {
            let b = bytes[i];
            if b.is_ascii_lowercase() {
                i += 1;
            } else if b.is_ascii_uppercase() {
                upper = true;
                i += 1;
            } else if b < 0x80 {
                break;
            } else {
                let c = next_char(text, i);
                if !c.is_alphabetic() {
                    break;
                }
                ascii = false;
                i += c.len_utf8();
            }
        }
        let word = &text[start..i];
        if ascii && !upper {
            bump(counts, word);
        } else if ascii {
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
            bump(counts, &lower);
        } else {
            // Not per character: `to_lowercase` knows a final Σ becomes ς.
            bump(counts, &word.to_lowercase());
        }
    }
}

/// The character starting at byte `i` of `text` (a character boundary).
#[inline]
fn next_char(text: &str, i: usize) -> char {
    text[i..].chars().next().expect("i is inside text")
}

/// The checked sum of `values` (8-byte big-endian counts) for `key`.
fn sum(key: &[u8], values: &mut dyn Values) -> Result<Vec<u8>, AppError> {
    let mut total: u64 = 0;
    while let Some(value) = values.next_value() {
        total = total.checked_add(decode_u64(value)?).ok_or_else(|| {
            AppError::msg(format!(
                "the count of {:?} overflows a u64",
                String::from_utf8_lossy(key)
            ))
        })?;
    }
    Ok(total.to_be_bytes().to_vec())
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
