//! [`Registry`]: every app found in the plugin folders, by name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

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
    /// A plugin folder others may write to: anyone who can write there
    /// could make this process run their code.
    #[error("refusing to load plugins from {}: it is writable by other users (mode {mode:o}); run `chmod go-w` on it", dir.display())]
    Unsafe {
        /// The folder.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
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
    /// SHA-256 of that library, in hex (empty for a static app).
    pub sha256: String,
    /// The app.
    pub app: Arc<dyn App>,
}

impl std::fmt::Debug for AppEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppEntry")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("file", &self.file)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
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
    cache_dir: Option<PathBuf>,
    /// Every library loaded, by SHA-256 (local ones and fetched ones).
    by_hash: Mutex<HashMap<String, AppEntry>>,
}

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

/// Writes `bytes` to `dir/<sha>.<ext>` unless it is there already (written
/// under a temporary name, then renamed, so readers never see a partial
/// file); returns the path.
fn cache_copy(dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{sha}.{}", std::env::consts::DLL_EXTENSION));
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

/// The permission bits of `path` if users other than its owner may write
/// to it (group or world writable).
fn writable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o022 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn is_plugin_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
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
            cache_dir: Some(cache_dir),
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
        for dir in dirs {
            if let Some(mode) = writable_by_others(dir) {
                return Err(RegistryError::Unsafe {
                    dir: dir.clone(),
                    mode,
                });
            }
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
        let opened = match writable_by_others(path) {
            Some(mode) => Err(format!(
                "refusing to load it: it is writable by other users (mode {mode:o}); run `chmod go-w` on it"
            )),
            None => Ok(()),
        };
        let opened = opened
            .and_then(|()| std::fs::read(path).map_err(|e| e.to_string()))
            .and_then(|bytes| self.open(path, &bytes));
        match opened {
            Ok(entry) => {
                tracing::debug!(app = %entry.name, path = %path.display(), sha256 = %entry.sha256, "loaded plugin");
                self.insert(entry)
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "skipping file that is not a valid plugin");
                self.problems.push(PluginProblem {
                    path: path.to_path_buf(),
                    reason,
                });
                Ok(())
            }
        }
    }

    /// Loads a plugin from its bytes (read from `path`, or fetched), through
    /// the cache folder when there is one.
    fn open(&self, path: &Path, bytes: &[u8]) -> Result<AppEntry, String> {
        let sha256 = sha256_hex(bytes);
        if let Some(existing) = self
            .by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sha256)
        {
            return Ok(AppEntry {
                file: Some(path.to_path_buf()),
                ..existing.clone()
            });
        }
        let load_path = match &self.cache_dir {
            Some(dir) => cache_copy(dir, &sha256, bytes).map_err(|e| {
                format!(
                    "cannot copy it into the plugin cache {}: {e}",
                    dir.display()
                )
            })?,
            None => path.to_path_buf(),
        };
        let module = Module::new(load_module(&load_path).map_err(|e| e.to_string())?);
        let entry = AppEntry {
            name: module.name().to_string(),
            version: module.version().to_string(),
            description: module.description().to_string(),
            file: Some(path.to_path_buf()),
            sha256: sha256.clone(),
            app: Arc::new(module),
        };
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256, entry.clone());
        Ok(entry)
    }

    /// Loads a plugin fetched from elsewhere, after checking that its bytes
    /// hash to `sha256` and that it exports `name`. It is kept by hash (see
    /// [`Registry::by_hash`]), not by name.
    pub fn load_fetched(&self, name: &str, sha256: &str, bytes: &[u8]) -> Result<AppEntry, String> {
        let actual = sha256_hex(bytes);
        if actual != sha256 {
            return Err(format!(
                "fetched plugin for {name} has SHA-256 {actual}, expected {sha256}"
            ));
        }
        let origin = PathBuf::from(format!("(fetched {name} {sha256})"));
        let entry = self.open(&origin, bytes)?;
        if entry.name != name {
            return Err(format!(
                "fetched plugin {sha256} exports app {:?}, not {name:?}",
                entry.name
            ));
        }
        Ok(entry)
    }

    /// The app with this exact library hash, if loaded (locally or fetched).
    pub fn by_hash(&self, sha256: &str) -> Option<AppEntry> {
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .cloned()
    }

    /// The bytes of a library this registry (or an earlier one sharing its
    /// cache folder) loaded, by SHA-256, checked against the hash; `None`
    /// when it has no such library.
    pub fn library_bytes(&self, sha256: &str) -> Option<Vec<u8>> {
        let is_hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return None;
        }
        let cached = self
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{sha256}.{}", std::env::consts::DLL_EXTENSION)));
        let original = self.by_hash(sha256).and_then(|e| e.file);
        [cached, original]
            .into_iter()
            .flatten()
            .filter_map(|p| std::fs::read(p).ok())
            .find(|bytes| sha256_hex(bytes) == sha256)
    }

    /// The cache folder, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
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
