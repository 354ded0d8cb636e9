//! `mr coordinator` and `mr worker`: the long-running servers.
//!
//! Once its sockets are bound, each server announces them on standard
//! output (logs go to standard error), one line each, so that scripts and
//! tests can start it on port 0 and read the port the system picked:
//!
//! ```text
//! listening on 127.0.0.1:10162
//! http listening on 127.0.0.1:8080
//! ```
//!
//! The first line (the gRPC service of the coordinator, the map-output
//! service of a worker) always comes first; the second only from a
//! coordinator with `--http`. Nothing else is printed on standard output.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{shutdown_signal, PluginsArg, TlsArgs};
use crate::client::DEFAULT_COORDINATOR;
use crate::coordinator::Limits;
use crate::coordinator::{self, CoordinatorConfig};
use crate::core::Retention;
use crate::net::guard::{
    default_max_connections, open_files_limit, raise_open_files_limit, ConnLimits,
};
use crate::plugin::{default_plugin_dirs, Registry};
use crate::security::{check_exposure, Auth, Confinement, SecurityError, Token, Transport};
use crate::worker::{self, WorkerConfig};

/// Limits on the connections a server accepts (before authentication).
#[derive(Debug, clap::Args)]
pub struct ConnArgs {
    /// Most connections open at once (default: half the open-file limit,
    /// between 16 and 4096). At the limit, the oldest connection that has
    /// not finished its handshake is closed to make room.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Close a new connection that has not sent its TLS or HTTP/2
    /// handshake within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,
    /// Close a connection that has sent nothing for this long (live peers
    /// answer the keepalive pings).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Ping a connection silent for this long (HTTP/2 keepalive); one that
    /// does not answer within 20 s is closed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    keepalive_interval: Duration,
}

impl ConnArgs {
    /// Raises the soft open-file limit to the hard one, then builds the
    /// limits (the default cap from the raised limit).
    fn limits(&self) -> ConnLimits {
        let open_files = match raise_open_files_limit() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot raise the open-file limit: {e}");
                open_files_limit()
            }
        };
        let limits = ConnLimits {
            max_connections: self
                .max_connections
                .unwrap_or_else(|| default_max_connections(open_files)),
            handshake_timeout: self.handshake_timeout,
            idle_timeout: self.idle_timeout,
            keepalive_interval: self.keepalive_interval,
            ..ConnLimits::default()
        };
        tracing::debug!(open_files, ?limits, "connection limits");
        limits
    }
}

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
    /// A task that crashes the process running it this many times in a
    /// row while the job's other tasks run clean (5 times as many when
    /// they crash too), or fails retryably this many times, fails its job.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    max_task_attempts: u32,
    /// Backup attempts of stragglers (the MapReduce paper's section 3.6): a
    /// worker that would idle runs a second attempt of a phase's slowest
    /// task; the first to finish wins. A job's `--speculation` overrides.
    #[arg(long, value_name = "on|off", default_value = "on")]
    speculation: super::Switch,
    /// The shortest run before a task gets a backup attempt (it must also
    /// have run twice the median of its phase's finished attempts).
    #[arg(long, default_value_t = 1000)]
    speculation_floor_ms: u64,
    /// Heartbeat interval workers are told to use.
    #[arg(long, default_value_t = 2000)]
    heartbeat_interval_ms: u64,
    /// Once told to stop (SIGTERM, Ctrl-C), wait this long for open
    /// streams, connections and in-flight work, then stop anyway.
    #[arg(long, default_value_t = crate::shutdown::DEFAULT_GRACE.as_millis() as u64)]
    shutdown_grace_ms: u64,
    /// Serve the web UI (`/`), its JSON API (`/api/...`) and `/metrics` on
    /// this address: the client token guards it (Bearer), and it speaks
    /// HTTPS when --tls-cert/--tls-key are given. The same exposure rule as
    /// --listen applies.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// File holding the client token (default: $MR_CLIENT_TOKEN).
    #[arg(long, value_name = "FILE")]
    client_token_file: Option<PathBuf>,
    /// File holding the worker token (default: $MR_WORKER_TOKEN).
    #[arg(long, value_name = "FILE")]
    worker_token_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Require client certificates signed by --tls-ca (mutual TLS).
    #[arg(long)]
    tls_client_auth: bool,
    /// Allow listening beyond loopback without tokens.
    #[arg(long)]
    insecure: bool,
    /// A folder jobs may read inputs from (repeatable; default: anywhere).
    #[arg(long, value_name = "DIR")]
    allow_input: Vec<PathBuf>,
    /// A folder jobs may write output to (repeatable; default: anywhere).
    #[arg(long, value_name = "DIR")]
    allow_output: Vec<PathBuf>,
    /// Largest request, in bytes.
    #[arg(long, default_value_t = Limits::default().max_request_bytes)]
    max_request_bytes: usize,
    /// Most input files per job.
    #[arg(long, default_value_t = Limits::default().max_files)]
    max_files: usize,
    /// Largest n_reduce.
    #[arg(long, default_value_t = Limits::default().max_n_reduce)]
    max_n_reduce: u32,
    /// Largest app arguments, in bytes.
    #[arg(long, default_value_t = Limits::default().max_args_bytes)]
    max_args_bytes: usize,
    /// Most jobs queued or running at once.
    #[arg(long, default_value_t = Limits::default().max_queued_jobs)]
    max_queued_jobs: usize,
    /// Keep jobs in a durable store in this folder (created, mode 0700), so
    /// that a restarted coordinator (even after SIGKILL) goes on with every
    /// job. Without it, jobs live in memory and a restart loses them. One
    /// coordinator per folder.
    #[arg(long, value_name = "DIR", env = "MR_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Most `WatchJob` streams open at once (`mr submit --wait`, `mr run`).
    #[arg(long, default_value_t = Limits::default().max_watch_streams)]
    max_watch_streams: usize,
    /// Most `WatchJob` streams open on one connection.
    #[arg(long, default_value_t = Limits::default().max_watch_streams_per_connection)]
    max_watch_streams_per_connection: usize,
    /// Requests a second the web UI and `/metrics` (`--http`) serve to one
    /// client address, in bursts of twice that; more wait their turn, and
    /// beyond 2 s of waiting get `429 Too Many Requests`. 0: unpaced.
    #[arg(long, value_name = "N", default_value_t = Limits::default().http_rate)]
    http_rate: u32,
    /// Ended jobs to remember (at least 1); older ones are forgotten and
    /// their ids answer "forgotten".
    #[arg(long, default_value_t = Retention::default().max_jobs,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    retain_jobs: usize,
    /// How many of the newest ended jobs keep their task tables (web UI);
    /// older ended jobs keep only their summary, counters and errors.
    #[arg(long, default_value_t = Retention::default().detailed)]
    retain_detail: usize,
    /// How long to remember an ended job, e.g. 90s, 30m, 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    retain_for: Duration,
    #[command(flatten)]
    connections: ConnArgs,
}

