//! [`AppCallError`]: why a host's call into an app failed (the `host`
//! cargo feature). The texts are what the engine reports as the task's
//! failure, so they stay as users and tests know them.

/// Why a call into an app failed, as the host sees it.
#[derive(Debug, thiserror::Error)]
pub enum AppCallError {
    /// The app returned an error; its own message.
    #[error("{0}")]
    App(String),
    /// The app panicked; the panic's message.
    #[error("app panicked: {0}")]
    Panicked(String),
    /// The engine's own code (a stream the app was reading or writing)
    /// panicked while the app was calling it.
    #[error("the engine failed while the app was calling it")]
    EnginePanicked,
    /// Writing the app's formatted output failed.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// The app was asked to combine but has no combiner.
    #[error("app {app} has no combiner")]
    NoCombiner {
        /// The app's name.
        app: String,
    },
}

/// How a plugin's shim spells a panic it caught (see `abi::export`).
const PANIC_PREFIX: &str = "app panicked: ";

impl AppCallError {
    /// The error a plugin returned across the ABI: a panic its shim caught
    /// arrives as `app panicked: ...` text and becomes
    /// [`AppCallError::Panicked`]; anything else is the app's message.
    pub fn from_plugin(message: impl Into<String>) -> Self {
        let message = message.into();
        match message.strip_prefix(PANIC_PREFIX) {
            Some(panic) => AppCallError::Panicked(panic.to_string()),
            None => AppCallError::App(message),
        }
    }
}

impl From<crate::AppError> for AppCallError {
    fn from(e: crate::AppError) -> Self {
        AppCallError::App(e.into_message())
    }
}

#[cfg(test)]
mod tests {
    use super::AppCallError;

    #[test]
    fn plugin_panics_are_told_apart_from_app_errors_with_the_same_text() {
        let panic = AppCallError::from_plugin("app panicked: index out of bounds");
        assert!(matches!(&panic, AppCallError::Panicked(m) if m == "index out of bounds"));
        assert_eq!(panic.to_string(), "app panicked: index out of bounds");
        let error = AppCallError::from_plugin("bad record on line 3");
        assert!(matches!(&error, AppCallError::App(m) if m == "bad record on line 3"));
        assert_eq!(error.to_string(), "bad record on line 3");
    }

    #[test]
    fn an_app_error_keeps_its_message() {
        let error = AppCallError::from(crate::AppError::msg("no such word"));
        assert!(matches!(&error, AppCallError::App(m) if m == "no such word"));
        assert_eq!(error.to_string(), "no such word");
    }

    #[test]
    fn engine_and_output_failures_read_as_before() {
        assert_eq!(
            AppCallError::EnginePanicked.to_string(),
            "the engine failed while the app was calling it"
        );
        let output = AppCallError::Output(std::io::Error::other("disk full"));
        assert_eq!(output.to_string(), "writing output: disk full");
        let none = AppCallError::NoCombiner { app: "wc".into() };
        assert_eq!(none.to_string(), "app wc has no combiner");
    }
}
