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
    /// Serve `/metrics` (Prometheus) and a status page at `/` on this address.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
}

/// Loads the registry from the plugin folders, logging what was skipped.
pub(super) fn load_registry(plugins: &PluginsArg) -> anyhow::Result<Arc<Registry>> {
    Ok(load_registry_from(plugins)?.0)
}

/// Like [`load_registry`], also returning the folders used.
fn load_registry_from(plugins: &PluginsArg) -> anyhow::Result<(Arc<Registry>, Vec<PathBuf>)> {
    let dirs: Vec<PathBuf> = default_plugin_dirs(&plugins.plugins);
    let registry = Registry::load_dirs(&dirs).context("loading plugins")?;
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    tracing::info!(dirs = ?shown, apps = ?registry.names(), "plugin registry loaded");
    Ok((Arc::new(registry), dirs))
}

impl CoordinatorCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let (registry, dirs) = load_registry_from(&self.plugins)?;
        if registry.names().is_empty() {
            tracing::warn!("no apps found: every job will be rejected (pass --plugins DIR)");
        }
        let mut config = CoordinatorConfig::new(registry);
        config.plugin_dirs = dirs;
        config.reload_on_sighup = true;
        config.http = self.http;
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
    /// Bytes of data to hold in memory before spilling to local disk, e.g.
    /// 256MiB or 2G (default: a quarter of the machine's memory).
    #[arg(long, value_parser = worker::spill::parse_byte_size)]
    memory_limit: Option<u64>,
    /// Folder for spilled data; the worker works in a folder of its own
    /// inside it and removes that on exit (default: the system's temporary
    /// folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

impl WorkerCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let registry = load_registry(&self.plugins)?;
        let mut config = WorkerConfig::new(self.coordinator, registry);
        config.advertise = self.advertise;
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms.max(1));
        if let Some(limit) = self.memory_limit {
            config.memory_limit = limit;
        }
        if let Some(dir) = self.work_dir {
            config.work_dir = dir;
        }
        let listener = TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        worker::run(config, listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    }
}
