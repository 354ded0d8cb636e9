//! [`Confinement`]: the folders a job may read inputs from and write output
//! to, and the only way the engine opens a job's files. A path must be
//! written beneath an allowed folder; the rest is resolved by the kernel
//! from a descriptor of that folder and may not leave it ([`super::open`]).
//! Any error while resolving refuses the path; only missing last folders of
//! an output directory are created, inside a folder that did resolve.
//! Inputs must be regular files. The coordinator checks at submission;
//! workers open once and use what they opened.

use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use plugin_api::split::LineSplit;
use rustix::io::Errno;

use super::open::{self, OutputDir};

/// Why a job's path is refused or cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// Not an absolute path.
    #[error("{what} {path} is not an absolute path")]
    NotAbsolute {
        /// `input` or `output`.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// Not written beneath any allowed folder.
    #[error("{what} {path} is outside the allowed {what} folders ({roots})")]
    Outside {
        /// `input` or `output`.
        what: &'static str,
        /// The path as given.
        path: String,
        /// The allowed folders.
        roots: String,
    },
    /// Its resolution leaves the allowed folder (`..`, a symlink).
    #[error("{what} {path} leads outside the allowed {what} folders ({roots})")]
    Escapes {
        /// `input` or `output`.
        what: &'static str,
        /// The path as given.
        path: String,
        /// The allowed folders.
        roots: String,
    },
    /// Resolving it failed (too long, too many links, missing, ...).
    #[error("{what} {path} cannot be resolved: {source}")]
    Unresolvable {
        /// `input` or `output`.
        what: &'static str,
        /// The path as given.
        path: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// An input that is not a regular file.
    #[error("cannot read input {path}: it is a {kind}, not a regular file")]
    NotRegular {
        /// The path as given.
        path: String,
        /// `FIFO`, `character device`, `directory`, ...
        kind: &'static str,
    },
    /// An output folder that cannot be created or opened (no allowed
    /// output folders configured).
    #[error("cannot create output directory {path}: {source}")]
    CreateOutput {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Opening (no allowed input folders configured) or reading the input
    /// failed.
    #[error("cannot read input {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl PathError {
    /// Whether the path was refused by the confinement rules (rather than
    /// being of the wrong type or unreadable).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PathError::NotAbsolute { .. }
                | PathError::Outside { .. }
                | PathError::Escapes { .. }
                | PathError::Unresolvable { .. }
        )
    }
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
            // An object storage root (`s3://bucket/prefix`) is kept as given.
            if crate::storage::is_object(&d.to_string_lossy()) {
                return Ok(d.clone());
            }
            d.canonicalize().map_err(|e| {
                std::io::Error::new(e.kind(), format!("allowed folder {}: {e}", d.display()))
            })
        })
        .collect()
}

/// Why [`resolve`] cannot resolve a path; the text follows the path.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not an absolute path.
    #[error("is not an absolute path")]
    NotAbsolute,
    /// No ancestor of it could be resolved.
    #[error("cannot be resolved: {0}")]
    Unresolvable(#[source] std::io::Error),
    /// A `..` component sits below a folder that does not exist.
    #[error("cannot be resolved (`..` below a missing folder)")]
    ParentOfMissing,
}

