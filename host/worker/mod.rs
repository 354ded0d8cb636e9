//! The worker: the data plane.
//!
//! It registers with the coordinator (sending the address it serves on),
//! heartbeats, long-polls for tasks and runs them ([`execute`]): a map runs
//! the app over one input file and keeps one sorted run per partition in
//! memory, or spilled to local disk beyond the memory limit ([`store`],
//! [`spill`]); a reduce fetches its partition from every map worker
//! ([`fetch`], or its own store), merges them ([`merge`]), runs the app's
//! reduce and writes `mr-out-<r>` atomically ([`reduce_task`]). Its gRPC
//! service ([`service`]) serves the held runs to other workers.
//!
//! App code runs in a supervised executor process ([`child`]) when
//! [`WorkerConfig::executor`] is set (`mr worker`), else on blocking
//! threads; every app error or panic becomes a task failure, and an
//! executor that dies becomes a failure carrying how it died (evidence the
//! coordinator holds against the task); the worker itself keeps going and
//! keeps its map output, in its `--work-dir` for a successor when asked
//! ([`held`]). When the coordinator is
//! unreachable it retries with backoff; when told it was declared dead it
//! drops its map output and registers again. Under the course's
//! coordinator, which ignores worker addresses, it also serves at the
//! course's port rule ([`legacy_port`]).

pub mod child;
pub mod convert;
pub mod execute;
pub mod fetch;
pub mod held;
pub mod input_error;
pub mod legacy_port;
pub mod map_task;
pub mod merge;
mod node;
mod object_input;
mod object_output;
pub mod plugins;
pub mod reduce_task;
pub mod service;
pub mod spill;
pub mod store;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use node::run;

use crate::plugin::Registry;

/// The course's convention: a worker that registers without an address
/// serves its map output at `127.0.0.1:(LEGACY_PORT_BASE + its id)`.
pub const LEGACY_PORT_BASE: u32 = 10163;

/// How a worker is set up.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The coordinator's URL, e.g. `http://127.0.0.1:10162`.
    pub coordinator: String,
    /// The `host:port` other workers use to reach this one; `None` uses the
    /// listening address (which must then not be a wildcard like `0.0.0.0`).
    pub advertise: Option<String>,
    /// How often to heartbeat when the coordinator does not say (an older
    /// coordinator); a coordinator's `heartbeat_interval_ms` wins.
    pub heartbeat_interval: Duration,
    /// How long a `GetTask` may wait at the coordinator for work.
    pub long_poll: Duration,
    /// The apps this worker can run.
    pub registry: Arc<Registry>,
    /// Connecting to a peer gives up after this long.
    pub fetch_connect_timeout: Duration,
    /// A fetch gives up when its peer sends nothing for this long.
    pub fetch_idle_timeout: Duration,
    /// Bytes of data the worker may hold in memory before spilling to disk
    /// (see [`spill::MemoryLimits`]); default a quarter of the machine's.
    pub memory_limit: u64,
    /// The folder in which the worker creates its scratch folder (removed
    /// when the worker stops); default the system's temporary folder.
    pub work_dir: PathBuf,
    /// How to dial the coordinator and other workers (TLS, our token).
    pub transport: crate::security::Transport,
    /// TLS for this worker's own service, if any.
    pub tls: Option<crate::security::TlsFiles>,
    /// Who may read this worker's map output (the worker token).
    pub auth: crate::security::Auth,
    /// Keep finished map output in files under `work_dir` (locked for this
    /// worker) and adopt what a killed predecessor left there, reporting
    /// it at registration (`mr worker --work-dir` sets it).
    pub keep_map_output: bool,
    /// Run app code in executor processes started as `PROGRAM executor`
    /// (normally this binary: `mr worker` sets it), so that an app crash
    /// costs one attempt and is reported with its cause; `None` runs app
    /// code in this process (the embedded cluster, tests).
    pub executor: Option<PathBuf>,
    /// Limits on the connections its map-output service accepts.
    pub connections: crate::net::guard::ConnLimits,
    /// A coordinator that ignores the address a worker registers with (the
    /// course's) sends reduces to `127.0.0.1:(legacy_port_base + id)`; the
    /// worker then serves there too, and dials peers listed without an
    /// address there. 10163, the course's convention; tests move it.
    pub legacy_port_base: u32,
    /// How long a stopping worker waits for its last report to the
    /// coordinator and for open connections before it stops anyway.
    pub shutdown_grace: Duration,
    /// A reduce output to object storage larger than this is uploaded in
    /// parts of this size (bounding the memory its upload takes), then
    /// published by a conditional server-side copy; a smaller one is one
    /// conditional PUT. Default 8 MiB (S3's parts are at least 5 MiB).
    pub object_part_size: usize,
}

/// The default [`WorkerConfig::object_part_size`].
pub const DEFAULT_OBJECT_PART_SIZE: usize = 8 << 20;

impl WorkerConfig {
    /// Defaults for talking to `coordinator` with `registry`'s apps.
    pub fn new(coordinator: impl Into<String>, registry: Arc<Registry>) -> Self {
        WorkerConfig {
            coordinator: coordinator.into(),
            advertise: None,
            heartbeat_interval: Duration::from_millis(2000),
            long_poll: Duration::from_secs(10),
            registry,
            fetch_connect_timeout: Duration::from_secs(5),
            fetch_idle_timeout: Duration::from_secs(30),
            memory_limit: spill::default_memory_limit(),
            work_dir: std::env::temp_dir(),
            transport: crate::security::Transport::plain(),
            tls: None,
            auth: crate::security::Auth::open(),
            executor: None,
            keep_map_output: false,
            connections: crate::net::guard::ConnLimits::default(),
            shutdown_grace: crate::shutdown::DEFAULT_GRACE,
            object_part_size: DEFAULT_OBJECT_PART_SIZE,
            legacy_port_base: LEGACY_PORT_BASE,
        }
    }
}

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// It listens on a wildcard address and was given nothing to advertise.
    #[error("listening on {0}, which other workers cannot dial: pass --advertise HOST:PORT")]
    NeedAdvertise(std::net::SocketAddr),
    /// The coordinator URL is malformed.
    #[error("bad coordinator URL {url:?}: {source}")]
    BadCoordinatorUrl {
        /// The URL.
        url: String,
        /// Why.
        source: crate::security::SecurityError,
    },
    /// A TLS setting is unusable.
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    /// The listener failed.
    #[error("worker service failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// An I/O error on the listener.
    #[error("worker listener: {0}")]
    Io(#[from] std::io::Error),
}
