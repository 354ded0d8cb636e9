//! [`InputReadError`]: why a map task could not read one of its inputs, a
//! local file or an object. Its text is the task's failure message, and
//! another attempt would fare the same (the task fails for good).

use crate::security::PathError;
use crate::storage::StorageError;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputReadError {
    /// The job's allowed input folders or prefixes refuse it.
    #[error("permission denied: {0}")]
    Refused(PathError),
    /// A local file that is not a regular file, or cannot be opened or read.
    #[error("{0}")]
    Path(PathError),
    /// Object storage failed (a bad URL, an unreachable or refusing server).
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// A split of an object that is not there.
    #[error("cannot read input {0}: no such object")]
    NoSuchObject(String),
    /// A split's lines could not be read.
    #[error("cannot read input {path}: {source}")]
    Split {
        /// The object.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl From<PathError> for InputReadError {
    /// A refusal by the job's confinement, or any other path problem.
    fn from(e: PathError) -> Self {
        if e.is_refusal() {
            InputReadError::Refused(e)
        } else {
            InputReadError::Path(e)
        }
    }
}
