//! Local disk and memory accounting for data that outgrows memory.
//!
//! - [`WorkDir`]: the worker's private scratch folder, created on first use
//!   and removed (with everything in it) when the worker drops it.
//! - [`RunFile`]: one scratch file, kept open and removed when the last
//!   handle drops, so a job's spilled data disappears with its map output.
//! - [`Run`]: a sorted run of key/value frames, in memory or a byte range
//!   of a [`RunFile`]; what map tasks store, the store serves and reduce
//!   tasks merge.
//! - [`MemoryBudget`] and [`Charge`]: a byte counter that decides what may
//!   stay in memory.
//! - [`MemoryLimits`]: how a worker's `--memory-limit` is divided.
//! - [`FrameWriter`]: writes key/value frames, counting bytes and records.
//! - [`parse_byte_size`], [`default_memory_limit`] and [`tune_allocator`]:
//!   the worker's memory settings.

mod alloc;
mod budget;
mod run;
mod size;
mod work_dir;
mod writer;

pub use alloc::tune_allocator;
pub use budget::{Charge, MemoryBudget, MemoryLimits};
pub use run::{DiskRange, RangeReader, Run, RunWriter};
pub use size::{default_memory_limit, parse_byte_size, ByteSizeError};
pub use work_dir::{sweep, RunFile, WorkDir};
pub use writer::FrameWriter;