/// Loads the registry from the plugin folders, logging what was skipped.
pub(super) fn load_registry(plugins: &PluginsArg) -> anyhow::Result<Arc<Registry>> {
    Ok(load_registry_from(plugins)?.0)
}

/// Loads the registry and checks that it has `app`; if not, the error says
/// which apps and folders there are, and how to get the bundled apps when
/// there are none (`cargo run` builds only `mr`, not the app plugins).
pub(super) fn load_registry_with(plugins: &PluginsArg, app: &str) -> anyhow::Result<Arc<Registry>> {
    let (registry, dirs) = load_registry_from(plugins)?;
    if registry.get(app).is_some() {
        return Ok(registry);
    }
    let folders: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let folders = folders.join(", ");
    if registry.names().is_empty() {
        anyhow::bail!(
            "unknown app {app:?}: no app plugins in {folders}. The bundled apps are built \
             beside `mr` by `cargo build --release` (or `cargo build --release --workspace`; \
             `cargo run` and `cargo install` build only `mr`); or point --plugins DIR or \
             $MR_PLUGINS at a folder of app plugins"
        );
    }
    anyhow::bail!(
        "unknown app {app:?}; available apps: {} (in {folders}; more folders: --plugins DIR or $MR_PLUGINS)",
        registry.names().join(", ")
    )
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
        let auth = Auth {
            client: Token::load(self.client_token_file.as_deref(), "MR_CLIENT_TOKEN")?,
            worker: Token::load(self.worker_token_file.as_deref(), "MR_WORKER_TOKEN")?,
        };
        auth.check_distinct()?;
        check_exposure(self.listen, &auth, self.insecure)?;
        // The web UI shows paths, errors and worker addresses: same rule.
        if let Some(addr) = self.http {
            check_exposure(addr, &auth, self.insecure).context("--http")?;
        }
        let http = self
            .http
            .and_then(|addr| match std::net::TcpListener::bind(addr) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(%addr, "cannot serve the web UI: {e}");
                    None
                }
            });
        let tls = self.tls.load_with(self.tls_client_auth)?;
        config.transport = Transport::new(tls.clone(), auth.worker.as_ref());
        config.tls = tls;
        config.auth = auth;
        config.confinement = Confinement::new(&self.allow_input, &self.allow_output)
            .context("--allow-input/--allow-output")?;
        config.limits = Limits {
            max_request_bytes: self.max_request_bytes,
            max_files: self.max_files,
            max_n_reduce: self.max_n_reduce,
            max_args_bytes: self.max_args_bytes,
            max_queued_jobs: self.max_queued_jobs,
            max_watch_streams: self.max_watch_streams,
            max_watch_streams_per_connection: self.max_watch_streams_per_connection,
            http_rate: self.http_rate,
        };
        config.scheduler.retention = Retention {
            max_jobs: self.retain_jobs,
            max_age: self.retain_for,
            detailed: self.retain_detail,
        };
        config.scheduler.worker_timeout = Duration::from_millis(self.worker_timeout_ms);
        config.scheduler.max_task_attempts = self.max_task_attempts;
        config.scheduler.speculation = self.speculation.is_on();
        config.scheduler.speculation_floor = Duration::from_millis(self.speculation_floor_ms);
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        config.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        if self.state_dir.is_none() {
            tracing::warn!(
                "no --state-dir: jobs live in memory only and a coordinator restart loses them"
            );
        }
        config.state_dir = self.state_dir;
        config.connections = self.connections.limits();
        let listener = bind(self.listen).await?;
        let mut bound = vec![("", listener.local_addr()?)];
        if let Some(l) = &http {
            bound.push(("http ", l.local_addr()?));
        }
        config.http = http.map(Arc::new);
        announce(&bound);
        let grace = config.shutdown_grace;
        coordinator::run(config, listener, shutdown_signal(grace)).await?;
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
    /// listening address). A port of 0 (`HOST:0`) stands for the port
    /// bound, so `--listen 0.0.0.0:0 --advertise HOST:0` works.
    #[arg(long)]
    advertise: Option<String>,
    #[command(flatten)]
    plugins: PluginsArg,
    /// How often to heartbeat when the coordinator does not say (an older
    /// coordinator); the coordinator's --heartbeat-interval-ms wins.
    #[arg(long, default_value_t = 2000)]
    heartbeat_interval_ms: u64,
    /// Once told to stop (SIGTERM, Ctrl-C), wait this long for open
    /// streams, connections and in-flight work, then stop anyway.
    #[arg(long, default_value_t = crate::shutdown::DEFAULT_GRACE.as_millis() as u64)]
    shutdown_grace_ms: u64,
    /// Bytes of data to hold in memory before spilling to local disk, e.g.
    /// 256MiB or 2G (default: a quarter of the machine's memory); it covers
    /// this worker and the executor that runs its app code, together.
    #[arg(long, value_parser = worker::spill::parse_byte_size)]
    memory_limit: Option<u64>,
    /// Folder for spilled data; the worker works in a folder of its own
    /// inside it and removes that on exit (default: the system's temporary
    /// folder). Given, it also keeps finished map output in `mr-held/`
    /// there, and a worker started again on the same folder after this one
    /// was killed adopts it (one live worker per folder: it is locked).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// File holding the worker token (default: $MR_WORKER_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Require client certificates signed by --tls-ca on this worker's
    /// service (mutual TLS between workers).
    #[arg(long)]
    tls_client_auth: bool,
    /// Allow listening beyond loopback without a worker token.
    #[arg(long)]
    insecure: bool,
    /// Run app code inside the worker process instead of in a supervised
    /// executor process (then an app crash takes the worker and its map
    /// output down, and the coordinator cannot tell a crash from a lost
    /// worker).
    #[arg(long)]
    in_process: bool,
    #[command(flatten)]
    connections: ConnArgs,
    /// Under a coordinator that ignores worker addresses (the course's),
    /// serve map output at 127.0.0.1:(this + worker id) too, and dial peers
    /// there; moved only by tests.
    #[arg(long, default_value_t = worker::LEGACY_PORT_BASE, hide = true)]
    legacy_port_base: u32,
}

