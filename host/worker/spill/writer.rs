//! [`FrameWriter`]: writes alternating key and value frames, counting bytes
//! and records.

use std::io::{self, Write};

use plugin_api::frame::write_frame;

/// Writes alternating key and value frames, counting bytes.
#[derive(Debug)]
pub struct FrameWriter<W: Write> {
    out: W,
    bytes: u64,
    records: u64,
}

impl<W: Write> FrameWriter<W> {
    /// Frames to `out`.
    pub fn new(out: W) -> Self {
        FrameWriter {
            out,
            bytes: 0,
            records: 0,
        }
    }

    /// Writes one key/value record. Keys and values longer than 4 GiB are
    /// refused earlier (when emitted).
    pub fn pair(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        for frame in [key, value] {
            write_frame(&mut self.out, frame)?;
        }
        self.bytes += 8 + key.len() as u64 + value.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Bytes written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The sink.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The sink back.
    pub fn into_inner(self) -> W {
        self.out
    }
}
