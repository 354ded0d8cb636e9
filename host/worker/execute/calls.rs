//! A map task's inputs as map calls ([`map_calls`]): a whole file is one
//! call, as is a range of an object; a local input of an app that reads
//! lines is opened once and, when it is larger than the worker's
//! `map_call` share, read and mapped in pieces of whole lines, one at a
//! time, so that a task never holds its whole split.

use std::fs::File;
use std::os::unix::fs::FileExt;

use plugin_api::split::read_line_split;

use super::read_source;
use crate::core::InputRange;
use crate::security::{Confinement, PathError};
use crate::worker::input_error::InputReadError;
use crate::worker::map_task::MapSource;

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
    let (file, size) = match confinement.open_input(&input.path) {
        Ok(opened) => opened,
        Err(e) => return MapCalls::One(Some(Err(e.into()))),
    };
    let piece = piece.max(1);
    if input.len.is_none() && size <= piece {
        // Small enough to read whole, through the descriptor opened.
        let read = match crate::security::open::read_opened(file.into(), size) {
            Ok(contents) => Ok(MapSource {
                path: input.path,
                offset: 0,
                contents: contents.into(),
            }),
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
            Ok(split) => Ok(MapSource {
                path: self.path.clone(),
                offset: split.offset,
                contents: split.bytes.into(),
            }),
            Err(source) => {
                self.at = self.end;
                Err(read_error(&self.path, source))
            }
        })
    }
}

fn read_error(path: &str, source: std::io::Error) -> InputReadError {
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
}
