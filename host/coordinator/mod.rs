//! The coordinator: a thin tonic service ([`service`]) around the scheduler
//! core, with the state it shares ([`state`]), the wire conversions
//! ([`convert`]), a driver that ticks the core and carries out its events
//! ([`driver`]), the output folders of its jobs with their commits
//! ([`outputs`]), the durable job store ([`store`]) it is rebuilt from at
//! start ([`restore`]), and the web UI, JSON API and `/metrics` on
//! `--http` ([`http`], [`metrics`]).

pub mod admission;
pub mod convert;
pub mod driver;
pub mod http;
pub mod input_sizes;
pub mod inputs;
pub mod job_inputs;
pub mod metrics;
pub mod object_inputs;
pub mod object_outputs;
pub mod outputs;
pub mod request_limit;
pub mod restore;
pub mod service;
pub mod sessions;
pub mod state;
pub mod store;
pub mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::core::{Scheduler, SchedulerConfig};
use crate::net::guard::{guard, ConnLimits};
use crate::net::Listener;
use crate::plugin::Registry;
use crate::proto::coordinator::coordinator_server::CoordinatorServer;
use crate::security::{Auth, Confinement, SecurityError, TlsFiles, Transport};
use service::CoordinatorService;
use state::Shared;
use store::JobStore;

/// Limits on what one request or the queue may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request message, in bytes.
    pub max_request_bytes: usize,
    /// Most input files in one job.
    pub max_files: usize,
    /// Largest `n_reduce`.
    pub max_n_reduce: u32,
    /// Largest app argument block, in bytes.
    pub max_args_bytes: usize,
    /// Most jobs queued or running at once.
    pub max_queued_jobs: usize,
    /// Most `WatchJob` streams open at once.
    pub max_watch_streams: usize,
    /// Most `WatchJob` streams open on one connection.
    pub max_watch_streams_per_connection: usize,
    /// Requests a second the HTTP side (`--http`) serves to one client
    /// address, in bursts of twice that; 0: unpaced.
    pub http_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_files: 100_000,
            max_n_reduce: 10_000,
            max_args_bytes: 1 << 20,
            max_queued_jobs: 10_000,
            max_watch_streams: 10_000,
            max_watch_streams_per_connection: 1_000,
            http_rate: 50,
        }
    }
}

/// Why the coordinator could not run.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// A security setting is unusable.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// The durable job store cannot be opened or read.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The server failed.
    #[error("coordinator service failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// How a coordinator is set up.
#[derive(Clone)]
pub struct CoordinatorConfig {
    /// The apps jobs may name.
    pub registry: Arc<Registry>,
    /// The folders `registry` came from, rescanned by `mr apps reload` and
    /// SIGHUP.
    pub plugin_dirs: Vec<PathBuf>,
    /// Rescan the plugin folders on SIGHUP (the `mr coordinator` binary
    /// does; an embedded coordinator does not).
    pub reload_on_sighup: bool,
    /// Where to serve the web UI, its JSON API and `/metrics`, if anywhere
    /// (guarded by `auth`'s client token, HTTPS with `tls`'s identity): a bound
    /// listener (so a caller that asked for port 0 knows the port before
    /// the coordinator runs), shared so that the config stays `Clone`.
    pub http: Option<Arc<std::net::TcpListener>>,
    /// Role tokens checked on every RPC.
    pub auth: Auth,
    /// TLS for the coordinator's service, if any.
    pub tls: Option<TlsFiles>,
    /// How the coordinator dials workers (to have them drop job data).
    pub transport: Transport,
    /// Where jobs may read and write.
    pub confinement: Confinement,
    /// Size and count limits.
    pub limits: Limits,
    /// The core's tunables (worker timeout, attempt limit).
    pub scheduler: SchedulerConfig,
    /// The heartbeat interval workers are told to use.
    pub heartbeat_interval: Duration,
    /// Where the durable job store lives (`None`: jobs live in memory and
    /// do not survive a restart, as in `mr run`).
    pub state_dir: Option<PathBuf>,
    /// Limits on the connections the gRPC service accepts.
    pub connections: ConnLimits,
    /// How long a stopping coordinator waits for open streams and
    /// connections (a client watching a job, a worker that stopped
    /// answering) before it stops anyway.
    pub shutdown_grace: Duration,
}

impl CoordinatorConfig {
    /// Defaults with `registry`'s apps.
    pub fn new(registry: Arc<Registry>) -> Self {
        CoordinatorConfig {
            registry,
            plugin_dirs: Vec::new(),
            reload_on_sighup: false,
            http: None,
            auth: Auth::open(),
            tls: None,
            transport: Transport::plain(),
            confinement: Confinement::default(),
            limits: Limits::default(),
            scheduler: SchedulerConfig::default(),
            heartbeat_interval: Duration::from_millis(2000),
            state_dir: None,
            connections: ConnLimits::default(),
            shutdown_grace: crate::shutdown::DEFAULT_GRACE,
        }
    }
}

