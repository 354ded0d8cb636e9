//! `grep`: the mapreduce app that prints the lines containing a term.
//!
//! The term comes from the job's arguments (`-- --term TERM`, `-t TERM`,
//! `--term=TERM` or `-t=TERM`) and matches as a case-sensitive substring. Map
//! emits one pair per file with at least one matching line: key = the input
//! path, value = a match list. Reduce merges the match lists of a path (it
//! may have been submitted more than once); format prints each file's
//! matches under its base name.
//!
//! A match list is frames (see [`plugin_api::frame`]) alternating an 8-byte
//! big-endian 1-based line number and the line's bytes, by line number.

use std::ffi::OsStr;
use std::io::{BufWriter, Write};
use std::path::Path;

use plugin_api::frame::{push_frame, Frames};
use plugin_api::{export_app, App, AppError, Args, Emit, MapInput, Records, Values};

/// The grep app.
#[derive(Debug, Default)]
pub struct Grep;

/// The option names of the search term.
const TERM_OPTION: [&str; 2] = ["-t", "--term"];

/// One matching line: its 1-based number and its bytes.
type Match<'a> = (u64, &'a [u8]);

impl App for Grep {
    const NAME: &'static str = "grep";
    const DESCRIPTION: &'static str = "Prints the lines containing a term (-t/--term TERM)";

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let term = search_term(&input.args)?;
        let text = std::str::from_utf8(input.contents).map_err(|e| {
            AppError::msg(format!(
                "input is not valid UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ))
        })?;
        let mut matches = Vec::new();
        for (line_number, line) in (1u64..).zip(text.lines()) {
            if line.contains(term) {
                push_match(&mut matches, line_number, line.as_bytes())?;
            }
        }
        if !matches.is_empty() {
            out.emit(input.path.as_bytes(), &matches);
        }
        Ok(())
    }

    fn reduce(
        &self,
        _key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        search_term(args)?;
        // Each value is only valid until the next one is read: keep copies.
        let mut lines: Vec<(u64, Vec<u8>)> = Vec::new();
        while let Some(value) = values.next_value() {
            for (line_number, line) in decode_matches(value)? {
                lines.push((line_number, line.to_vec()));
            }
        }
        lines.sort_by_key(|&(line_number, _)| line_number);
        lines.dedup_by_key(|&mut (line_number, _)| line_number);
        let mut merged = Vec::new();
        for (line_number, line) in &lines {
            push_match(&mut merged, *line_number, line)?;
        }
        Ok(merged)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while let Some((path, matches)) = records.next_record() {
            files.push((path.to_vec(), matches.to_vec()));
        }
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = BufWriter::new(out);
        for (path, matches) in &files {
            let path = std::str::from_utf8(path).map_err(|_| {
                AppError::msg("grep: an output key (input path) is not valid UTF-8")
            })?;
            let name = Path::new(path)
                .file_name()
                .and_then(OsStr::to_str)
                .unwrap_or(path);
            writeln!(out, "{name}:")?;
            let mut lines = decode_matches(matches)?;
            lines.sort_by_key(|&(line_number, _)| line_number);
            for (line_number, line) in lines {
                write!(out, "\t{line_number}: ")?;
                out.write_all(line)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

export_app!(Grep);

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

/// Appends one match to a match list.
fn push_match(list: &mut Vec<u8>, line_number: u64, line: &[u8]) -> Result<(), AppError> {
    if u32::try_from(line.len()).is_err() {
        return Err(AppError::msg(format!(
            "line {line_number} is too long to store ({} bytes, at most 4 GiB)",
            line.len()
        )));
    }
    push_frame(list, &line_number.to_be_bytes());
    push_frame(list, line);
    Ok(())
}

/// Decodes a match list.
fn decode_matches(list: &[u8]) -> Result<Vec<Match<'_>>, AppError> {
    let malformed = |what: String| AppError::msg(format!("malformed grep match list: {what}"));
    let mut frames = Frames::new(list);
    let mut matches = Vec::new();
    while let Some(number) = frames.next() {
        let number = number.map_err(|e| malformed(e.to_string()))?;
        let number: [u8; 8] = number.try_into().map_err(|_| {
            malformed(format!(
                "a line number is {} bytes, expected 8",
                number.len()
            ))
        })?;
        let line = frames
            .next()
            .ok_or_else(|| malformed("a line number has no line after it".to_owned()))?
            .map_err(|e| malformed(e.to_string()))?;
        matches.push((u64::from_be_bytes(number), line));
    }
    Ok(matches)
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
