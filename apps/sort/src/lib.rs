//! `sort`: the MapReduce paper's sort benchmark.
//!
//! Input records are either fixed 100-byte records whose first 10 bytes are
//! the key (the sort benchmark's format), or newline-terminated lines whose
//! first 10 bytes (fewer when the line is shorter) are the key. The job's
//! output, read in order `mr-out-0`, `mr-out-1`, ..., holds every input
//! record exactly once, sorted by key (and records with equal keys by the
//! rest of their bytes), and `mr process` prints the records themselves.
//!
//! Record format (`-- --format auto|fixed|lines`, default `auto`): `auto`
//! reads a file as 100-byte records when its length is a multiple of 100
//! and either its only `\n` bytes end every record, or it has no `\n`, or it has
//! bytes that are not text (control bytes other than tab, CR and LF);
//! otherwise as lines. A line keeps its `\n`; a last line without one gets
//! one, so every printed record ends in `\n`. In the sort benchmark's
//! ASCII format (98 bytes and `\r\n`) both readings give the same records.
//!
//! With `--format lines` the input is line records, so a large file is cut
//! into splits read by several map tasks; `fixed` and `auto` read whole
//! files.
//!
//! Partitioning (`-- --keys printable|binary`, default `printable`): a range
//! partitioner splits the key space evenly by the first three key bytes,
//! treated as digits over the printable ASCII range `0x20..=0x7e` (bytes
//! outside it count as its ends), or over all 256 byte values with
//! `binary`. Either way partition `r` holds only keys below those of
//! partition `r + 1`, so the concatenated outputs are globally sorted.
//!
//! Encodings: map emits key = the record's key, value = the record's other
//! bytes. Reduce outputs, per key, the key's values sorted and framed (see
//! [`plugin_api::frame`]), so duplicate keys keep every record.

use std::io::{BufWriter, Write};

use plugin_api::frame::{push_frame, Frames};
use plugin_api::{
    export_app, App, AppError, Args, Emit, InputFormat, MapInput, Partitioner, Records, Values,
};

/// The sort app.
#[derive(Debug, Default)]
pub struct Sort;

/// Bytes of a fixed-size record.
pub const RECORD_LEN: usize = 100;
/// Bytes of a key.
pub const KEY_LEN: usize = 10;

/// How a file's bytes divide into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 100-byte records.
    Fixed,
    /// `\n`-terminated lines.
    Lines,
}

/// How the key space is split among partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Evenly over printable ASCII.
    Printable,
    /// Evenly over all byte values.
    Binary,
}

const FORMAT_OPTION: [&str; 1] = ["--format"];
const KEYS_OPTION: [&str; 1] = ["--keys"];

/// The record format and key space the job's arguments ask for.
fn options(args: &Args<'_>) -> Result<(Option<Format>, Keys), AppError> {
    let all = args.to_strings()?;
    let mut it = all.iter();
    while let Some(&arg) = it.next() {
        let name = arg.split_once('=').map_or(arg, |(n, _)| n);
        let known = FORMAT_OPTION.contains(&name) || KEYS_OPTION.contains(&name);
        if !known {
            return Err(AppError::msg(format!(
                "sort: unknown argument {arg:?}; usage: -- [--format auto|fixed|lines] [--keys printable|binary]"
            )));
        }
        if !arg.contains('=') {
            it.next();
        }
    }
    let format = match args.option(&FORMAT_OPTION)? {
        None | Some("auto") => None,
        Some("fixed") => Some(Format::Fixed),
        Some("lines") => Some(Format::Lines),
        Some(other) => {
            return Err(AppError::msg(format!(
                "sort: --format is auto, fixed or lines, not {other:?}"
            )))
        }
    };
    let keys = match args.option(&KEYS_OPTION)? {
        None | Some("printable") => Keys::Printable,
        Some("binary") => Keys::Binary,
        Some(other) => {
            return Err(AppError::msg(format!(
                "sort: --keys is printable or binary, not {other:?}"
            )))
        }
    };
    Ok((format, keys))
}

/// Whether `byte` cannot occur in text.
fn is_binary(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')) || byte == 0x7f
}

/// The format `auto` picks for `contents` (see the module documentation).
pub fn detect_format(contents: &[u8]) -> Format {
    if !contents.len().is_multiple_of(RECORD_LEN) {
        return Format::Lines;
    }
    let newlines = contents.iter().filter(|&&b| b == b'\n').count();
    let records_are_lines = newlines == contents.len() / RECORD_LEN
        && contents
            .chunks_exact(RECORD_LEN)
            .all(|r| r[RECORD_LEN - 1] == b'\n');
    if records_are_lines || !contents.contains(&b'\n') || contents.iter().any(|&b| is_binary(b)) {
        Format::Fixed
    } else {
        Format::Lines
    }
}

