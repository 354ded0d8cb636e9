//! `vertex-degree`: the mapreduce app that counts each vertex's degree in an
//! edge list.
//!
//! Input is a text edge list, one `FROM TO` pair of unsigned integers per
//! line; blank lines and lines starting with `#` (SNAP-style comments) are
//! skipped. Every edge adds one to the degree of each of its ends, so a
//! self-loop adds two. Map totals each file's degrees itself and emits
//! `vertex -> degree`; reduce and combine sum them; format prints
//! `vertex\tdegree` lines by vertex.
//!
//! Keys and values are 8-byte big-endian `u64`s, so the engine's byte order of
//! keys is their numeric order.

use std::collections::HashMap;
use std::io::{BufWriter, Write};

use plugin_api::{
    decode_u64, encode_u64, export_app, sum_u64, App, AppError, Args, Emit, InputFormat, MapInput,
    Records, Reducer, ValueError, Values,
};

/// The vertex-degree app.
#[derive(Debug, Default)]
pub struct VertexDegree;

impl App for VertexDegree {
    const NAME: &'static str = "vertex-degree";
    const DESCRIPTION: &'static str = "Counts each vertex's degree in an edge list";
    const COMBINE: Option<Reducer<Self>> = Some(Self::reduce);
    const INPUT: InputFormat = InputFormat::Lines;

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let text = std::str::from_utf8(input.contents).map_err(|e| {
            AppError::msg(format!(
                "input is not valid UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ))
        })?;
        let mut degrees: HashMap<u64, u64> = HashMap::new();
        for (line_number, line) in (1u64..).zip(text.lines()) {
            let parsed = parse_edge(line_number, line).map_err(|e| {
                if input.offset == 0 {
                    e
                } else {
                    AppError::msg(format!(
                        "in the split starting at byte {}: {}",
                        input.offset,
                        e.message()
                    ))
                }
            })?;
            if let Some((from, to)) = parsed {
                *degrees.entry(from).or_default() += 1;
                *degrees.entry(to).or_default() += 1;
            }
        }
        for (vertex, degree) in &degrees {
            out.emit(&encode_u64(*vertex), &encode_u64(*degree));
        }
        Ok(())
    }

    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        _args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        let vertex = decode_vertex(key)?;
        let degree = sum_u64(values).map_err(|e| match e {
            ValueError::Overflow => {
                AppError::msg(format!("the degree of vertex {vertex} overflows a u64"))
            }
            e => e.into(),
        })?;
        Ok(encode_u64(degree).to_vec())
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        let mut rows: Vec<(u64, u64)> = Vec::new();
        while let Some((vertex, degree)) = records.next_record() {
            rows.push((decode_vertex(vertex)?, decode_u64(degree)?));
        }
        rows.sort_unstable();
        let mut out = BufWriter::new(out);
        for (vertex, degree) in rows {
            writeln!(out, "{vertex}\t{degree}")?;
        }
        out.flush()?;
        Ok(())
    }
}

export_app!(VertexDegree);

/// The edge on `line`, or `None` for a blank or comment line.
fn parse_edge(line_number: u64, line: &str) -> Result<Option<(u64, u64)>, AppError> {
    let content = line.trim_start();
    if content.is_empty() || content.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let edge = match (fields.next(), fields.next(), fields.next()) {
        (Some(from), Some(to), None) => parse_vertex(from).zip(parse_vertex(to)),
        _ => None,
    };
    edge.map(Some).ok_or_else(|| {
        AppError::msg(format!(
            "line {line_number}: expected two unsigned integers separated by whitespace, \
             got {line:?}"
        ))
    })
}

/// A vertex id: ASCII digits only (no sign) that fit a `u64`.
fn parse_vertex(field: &str) -> Option<u64> {
    if field.bytes().all(|b| b.is_ascii_digit()) {
        field.parse().ok()
    } else {
        None
    }
}

/// A vertex key (8-byte big-endian).
fn decode_vertex(key: &[u8]) -> Result<u64, AppError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        AppError::msg(format!(
            "expected an 8-byte big-endian vertex id as key, got {} bytes",
            key.len()
        ))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
use plugin_api::testing as test_support;
#[cfg(test)]
mod tests;
