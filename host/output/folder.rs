//! The rules for the folder a new job will write, applied by the coordinator
//! at submission (like Hadoop's `FileAlreadyExistsException`):
//! - a missing folder is created, an empty one is used;
//! - a non-empty one is refused, naming what it holds, unless the submission
//!   asks to overwrite;
//! - overwriting removes only what a job writes (`mr-out-*`, the manifest
//!   and their temporary files), the manifest first so the folder never
//!   looks finished while it is cleared; a folder that also holds other
//!   files is refused even then, so nothing of the user's is ever deleted.

use std::path::{Path, PathBuf};

use super::manifest::MANIFEST;
use super::OutputError;
use crate::security::OutputDir;

/// At most this many bytes of file names in one message.
const LIST_BUDGET: usize = 2048;

/// Whether `name` is a file a job writes into its output folder.
pub fn is_job_file(name: &str) -> bool {
    let partition = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if name == MANIFEST {
        return true;
    }
    if let Some(r) = name.strip_prefix("mr-out-") {
        return partition(r);
    }
    // Temporary names: `.mr-out-<r>.<tag>.tmp` and `._SUCCESS.<tag>.tmp`.
    name.ends_with(".tmp")
        && (name.starts_with(".mr-out-") || name.starts_with(&format!(".{MANIFEST}.")))
}

/// What an existing folder holds, split by who wrote it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Files a job writes (removed by an overwrite).
    pub job_files: Vec<String>,
    /// Everything else (never removed).
    pub foreign: Vec<String>,
}

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The earlier job files removed (overwrite).
    pub removed: Vec<String>,
}

/// `names` joined, shortened to about [`LIST_BUDGET`] bytes.
pub fn list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().enumerate() {
        if out.len() + n.len() > LIST_BUDGET {
            out.push_str(&format!(" and {} more", names.len() - i));
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
    }
    out
}

