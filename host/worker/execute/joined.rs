//! Map calls of an app that reads [`plugin_api::InputFormat::JoinedLines`]
//! ([`JoinedCalls`]): a task's small whole files read, in order, straight
//! into one buffer per call of up to [`JOIN_TARGET`] bytes, each file's
//! last line ended with a `\n` where it has none, so that no two files'
//! lines run together. Ranges of large files, files larger than a call and
//! objects are called as [`super::calls::map_calls`] calls them.

use std::fs::File;

use super::calls::{map_calls, opened_calls, read_error, MapCalls};
use crate::core::InputRange;
use crate::security::Confinement;
use crate::worker::input_error::InputReadError;
use crate::worker::map_task::{JoinedPart, MapSource};

/// The most bytes [`JoinedCalls`] puts into one map call: about what a
/// table of one call's distinct words keeps in cache (`wc` over 100,000
/// files of 1 KiB joined 1 to 4 MiB at a time took 1.3 s, 256 KiB at a time
/// 1.45 s, 16 MiB 1.35 s, a whole 50 MiB split 3 times as long), and never
/// more than the worker's `map_call` share.
pub(crate) const JOIN_TARGET: usize = 1 << 20;

/// A local whole file opened, with its size, not yet read.
struct Opened {
    input: InputRange,
    file: File,
    size: u64,
}

/// The map calls of a task's inputs, small whole files joined (see the
/// module's header). An empty file is a part of no bytes; an input that
/// cannot be opened or read comes as its error (the task fails with it).
pub(crate) struct JoinedCalls<'a, I: Iterator<Item = InputRange>> {
    confinement: &'a Confinement,
    inputs: I,
    /// The most one call of lines is given (the `map_call` share).
    piece: u64,
    /// The most bytes joined into one call.
    target: usize,
    /// The calls of an input that is not joined, taken first.
    alone: Option<MapCalls>,
    /// A file opened that did not fit into the last joined call.
    next: Option<Opened>,
}

impl<'a, I: Iterator<Item = InputRange>> JoinedCalls<'a, I> {
    pub(crate) fn new(confinement: &'a Confinement, inputs: I, piece: u64, target: usize) -> Self {
        JoinedCalls {
            confinement,
            inputs,
            piece,
            target: target.max(1),
            alone: None,
            next: None,
        }
    }

    /// The next input as a file to join, or `Err` with the calls of one
    /// that is not joined (a range, an object, a file too large, or one
    /// that cannot be opened); `None` at the end.
    fn take(&mut self) -> Option<Result<Opened, MapCalls>> {
        if let Some(opened) = self.next.take() {
            return Some(Ok(opened));
        }
        let input = self.inputs.next()?;
        if input.len.is_some() || crate::storage::is_object(&input.path) {
            return Some(Err(map_calls(self.confinement, input, Some(self.piece))));
        }
        Some(match self.confinement.open_input(&input.path) {
            Ok((file, size)) if size < self.target as u64 => Ok(Opened { input, file, size }),
            Ok((file, size)) => Err(opened_calls(input, file, size, self.piece)),
            Err(e) => Err(MapCalls::One(Some(Err(e.into())))),
        })
    }
}

impl<I: Iterator<Item = InputRange>> Iterator for JoinedCalls<'_, I> {
    type Item = Result<MapSource, InputReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(alone) = &mut self.alone {
                match alone.next() {
                    Some(call) => return Some(call),
                    None => self.alone = None,
                }
            }
            let mut buf: Vec<u8> = Vec::new();
            let mut parts: Vec<JoinedPart> = Vec::new();
            while let Some(taken) = self.take() {
                let opened = match taken {
                    Ok(opened) => opened,
                    Err(calls) => {
                        self.alone = Some(calls);
                        break;
                    }
                };
                // A file and its added newline fit, or it starts the call.
                let len = opened.size as usize + 1;
                if !buf.is_empty() && buf.len() + len > self.target {
                    self.next = Some(opened);
                    break;
                }
                if buf.capacity() == 0 {
                    buf.reserve(self.target);
                }
                let Opened { input, file, .. } = opened;
                let start = buf.len();
                // Read to its end, even if it grew since it was measured.
                if let Err(e) = crate::security::open::read_opened_into(&file, &mut buf) {
                    return Some(Err(read_error(&input.path, e)));
                }
                // An empty file is a part too (the task counts its
                // inputs), of no bytes.
                let range = start..buf.len();
                if !range.is_empty() && buf.last() != Some(&b'\n') {
                    buf.push(b'\n');
                }
                parts.push(JoinedPart {
                    path: input.path,
                    offset: 0,
                    range,
                });
            }
            if let Some(first) = parts.first() {
                let mut call = MapSource::new(first.path.clone(), 0, buf.into());
                call.joined = parts;
                return Some(Ok(call));
            }
            self.alone.as_ref()?;
        }
    }
}

#[cfg(test)]
mod tests;