/// Serves the coordinator on `listener` (a `TcpListener`, or any
/// [`Listener`]) until `shutdown` completes.
pub async fn run(
    config: CoordinatorConfig,
    listener: impl Listener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    config.auth.check_distinct()?;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let stored = match &config.state_dir {
        Some(dir) => {
            let dir = dir.clone();
            let opened = tokio::task::spawn_blocking(move || {
                let store = store::RedbStore::open(&dir)?;
                let snapshot = store.load()?;
                Ok::<_, store::StoreError>((store, snapshot))
            })
            .await
            .map_err(store::StoreError::OpenCrashed)??;
            Some(opened)
        }
        None => None,
    };
    let (journal, snapshot) = match stored {
        Some((store, snapshot)) => {
            let state_id = snapshot.state_id;
            tracing::info!(path = %store.path().display(), "job store opened");
            (
                Some((store::Journal::start(Arc::new(store)), state_id)),
                Some(snapshot),
            )
        }
        None => (None, None),
    };
    let shared = Arc::new(Shared::new(
        Scheduler::new(config.scheduler.clone()),
        config.registry.clone(),
        config.plugin_dirs.clone(),
        events_tx,
        journal,
        watch::JobWatchers::new(
            config.limits.max_watch_streams,
            config.limits.max_watch_streams_per_connection,
        ),
    ));
    if let Some(snapshot) = snapshot {
        let confinement = Arc::new(config.confinement.clone());
        let found = restore::restore(&shared, snapshot, &confinement);
        tracing::info!(
            unfinished = found.unfinished,
            ended = found.ended,
            "jobs restored from the job store"
        );
    }
    if let Some(http) = &config.http {
        let protection =
            http::HttpConfig::new(&config.auth, config.tls.as_ref(), config.limits.http_rate)?;
        let listener = http.try_clone().and_then(|l| {
            l.set_nonblocking(true)?;
            TcpListener::from_std(l)
        });
        match listener {
            Ok(l) => {
                if let Ok(a) = l.local_addr() {
                    let scheme = if protection.tls.is_some() {
                        "https"
                    } else {
                        "http"
                    };
                    tracing::info!(addr = %a, scheme, "web UI and /metrics listening");
                }
                tokio::spawn(http::serve(l, shared.clone(), protection));
            }
            Err(e) => tracing::error!("cannot serve the web UI: {e}"),
        }
    }
    let timer = tokio::spawn(driver::run_timer(shared.clone()));
    if config.reload_on_sighup {
        tokio::spawn(reload_on_sighup(shared.clone()));
    }
    let events = tokio::spawn(driver::run_events(events_rx, config.transport.clone()));
    let service = CoordinatorService::new(shared.clone(), &config);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            apps = ?config.registry.names(),
            max_connections = config.connections.max_connections,
            "coordinator listening"
        );
    }
    let stop_shared = shared.clone();
    let mut builder = config
        .connections
        .apply(tonic::transport::Server::builder().tcp_nodelay(true));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server()?)?;
    }
    let mut stopping = shared.stopping.subscribe();
    let serve = builder
        .add_service(request_limit::NameTheLimit::new(
            CoordinatorServer::new(service)
                .max_decoding_message_size(config.limits.max_request_bytes),
            config.limits.max_request_bytes,
        ))
        .serve_with_incoming_shutdown(guard(listener.incoming(), config.connections), async move {
            shutdown.await;
            let _ = stop_shared.stopping.send(true);
        });
    // Graceful: streams end with "coordinator shutting down" once stopping,
    // but a peer that never answers (stopped, cut off) would hold its
    // connection open for ever; the grace bounds that wait.
    let grace = config.shutdown_grace;
    let stop_requested = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let result =
        crate::shutdown::within_grace("coordinator connections", grace, stop_requested, serve)
            .await
            .unwrap_or(Ok(()));
    let _ = shared.stopping.send(true);
    let _ = crate::shutdown::bounded("coordinator timer", grace, timer).await;
    events.abort();
    if let Some(journal) = &shared.journal {
        let flushed = crate::shutdown::bounded("job store writes", grace, journal.flush()).await;
        if let Some(Err(e)) = flushed {
            tracing::warn!("job store: last records not written: {e}");
        }
    }
    tracing::info!("coordinator stopped");
    Ok(result?)
}

/// Rescans the plugin folders at every SIGHUP.
#[cfg(unix)]
async fn reload_on_sighup(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; use `mr apps reload` to rescan plugins");
        return;
    };
    while hangups.recv().await.is_some() {
        if let Err(e) = shared.reload_registry() {
            tracing::error!("plugin reload failed, keeping the current apps: {e}");
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_shared: Arc<Shared>) {}
