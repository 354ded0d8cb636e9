//! The course's original protocol (`tests/legacy/proto/`), compiled by
//! `build.rs` into `$OUT_DIR/legacy/` for these tests only.

#![allow(clippy::all, missing_docs)]

/// The course's coordinator service and messages.
pub mod coordinator {
    include!(concat!(env!("OUT_DIR"), "/legacy/coordinator.rs"));
}

/// The course's worker service and messages.
pub mod worker {
    include!(concat!(env!("OUT_DIR"), "/legacy/worker.rs"));
}
