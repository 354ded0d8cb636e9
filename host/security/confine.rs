//! [`Confinement`]: the folders a job may read inputs from and write output
//! to. Paths are resolved first (`..` and symlinks), so neither can lead
//! outside. The coordinator checks at submission; workers check again just
//! before opening, since the file system may have changed in between.

use std::path::{Component, Path, PathBuf};

/// A path outside the allowed folders, or one that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {path} {reason}")]
pub struct Escape {
    /// `input` or `output directory`.
    pub what: &'static str,
    /// The path as given.
    pub path: String,
    /// Why it is refused.
    pub reason: String,
}

/// Allowed input and output folders; an empty list allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
}

fn canonical_roots(dirs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    dirs.iter()
        .map(|d| {
            d.canonicalize().map_err(|e| {
                std::io::Error::new(e.kind(), format!("allowed folder {}: {e}", d.display()))
            })
        })
        .collect()
}

/// Resolves `path`: the longest existing ancestor canonically, then the rest
/// (which must hold no `..`).
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    if !path.is_absolute() {
        return Err("is not an absolute path".into());
    }
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(c) => {
                let mut out = c;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    return Err(format!("cannot be resolved: {e}"));
                };
                if matches!(
                    existing.components().next_back(),
                    Some(Component::ParentDir)
                ) {
                    return Err("cannot be resolved (`..` below a missing folder)".into());
                }
                rest.push(name);
                if !existing.pop() {
                    return Err(format!("cannot be resolved: {e}"));
                }
            }
        }
    }
}

fn show(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Confinement {
    /// Allows reading under `inputs` and writing under `outputs` (each
    /// folder must exist; it is resolved now).
    pub fn new(inputs: &[PathBuf], outputs: &[PathBuf]) -> std::io::Result<Self> {
        Ok(Confinement {
            inputs: canonical_roots(inputs)?,
            outputs: canonical_roots(outputs)?,
        })
    }

    /// Already-resolved roots, as sent to workers.
    pub fn from_roots(inputs: Vec<String>, outputs: Vec<String>) -> Self {
        Confinement {
            inputs: inputs.into_iter().map(PathBuf::from).collect(),
            outputs: outputs.into_iter().map(PathBuf::from).collect(),
        }
    }

    /// The resolved input roots.
    pub fn input_roots(&self) -> Vec<String> {
        self.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    /// The resolved output roots.
    pub fn output_roots(&self) -> Vec<String> {
        self.outputs
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    fn check(what: &'static str, roots: &[PathBuf], path: &str) -> Result<(), Escape> {
        if roots.is_empty() {
            return Ok(());
        }
        let escape = |reason: String| Escape {
            what,
            path: path.to_string(),
            reason,
        };
        let resolved = resolve(Path::new(path)).map_err(escape)?;
        if roots.iter().any(|r| resolved.starts_with(r)) {
            return Ok(());
        }
        Err(escape(format!(
            "resolves to {}, outside the allowed {what} folders ({})",
            resolved.display(),
            show(roots)
        )))
    }

    /// Checks an input path.
    pub fn check_input(&self, path: &str) -> Result<(), Escape> {
        Self::check("input", &self.inputs, path)
    }

    /// Checks an output directory (which need not exist yet).
    pub fn check_output(&self, dir: &str) -> Result<(), Escape> {
        Self::check("output", &self.outputs, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_symlinks_cannot_escape() {
        let base = tempfile::tempdir().unwrap();
        let allowed = base.path().join("data");
        let secret = base.path().join("secret");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(allowed.join("ok.txt"), "x").unwrap();
        std::fs::write(secret.join("s.txt"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&secret, allowed.join("link")).unwrap();
        let c = Confinement::new(
            std::slice::from_ref(&allowed),
            std::slice::from_ref(&allowed),
        )
        .unwrap();
        let p = |p: PathBuf| p.display().to_string();
        assert_eq!(c.check_input(&p(allowed.join("ok.txt"))), Ok(()));
        let e = c
            .check_input(&p(allowed.join("../secret/s.txt")))
            .unwrap_err();
        assert!(
            e.reason.contains("outside the allowed input folders"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let e = c.check_input(&p(allowed.join("link/s.txt"))).unwrap_err();
            assert!(e.to_string().contains("outside"), "{e}");
            let e = c
                .check_output(&p(allowed.join("link/new-out")))
                .unwrap_err();
            assert!(e.to_string().contains("outside"), "{e}");
        }
        assert_eq!(c.check_output(&p(allowed.join("new/deeper"))), Ok(()));
        assert!(c
            .check_output(&p(allowed.join("missing/../../secret")))
            .is_err());
        assert!(c.check_input("relative.txt").is_err());
        assert_eq!(Confinement::default().check_input("/etc/passwd"), Ok(()));
    }
}
