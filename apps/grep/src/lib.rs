//! `grep`: the mapreduce app that prints the lines containing a term.
//!
//! The term comes from the job's arguments (`-- --term TERM`, `-t TERM`,
//! `--term=TERM` or `-t=TERM`) and matches as a case-sensitive substring.
//!
//! Input is line records, so a large file is read by several map tasks,
//! each over one split (see [`plugin_api::split`]). A map knows where its
//! split starts in the file but not how many lines come before it, so it
//! numbers lines from the start of its split, and the formatter, which sees
//! a file's records in key order, turns those into file line numbers. Map
//! emits one pair per matching line: key = the input path, a 0 byte, the
//! split's 8-byte big-endian offset and the 8-byte 1-based line number within
//! the split (so keys sort by path, split, line); value = the line. It also
//! emits each split's line count under the line number `u64::MAX` (sorting
//! after the split's matches), so the formatter adds up the lines of every
//! earlier split. Every record is small, so a file with a great many
//! matches spills like any other output instead of becoming one huge value.
//! Reduce keeps one copy of a record (a path submitted twice matches twice);
//! format prints each file's matches under its base name, numbered from the
//! start of the file exactly as if the file had been one split.

use std::ffi::OsStr;
use std::io::{BufWriter, Write};
use std::path::Path;

use plugin_api::{
    decode_u64, encode_u64, export_app, App, AppError, Args, Emit, InputFormat, MapInput, Records,
    Values,
};

/// The grep app.
#[derive(Debug, Default)]
pub struct Grep;

/// The line number of a split's line-count record.
const COUNT: u64 = u64::MAX;

/// The option names of the search term.
const TERM_OPTION: [&str; 2] = ["-t", "--term"];

impl App for Grep {
    const NAME: &'static str = "grep";
    const DESCRIPTION: &'static str = "Prints the lines containing a term (-t/--term TERM)";
    const INPUT: InputFormat = InputFormat::Lines;

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let term = search_term(&input.args)?;
        let text = std::str::from_utf8(input.contents).map_err(|e| {
            AppError::msg(format!(
                "input is not valid UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ))
        })?;
        let mut key = match_key(input.path.as_bytes(), input.offset, 0);
        let number_at = key.len() - 8;
        let mut lines = 0u64;
        for (line_number, line) in (1u64..).zip(text.lines()) {
            lines = line_number;
            if line.contains(term) {
                key[number_at..].copy_from_slice(&line_number.to_be_bytes());
                out.emit(&key, line.as_bytes());
            }
        }
        key[number_at..].copy_from_slice(&COUNT.to_be_bytes());
        out.emit(&key, &encode_u64(lines));
        Ok(())
    }

    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        search_term(args)?;
        split_key(key)?;
        // The same line from the same path: every value is the same line.
        let first = values
            .next_value()
            .ok_or_else(|| AppError::msg("grep: a key without a line"))?
            .to_vec();
        Ok(first)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        let mut lines: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while let Some((key, line)) = records.next_record() {
            lines.push((key.to_vec(), line.to_vec()));
        }
        // Output files hold key ranges of their own: sort across them.
        lines.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = BufWriter::new(out);
        let mut current: Option<&[u8]> = None;
        // The path whose lines `before` counts, and the lines of its splits
        // seen so far (those before the current record's split).
        let mut counted: Option<&[u8]> = None;
        let mut before = 0u64;
        for (key, line) in &lines {
            let (path, _, local) = split_key(key)?;
            if counted != Some(path) {
                counted = Some(path);
                before = 0;
            }
            if local == COUNT {
                before = decode_u64(line)
                    .ok()
                    .and_then(|n| before.checked_add(n))
                    .ok_or_else(|| AppError::msg("grep: a malformed line count"))?;
                continue;
            }
            let line_number = before + local;
            if current != Some(path) {
                let path_text = std::str::from_utf8(path).map_err(|_| {
                    AppError::msg("grep: an output key (input path) is not valid UTF-8")
                })?;
                let name = Path::new(path_text)
                    .file_name()
                    .and_then(OsStr::to_str)
                    .unwrap_or(path_text);
                writeln!(out, "{name}:")?;
                current = Some(path);
            }
            write!(out, "\t{line_number}: ")?;
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

export_app!(Grep);

/// The key of line `line_number` of the split at `offset` of `path`.
fn match_key(path: &[u8], offset: u64, line_number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(path.len() + 17);
    key.extend_from_slice(path);
    key.push(0);
    key.extend_from_slice(&offset.to_be_bytes());
    key.extend_from_slice(&line_number.to_be_bytes());
    key
}

/// Splits a key into its path, split offset and line number.
fn split_key(key: &[u8]) -> Result<(&[u8], u64, u64), AppError> {
    let malformed = || AppError::msg(format!("malformed grep key of {} bytes", key.len()));
    let split = key.len().checked_sub(17).ok_or_else(malformed)?;
    let (path, rest) = key.split_at(split);
    let (zero, numbers) = rest.split_first().ok_or_else(malformed)?;
    let (offset, number) = numbers.split_at(8);
    let offset: [u8; 8] = offset.try_into().map_err(|_| malformed())?;
    let number: [u8; 8] = number.try_into().map_err(|_| malformed())?;
    if *zero != 0 {
        return Err(malformed());
    }
    Ok((path, u64::from_be_bytes(offset), u64::from_be_bytes(number)))
}

/// The search term in `args`, checking that nothing else was passed.
fn search_term<'a>(args: &Args<'a>) -> Result<&'a str, AppError> {
    let all = args.to_strings()?;
    let mut it = all.iter();
    while let Some(&arg) = it.next() {
        if TERM_OPTION.contains(&arg) {
            if it.next().is_none() {
                return Err(AppError::msg(format!("option {arg} needs a value")));
            }
        } else if !arg
            .split_once('=')
            .is_some_and(|(name, _)| TERM_OPTION.contains(&name))
        {
            return Err(AppError::msg(format!(
                "grep: unknown argument {arg:?}; usage: -- --term TERM"
            )));
        }
    }
    match args.option(&TERM_OPTION)? {
        None => Err(AppError::msg(
            "grep needs a search term: pass -- --term TERM (or -t TERM)",
        )),
        Some("") => Err(AppError::msg("grep's search term must not be empty")),
        Some(term) => Ok(term),
    }
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