/// Resolves `path`: the longest existing ancestor canonically, then the rest
/// (which must hold no `..`).
pub fn resolve(path: &Path) -> Result<PathBuf, ResolveError> {
    if !path.is_absolute() {
        return Err(ResolveError::NotAbsolute);
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
                    return Err(ResolveError::Unresolvable(e));
                };
                if matches!(
                    existing.components().next_back(),
                    Some(Component::ParentDir)
                ) {
                    return Err(ResolveError::ParentOfMissing);
                }
                rest.push(name);
                if !existing.pop() {
                    return Err(ResolveError::Unresolvable(e));
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

/// A path to open, and the allowed folder it must stay in (`None`: no
/// folder is configured, so any absolute path).
struct Located<'a> {
    what: &'static str,
    path: &'a str,
    beneath: Option<(&'a Path, PathBuf)>,
    roots: &'a [PathBuf],
}

impl Located<'_> {
    /// Maps an error of the resolution to the refusal it is.
    fn refuse(&self, e: std::io::Error) -> PathError {
        let (what, path) = (self.what, self.path.to_string());
        if e.raw_os_error() == Some(Errno::XDEV.raw_os_error()) {
            return PathError::Escapes {
                what,
                path,
                roots: show(self.roots),
            };
        }
        PathError::Unresolvable {
            what,
            path,
            source: e,
        }
    }

    /// An error opening the path where no folder is configured.
    fn unconfined(&self, source: std::io::Error) -> PathError {
        let path = self.path.to_string();
        match self.what {
            "input" => PathError::Read { path, source },
            _ => PathError::CreateOutput { path, source },
        }
    }

    /// Opens the path with `flags`, beneath its folder when there is one.
    fn open(&self, flags: rustix::fs::OFlags) -> Result<std::os::fd::OwnedFd, PathError> {
        match &self.beneath {
            None => {
                open::open_anywhere(Path::new(self.path), flags).map_err(|e| self.unconfined(e))
            }
            Some((root, rel)) => open::open_root(root)
                .and_then(|r| open::open_beneath(r.as_fd(), rel, flags))
                .map_err(|e| self.refuse(e)),
        }
    }

    /// Opens the path as an input with `flags` and checks it is a regular
    /// file; returns it with its size.
    fn open_regular(
        &self,
        flags: rustix::fs::OFlags,
    ) -> Result<(std::os::fd::OwnedFd, u64), PathError> {
        let fd = self.open(flags)?;
        match open::kind_and_size(fd.as_fd()) {
            Ok((None, size)) => Ok((fd, size)),
            Ok((Some(kind), _)) => Err(PathError::NotRegular {
                path: self.path.to_string(),
                kind,
            }),
            Err(e) => Err(self.refuse(e)),
        }
    }

    /// Resolves an output folder beneath its root: the longest prefix that
    /// exists is opened (any error but "not found" refuses), then each
    /// missing folder below it is created (`create`) or only checked to be
    /// a plain name that does not exist.
    fn output_dir(
        &self,
        root: &Path,
        rel: &Path,
        create: bool,
    ) -> Result<Option<OutputDir>, PathError> {
        let root_fd = open::open_root(root).map_err(|e| self.refuse(e))?;
        let parts: Vec<Component<'_>> = rel.components().collect();
        let flags = open::output_dir_flags();
        let mut existing = parts.len();
        let mut dir = loop {
            let prefix: PathBuf = parts[..existing].iter().collect();
            match open::open_beneath(root_fd.as_fd(), &prefix, flags) {
                Ok(fd) => break fd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && existing > 0 => existing -= 1,
                Err(e) => return Err(self.refuse(e)),
            }
        };
        let mut missing = Vec::new();
        for part in &parts[existing..] {
            let Component::Normal(name) = part else {
                return Err(PathError::Escapes {
                    what: self.what,
                    path: self.path.to_string(),
                    roots: show(self.roots),
                });
            };
            missing.push(*name);
        }
        if !create {
            // A dangling symlink is "not found" too, but it is no plain name.
            return match missing.first().map(|n| open::exists_in(dir.as_fd(), n)) {
                None | Some(Ok(false)) => Ok(None),
                Some(Ok(true)) => Err(self.refuse(Errno::LOOP.into())),
                Some(Err(e)) => Err(self.refuse(e)),
            };
        }
        for name in missing {
            dir = open::make_dir_in(dir.as_fd(), name).map_err(|e| self.refuse(e))?;
        }
        Ok(create.then(|| OutputDir::new(dir, PathBuf::from(self.path))))
    }
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

    fn locate<'a>(
        what: &'static str,
        roots: &'a [PathBuf],
        path: &'a str,
    ) -> Result<Located<'a>, PathError> {
        let located = |beneath| Located {
            what,
            path,
            beneath,
            roots,
        };
        if !Path::new(path).is_absolute() {
            return Err(PathError::NotAbsolute {
                what,
                path: path.to_string(),
            });
        }
        if roots.is_empty() {
            return Ok(located(None));
        }
        roots
            .iter()
            .find_map(|root| {
                let rel = Path::new(path).strip_prefix(root).ok()?;
                Some(located(Some((root.as_path(), rel.to_path_buf()))))
            })
            .ok_or_else(|| PathError::Outside {
                what,
                path: path.to_string(),
                roots: show(roots),
            })
    }

    /// Checks an input path without reading it (the coordinator): it must
    /// resolve beneath an allowed folder to a regular file. Without
    /// allowed input folders nothing is checked.
    pub fn check_input(&self, path: &str) -> Result<(), PathError> {
        let located = Self::locate("input", &self.inputs, path)?;
        if located.beneath.is_none() {
            return Ok(());
        }
        located.open_regular(open::probe_flags()).map(drop)
    }

    /// Checks an object storage input (`s3://bucket/key`, a prefix or a
    /// pattern's literal prefix): with allowed input roots, it must be
    /// beneath an allowed `s3://bucket/prefix` (by whole key components).
    pub fn check_input_object(&self, url: &str) -> Result<(), PathError> {
        Self::check_object("input", &self.inputs, url)
    }

    /// Checks an object storage output prefix, as
    /// [`Confinement::check_input_object`] does inputs.
    pub fn check_output_object(&self, url: &str) -> Result<(), PathError> {
        Self::check_object("output", &self.outputs, url)
    }

    fn check_object(what: &'static str, roots: &[PathBuf], url: &str) -> Result<(), PathError> {
        use crate::storage::ObjectUrl;
        if roots.is_empty() {
            return Ok(());
        }
        let outside = || PathError::Outside {
            what,
            path: url.to_string(),
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let Ok(object) = ObjectUrl::parse(url) else {
            return Err(outside());
        };
        let beneath = roots.iter().any(|r| {
            ObjectUrl::parse(&r.to_string_lossy()).is_ok_and(|root| object.is_beneath(&root))
        });
        if beneath {
            Ok(())
        } else {
            Err(outside())
        }
    }

    /// Checks a folder an input pattern or folder is listed from (the
    /// coordinator, before listing it): it must be written beneath an
    /// allowed input folder. (Each file found is then checked with
    /// [`Confinement::check_input`].)
    pub fn check_input_folder(&self, path: &str) -> Result<(), PathError> {
        Self::locate("input", &self.inputs, path).map(drop)
    }

    /// Checks an output directory, which need not exist yet (the
    /// coordinator): its existing part must resolve beneath an allowed
    /// folder, and its missing part be plain names. Without allowed output
    /// folders only an absolute path is required.
    pub fn check_output(&self, dir: &str) -> Result<(), PathError> {
        let located = Self::locate("output", &self.outputs, dir)?;
        match &located.beneath {
            None => Ok(()),
            Some((root, rel)) => located.output_dir(root, rel, false).map(drop),
        }
    }

    /// Reads an input (a worker): opened once, without blocking, beneath
    /// its allowed folder; only a regular file is read, and only through
    /// the descriptor that was checked.
    pub fn read_input(&self, path: &str) -> Result<Vec<u8>, PathError> {
        let located = Self::locate("input", &self.inputs, path)?;
        let (fd, size) = located.open_regular(open::input_flags())?;
        open::read_opened(fd, size).map_err(|source| PathError::Read {
            path: path.to_string(),
            source,
        })
    }

    /// Opens an input (a worker) as [`Confinement::read_input`] does, for
    /// reading by position: the file and its size.
    pub fn open_input(&self, path: &str) -> Result<(std::fs::File, u64), PathError> {
        let located = Self::locate("input", &self.inputs, path)?;
        let (fd, size) = located.open_regular(open::input_flags())?;
        Ok((std::fs::File::from(fd), size))
    }

    /// Reads the line records that start in `[offset, offset + len)` of an
    /// input (a worker), opened as [`Confinement::read_input`] opens it and
    /// read by position through that descriptor: memory is bounded by the
    /// range plus the tail of its last line.
    pub fn read_input_lines(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> Result<LineSplit, PathError> {
        let located = Self::locate("input", &self.inputs, path)?;
        let (fd, _) = located.open_regular(open::input_flags())?;
        open::read_opened_lines(fd, offset, len).map_err(|source| PathError::Read {
            path: path.to_string(),
            source,
        })
    }

    /// Opens (creating what is missing) an output directory (a worker),
    /// beneath its allowed folder.
    pub fn open_output(&self, dir: &str) -> Result<OutputDir, PathError> {
        let located = Self::locate("output", &self.outputs, dir)?;
        let Some((root, rel)) = &located.beneath else {
            std::fs::create_dir_all(dir).map_err(|e| located.unconfined(e))?;
            let fd = located.open(open::output_dir_flags())?;
            return Ok(OutputDir::new(fd, PathBuf::from(dir)));
        };
        let opened = located.output_dir(root, rel, true)?;
        opened.ok_or_else(|| located.refuse(Errno::NOENT.into()))
    }
}

#[cfg(test)]
mod tests;
