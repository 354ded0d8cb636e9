//! Finding plugin files: which folders to look in and which files are
//! libraries (whether they may be loaded is [`super::trust`]'s).

use std::path::{Path, PathBuf};

/// The plugin folders to use: `explicit` if any were given, else those in
/// `$MR_PLUGINS` (separated like `PATH`), else the folder of the running
/// executable (so after `cargo build` the workspace's apps are found).
pub fn default_plugin_dirs(explicit: &[PathBuf]) -> Vec<PathBuf> {
    if !explicit.is_empty() {
        return explicit.to_vec();
    }
    if let Some(v) = std::env::var_os("MR_PLUGINS").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&v).collect();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .into_iter()
        .collect()
}

/// Whether `path` is a file with this platform's library extension
/// (`so`, `dylib` or `dll`).
pub(super) fn is_plugin_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}
