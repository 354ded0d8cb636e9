//! [`AppError`]: what an app returns when it cannot process its input.

use std::fmt;

/// An app's error: a message the engine reports verbatim (with the task and
/// input added around it) in the job's errors.
///
/// Any `std::error::Error` converts into it with `?`; [`AppError::msg`] makes
/// one from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError(String);

impl AppError {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        AppError(message.to_string())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// Consumes the error, returning its message.
    pub fn into_message(self) -> String {
        self.0
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.to_string())
    }
}

/// The message of a panic payload (`panic!`'s text, or a placeholder).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
