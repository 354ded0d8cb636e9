//! A map task's inputs as map calls ([`map_calls`]): a whole file is one
//! call, as is a range of an object; a local input of an app that reads
//! lines is opened once and, when it is larger than the worker's
//! `map_call` share, read and mapped in pieces of whole lines, one at a
//! time, so that a task never holds its whole split. [`task_calls`] is
//! the one way a task's inputs become calls, in the worker and in the
//! executor alike (small files joined for `JoinedLines` apps, in
//! `joined.rs`).

use std::fs::File;
use std::os::unix::fs::FileExt;

use plugin_api::split::read_line_split;
use plugin_api::InputFormat;

use super::joined::{JoinedCalls, JOIN_TARGET};
use super::read_source;
use crate::core::InputRange;
use crate::security::{Confinement, PathError};
use crate::worker::input_error::InputReadError;
use crate::worker::map_task::{MapError, MapSource};

/// The map calls of `input`, read one at a time as the iterator is
/// advanced. `piece` is the most one call is given when the app reads
/// lines (`None`: the app reads whole files, which are handed over whole).
/// A piece owns the lines that start in it, as a split does, so the pieces'
/// lines are the input's, each once.
pub(crate) fn map_calls(
    confinement: &Confinement,
    input: InputRange,
    piece: Option<u64>,
) -> MapCalls {
    let Some(piece) = piece.filter(|_| !crate::storage::is_object(&input.path)) else {
        return MapCalls::One(Some(read_source(confinement, &input)));
    };
    match confinement.open_input(&input.path) {
        Ok((file, size)) => opened_calls(input, file, size, piece),
        Err(e) => MapCalls::One(Some(Err(e.into()))),
    }
}

/// [`map_calls`] of a local input already opened, of `size` bytes.
pub(super) fn opened_calls(input: InputRange, file: File, size: u64, piece: u64) -> MapCalls {
    let piece = piece.max(1);
    if input.len.is_none() && size <= piece {
        // Small enough to read whole, through the descriptor opened.
        let read = match crate::security::open::read_opened(file.into(), size) {
            Ok(contents) => Ok(MapSource::new(input.path, 0, contents.into())),
            Err(source) => Err(read_error(&input.path, source)),
        };
        return MapCalls::One(Some(read));
    }
    let (start, len) = match input.len {
        Some(len) => (input.offset, len),
        None => (0, size),
    };
    MapCalls::Pieces(Pieces {
        file,
        path: input.path,
        at: start,
        end: start.saturating_add(len),
        piece,
        first: true,
    })
}

/// The map calls of a task's `inputs` for an app reading `format`, given
/// the worker's `map_call` share: each input's calls ([`map_calls`]; lines
/// in pieces of at most `map_call` bytes) or, for
/// [`InputFormat::JoinedLines`], small files joined ([`JoinedCalls`]).
/// `counted` is told, for each call, how many inputs (or pieces) it holds
/// and their bytes (the task's input counters).
pub(crate) fn task_calls<'a>(
    confinement: &'a Confinement,
    inputs: impl IntoIterator<Item = InputRange> + 'a,
    format: InputFormat,
    map_call: usize,
    mut counted: impl FnMut(u64, u64) + 'a,
) -> Box<dyn Iterator<Item = Result<MapSource, MapError>> + 'a> {
    let mut count = move |call: &MapSource| match call.joined.as_slice() {
        [] => counted(1, call.contents.len() as u64),
        parts => counted(
            parts.len() as u64,
            parts.iter().map(|p| p.range.len() as u64).sum(),
        ),
    };
    let piece = format.is_lines().then_some(map_call as u64);
    let calls: Box<dyn Iterator<Item = Result<MapSource, InputReadError>> + 'a> =
        if format == InputFormat::JoinedLines {
            let target = JOIN_TARGET.min(map_call);
            Box::new(JoinedCalls::new(
                confinement,
                inputs.into_iter(),
                map_call as u64,
                target,
            ))
        } else {
            Box::new(
                inputs
                    .into_iter()
                    .flat_map(move |input| map_calls(confinement, input, piece)),
            )
        };
    Box::new(calls.map(move |call| {
        let call = call.map_err(MapError::UnreadableInput)?;
        count(&call);
        Ok(call)
    }))
}

/// The map calls of one input ([`map_calls`]): one read already made, or
/// pieces still to read.
pub(crate) enum MapCalls {
    /// One call's input (or why it could not be read), until taken.
    One(Option<Result<MapSource, InputReadError>>),
    /// Pieces of a range of lines.
    Pieces(Pieces),
}

