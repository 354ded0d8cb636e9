//! Loading libraries: [`Loader`] turns a plugin file's bytes into an
//! [`AppEntry`] (through the hash-named cache copy), keeps every library it
//! loaded by hash, and turns abi_stable's long errors into a one-line
//! reason plus details.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use abi_stable::library::LibraryError;
use plugin_api::abi::load_module;

use super::cache::{cache_copy, cached_path, sha256_hex};
use super::LoadedApp;

/// One registered app.
#[derive(Clone)]
pub struct AppEntry {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its description.
    pub description: String,
    /// The library it came from (`None` for an app linked in statically).
    pub file: Option<PathBuf>,
    /// SHA-256 of that library, in hex (empty for a static app).
    pub sha256: String,
    /// The app.
    pub app: Arc<dyn LoadedApp>,
}

impl std::fmt::Debug for AppEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppEntry")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("file", &self.file)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// Why a file could not be loaded as an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LoadFailure {
    /// One line, for warnings and listings.
    pub reason: String,
    /// Everything known (abi_stable's layout report can run to a hundred
    /// lines), for debug logs.
    pub details: String,
}

impl LoadFailure {
    /// A failure whose reason says it all.
    pub fn plain(reason: String) -> Self {
        LoadFailure {
            details: reason.clone(),
            reason,
        }
    }

    fn library(e: &LibraryError) -> Self {
        LoadFailure {
            reason: summarize(e),
            details: e.to_string(),
        }
    }
}

/// A one-line reason for a library abi_stable refused.
fn summarize(e: &LibraryError) -> String {
    const REBUILD: &str = "rebuild it against this engine's plugin-api";
    match e {
        LibraryError::GetSymbolError { .. } => {
            "not a mapreduce app: it has no app module symbol".to_string()
        }
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!(
            "incompatible plugin-api version {actual_version} (this engine has \
             {expected_version}); {REBUILD}"
        ),
        LibraryError::AbiInstability(_)
        | LibraryError::InvalidAbiHeader(_)
        | LibraryError::InvalidCAbi { .. } => {
            format!("incompatible layout: built against another plugin-api; {REBUILD}")
        }
        LibraryError::Many(errors) => match errors.first() {
            Some(first) => summarize(first),
            None => first_line(&e.to_string()),
        },
        _ => first_line(&e.to_string()),
    }
}

/// The first non-blank line of `text`, cut to a readable length.
fn first_line(text: &str) -> String {
    const MAX: usize = 200;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// Loads libraries, through a cache folder when it has one, and remembers
/// each by its SHA-256.
#[derive(Debug, Default)]
pub(super) struct Loader {
    cache_dir: Option<PathBuf>,
    by_hash: Mutex<HashMap<String, AppEntry>>,
}

impl Loader {
    /// A loader that copies files into `cache_dir` (by hash) before loading
    /// them; with `None`, it loads files where they are.
    pub fn new(cache_dir: Option<PathBuf>) -> Self {
        Loader {
            cache_dir,
            by_hash: Mutex::default(),
        }
    }

    /// The cache folder, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Loads a plugin from its bytes (read from `path`, or fetched), through
    /// the cache folder when there is one; a library already loaded under
    /// the same hash is not loaded again.
    pub fn open(&self, path: &Path, bytes: &[u8]) -> Result<AppEntry, LoadFailure> {
        let sha256 = sha256_hex(bytes);
        if let Some(existing) = self.by_hash(&sha256) {
            return Ok(AppEntry {
                file: Some(path.to_path_buf()),
                ..existing
            });
        }
        let load_path = match &self.cache_dir {
            Some(dir) => cache_copy(dir, &sha256, bytes).map_err(|e| {
                LoadFailure::plain(format!(
                    "cannot copy it into the plugin cache {}: {e}",
                    dir.display()
                ))
            })?,
            None => path.to_path_buf(),
        };
        let module = load_module(&load_path).map_err(|e| LoadFailure::library(&e))?;
        let entry = AppEntry {
            name: module.name().to_string(),
            version: module.version().to_string(),
            description: module.description().to_string(),
            file: Some(path.to_path_buf()),
            sha256: sha256.clone(),
            app: Arc::new(module),
        };
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256, entry.clone());
        Ok(entry)
    }

    /// The app with this exact library hash, if loaded.
    pub fn by_hash(&self, sha256: &str) -> Option<AppEntry> {
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .cloned()
    }

    /// The bytes of a library loaded here (or cached by an earlier loader
    /// sharing the cache folder), checked against its hash.
    pub fn library_bytes(&self, sha256: &str) -> Option<Vec<u8>> {
        let is_hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return None;
        }
        let cached = self.cache_dir.as_ref().map(|dir| cached_path(dir, sha256));
        let original = self.by_hash(sha256).and_then(|e| e.file);
        [cached, original]
            .into_iter()
            .flatten()
            .filter_map(|p| std::fs::read(p).ok())
            .find(|bytes| sha256_hex(bytes) == sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_blanks_and_cuts_long_lines() {
        assert_eq!(first_line("\n  \n  first\nsecond"), "first");
        let long = "x".repeat(300);
        assert_eq!(first_line(&long), format!("{}...", "x".repeat(200)));
    }
}
