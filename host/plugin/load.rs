//! Loading libraries: [`Loader`] turns a plugin file's bytes into an
//! [`AppEntry`], keeps every library that passed all checks by hash, and
//! turns abi_stable's long errors into a one-line reason plus details.
//!
//! What runs is what was hashed: the bytes are hashed, written to a sealed
//! anonymous file (`memfd_create`) that no one else can reach or change,
//! and that file is loaded through `/proc/self/fd/N`. Neither a plugin
//! file nor a cache copy is ever loaded by name, so swapping either after
//! the hash changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use abi_stable::library::LibraryError;
use plugin_api::abi::load_module;

use super::cache::{cached_path, sha256_hex, store};
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
    /// Libraries that could not be loaded, by hash: the same bytes fail the
    /// same way, and each attempt would keep another copy mapped.
    failed: Mutex<HashMap<String, LoadFailure>>,
}

impl Loader {
    /// A loader that copies files into `cache_dir` (by hash) before loading
    /// them; with `None`, it loads files where they are.
    pub fn new(cache_dir: Option<PathBuf>) -> Self {
        Loader {
            cache_dir,
            by_hash: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    /// The cache folder, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Loads a plugin from its bytes (read from `path`, or fetched); a
    /// library already remembered under the same hash is not loaded again.
    /// The entry is not remembered: call [`Loader::remember`] once every
    /// other check (its name, no duplicate) passed.
    pub fn open(&self, path: &Path, bytes: &[u8]) -> Result<AppEntry, LoadFailure> {
        let sha256 = sha256_hex(bytes);
        if let Some(existing) = self.by_hash(&sha256) {
            return Ok(AppEntry {
                file: Some(path.to_path_buf()),
                ..existing
            });
        }
        if let Some(dir) = &self.cache_dir {
            if let Err(e) = store(dir, &sha256, bytes) {
                tracing::warn!(dir = %dir.display(), %sha256, "cannot keep a copy in the plugin cache: {e}");
            }
        }
        let known_failure = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sha256)
            .cloned();
        if let Some(failure) = known_failure {
            return Err(failure);
        }
        let Loaded { module, mapped } = load_bytes(&sha256, bytes);
        let module = module.inspect_err(|failure| {
            if mapped {
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(sha256.clone(), failure.clone());
            }
        })?;
        Ok(AppEntry {
            name: module.name().to_string(),
            version: module.version().to_string(),
            description: module.description().to_string(),
            file: Some(path.to_path_buf()),
            sha256,
            app: Arc::new(module),
        })
    }

    /// Remembers a library that passed every check, by its hash.
    pub fn remember(&self, entry: &AppEntry) {
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(entry.sha256.clone())
            .or_insert_with(|| entry.clone());
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

/// What loading a library's bytes gave.
struct Loaded {
    module: Result<plugin_api::abi::Module, LoadFailure>,
    /// Whether the dynamic loader mapped the library (it then stays, even
    /// if abi_stable refused it, so the failure is worth remembering).
    mapped: bool,
}

/// Loads `bytes` (whose hash is `sha256`) from a sealed memfd.
#[cfg(target_os = "linux")]
fn load_bytes(sha256: &str, bytes: &[u8]) -> Loaded {
    match memfd_with(sha256, bytes) {
        Ok(file) => load_from_memfd(file),
        Err(failure) => Loaded {
            module: Err(failure),
            mapped: false,
        },
    }
}

/// A sealed memfd holding `bytes`.
#[cfg(target_os = "linux")]
fn memfd_with(sha256: &str, bytes: &[u8]) -> Result<std::fs::File, LoadFailure> {
    use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
    use std::io::Write;

    let fail = |what: &str, e: std::io::Error| LoadFailure::plain(format!("{what}: {e}"));
    let name = format!("mr-plugin-{}", sha256.get(..16).unwrap_or(sha256));
    let fd = memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(|e| fail("cannot make an anonymous file for the library", e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)
        .map_err(|e| fail("cannot write the library to its anonymous file", e))?;
    fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )
    .map_err(|e| fail("cannot seal the library's anonymous file", e.into()))?;
    Ok(file)
}

/// Loads the library in `file` through `/proc/self/fd/N`.
#[cfg(target_os = "linux")]
fn load_from_memfd(file: std::fs::File) -> Loaded {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let loaded = load_module(&path);
    let mapped = !matches!(loaded, Err(LibraryError::OpenError { .. }));
    if mapped {
        // The dynamic loader knows this library by its path: were the
        // descriptor closed, its number (and so the path) could name
        // another library later, and the loader would hand back this one.
        // Libraries are never unloaded, so neither is their file.
        std::mem::forget(file);
    }
    Loaded {
        module: loaded.map_err(|e| LoadFailure::library(&e)),
        mapped,
    }
}

/// Loads `bytes` from a fresh file only this user can read, created (never
/// reused) in the temporary folder.
#[cfg(not(target_os = "linux"))]
fn load_bytes(sha256: &str, bytes: &[u8]) -> Loaded {
    match private_copy(sha256, bytes) {
        Ok(path) => {
            let loaded = load_module(&path);
            Loaded {
                mapped: !matches!(loaded, Err(LibraryError::OpenError { .. })),
                module: loaded.map_err(|e| LoadFailure::library(&e)),
            }
        }
        Err(failure) => Loaded {
            module: Err(failure),
            mapped: false,
        },
    }
}

/// A fresh file holding `bytes`, readable only by this user.
#[cfg(not(target_os = "linux"))]
fn private_copy(sha256: &str, bytes: &[u8]) -> Result<PathBuf, LoadFailure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "mr-plugin-{}-{}-{n}.{}",
        sha256.get(..16).unwrap_or(sha256),
        std::process::id(),
        std::env::consts::DLL_EXTENSION
    ));
    let fail = |e: std::io::Error| LoadFailure::plain(format!("cannot write a private copy: {e}"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_the_loader_cannot_open_are_not_remembered_as_failed() {
        let loader = Loader::new(None);
        let junk = b"not a library";
        let e = loader.open(Path::new("junk.so"), junk).unwrap_err();
        assert!(!e.reason.is_empty());
        let failed = loader.failed.lock().unwrap();
        assert!(
            !failed.contains_key(&sha256_hex(junk)),
            "nothing was mapped, so a retry may succeed"
        );
    }

    #[test]
    fn first_line_skips_blanks_and_cuts_long_lines() {
        assert_eq!(first_line("\n  \n  first\nsecond"), "first");
        let long = "x".repeat(300);
        assert_eq!(first_line(&long), format!("{}...", "x".repeat(200)));
    }
}
