//! [`Registry`]: every app found in the plugin folders, by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_api::abi::{load_module, Module};

use super::App;

/// A problem with one plugin file; the file is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginProblem {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
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
    /// A plugin folder cannot be read.
    #[error("cannot read plugin folder {}: {source}", dir.display())]
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

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
    /// The app.
    pub app: Arc<dyn App>,
}

impl std::fmt::Debug for AppEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppEntry")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The apps this process knows, by name.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    apps: BTreeMap<String, AppEntry>,
    problems: Vec<PluginProblem>,
}

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

fn is_plugin_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Loads every plugin file (`*.so`, `*.dylib` or `*.dll`) in `dirs`, in
    /// name order. A file that is not a valid app is recorded as a
    /// [`PluginProblem`] (and logged) and skipped; two files exporting the
    /// same name are an error naming both.
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<Registry, RegistryError> {
        let mut registry = Registry::new();
        for dir in dirs {
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

    /// Loads one plugin file; see [`Registry::load_dirs`].
    pub fn load_file(&mut self, path: &Path) -> Result<(), RegistryError> {
        match load_module(path) {
            Ok(m) => {
                let module = Module::new(m);
                tracing::debug!(app = module.name(), path = %path.display(), "loaded plugin");
                self.insert(AppEntry {
                    name: module.name().to_string(),
                    version: module.version().to_string(),
                    description: module.description().to_string(),
                    file: Some(path.to_path_buf()),
                    app: Arc::new(module),
                })
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(path = %path.display(), %reason, "skipping file that is not a valid plugin");
                self.problems.push(PluginProblem {
                    path: path.to_path_buf(),
                    reason,
                });
                Ok(())
            }
        }
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
    pub fn insert_static(&mut self, app: Arc<dyn App>) -> Result<(), RegistryError> {
        self.insert(AppEntry {
            name: app.name().to_string(),
            version: app.version().to_string(),
            description: app.description().to_string(),
            file: None,
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
