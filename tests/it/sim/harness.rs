//! [`SimCluster`]: the unchanged coordinator and workers as turmoil hosts on
//! a simulated network, with simulated time, and the knobs a fault scenario
//! needs: crash a host, hold/release or partition a link, add a worker late.
//!
//! Each host runs on its own single-threaded tokio runtime with a paused
//! clock; `turmoil` advances every host by one tick per step and delivers
//! messages after a fixed latency, all from one seed. Servers accept from a
//! [`SimListener`] and clients dial through a [`Dialer`] over
//! `turmoil::net`, the only two injection points the host code has.
//!
//! App code (the `wc` app, linked in statically) and file I/O still run on
//! tokio's blocking threads. Tokio does not advance a paused clock while
//! blocking work is in flight, so that work takes no simulated time and
//! cannot race a timer; what stays nondeterministic is only the order in
//! which two blocking jobs of the same tick finish, and the real files under
//! a temporary folder that stands in for a shared filesystem.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use mapreduce::client::{Client, JobView, WorkerView};
use mapreduce::coordinator::{self, CoordinatorConfig};
use mapreduce::net::{Dialer, Listener};
use mapreduce::output::OutputRecords;
use mapreduce::plugin::{LoadedApp, Registry, StaticApp};
use mapreduce::security::Transport;
use mapreduce::worker::{self, WorkerConfig};
use mr_app_wc::WordCount;
use plugin_api::abi::AppCallError;
use plugin_api::{Records, Values};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// The coordinator's host name.
pub const COORDINATOR: &str = "coordinator";
/// The port every host serves on.
const PORT: u16 = 7000;
/// One way, every message.
pub const LATENCY: Duration = Duration::from_millis(5);
/// The coordinator declares a worker dead after this long without a sign.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(3);

/// Accepts connections on a simulated host.
struct SimListener(turmoil::net::TcpListener);

/// One simulated connection, as a server sees it.
struct SimConn(turmoil::net::TcpStream);

impl Connected for SimConn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Listener for SimListener {
    type Conn = SimConn;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn incoming(self) -> impl Stream<Item = io::Result<SimConn>> + Send + 'static {
        futures::stream::unfold(self.0, |listener| async move {
            let conn = listener.accept().await.map(|(s, _)| SimConn(s));
            Some((conn, listener))
        })
    }
}

async fn bind() -> io::Result<SimListener> {
    Ok(SimListener(
        turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?,
    ))
}

/// Plain connections over the simulated network.
fn transport() -> Transport {
    Transport::plain().with_dialer(Dialer::new(|host: String, port| {
        turmoil::net::TcpStream::connect((host, port))
    }))
}

/// Which host ran which map, in order.
pub type MapLog = Arc<Mutex<Vec<(String, String)>>>;

/// The `wc` app, noting in a [`MapLog`] each map its host runs.
struct Logged {
    host: String,
    log: MapLog,
    app: StaticApp<WordCount>,
}

impl LoadedApp for Logged {
    fn name(&self) -> &str {
        self.app.name()
    }
    fn version(&self) -> &str {
        self.app.version()
    }
    fn description(&self) -> &str {
        self.app.description()
    }
    fn input_format(&self, args: &[u8]) -> plugin_api::InputFormat {
        self.app.input_format(args)
    }
    fn map(
        &self,
        path: &str,
        offset: u64,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), AppCallError> {
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy());
        let entry = (self.host.clone(), name.unwrap_or_default().into_owned());
        self.log.lock().unwrap().push(entry);
        self.app.map(path, offset, contents, args, emit)
    }
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        self.app.reduce(key, values, args)
    }
    fn has_combiner(&self) -> bool {
        self.app.has_combiner()
    }
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        self.app.combine(key, values, args)
    }
    fn has_partitioner(&self) -> bool {
        self.app.has_partitioner()
    }
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, AppCallError> {
        self.app.partition(key, n_reduce, args)
    }
    fn format(
        &self,
        records: &mut dyn Records,
        out: &mut dyn io::Write,
    ) -> Result<(), AppCallError> {
        self.app.format(records, out)
    }
}

fn registry(app: Arc<dyn LoadedApp>) -> Arc<Registry> {
    let mut registry = Registry::new();
    registry.insert_static(app).expect("one app");
    Arc::new(registry)
}

/// What the client host saw at its latest poll.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// The job's status.
    pub job: Option<JobView>,
    /// Every worker the coordinator knows, dead ones included.
    pub workers: Vec<WorkerView>,
}

/// A simulated cluster running one word-count job.
pub struct SimCluster {
    /// The simulation: its fault knobs (`crash`, `hold`, `release`,
    /// `partition`, `repair`) are used directly.
    pub sim: turmoil::Sim<'static>,
    dir: tempfile::TempDir,
    inputs: Vec<(String, Vec<u8>)>,
    log: MapLog,
    observed: Arc<Mutex<Observed>>,
    n_reduce: u32,
}

