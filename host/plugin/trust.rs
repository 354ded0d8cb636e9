//! Whether code may be loaded from a place: the rules `sshd`'s StrictModes
//! applies. A plugin folder, a plugin file and the plugin cache folder must
//! be owned by this user or root and not writable by group or others; every
//! folder above them must be owned by this user or root and not writable
//! by others unless it has the sticky bit (as `/tmp` does); and a symlink
//! on the way counts for what it points to, whose folders are checked the
//! same way. Anyone who fails these rules could swap in their own library.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a path may not be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The path at fault (the folder itself, a parent, or a link target).
    pub path: PathBuf,
    /// Why, with the fix.
    pub why: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.path.display(), self.why)
    }
}

const STICKY: u32 = 0o1000;

/// Checks a folder or file we load code from, and every folder above it,
/// both as written and as resolved (symlinks followed).
pub fn check(path: &Path) -> Result<(), Untrusted> {
    let absolute = std::path::absolute(path).map_err(|e| untrusted(path, e))?;
    let resolved = std::fs::canonicalize(&absolute).map_err(|e| untrusted(path, e))?;
    // As written: the folders holding each component (a symlink's own
    // folder decides who may replace it).
    check_parents(&absolute)?;
    // As resolved: the object itself and everything above it.
    check_owned(&resolved, false)?;
    check_parents(&resolved)
}

fn check_parents(path: &Path) -> Result<(), Untrusted> {
    for parent in path.ancestors().skip(1) {
        if parent.as_os_str().is_empty() {
            continue;
        }
        // Parents as written may be symlinks (`/tmp` on some systems): a
        // link's target is what its children live in.
        let resolved = std::fs::canonicalize(parent).map_err(|e| untrusted(parent, e))?;
        check_owned(&resolved, true)?;
    }
    Ok(())
}

/// Checks one resolved object: its owner, and that group and others cannot
/// write to it (a `parent` with the sticky bit may be world-writable).
fn check_owned(path: &Path, parent: bool) -> Result<(), Untrusted> {
    let meta = std::fs::metadata(path).map_err(|e| untrusted(path, e))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Untrusted {
            path: path.to_path_buf(),
            why: format!(
                "is owned by user {}, not by this user ({me}) or root; anyone who owns it could \
                 put their own library there",
                meta.uid()
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    let sticky_ok = parent && mode & STICKY != 0 && meta.is_dir();
    if mode & 0o022 != 0 && !sticky_ok {
        let fix = if parent {
            "run `chmod go-w` on it or `chmod +t` to set its sticky bit"
        } else {
            "run `chmod go-w` on it"
        };
        return Err(Untrusted {
            path: path.to_path_buf(),
            why: format!("is writable by other users (mode {mode:o}); {fix}"),
        });
    }
    Ok(())
}

fn untrusted(path: &Path, e: std::io::Error) -> Untrusted {
    Untrusted {
        path: path.to_path_buf(),
        why: format!("cannot be checked: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn strict_modes() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("plugins");
        std::fs::create_dir(&dir).unwrap();
        chmod(base.path(), 0o755);
        chmod(&dir, 0o755);
        assert_eq!(check(&dir), Ok(()));

        // The folder itself writable by group or others.
        chmod(&dir, 0o775);
        let e = check(&dir).unwrap_err();
        assert_eq!(e.path, dir.canonicalize().unwrap());
        assert!(e.why.contains("chmod go-w"), "{e}");
        chmod(&dir, 0o755);

        // A parent writable by others: refused without the sticky bit.
        chmod(base.path(), 0o777);
        let e = check(&dir).unwrap_err();
        assert_eq!(e.path, base.path().canonicalize().unwrap());
        chmod(base.path(), 0o1777);
        assert_eq!(check(&dir), Ok(()));
        chmod(base.path(), 0o755);

        // A symlink whose target's folder is unsafe.
        let elsewhere = tempfile::tempdir().unwrap();
        let open = elsewhere.path().join("open");
        let target = open.join("plugins");
        std::fs::create_dir_all(&target).unwrap();
        chmod(elsewhere.path(), 0o755);
        chmod(&target, 0o755);
        chmod(&open, 0o777);
        let link = base.path().join("link");
        symlink(&target, &link).unwrap();
        let e = check(&link).unwrap_err();
        assert_eq!(e.path, open.canonicalize().unwrap());
        chmod(&open, 0o755);
        assert_eq!(check(&link), Ok(()));

        // Owned by another user (only root can make one).
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let e = check(&dir).unwrap_err();
            assert!(e.why.contains("owned by user 65534"), "{e}");
        }
    }
}