impl WorkerCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let token = Token::load(self.token_file.as_deref(), "MR_WORKER_TOKEN")?;
        let auth = Auth {
            client: None,
            worker: token.clone(),
        };
        if token.is_none() && !self.listen.ip().is_loopback() && !self.insecure {
            return Err(SecurityError::Unprotected(self.listen).into());
        }
        let tls = self.tls.load_with(self.tls_client_auth)?;
        worker::spill::tune_allocator();
        let registry = load_registry(&self.plugins)?;
        let mut config = WorkerConfig::new(self.coordinator, registry);
        config.transport = Transport::new(tls.clone(), token.as_ref());
        config.tls = tls;
        config.auth = auth;
        config.advertise = self.advertise;
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms.max(1));
        config.connections = self.connections.limits();
        config.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        config.legacy_port_base = self.legacy_port_base;
        if let Some(limit) = self.memory_limit {
            config.memory_limit = limit;
        }
        if let Some(dir) = self.work_dir {
            config.work_dir = dir;
            config.keep_map_output = true;
        }
        if !self.in_process {
            let program = std::env::current_exe().context("cannot find this program's path")?;
            config.executor = Some(program);
        }
        let listener = bind(self.listen).await?;
        announce(&[("", listener.local_addr()?)]);
        let grace = config.shutdown_grace;
        worker::run(config, listener, shutdown_signal(grace)).await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Binds `addr`; the error names it.
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Prints `PREFIXlistening on ADDR` for each bound socket on standard
/// output (the format in the module docs). A closed standard output is
/// logged, not fatal: the server runs on.
fn announce(bound: &[(&str, SocketAddr)]) {
    let mut out = std::io::stdout().lock();
    let written = bound
        .iter()
        .try_for_each(|(prefix, addr)| writeln!(out, "{prefix}listening on {addr}"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        tracing::warn!("cannot print the listening addresses on standard output: {e}");
    }
}

/// Parses a duration: a whole number with a unit, `ms`, `s`, `m`, `h` or
/// `d` (`500ms`, `90s`, `30m`, `24h`, `7d`).
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m, h or d"
            ))
        }
    };
    n.checked_mul(scale)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_known_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
