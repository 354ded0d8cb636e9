//! A job's inputs as users name them, turned into map tasks at submit time:
//! folders and glob patterns expanded to files ([`expand`]), and files cut
//! into splits or packed together ([`plan_splits`], in `plan.rs`), as Hadoop's
//! `FileInputFormat` and `CombineFileInputFormat` do.
//!
//! Expansion: a plain file is itself; a folder is the files directly in it
//! (all beneath it with `recursive`), in name order; a path with `*`, `?` or
//! `[` is a glob pattern (the `glob` crate's syntax, `**` for any depth) and
//! its matching files, in name order. Names starting with `.` or `_` found
//! in a folder or by a pattern are skipped (hidden files, `_SUCCESS`,
//! `_logs`), as Hadoop's input formats skip them; a path named explicitly
//! is always used. A pattern that matches no file and a folder with no file
//! are errors naming the path.

use std::path::{Path, PathBuf};

/// Why a job's inputs cannot be expanded; each names the path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// A glob pattern that matches no file.
    #[error("input pattern {0} matches no files")]
    NoMatch(String),
    /// A folder without a file to read.
    #[error("input folder {0} has no files{1}")]
    EmptyFolder(String, &'static str),
    /// A malformed glob pattern.
    #[error("input pattern {pattern} is not a valid glob pattern: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A folder or match that cannot be listed or examined.
    #[error("cannot read input {path}: {reason}")]
    Unreadable {
        /// The path.
        path: String,
        /// What the system said.
        reason: String,
    },
}

/// Whether `path` is a glob pattern rather than a plain path.
pub fn is_pattern(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether a name found in a folder or by a pattern is skipped.
fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

/// The folder a pattern's matches are beneath: its components before the
/// first one with a wildcard (checked against the allowed input folders
/// before anything is listed).
pub fn pattern_base(pattern: &str) -> PathBuf {
    Path::new(pattern)
        .components()
        .take_while(|c| !is_pattern(&c.as_os_str().to_string_lossy()))
        .collect()
}

/// Expands `inputs` to the files they name, in order (blocking I/O).
/// Plain paths that are not folders are kept as they are, for the caller's
/// readability checks.
pub fn expand(inputs: &[String], recursive: bool) -> Result<Vec<String>, InputError> {
    let mut files = Vec::new();
    for input in inputs {
        if is_pattern(input) {
            expand_pattern(input, &mut files)?;
        } else if Path::new(input).is_dir() {
            let before = files.len();
            list_folder(Path::new(input), recursive, &mut files)?;
            if files.len() == before {
                let hint = if recursive {
                    ""
                } else {
                    " directly in it (--recursive reads subfolders)"
                };
                return Err(InputError::EmptyFolder(input.clone(), hint));
            }
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn expand_pattern(pattern: &str, files: &mut Vec<String>) -> Result<(), InputError> {
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = glob::glob_with(pattern, options).map_err(|e| InputError::BadPattern {
        pattern: pattern.to_string(),
        reason: e.msg.to_string(),
    })?;
    let base = pattern_base(pattern);
    let before = files.len();
    for entry in paths {
        let path = entry.map_err(|e| InputError::Unreadable {
            path: e.path().display().to_string(),
            reason: e.error().to_string(),
        })?;
        // Skip hidden names below the pattern's literal base only.
        let below = path.strip_prefix(&base).unwrap_or(&path);
        if below.iter().any(hidden) || path.is_dir() {
            continue;
        }
        files.push(path.display().to_string());
    }
    if files.len() == before {
        return Err(InputError::NoMatch(pattern.to_string()));
    }
    Ok(())
}

fn list_folder(dir: &Path, recursive: bool, files: &mut Vec<String>) -> Result<(), InputError> {
    let unreadable = |e: std::io::Error| InputError::Unreadable {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut entries: Vec<(std::ffi::OsString, bool)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        if hidden(&name) {
            continue;
        }
        // The entry's own type (no system call on most file systems); a
        // symlink, or a type the folder does not record, is followed, as
        // reading the file would.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_file() => false,
            _ => entry.path().is_dir(),
        };
        entries.push((name, is_dir));
    }
    // Name order; the entries share their folder, so comparing names is
    // comparing paths, without splitting each into components.
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // Each path is the folder's text and the name (what `Path::join` and
    // `display` give, without formatting 100,000 paths one by one).
    let base = dir.display().to_string();
    let sep = if base.ends_with('/') { "" } else { "/" };
    for (name, is_dir) in entries {
        if is_dir {
            if recursive {
                list_folder(&dir.join(&name), true, files)?;
            }
        } else if let Some(name) = name.to_str() {
            files.push([base.as_str(), sep, name].concat());
        } else {
            files.push(dir.join(&name).display().to_string());
        }
    }
    Ok(())
}

mod plan;
pub use plan::plan_splits;

#[cfg(test)]
mod tests;