impl SimCluster {
    /// A coordinator and `n_files` word-count inputs; `seed` drives the
    /// simulation's randomness.
    pub fn new(seed: u64, n_files: usize) -> Self {
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(3600))
            .tick_duration(Duration::from_millis(1))
            .min_message_latency(LATENCY)
            .max_message_latency(LATENCY)
            .rng_seed(seed)
            .build();
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::create_dir(dir.path().join("in")).expect("input folder");
        let inputs: Vec<(String, Vec<u8>)> = (0..n_files)
            .map(|i| {
                let text = (0..200)
                    .map(|w| format!("w{} ", (w * (i + 3)) % 37))
                    .collect::<String>();
                (format!("f{i:02}.txt"), text.into_bytes())
            })
            .collect();
        for (name, bytes) in &inputs {
            std::fs::write(dir.path().join("in").join(name), bytes).expect("input file");
        }
        let mut config = CoordinatorConfig::new(registry(Arc::new(StaticApp(WordCount))));
        config.scheduler.worker_timeout = WORKER_TIMEOUT;
        // The scenarios count attempts of a worker's loss: an idle survivor
        // would back up the lost worker's task before the timeout (backup
        // tasks: tests/it/stragglers.rs and the core's tests).
        config.scheduler.speculation = false;
        config.heartbeat_interval = Duration::from_millis(500);
        config.transport = transport();
        sim.host(COORDINATOR, move || {
            let config = config.clone();
            async move {
                coordinator::run(config, bind().await?, std::future::pending()).await?;
                Ok(())
            }
        });
        SimCluster {
            sim,
            dir,
            inputs,
            log: MapLog::default(),
            observed: Arc::default(),
            n_reduce: 0,
        }
    }

    /// Starts a worker host called `name` (it restarts with the same
    /// configuration if bounced).
    pub fn add_worker(&mut self, name: &str) {
        let app = Logged {
            host: name.to_string(),
            log: self.log.clone(),
            app: StaticApp(WordCount),
        };
        let mut config = WorkerConfig::new(
            format!("http://{COORDINATOR}:{PORT}"),
            registry(Arc::new(app)),
        );
        config.advertise = Some(format!("{name}:{PORT}"));
        config.heartbeat_interval = Duration::from_millis(500);
        config.long_poll = Duration::from_secs(2);
        config.fetch_connect_timeout = Duration::from_secs(1);
        config.fetch_idle_timeout = Duration::from_secs(2);
        config.work_dir = self.dir.path().join(format!("work-{name}"));
        config.transport = transport();
        self.sim.host(name, move || {
            let config = config.clone();
            async move {
                worker::run(config, bind().await?, std::future::pending()).await?;
                Ok(())
            }
        });
    }

    /// Starts a client host that submits the job with `n_reduce` reduces and
    /// then polls the job and the workers every 50 ms, forever.
    pub fn submit(&mut self, n_reduce: u32) {
        self.n_reduce = n_reduce;
        let submission =
            crate::common::submission("wc", &self.input_paths(), &self.output_dir(), n_reduce);
        let observed = self.observed.clone();
        self.sim.client("client", async move {
            let url = format!("{COORDINATOR}:{PORT}");
            let client = Client::connect_with(&url, &transport()).await?;
            let job = client.submit(submission).await?;
            loop {
                let job = client.poll(job).await?;
                let workers = client.workers().await?;
                *observed.lock().unwrap() = Observed {
                    job: Some(job),
                    workers,
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }

    fn input_paths(&self) -> Vec<String> {
        let dir = self.dir.path().join("in");
        let path = |name: &String| dir.join(name).to_string_lossy().into_owned();
        self.inputs.iter().map(|(name, _)| path(name)).collect()
    }

    fn output_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Steps the simulation until `done` holds, panicking (with `what`) if
    /// `limit` of simulated time passes first.
    pub fn step_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let until = self.sim.elapsed() + limit;
        while !done(self) {
            assert!(
                self.sim.elapsed() < until,
                "{what}: not within {limit:?} (at {:?}: {:?})",
                self.sim.elapsed(),
                self.observed()
            );
            self.sim.step().expect("simulation step");
        }
    }

    /// Steps the simulation for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.sim.elapsed() + d;
        while self.sim.elapsed() < until {
            self.sim.step().expect("simulation step");
        }
    }

    /// Steps until the job has ended, for at most `limit`.
    pub fn finish(&mut self, limit: Duration) -> JobView {
        self.step_until(limit, "the job ends", |c| c.job().is_some_and(|j| j.done));
        self.job().expect("a status")
    }

    /// The latest observations.
    pub fn observed(&self) -> Observed {
        self.observed.lock().unwrap().clone()
    }

    /// The job as last polled.
    pub fn job(&self) -> Option<JobView> {
        self.observed().job
    }

    /// The inputs `host` mapped, in order (repeats included).
    pub fn maps_by(&self, host: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(h, _)| h == host)
            .map(|(_, file)| file.clone())
            .collect()
    }

    /// Every input's name, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|(name, _)| name.clone()).collect()
    }

    /// The entries for the worker advertising `host`, oldest first.
    pub fn worker_entries(&self, host: &str) -> Vec<WorkerView> {
        let address = format!("{host}:{PORT}");
        let mut entries: Vec<_> = self
            .observed()
            .workers
            .into_iter()
            .filter(|w| w.address == address)
            .collect();
        entries.sort_by_key(|w| w.worker_id);
        entries
    }

    /// Asserts the job's output, formatted by the app, is what a sequential
    /// run of the app over the same inputs gives.
    pub fn assert_output_matches_sequential(&self) {
        let inputs: Vec<(&str, &[u8])> = self
            .inputs
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect();
        let expected =
            plugin_api::testing::run_job::<WordCount>(&inputs, &[]).expect("sequential run");
        let mut records = OutputRecords::new(&self.output_dir(), self.n_reduce);
        let mut out = Vec::new();
        StaticApp(WordCount)
            .format(&mut records, &mut out)
            .expect("format");
        assert!(records.take_error().is_none(), "unreadable output");
        assert_eq!(String::from_utf8(out).expect("text"), expected);
        let files: BTreeMap<_, _> = std::fs::read_dir(self.output_dir())
            .expect("output folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .map(|n| (n, ()))
            .collect();
        let wanted: BTreeMap<_, _> = (0..self.n_reduce)
            .map(|r| (format!("mr-out-{r}"), ()))
            .chain([("_SUCCESS".to_string(), ())])
            .collect();
        assert_eq!(
            files, wanted,
            "only the final output files and the manifest"
        );
    }
}