/// What `dir` holds, or `None` if it does not exist.
pub fn inspect(dir: &Path) -> Result<Option<Contents>, OutputError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(OutputError::NotAFolder(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(folder_err("read output directory", dir, source)),
    }
    let mut contents = Contents::default();
    for entry in std::fs::read_dir(dir).map_err(|e| folder_err("list output directory", dir, e))? {
        let entry = entry.map_err(|e| folder_err("list output directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_job_file(&name) {
            contents.job_files.push(name);
        } else {
            contents.foreign.push(name);
        }
    }
    contents.job_files.sort();
    contents.foreign.sort();
    Ok(Some(contents))
}

/// Checks `dir` against the rules without changing anything.
pub fn check(dir: &Path, overwrite: bool) -> Result<Option<Contents>, OutputError> {
    let Some(contents) = inspect(dir)? else {
        return Ok(None);
    };
    if contents.job_files.is_empty() && contents.foreign.is_empty() {
        return Ok(Some(contents));
    }
    if overwrite && contents.foreign.is_empty() {
        return Ok(Some(contents));
    }
    if !contents.foreign.is_empty() {
        return Err(OutputError::Foreign {
            dir: dir.to_path_buf(),
            files: list(&contents.foreign),
        });
    }
    Err(OutputError::NotEmpty {
        dir: dir.to_path_buf(),
        files: list(&contents.job_files),
    })
}

/// Makes the opened, claimed folder `dir` ready for a new job: checks its
/// contents again through its descriptor (they may have changed since
/// [`check`]), then removes the earlier job's files inside it by descriptor,
/// so a folder swapped for a symlink after the check cannot redirect the
/// removals.
pub fn prepare(dir: &OutputDir, overwrite: bool) -> Result<Prepared, OutputError> {
    let path = dir.path();
    let names = dir
        .names()
        .map_err(|e| folder_err("list output directory", path, e))?;
    let mut contents = Contents::default();
    for name in names {
        let is_file = dir.is_regular_file(&name).unwrap_or(false);
        if is_file && is_job_file(&name) {
            contents.job_files.push(name);
        } else {
            contents.foreign.push(name);
        }
    }
    contents.foreign.sort();
    if !contents.foreign.is_empty() {
        return Err(OutputError::Foreign {
            dir: path.to_path_buf(),
            files: list(&contents.foreign),
        });
    }
    if !contents.job_files.is_empty() && !overwrite {
        contents.job_files.sort();
        return Err(OutputError::NotEmpty {
            dir: path.to_path_buf(),
            files: list(&contents.job_files),
        });
    }
    // The manifest first: a half-cleared folder must not look finished.
    let mut removed = contents.job_files;
    removed.sort();
    removed.sort_by_key(|n| n != MANIFEST);
    for name in &removed {
        match dir.remove(name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(folder_err("remove", &path.join(name), e)),
        }
    }
    Ok(Prepared { removed })
}

fn folder_err(action: &'static str, path: &Path, source: std::io::Error) -> OutputError {
    OutputError::Folder {
        action,
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn job_files_are_recognised_by_name() {
        for n in [
            "mr-out-0",
            "mr-out-12",
            "_SUCCESS",
            ".mr-out-3.j1-w2-a1-p9.tmp",
        ] {
            assert!(is_job_file(n), "{n}");
        }
        for n in [
            "mr-out-",
            "mr-out-x",
            "notes.txt",
            "_SUCCESS.bak",
            ".mr-out-1",
        ] {
            assert!(!is_job_file(n), "{n}");
        }
    }

    fn open(dir: &Path) -> OutputDir {
        crate::security::Confinement::default()
            .open_output(&dir.display().to_string())
            .unwrap()
    }

    #[test]
    fn missing_is_created_non_empty_refused_overwrite_clears_only_job_files() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("out");
        assert!(check(&dir, false).unwrap().is_none(), "missing");
        let opened = open(&dir);
        assert!(prepare(&opened, false).is_ok(), "an empty folder is used");

        std::fs::write(dir.join("mr-out-0"), b"old").unwrap();
        std::fs::write(dir.join("_SUCCESS"), b"{}").unwrap();
        let e = prepare(&opened, false).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, OutputError::NotEmpty { .. }), "{msg}");
        assert!(
            msg.contains("_SUCCESS, mr-out-0") && msg.contains("--overwrite"),
            "{msg}"
        );
        assert_eq!(
            names(&dir),
            ["_SUCCESS", "mr-out-0"],
            "a refusal changes nothing"
        );

        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let e = prepare(&opened, true).unwrap_err();
        assert!(matches!(e, OutputError::Foreign { .. }), "{e}");
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert_eq!(names(&dir), ["_SUCCESS", "mr-out-0", "notes.txt"]);

        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        let p = prepare(&opened, true).unwrap();
        assert_eq!(p.removed, ["_SUCCESS", "mr-out-0"]);
        assert!(names(&dir).is_empty());

        let file = base.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            check(&file, true),
            Err(OutputError::NotAFolder(_))
        ));
    }

    #[test]
    fn removals_stay_in_the_opened_folder_when_its_path_is_swapped() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("out");
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("mr-out-0"), b"not yours").unwrap();
        let opened = open(&dir);
        std::fs::write(dir.join("mr-out-0"), b"old").unwrap();
        // The path now leads elsewhere; the opened folder is the moved one.
        std::fs::rename(&dir, base.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
        assert_eq!(prepare(&opened, true).unwrap().removed, ["mr-out-0"]);
        assert_eq!(names(&elsewhere), ["mr-out-0"], "nothing removed elsewhere");
        assert!(names(&base.path().join("moved")).is_empty());
    }

    #[test]
    fn a_symlink_named_like_output_is_not_followed_or_removed() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("out");
        let target = base.path().join("precious");
        std::fs::write(&target, b"keep").unwrap();
        let opened = open(&dir);
        std::os::unix::fs::symlink(&target, dir.join("mr-out-0")).unwrap();
        let e = prepare(&opened, true).unwrap_err();
        assert!(matches!(e, OutputError::Foreign { .. }), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn long_lists_are_shortened() {
        let many: Vec<String> = (0..1000).map(|i| format!("mr-out-{i}")).collect();
        let l = list(&many);
        assert!(l.len() < LIST_BUDGET + 40 && l.ends_with("more"), "{l}");
    }
}
