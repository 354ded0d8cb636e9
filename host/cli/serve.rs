//! `mr coordinator` and `mr worker`: the long-running servers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{shutdown_signal, PluginsArg};
use crate::client::DEFAULT_COORDINATOR;
use crate::coordinator::{self, CoordinatorConfig};
use crate::plugin::{default_plugin_dirs, Registry};
use crate::worker::{self, WorkerConfig};

/// `mr coordinator`.
#[derive(Debug, clap::Args)]
pub struct CoordinatorCmd {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:10162")]
    listen: SocketAddr,
    #[command(flatten)]
    plugins: PluginsArg,
    /// A worker silent this long is declared dead and its work redone.
    #[arg(long, default_value_t = 7000)]
    worker_timeout_ms: u64,
    /// Heartbeat interval workers are told to use.
    #[arg(long, default_value_t = 2000)]
    heartbeat_interval_ms: u64,
}

/// Loads the registry from the plugin folders, logging what was skipped.
pub(super) fn load_registry(plugins: &PluginsArg) -> anyhow::Result<Arc<Registry>> {
    let dirs: Vec<PathBuf> = default_plugin_dirs(&plugins.plugins);
    let registry = Registry::load_dirs(&dirs).context("loading plugins")?;
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    tracing::info!(dirs = ?shown, apps = ?registry.names(), "plugin registry loaded");
    Ok(Arc::new(registry))
}

impl CoordinatorCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let registry = load_registry(&self.plugins)?;
        if registry.names().is_empty() {
            tracing::warn!("no apps found: every job will be rejected (pass --plugins DIR)");
        }
        let mut config = CoordinatorConfig::new(registry);
        config.scheduler.worker_timeout = Duration::from_millis(self.worker_timeout_ms);
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        let listener = TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        coordinator::run(config, listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `mr worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerCmd {
    /// The coordinator's URL.
    #[arg(long, env = "MR_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    coordinator: String,
    /// Address to serve map output on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The HOST:PORT other workers dial to reach this one (default: the
    /// listening address).
    #[arg(long)]
    advertise: Option<String>,
    #[command(flatten)]
    plugins: PluginsArg,
    /// How often to heartbeat.
    #[arg(long, default_value_t = 2000)]
    heartbeat_interval_ms: u64,
}

impl WorkerCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let registry = load_registry(&self.plugins)?;
        let mut config = WorkerConfig::new(self.coordinator, registry);
        config.advertise = self.advertise;
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms.max(1));
        let listener = TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        worker::run(config, listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    }
}
