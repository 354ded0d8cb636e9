//! [`Registry`]: every app found in the plugin folders, by name, with the
//! files that were skipped and why. Loading itself is [`super::load`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::{default_cache_dir, prepare_dir};
use super::files::is_plugin_file;
use super::load::{LoadFailure, Loader};
use super::trust::{self, Untrusted};
use super::{AppEntry, LoadedApp};

/// A problem with one plugin file; the file is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginProblem {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped, in one line.
    pub reason: String,
}

/// Why the registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two files export the same app name.
    #[error("app {name:?} is exported by two plugin files: {} and {}", first.display(), second.display())]
    Duplicate {
        /// The app name.
        name: String,
        /// The file loaded first.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// A plugin folder others could change (see [`super::trust`]):
    /// anyone who can write there could make this process run their code.
    #[error("refusing to load plugins from {}: {why}", dir.display())]
    Unsafe {
        /// The folder.
        dir: PathBuf,
        /// What is wrong: the path at fault, why, and the fix.
        why: Untrusted,
    },
    /// A plugin cache folder this user does not own or others could write.
    #[error("refusing to use plugin cache folder {}: {why}", dir.display())]
    UnsafeCache {
        /// The cache folder.
        dir: PathBuf,
        /// What is wrong.
        why: Untrusted,
    },
    /// A plugin folder cannot be read.
    #[error("cannot read plugin folder {}: {source}", dir.display())]
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Why a plugin fetched from the coordinator is not used.
#[derive(Debug, thiserror::Error)]
pub enum FetchedPluginError {
    /// Its bytes hash to another SHA-256 than the one asked for.
    #[error("fetched plugin for {name} has SHA-256 {actual}, expected {expected}")]
    HashMismatch {
        /// The app.
        name: String,
        /// The bytes' hash.
        actual: String,
        /// The hash asked for.
        expected: String,
    },
    /// The library does not load; the loader's one-line reason.
    #[error("{0}")]
    Refused(String),
    /// The library exports another app than the one asked for.
    #[error("fetched plugin {sha256} exports app {exported:?}, not {name:?}")]
    WrongApp {
        /// Its hash.
        sha256: String,
        /// The app it exports.
        exported: String,
        /// The app asked for.
        name: String,
    },
}

/// The apps this process knows, by name.
///
/// Each plugin file is hashed and, when the registry has a cache folder,
/// copied there under its hash before it is loaded: a library cannot be
/// unloaded, so a changed file must be loaded as a new library, and a
/// version fetched from the coordinator lives beside those found locally.
#[derive(Debug, Default)]
pub struct Registry {
    apps: BTreeMap<String, AppEntry>,
    problems: Vec<PluginProblem>,
    /// Every library loaded, by SHA-256 (local ones and fetched ones).
    loader: Loader,
}

impl Registry {
    /// An empty registry that loads files where they are.
    pub fn new() -> Self {
        Registry::default()
    }

    /// An empty registry that copies files into `cache_dir` (by hash)
    /// before loading them.
    pub fn with_cache(cache_dir: PathBuf) -> Self {
        Registry {
            loader: Loader::new(Some(cache_dir)),
            ..Registry::default()
        }
    }

    /// Loads every plugin file in `dirs` through the default cache folder;
    /// see [`Registry::load_dirs_into`].
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<Registry, RegistryError> {
        Registry::with_cache(default_cache_dir()).load_dirs_into(dirs)
    }

    /// Loads every plugin file (`*.so`, `*.dylib` or `*.dll`) in `dirs`, in
    /// name order. A file that is not a valid app is recorded as a
    /// [`PluginProblem`] (and logged) and skipped; two files exporting the
    /// same name are an error naming both.
    pub fn load_dirs_into(self, dirs: &[PathBuf]) -> Result<Registry, RegistryError> {
        let mut registry = self;
        if let Some(cache) = registry.loader.cache_dir() {
            prepare_dir(cache).map_err(|why| RegistryError::UnsafeCache {
                dir: cache.to_path_buf(),
                why,
            })?;
        }
        for dir in dirs {
            trust::check(dir).map_err(|why| RegistryError::Unsafe {
                dir: dir.clone(),
                why,
            })?;
            let entries = std::fs::read_dir(dir).map_err(|source| RegistryError::ReadDir {
                dir: dir.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_plugin_file(p))
                .collect();
            files.sort();
            for file in files {
                registry.load_file(&file)?;
            }
        }
        Ok(registry)
    }

    /// Loads one plugin file; see [`Registry::load_dirs`]. A file that is
    /// not a valid app is logged in one line at warn level (abi_stable's
    /// full report, which can run to a hundred lines, at debug level).
    pub fn load_file(&mut self, path: &Path) -> Result<(), RegistryError> {
        let opened = trust::check(path)
            .map_err(|why| LoadFailure::plain(format!("refusing to load it: {why}")));
        let opened = opened
            .and_then(|()| std::fs::read(path).map_err(|e| LoadFailure::plain(e.to_string())))
            .and_then(|bytes| self.loader.open(path, &bytes));
        match opened {
            Ok(entry) => {
                tracing::debug!(app = %entry.name, path = %path.display(), sha256 = %entry.sha256, "loaded plugin");
                self.insert(entry.clone())?;
                self.loader.remember(&entry);
                Ok(())
            }
            Err(LoadFailure { reason, details }) => {
                tracing::warn!(path = %path.display(), %reason, "skipping file that is not a valid plugin");
                tracing::debug!(path = %path.display(), %details, "why the plugin was skipped");
                self.problems.push(PluginProblem {
                    path: path.to_path_buf(),
                    reason,
                });
                Ok(())
            }
        }
    }

    /// Loads a plugin fetched from elsewhere, after checking that its bytes
    /// hash to `sha256` and that it exports `name`. Only then is it kept by
    /// hash (see [`Registry::by_hash`]), never by name.
    pub fn load_fetched(
        &self,
        name: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<AppEntry, FetchedPluginError> {
        let actual = super::sha256_hex(bytes);
        if actual != sha256 {
            return Err(FetchedPluginError::HashMismatch {
                name: name.to_string(),
                actual,
                expected: sha256.to_string(),
            });
        }
        let origin = PathBuf::from(format!("(fetched {name} {sha256})"));
        let entry = self.loader.open(&origin, bytes).map_err(|f| {
            tracing::debug!(app = %name, %sha256, details = %f.details, "fetched plugin refused");
            FetchedPluginError::Refused(f.reason)
        })?;
        if entry.name != name {
            return Err(FetchedPluginError::WrongApp {
                sha256: sha256.to_string(),
                exported: entry.name.clone(),
                name: name.to_string(),
            });
        }
        self.loader.remember(&entry);
        Ok(entry)
    }

    /// The app with this exact library hash, if loaded (locally or fetched).
    pub fn by_hash(&self, sha256: &str) -> Option<AppEntry> {
        self.loader.by_hash(sha256)
    }

    /// The bytes of a library this registry (or an earlier one sharing its
    /// cache folder) loaded, by SHA-256, checked against the hash; `None`
    /// when it has no such library.
    pub fn library_bytes(&self, sha256: &str) -> Option<Vec<u8>> {
        self.loader.library_bytes(sha256)
    }

    /// The cache folder, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.loader.cache_dir()
    }

    /// The cached copy of the library with this SHA-256, if the cache
    /// folder holds one.
    pub fn library_file(&self, sha256: &str) -> Option<PathBuf> {
        let is_hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        let dir = self.cache_dir().filter(|_| is_hex)?;
        Some(super::cache::cached_path(dir, sha256)).filter(|p| p.is_file())
    }

    /// Adds an app; errors if its name is taken.
    pub fn insert(&mut self, entry: AppEntry) -> Result<(), RegistryError> {
        if let Some(existing) = self.apps.get(&entry.name) {
            let unnamed = || PathBuf::from("(linked in)");
            return Err(RegistryError::Duplicate {
                name: entry.name.clone(),
                first: existing.file.clone().unwrap_or_else(unnamed),
                second: entry.file.clone().unwrap_or_else(unnamed),
            });
        }
        self.apps.insert(entry.name.clone(), entry);
        Ok(())
    }

    /// Adds an app linked into the binary.
    pub fn insert_static(&mut self, app: Arc<dyn LoadedApp>) -> Result<(), RegistryError> {
        self.insert(AppEntry {
            name: app.name().to_string(),
            version: app.version().to_string(),
            description: app.description().to_string(),
            file: None,
            sha256: String::new(),
            app,
        })
    }

    /// The app called `name`.
    pub fn get(&self, name: &str) -> Option<&AppEntry> {
        self.apps.get(name)
    }

    /// Every app, by name.
    pub fn apps(&self) -> impl Iterator<Item = &AppEntry> {
        self.apps.values()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.apps.keys().cloned().collect()
    }

    /// Files that were skipped, with the reason.
    pub fn problems(&self) -> &[PluginProblem] {
        &self.problems
    }
}

#[cfg(test)]
mod tests;
