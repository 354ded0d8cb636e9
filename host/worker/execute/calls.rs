//! A map task's inputs as map calls ([`map_calls`]): a whole file is one
//! call, as is a range of an object; a local input of an app that reads
//! lines is opened once and, when it is larger than the worker's
//! `map_call` share, read and mapped in pieces of whole lines, one at a
//! time, so that a task never holds its whole split.

use std::fs::File;
use std::os::unix::fs::FileExt;

use plugin_api::split::read_line_split;
use plugin_api::InputFormat;

use super::read_source;
use crate::core::InputRange;
use crate::security::{Confinement, PathError};
use crate::worker::input_error::InputReadError;
use crate::worker::map_task::{JoinedPart, MapError, MapSource};

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
/// in pieces of at most `map_call` bytes), shown to `counted` (the task's
/// input counters), then, for [`InputFormat::JoinedLines`], joined into
/// calls of at most [`JOIN_TARGET`] bytes ([`Joined`]).
pub(crate) fn task_calls<'a>(
    confinement: &'a Confinement,
    inputs: impl IntoIterator<Item = InputRange> + 'a,
    format: InputFormat,
    map_call: usize,
    mut counted: impl FnMut(&MapSource) + 'a,
) -> impl Iterator<Item = Result<MapSource, MapError>> + 'a {
    let piece = format.is_lines().then_some(map_call as u64);
    let calls = inputs
        .into_iter()
        .flat_map(move |input| map_calls(confinement, input, piece))
        .map(move |call| {
            let call = call.map_err(MapError::UnreadableInput)?;
            counted(&call);
            Ok(call)
        });
    let join = (format == InputFormat::JoinedLines).then_some(JOIN_TARGET.min(map_call));
    Joined::new(calls, join)
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
            Ok(split) => Ok(MapSource::new(self.path.clone(), split.offset, split.bytes.into())),
            Err(source) => {
                self.at = self.end;
                Err(read_error(&self.path, source))
            }
        })
    }
}

/// The most bytes [`Joined`] puts into one map call: about what a table of
/// a file's distinct words keeps in cache (`wc` over 100,000 files of 1 KiB
/// joined 1 MiB at a time maps as fast as over the same bytes in 64 files;
/// joined a whole 50 MiB split at a time it was three times slower), and
/// never more than the worker's `map_call` share.
pub(crate) const JOIN_TARGET: usize = 1 << 20;

/// Map calls of an app that reads [`plugin_api::InputFormat::JoinedLines`]:
/// consecutive calls of `calls` joined, in order, into calls of at most
/// `target` bytes (a call already that large passes alone), each joined
/// call's part ended with a `\n` where it has none, so that no two files'
/// lines run together. Empty calls (empty files) are dropped; an error
/// passes as it comes, after the calls joined before it.
pub(crate) struct Joined<I, E>
where
    I: Iterator<Item = Result<MapSource, E>>,
{
    calls: I,
    /// `None`: calls pass unchanged (an app of another format).
    target: Option<usize>,
    /// A call taken from `calls` that did not fit the last joined call.
    next: Option<Result<MapSource, E>>,
}

impl<I, E> Joined<I, E>
where
    I: Iterator<Item = Result<MapSource, E>>,
{
    pub(crate) fn new(calls: I, target: Option<usize>) -> Self {
        Joined {
            calls,
            target: target.map(|t| t.max(1)),
            next: None,
        }
    }

    fn take(&mut self) -> Option<Result<MapSource, E>> {
        self.next.take().or_else(|| self.calls.next())
    }
}

/// The bytes `part` adds to a joined call: itself, and a `\n` if it does
/// not end with one.
fn joined_len(part: &[u8]) -> usize {
    part.len() + usize::from(part.last() != Some(&b'\n'))
}

impl<I, E> Iterator for Joined<I, E>
where
    I: Iterator<Item = Result<MapSource, E>>,
{
    type Item = Result<MapSource, E>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(target) = self.target else {
            return self.calls.next();
        };
        let first = loop {
            match self.take()? {
                Ok(s) if s.contents.is_empty() => continue,
                Ok(s) => break s,
                Err(e) => return Some(Err(e)),
            }
        };
        let mut len = joined_len(&first.contents);
        if len > target {
            return Some(Ok(first));
        }
        // The first call is copied only when a second one joins it.
        let mut joined: Option<(Vec<u8>, Vec<JoinedPart>)> = None;
        while let Some(call) = self.take() {
            let part = match call {
                Ok(s) if s.contents.is_empty() => continue,
                Ok(s) if len + joined_len(&s.contents) <= target => s,
                other => {
                    self.next = Some(other);
                    break;
                }
            };
            let (buf, parts) = joined.get_or_insert_with(|| {
                let mut buf = Vec::with_capacity(target);
                let parts = vec![push_part(&mut buf, &first.contents, &first.path, first.offset)];
                (buf, parts)
            });
            parts.push(push_part(buf, &part.contents, part.path, part.offset));
            len = buf.len();
        }
        Some(Ok(match joined {
            Some((buf, parts)) => MapSource {
                contents: buf.into(),
                joined: parts,
                ..first
            },
            None => first,
        }))
    }
}

