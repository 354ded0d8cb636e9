//! Reading a map task's input from object storage: a whole object in one
//! GET, or a split's lines (the range, one byte before it and the tail of
//! its last line, by `plugin_api::split`'s rule) with ranged GETs. The
//! job's allowed input roots are checked first.

use plugin_api::split::read_line_split;

use super::input_error::InputReadError;
use super::map_task::MapSource;
use crate::core::InputRange;
use crate::security::Confinement;
use crate::storage::{self, ObjectUrl, StorageError};

/// Reads one object storage input of a map task (blocking).
pub(super) fn read(
    confinement: &Confinement,
    input: &InputRange,
) -> Result<MapSource, InputReadError> {
    let path = input.path.clone();
    confinement
        .check_input_object(&path)
        .map_err(InputReadError::Refused)?;
    let url = ObjectUrl::parse(&path)?;
    let (offset, contents) = match input.len {
        None => (0, storage::get(&url)?.to_vec()),
        Some(len) => {
            let size =
                storage::size(&url)?.ok_or_else(|| InputReadError::NoSuchObject(path.clone()))?;
            let read_at = |buf: &mut [u8], pos: u64| -> std::io::Result<usize> {
                let end = pos.saturating_add(buf.len() as u64).min(size);
                if pos >= end {
                    return Ok(0);
                }
                let bytes = storage::get_range(&url, pos..end).map_err(io_error)?;
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(n)
            };
            let split = read_line_split(read_at, input.offset, len).map_err(|source| {
                InputReadError::Split {
                    path: path.clone(),
                    source,
                }
            })?;
            (split.offset, split.bytes)
        }
    };
    Ok(MapSource::new(path, offset, contents.into()))
}

fn io_error(e: StorageError) -> std::io::Error {
    std::io::Error::other(e)
}
