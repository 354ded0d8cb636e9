//! Plugin files by content: their SHA-256, and the private cache folder
//! where each loaded library is kept as a copy named by that hash (a loaded
//! library cannot be unloaded, so a changed file must be a new library).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Where loaded plugin copies are kept: `$MR_PLUGIN_CACHE`, else
/// `$XDG_CACHE_HOME/mapreduce/plugins`, else `~/.cache/mapreduce/plugins`,
/// else a folder in the temporary directory.
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
    std::env::temp_dir().join("mapreduce-plugins")
}

/// The cache file for the library with hash `sha`.
pub(super) fn cached_path(dir: &Path, sha: &str) -> PathBuf {
    dir.join(format!("{sha}.{}", std::env::consts::DLL_EXTENSION))
}

/// Writes `bytes` to `dir/<sha>.<ext>` unless it is there already (written
/// under a temporary name, then renamed, so readers never see a partial
/// file); returns the path.
pub(super) fn cache_copy(dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = cached_path(dir, sha);
    // The cache folder is private to its owner and files appear in it only
    // whole (renamed into place), so a file of the right name and size is
    // the right file: no need to hash it again.
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(path);
    }
    create_private_dir(dir)?;
    // Unique per process and call: threads of one process may cache the
    // same library at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{sha}.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