/// Appends the `contents` of a call over `path` from `offset` to `buf`,
/// ended with a `\n` where they have none; where they went.
fn push_part(
    buf: &mut Vec<u8>,
    contents: &[u8],
    path: impl Into<String>,
    offset: u64,
) -> JoinedPart {
    let start = buf.len();
    buf.extend_from_slice(contents);
    let range = start..buf.len();
    if contents.last() != Some(&b'\n') {
        buf.push(b'\n');
    }
    JoinedPart {
        path: path.into(),
        offset,
        range,
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

    fn call(path: &str, contents: &[u8]) -> Result<MapSource, String> {
        Ok(MapSource::new(path.to_string(), 0, contents.to_vec().into()))
    }

    /// The contents of each call, as text, and the paths of its parts.
    fn shown(calls: Vec<Result<MapSource, String>>) -> Vec<Result<(String, Vec<String>), String>> {
        calls
            .into_iter()
            .map(|c| {
                c.map(|s| {
                    let parts = s.joined.iter().map(|p| p.path.clone()).collect();
                    (String::from_utf8(s.contents.to_vec()).unwrap(), parts)
                })
            })
            .collect()
    }

    #[test]
    fn joined_calls_keep_order_end_each_file_with_a_newline_and_stay_within_the_target() {
        let calls = vec![
            call("a", b"one\n"),
            call("b", b"two"),
            call("empty", b""),
            call("c", b"three\r\n"),
            call("big", b"0123456789abcdef\n"),
            call("d", b"x"),
            Err("unreadable e".to_string()),
            call("f", b"y\n"),
        ];
        let joined: Vec<_> = Joined::new(calls.into_iter(), Some(16)).collect();
        let ok = |text: &str, parts: &[&str]| Ok((text.to_string(), parts.iter().map(|p| p.to_string()).collect()));
        assert_eq!(
            shown(joined),
            vec![
                ok("one\ntwo\nthree\r\n", &["a", "b", "c"]),
                ok("0123456789abcdef\n", &[]),
                ok("x", &[]),
                Err("unreadable e".to_string()),
                ok("y\n", &[]),
            ],
            "a call larger than the target passes alone, as does one that nothing joins"
        );
        // Each part's range is its own bytes, without the added newline.
        let calls = vec![call("a", b"one"), call("b", b"two\n")];
        let one = Joined::new(calls.into_iter(), Some(64)).next().unwrap().unwrap();
        let parts: Vec<_> = one
            .joined
            .iter()
            .map(|p| (p.path.as_str(), &one.contents[p.range.clone()]))
            .collect();
        assert_eq!(parts, [("a", &b"one"[..]), ("b", &b"two\n"[..])]);
        assert_eq!((one.path.as_str(), one.offset), ("a", 0));
    }

    #[test]
    fn without_a_target_calls_pass_unchanged() {
        let calls = vec![call("a", b"one"), call("empty", b""), call("b", b"two")];
        let passed: Vec<_> = Joined::new(calls.into_iter(), None).collect();
        let texts: Vec<_> = shown(passed).into_iter().map(|c| c.unwrap().0).collect();
        assert_eq!(texts, ["one", "", "two"]);
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
                task_calls(&c, inputs.clone(), format, 1 << 20, |_| counted += 1)
                    .map(|s| s.unwrap().contents.to_vec())
                    .collect();
            (texts, counted)
        };
        let (joined, counted) = calls(InputFormat::JoinedLines);
        assert_eq!((joined.len(), counted), (1, 50), "one call; every file counted");
        let (each, counted) = calls(InputFormat::Lines);
        assert_eq!((each.len(), counted), (50, 50));
        let mut lines: Vec<u8> = Vec::new();
        for text in &each {
            lines.extend_from_slice(text);
            lines.push(b'\n');
        }
        assert_eq!(joined[0], lines, "the files' lines in order, each file's last one ended");
        assert_eq!(calls(InputFormat::WholeFiles).0, each);
    }
}
