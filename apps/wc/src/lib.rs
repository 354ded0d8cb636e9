//! `wc`: the word-count mapreduce app.
//!
//! A word is a maximal run of Unicode alphabetic characters, lowercased as a
//! whole with [`str::to_lowercase`]. Map counts each file's words itself
//! (in-mapper combining) and emits `word -> count`; reduce and combine sum the
//! counts; format prints `count\tword` lines, least frequent first.
//!
//! Encodings: keys are the word's UTF-8 bytes, values 8-byte big-endian `u64`.

use std::borrow::Cow;
use std::collections::HashMap;
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
        let mut counts: HashMap<String, u64> = HashMap::new();
        for word in text.split(|c: char| !c.is_alphabetic()) {
            if word.is_empty() {
                continue;
            }
            let word = lowercase(word);
            // Look up by `&str` so a word already seen costs no allocation.
            match counts.get_mut(word.as_ref()) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(word.into_owned(), 1);
                }
            }
        }
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

/// `word` lowercased, borrowing it when it is lowercase ASCII already.
fn lowercase(word: &str) -> Cow<'_, str> {
    if !word.is_ascii() {
        // Not per character: `to_lowercase` knows a final Σ becomes ς.
        Cow::Owned(word.to_lowercase())
    } else if word.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(word.to_ascii_lowercase())
    } else {
        Cow::Borrowed(word)
    }
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
mod test_support;
#[cfg(test)]
mod tests;