impl Iterator for MapCalls {
    type Item = Result<MapSource, InputReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            MapCalls::One(read) => read.take(),
            MapCalls::Pieces(pieces) => pieces.next(),
        }
    }
}

/// The pieces of a range of lines still to read from an opened file.
pub(crate) struct Pieces {
    file: File,
    path: String,
    at: u64,
    end: u64,
    piece: u64,
    /// Whether no piece was read yet (an empty range is one empty call).
    first: bool,
}

impl Iterator for Pieces {
    type Item = Result<MapSource, InputReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end && !self.first {
            return None;
        }
        self.first = false;
        let n = self.piece.min(self.end - self.at);
        let file = &self.file;
        let read = read_line_split(|buf, pos| file.read_at(buf, pos), self.at, n);
        self.at += n;
        Some(match read {
            Ok(split) => Ok(MapSource::new(
                self.path.clone(),
                split.offset,
                split.bytes.into(),
            )),
            Err(source) => {
                self.at = self.end;
                Err(read_error(&self.path, source))
            }
        })
    }
}

pub(super) fn read_error(path: &str, source: std::io::Error) -> InputReadError {
    PathError::Read {
        path: path.to_string(),
        source,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of every map call of `input`, joined, and how many.
    fn mapped(c: &Confinement, input: &InputRange, piece: Option<u64>) -> (Vec<u8>, usize) {
        let sources: Vec<MapSource> = map_calls(c, input.clone(), piece)
            .collect::<Result<_, _>>()
            .unwrap();
        let calls = sources.len();
        (
            sources.iter().flat_map(|s| s.contents.to_vec()).collect(),
            calls,
        )
    }

    #[test]
    fn pieces_give_the_lines_of_their_input_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let mut text = b"short\r\nx\n\n".to_vec();
        text.extend_from_slice(&b"a long line ".repeat(20));
        text.extend_from_slice(b"\nend without newline");
        std::fs::write(&path, &text).unwrap();
        let path = path.display().to_string();
        let c = Confinement::default();
        let len = text.len() as u64;
        let whole = InputRange::whole(path.clone());
        assert_eq!(mapped(&c, &whole, None), (text.clone(), 1), "whole files");
        assert_eq!(
            mapped(&c, &whole, Some(len)),
            (text.clone(), 1),
            "fits one call"
        );
        for piece in [1, 2, 5, 64] {
            let (joined, calls) = mapped(&c, &whole, Some(piece));
            assert_eq!(joined, text, "the whole file in pieces of {piece}");
            assert!(calls > 1);
        }
        for offset in 0..len {
            for rlen in [0, 1, 7, len - offset] {
                let range = InputRange {
                    path: path.clone(),
                    offset,
                    len: Some(rlen),
                };
                let (lines, _) = mapped(&c, &range, Some(u64::MAX));
                for piece in [1, 2, 5, 64] {
                    let (joined, _) = mapped(&c, &range, Some(piece));
                    assert_eq!(joined, lines, "range {offset}+{rlen} in pieces of {piece}");
                }
            }
        }
    }

    #[test]
    fn only_joined_lines_apps_get_a_packs_files_in_one_call() {
        let dir = tempfile::tempdir().unwrap();
        let inputs: Vec<InputRange> = (0..50)
            .map(|i| {
                let path = dir.path().join(format!("f{i:02}.txt"));
                std::fs::write(&path, format!("word{i} shared\nlast{i}")).unwrap();
                InputRange::whole(path.display().to_string())
            })
            .collect();
        let c = Confinement::default();
        let calls = |format| {
            let mut counted = 0;
            let texts: Vec<Vec<u8>> =
                task_calls(&c, inputs.clone(), format, 1 << 20, |n, _| counted += n)
                    .map(|s| s.unwrap().contents.to_vec())
                    .collect();
            (texts, counted)
        };
        let (joined, counted) = calls(InputFormat::JoinedLines);
        assert_eq!(
            (joined.len(), counted),
            (1, 50),
            "one call; every file counted"
        );
        let (each, counted) = calls(InputFormat::Lines);
        assert_eq!((each.len(), counted), (50, 50));
        let mut lines: Vec<u8> = Vec::new();
        for text in &each {
            lines.extend_from_slice(text);
            lines.push(b'\n');
        }
        assert_eq!(
            joined[0], lines,
            "the files' lines in order, each file's last one ended"
        );
        assert_eq!(calls(InputFormat::WholeFiles).0, each);
    }
}
