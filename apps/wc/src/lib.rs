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
//! words that are already lowercase ASCII, and hashes with foldhash.

use std::collections::HashMap;
use std::io::{BufWriter, Write};

use plugin_api::{
    decode_u64, encode_u64, export_app, sum_u64, App, AppError, Args, Emit, InputFormat, MapInput,
    Records, Reducer, ValueError, Values,
};

/// The word-count app.
#[derive(Debug, Default)]
pub struct WordCount;

impl App for WordCount {
    const NAME: &'static str = "wc";
    const DESCRIPTION: &'static str = "Counts words (Unicode alphabetic runs, lowercased)";
    const COMBINE: Option<Reducer<Self>> = Some(Self::reduce);
    const INPUT: InputFormat = InputFormat::JoinedLines;

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let text = utf8(input.contents)?;
        if text.len() > SMALL_INPUT {
            let mut counts = WordCounts::default();
            count_words(text, &mut counts);
            for (word, count) in &counts {
                out.emit(word.as_bytes(), &encode_u64(*count));
            }
            return Ok(());
        }
        // A small input: words as the text holds them are keyed by slices
        // of it (no allocation per word), lowercased copies of the others
        // go to a table of their own, merged before emitting. The table is
        // sized for about one new word per 8 bytes, so that a 1 KiB file's
        // is not regrown 6 times.
        let mut in_text: HashMap<&str, u64, foldhash::fast::FixedState> =
            HashMap::with_capacity_and_hasher(text.len() / 8, Default::default());
        let mut lowered = WordCounts::default();
        scan_words(text, |word| match word {
            Word::InText(w) => *in_text.entry(w).or_insert(0) += 1,
            // Counted under the text's own copy when there is one already,
            // so that a capitalised word costs no allocation.
            Word::Lowered(w) => match in_text.get_mut(w) {
                Some(n) => *n += 1,
                None => bump(&mut lowered, w),
            },
        });
        for (word, count) in &lowered {
            match in_text.get_mut(word.as_str()) {
                Some(n) => *n += count,
                None => out.emit(word.as_bytes(), &encode_u64(*count)),
            }
        }
        for (word, count) in &in_text {
            out.emit(word.as_bytes(), &encode_u64(*count));
        }
        Ok(())
    }

    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        _args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        let total = sum_u64(values).map_err(|e| match e {
            ValueError::Overflow => AppError::msg(format!(
                "the count of {:?} overflows a u64",
                String::from_utf8_lossy(key)
            )),
            e => e.into(),
        })?;
        Ok(encode_u64(total).to_vec())
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        // The words in one buffer, each row with its count and the word's
        // first 8 bytes: most comparisons end there, without a call to
        // memcmp or an allocation per word (formatting 733,000 words took
        // 0.3 s, a third of it in memcmp, malloc and free).
        let mut words: Vec<u8> = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        while let Some((word, count)) = records.next_record() {
            let mut prefix = [0u8; 8];
            let n = word.len().min(8);
            prefix[..n].copy_from_slice(&word[..n]);
            rows.push(Row {
                count: decode_u64(count)?,
                prefix: u64::from_be_bytes(prefix),
                start: words.len(),
                len: word.len(),
            });
            words.extend_from_slice(word);
        }
        let word = |r: &Row| &words[r.start..r.start + r.len];
        rows.sort_unstable_by(|a, b| {
            (a.count, a.prefix).cmp(&(b.count, b.prefix)).then_with(|| {
                // Same count and first 8 bytes: a word of at most 8 bytes
                // is the start of the other, so the shorter comes first.
                if a.len <= 8 || b.len <= 8 {
                    a.len.cmp(&b.len)
                } else {
                    word(a)[8..].cmp(&word(b)[8..])
                }
            })
        });
        let mut out = BufWriter::with_capacity(1 << 16, out);
        let mut digits = [0u8; 20];
        for r in &rows {
            out.write_all(format_u64(&mut digits, r.count))?;
            out.write_all(b"\t")?;
            out.write_all(word(r))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

export_app!(WordCount);

/// Inputs up to this size are counted with keys borrowed from the input:
/// it is in cache, and a table over 50,000 files of 1 KiB then allocates
/// only per table. Over a large input those keys are scattered through it
/// and every compare misses the cache: 7% slower over 256 MiB than copying
/// each new word into the table.
const SMALL_INPUT: usize = 64 << 10;

/// One output line to sort: its count, where its word is in the buffer of
/// words, and the word's first 8 bytes (big-endian, zero-padded).
struct Row {
    count: u64,
    prefix: u64,
    start: usize,
    len: usize,
}

/// `n` in decimal, written into the end of `buf`.
fn format_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `bytes` as text, or the error every app reports for non-UTF-8 input.
fn utf8(bytes: &[u8]) -> Result<&str, AppError> {
    std::str::from_utf8(bytes).map_err(|e| {
        AppError::msg(format!(
            "input is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })
}

/// Word counts: lowercased word -> occurrences. Hashed with foldhash's
/// fixed-seed fast hasher: not DoS-resistant, which a map task's private
/// table does not need. It replaced a hand-kept FxHash: counting the
/// Gutenberg texts ten times took 0.69-0.71 s with it against 0.86-1.05 s.
pub type WordCounts = HashMap<String, u64, foldhash::fast::FixedState>;

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
    scan_words(text, |word| bump(counts, word.as_str()));
}

/// A word found by [`scan_words`], lowercased: a slice of the text when the
/// text already holds it so, else a lowercased copy that lives until the
/// next word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word<'t, 's> {
    /// The word as it is in the text (lowercase already).
    InText(&'t str),
    /// A lowercased copy.
    Lowered(&'s str),
}

impl Word<'_, '_> {
    /// The lowercased word.
    pub fn as_str(&self) -> &str {
        match self {
            Word::InText(w) | Word::Lowered(w) => w,
        }
    }
}

/// Calls `f` with every word of `text`, in order: maximal runs of Unicode
/// alphabetic characters, each lowercased as a whole.
pub fn scan_words<'t>(text: &'t str, mut f: impl FnMut(Word<'t, '_>)) {
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
            f(Word::InText(word));
        } else if ascii {
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
            f(Word::Lowered(&lower));
        } else if word.chars().all(lowercase_already) {
            // Already lowercase (`straße`): no copy to make.
            f(Word::InText(word));
        } else {
            // Not per character: `to_lowercase` knows a final Σ becomes ς.
            lower = word.to_lowercase();
            f(Word::Lowered(&lower));
        }
    }
}

/// Whether lowercasing leaves `c` as it is. When it does for every
/// character of a word, so does [`str::to_lowercase`]: it maps each
/// character alone, but for `Σ`, which changes either way.
#[inline]
fn lowercase_already(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

/// The character starting at byte `i` of `text` (a character boundary).
#[inline]
fn next_char(text: &str, i: usize) -> char {
    text[i..].chars().next().expect("i is inside text")
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