/// Splits a record into its key and the rest.
fn split_record(record: &[u8]) -> (&[u8], &[u8]) {
    record.split_at(record.len().min(KEY_LEN))
}

impl App for Sort {
    const NAME: &'static str = "sort";
    const DESCRIPTION: &'static str =
        "Sorts 100-byte records (or lines) by their 10-byte key, globally across outputs";
    const PARTITION: Option<Partitioner<Self>> = Some(Self::by_key_range);

    /// Lines (`--format lines`) may be cut into splits; 100-byte records
    /// (`fixed`, whose keys may hold `\n` bytes) and `auto` (decided per
    /// file, from the whole file) are read as whole files.
    fn input_format(&self, args: &Args<'_>) -> InputFormat {
        match options(args) {
            Ok((Some(Format::Lines), _)) => InputFormat::Lines,
            _ => InputFormat::WholeFiles,
        }
    }

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let (format, _) = options(&input.args)?;
        let contents = input.contents;
        match format.unwrap_or_else(|| detect_format(contents)) {
            Format::Fixed => {
                if !contents.len().is_multiple_of(RECORD_LEN) {
                    return Err(AppError::msg(format!(
                        "sort: {} is {} bytes, not a whole number of {RECORD_LEN}-byte records",
                        input.path,
                        contents.len()
                    )));
                }
                for record in contents.chunks_exact(RECORD_LEN) {
                    let (key, rest) = split_record(record);
                    out.emit(key, rest);
                }
            }
            Format::Lines => {
                let mut line_buf = Vec::new();
                for line in contents.split_inclusive(|&b| b == b'\n') {
                    let line = if line.ends_with(b"\n") {
                        line
                    } else {
                        line_buf.clear();
                        line_buf.extend_from_slice(line);
                        line_buf.push(b'\n');
                        &line_buf
                    };
                    let (key, rest) = split_record(&line[..line.len() - 1]);
                    // The value keeps the newline: `key + value` is the line.
                    let value_end = key.len() + rest.len() + 1;
                    out.emit(key, &line[key.len()..value_end]);
                }
            }
        }
        Ok(())
    }

    fn reduce(
        &self,
        _key: &[u8],
        values: &mut dyn Values,
        _args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        // Almost every key has one record: frame it without sorting.
        let Some(first) = values.next_value() else {
            return Ok(Vec::new());
        };
        let first = first.to_vec();
        let Some(second) = values.next_value() else {
            let mut out = Vec::with_capacity(4 + first.len());
            push_frame(&mut out, &first)?;
            return Ok(out);
        };
        let mut all = vec![first, second.to_vec()];
        while let Some(v) = values.next_value() {
            all.push(v.to_vec());
        }
        all.sort_unstable();
        let mut out = Vec::with_capacity(all.iter().map(|v| 4 + v.len()).sum());
        for v in &all {
            push_frame(&mut out, v)?;
        }
        Ok(out)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        while let Some((key, values)) = records.next_record() {
            for value in Frames::new(values) {
                let value = value
                    .map_err(|e| AppError::msg(format!("sort: malformed output value: {e}")))?;
                out.write_all(key)?;
                out.write_all(value)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

impl Sort {
    /// The partitioner: key ranges, so that the outputs in order are
    /// globally sorted.
    fn by_key_range(&self, key: &[u8], n_reduce: u32, args: &Args<'_>) -> u32 {
        let keys = options(args).map_or(Keys::Printable, |(_, k)| k);
        range_partition(key, n_reduce, keys)
    }
}

export_app!(Sort);

/// The partition of `key`: its first three bytes as digits in base 95 over
/// printable ASCII (or base 256), scaled to `0..n_reduce`. Monotone in the
/// key, so lower partitions hold lower keys.
pub fn range_partition(key: &[u8], n_reduce: u32, keys: Keys) -> u32 {
    let (base, digit): (u64, fn(u8) -> u64) = match keys {
        Keys::Printable => (95, |b| u64::from(b.clamp(0x20, 0x7e) - 0x20)),
        Keys::Binary => (256, u64::from),
    };
    let mut position = 0u64;
    for i in 0..3 {
        // A missing byte sorts before every byte: digit 0.
        position = position * base + key.get(i).map_or(0, |&b| digit(b));
    }
    let span = base * base * base;
    (position * u64::from(n_reduce.max(1)) / span) as u32
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
