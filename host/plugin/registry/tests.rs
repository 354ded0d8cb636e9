//! Registry tests that need the plugin libraries `cargo test` builds (the
//! dev-dependencies), found beside the test binary.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::*;

/// `target/<profile>`, where the workspace's plugin libraries are built.
fn plugin_build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary is in deps/");
    deps.parent()
        .expect("deps/ is in target/<profile>")
        .to_path_buf()
}

/// A test-only plugin built as an example of the root package (`cargo
/// test` builds examples before running tests), kept out of the folder
/// `mr` loads plugins from.
fn example_library(stem: &str) -> PathBuf {
    plugin_build_dir().join("examples").join(format!(
        "{}{stem}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ))
}

/// Log output shared with a subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Loads `dir` with logs at `level` captured; returns the registry and the
/// log text.
fn load_logged(dir: &Path, level: tracing::Level) -> (Registry, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let registry = tracing::subscriber::with_default(subscriber, || {
        Registry::new().load_dirs_into(&[dir.to_path_buf()])
    })
    .unwrap();
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (registry, text)
}

#[test]
fn an_incompatible_plugin_is_one_warning_line_with_details_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libold.so");
    let fixture = example_library("fixture_incompatible_plugin");
    std::fs::copy(&fixture, &copy)
        .unwrap_or_else(|e| panic!("{}: {e} (built by `cargo test`)", fixture.display()));

    let (registry, warnings) = load_logged(dir.path(), tracing::Level::WARN);
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    assert!(warnings.contains("WARN"), "{warnings}");
    assert!(warnings.contains(&copy.display().to_string()), "{warnings}");
    assert!(warnings.contains("incompatible layout"), "{warnings}");
    let problems = registry.problems();
    assert_eq!(problems.len(), 1);
    assert!(!problems[0].reason.contains('\n'), "{}", problems[0].reason);
    assert!(problems[0].reason.starts_with("incompatible layout"));

    // The full layout report is still there for whoever asks for it.
    let (_, debug) = load_logged(dir.path(), tracing::Level::DEBUG);
    assert!(debug.lines().count() > 10, "{debug}");
}

#[test]
fn a_library_that_is_no_app_is_one_line_too() {
    let dir = tempfile::tempdir().unwrap();
    // Not even a library: the loader's error is one line as well.
    let not_an_app = dir.path().join("libnotanapp.so");
    std::fs::write(&not_an_app, b"not an ELF file at all").unwrap();
    let (registry, warnings) = load_logged(dir.path(), tracing::Level::WARN);
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    assert_eq!(registry.problems().len(), 1);
    assert!(!registry.problems()[0].reason.contains('\n'));
}
