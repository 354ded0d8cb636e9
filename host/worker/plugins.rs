//! [`PluginSource`]: finds the library a task must run with. A task names
//! its app and the SHA-256 of the coordinator's library for it; a worker
//! that lacks that exact library (no such app, or another version) fetches
//! it from the coordinator, checks the hash, stores it in its plugin cache
//! under the hash and loads it from there. Versions never replace each
//! other: each hash is its own library.

use std::sync::Arc;

use tokio::sync::Mutex as AsyncMutex;

use crate::plugin::{AppEntry, FetchedPluginError, Registry};
use crate::proto::coordinator::coordinator_client::CoordinatorClient;
use crate::proto::coordinator::FetchPluginRequest;
use crate::security::AuthChannel;

/// The worker's apps: its registry plus what it fetched.
pub struct PluginSource {
    registry: Arc<Registry>,
    coordinator: CoordinatorClient<AuthChannel>,
    /// One fetch at a time, so concurrent tasks do not fetch twice.
    fetching: AsyncMutex<()>,
}

/// Why a task's app is not available on this worker.
#[derive(Debug, thiserror::Error)]
pub enum PluginSourceError {
    /// An older coordinator named an app this worker does not have.
    #[error("this worker has no app {name:?} (it has: {have})")]
    NoSuchApp {
        /// The app asked for.
        name: String,
        /// The apps this worker has, comma-separated.
        have: String,
    },
    /// The coordinator would not send the library.
    #[error("cannot fetch plugin {name:?} ({sha256}) from the coordinator: {}", status.message())]
    Fetch {
        /// The app.
        name: String,
        /// The library's hash.
        sha256: String,
        /// The coordinator's answer.
        status: tonic::Status,
    },
    /// The fetched library could not be loaded.
    #[error("{0}")]
    Load(FetchedPluginError),
    /// Loading crashed.
    #[error("loading the fetched plugin crashed: {0}")]
    Crashed(#[from] tokio::task::JoinError),
}

impl PluginSource {
    /// Apps from `registry`, fetching missing ones from `coordinator`.
    pub fn new(registry: Arc<Registry>, coordinator: CoordinatorClient<AuthChannel>) -> Self {
        PluginSource {
            registry,
            coordinator,
            fetching: AsyncMutex::new(()),
        }
    }

    /// The app `name` with library hash `sha256` (empty from an older
    /// coordinator: the local app of that name).
    pub async fn app(&self, name: &str, sha256: &str) -> Result<AppEntry, PluginSourceError> {
        if sha256.is_empty() {
            return self
                .registry
                .get(name)
                .cloned()
                .ok_or_else(|| PluginSourceError::NoSuchApp {
                    name: name.to_string(),
                    have: self.registry.names().join(", "),
                });
        }
        if let Some(entry) = self.registry.by_hash(sha256) {
            return Ok(entry);
        }
        let _guard = self.fetching.lock().await;
        if let Some(entry) = self.registry.by_hash(sha256) {
            return Ok(entry);
        }
        let bytes = self.fetch(name, sha256).await?;
        let (registry, name, sha) = (
            Arc::clone(&self.registry),
            name.to_string(),
            sha256.to_string(),
        );
        let entry = tokio::task::spawn_blocking(move || registry.load_fetched(&name, &sha, &bytes))
            .await?
            .map_err(PluginSourceError::Load)?;
        tracing::info!(app = %entry.name, version = %entry.version, sha256, "fetched plugin from the coordinator");
        Ok(entry)
    }

    /// A local file holding `entry`'s library (for an executor process to
    /// load), if there is one: `None` for an app linked in statically.
    pub fn library_file(&self, entry: &AppEntry) -> Option<std::path::PathBuf> {
        let original = entry.file.clone().filter(|p| p.is_file());
        original.or_else(|| self.registry.library_file(&entry.sha256))
    }

    async fn fetch(&self, name: &str, sha256: &str) -> Result<Vec<u8>, PluginSourceError> {
        let err = |status: tonic::Status| PluginSourceError::Fetch {
            name: name.to_string(),
            sha256: sha256.to_string(),
            status,
        };
        let mut stream = self
            .coordinator
            .clone()
            .fetch_plugin(FetchPluginRequest {
                app: name.to_string(),
                sha256: sha256.to_string(),
            })
            .await
            .map_err(err)?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(err)? {
            bytes.extend_from_slice(&chunk.data);
        }
        Ok(bytes)
    }
}
