//! Plugin files by content: their SHA-256, and the private cache folder
//! where each loaded library is kept as a copy named by that hash, so a
//! library whose file changed since can still be served to workers. Copies
//! are only ever read back with their hash checked; loading never uses
//! them (see [`super::load`]).

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::trust::{self, Untrusted};

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Where loaded plugin copies are kept: `$MR_PLUGIN_CACHE`, else
/// `$XDG_CACHE_HOME/mapreduce/plugins`, else `~/.cache/mapreduce/plugins`,
/// else `mapreduce-plugins-<uid>` in the temporary directory.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MR_PLUGIN_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("mapreduce").join("plugins");
    }
    if let Some(d) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d)
            .join(".cache")
            .join("mapreduce")
            .join("plugins");
    }
    // One per user, so another user cannot have made it first (and if
    // someone did, `prepare_dir` refuses it).
    let uid = rustix::process::geteuid().as_raw();
    std::env::temp_dir().join(format!("mapreduce-plugins-{uid}"))
}

/// The cache file for the library with hash `sha`.
pub(super) fn cached_path(dir: &Path, sha: &str) -> PathBuf {
    dir.join(format!("{sha}.{}", std::env::consts::DLL_EXTENSION))
}

/// Creates the cache folder (`0700`) if it is missing, then refuses it
/// unless this user owns it and no one else may write to it or to the
/// folders above it (see [`super::trust`]).
pub(super) fn prepare_dir(dir: &Path) -> Result<(), Untrusted> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Untrusted {
        path: dir.to_path_buf(),
        why: format!("cannot be created: {e}"),
    })?;
    let meta = std::fs::metadata(dir).map_err(|e| Untrusted {
        path: dir.to_path_buf(),
        why: format!("cannot be checked: {e}"),
    })?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Untrusted {
            path: dir.to_path_buf(),
            why: format!(
                "is owned by user {}, not by this user ({me}); set MR_PLUGIN_CACHE to a folder of your own",
                meta.uid()
            ),
        });
    }
    trust::check(dir)
}

/// Keeps a copy of verified `bytes` as `dir/<sha>.<ext>` (written under a
/// temporary name readable only by us, then renamed, so readers never see
/// a partial file), unless a file there already holds exactly those bytes.
/// The copy is never loaded: it only lets this process serve a library
/// whose file changed since, and whoever reads it checks its hash again.
pub(super) fn store(dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let path = cached_path(dir, sha);
    if std::fs::read(&path).is_ok_and(|old| sha256_hex(&old) == sha) {
        return Ok(path);
    }
    // Unique per process and call: threads of one process may cache the
    // same library at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{sha}.{}.{n}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
