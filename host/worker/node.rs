//! The worker's life: serve, register, heartbeat, take tasks, report, and
//! start over when the coordinator says this worker was declared dead.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::security::AuthChannel;
use tokio::sync::watch;
use tonic::{Code, Status};
use tracing::Instrument;

use super::child::Supervisor;
use super::convert::{self, Reporter, TaskSpec};
use super::execute::{Executor, TaskFailure};
use super::fetch::Fetcher;
use super::held::HeldDir;
use super::legacy_port::{self, spawn_server, LegacyPort};
use super::plugins::PluginSource;
use super::service::{ClientTokenDigest, WorkerService};
use super::store::{MapOutputStore, StoreConfig};
use super::{WorkerConfig, WorkerError};
use crate::core::{Attempt, JobId, TaskCounters, WorkerId};
use crate::net::Listener;
use crate::proto::coordinator::coordinator_client::CoordinatorClient;
use crate::proto::coordinator::{GetTaskRequest, HeartbeatRequest, HeldMapOutput, RegisterRequest};
use crate::proto::worker::worker_server::WorkerServer;

type Client = CoordinatorClient<AuthChannel>;

/// This worker's registration: its id, the coordinator instance that gave
/// it, the session secret every later RPC carries, and how often that
/// coordinator wants a heartbeat.
#[derive(Debug, Clone)]
struct Session {
    id: WorkerId,
    epoch: u64,
    secret: Vec<u8>,
    heartbeat: Duration,
    /// The coordinator ignores the address this worker registered with
    /// (the course's coordinator): peers dial it at the legacy port.
    legacy: bool,
}

impl Session {
    fn reporter(&self) -> Reporter {
        Reporter {
            worker: self.id,
            epoch: self.epoch,
            secret: self.secret.clone(),
        }
    }
}

/// The heartbeat interval to use: the coordinator's (`RegisterReply`), or
/// `default` when it sends none (0: an older coordinator).
fn heartbeat_interval(coordinator_ms: u32, default: Duration) -> Duration {
    match coordinator_ms {
        0 => default,
        ms => Duration::from_millis(u64::from(ms)),
    }
}

/// Why the task loop stopped.
enum Stop {
    Shutdown,
    Reregister,
}

/// Whether the coordinator no longer knows this worker as alive.
fn must_reregister(status: &Status) -> bool {
    matches!(status.code(), Code::NotFound | Code::FailedPrecondition)
}

/// Exponential backoff from 100 ms to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

/// `advertise` as given, but for a port of 0 (`HOST:0`), which names the
/// port the worker bound: a worker may listen on any free port and still
/// advertise the host name others reach it by.
fn with_bound_port(advertise: &str, port: u16) -> String {
    match advertise.strip_suffix(":0") {
        Some(host) if !host.is_empty() => format!("{host}:{port}"),
        _ => advertise.to_string(),
    }
}

/// Runs a worker on `listener` (a `TcpListener`, or any [`Listener`])
/// until `shutdown` completes.
pub async fn run(
    config: WorkerConfig,
    listener: impl Listener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let local = listener.local_addr()?;
    let advertise = match &config.advertise {
        Some(a) => with_bound_port(a, local.port()),
        None if local.ip().is_unspecified() => return Err(WorkerError::NeedAdvertise(local)),
        None => local.to_string(),
    };
    crate::security::check_advertised(&advertise, config.tls.is_some())?;
    let bad_url = |source| WorkerError::BadCoordinatorUrl {
        url: config.coordinator.clone(),
        source,
    };
    let client = CoordinatorClient::new(
        config
            .transport
            .lazy(&config.coordinator, Duration::from_secs(5))
            .map_err(bad_url)?,
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let held = match config.keep_map_output {
        true => match HeldDir::open(&config.work_dir) {
            Ok(Some(h)) => Some(Arc::new(h)),
            Ok(None) => {
                tracing::warn!(dir = %config.work_dir.display(), "another worker holds this work dir; map output stays in memory");
                None
            }
            Err(e) => {
                tracing::warn!(dir = %config.work_dir.display(), "cannot keep map output in the work dir: {e}");
                None
            }
        },
        false => None,
    };
    match crate::worker::spill::sweep(&config.work_dir) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(
            removed,
            dir = %config.work_dir.display(),
            "removed scratch folders left by workers that were killed"
        ),
        Err(e) => {
            tracing::debug!(dir = %config.work_dir.display(), "cannot sweep the work dir: {e}")
        }
    }
    let store = MapOutputStore::new(StoreConfig {
        memory_limit: config.memory_limit,
        work_dir: config.work_dir.clone(),
        held,
    });
    let adopted = store.adopt_held();
    if adopted > 0 {
        tracing::info!(
            adopted,
            "adopted map output a predecessor left in the work dir"
        );
    }
    let service = WorkerService::new(store.clone(), config.auth.clone());
    let client_token = service.client_token_digest();
    let service = WorkerServer::new(service)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(usize::MAX);
    let server = spawn_server(&config, service.clone(), listener, stop_rx.clone())?;
    tracing::info!(%local, %advertise, coordinator = %config.coordinator, "worker serving map output");

    let executor = Executor::new(
        PluginSource::new(config.registry.clone(), client.clone()),
        store.clone(),
        Fetcher::new(
            config.fetch_connect_timeout,
            config.fetch_idle_timeout,
            config.transport.clone(),
        ),
        config.executor.clone().map(Supervisor::new),
    )
    .with_object_part_size(config.object_part_size);
    let node = Node {
        client_token,
        config,
        client,
        executor,
        advertise,
        legacy_port: LegacyPort::new(service),
        stop: stop_rx,
    };
    node.lifecycle().await;
    node.legacy_port.stop();
    // A peer that never answers (a coordinator stopped or cut off) would
    // hold the server's graceful drain open for ever: bound it.
    let grace = node.config.shutdown_grace;
    let abort = server.abort_handle();
    match crate::shutdown::bounded("worker connections", grace, server).await {
        Some(Ok(result)) => result?,
        Some(Err(e)) => tracing::error!("worker service task failed: {e}"),
        None => abort.abort(),
    }
    tracing::info!("worker stopped");
    Ok(())
}

struct Node {
    /// The client token's SHA-256 from registration, for the service.
    client_token: ClientTokenDigest,
    config: WorkerConfig,
    client: Client,
    executor: Executor,
    advertise: String,
    /// The map-output service at the legacy port, while registered with a
    /// coordinator that ignores addresses.
    legacy_port: LegacyPort,
    stop: watch::Receiver<bool>,
}

impl Node {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
    }

    async fn lifecycle(&self) {
        // Map output is kept across a re-registration and offered to the
        // coordinator, which adopts what its jobs still need (after a
        // coordinator restart with a job store, say).
        loop {
            let Some(id) = self.register().await else {
                return;
            };
            let worker = id.id;
            if id.legacy {
                self.legacy_port
                    .serve(&self.config, worker, self.stop.clone())
                    .await;
            } else {
                self.legacy_port.stop();
            }
            let (dead_tx, dead_rx) = watch::channel(false);
            let heartbeat = tokio::spawn(heartbeat_loop(self.client.clone(), id.clone(), dead_tx));
            let stop = self.task_loop(&id, dead_rx).await;
            heartbeat.abort();
            match stop {
                Stop::Shutdown => return,
                Stop::Reregister => {
                    tracing::warn!(%worker, "coordinator no longer knows this worker (it restarted, or declared this worker dead); registering again and offering the map output held");
                }
            }
        }
    }

    /// Registers, retrying with backoff, offering the map output held
    /// (each tagged with the job state it was made for); keeps only what
    /// the coordinator adopted. `None` on shutdown.
    async fn register(&self) -> Option<Session> {
        let mut backoff = Backoff::new();
        let mut warned = false;
        let store = self.executor.store();
        loop {
            let mut client = self.client.clone();
            // Output made under any coordinator state: this one's (after
            // a restart with a job store) or a predecessor's left in the
            // work dir; the coordinator adopts only its own state's.
            let request = RegisterRequest {
                address: self.advertise.clone(),
                held: store
                    .held()
                    .into_iter()
                    .map(|(state_id, job, map_task, attempt)| HeldMapOutput {
                        job_id: job.0,
                        map_task,
                        attempt: attempt.0,
                        state_id,
                    })
                    .collect(),
            };
            tokio::select! {
                reply = client.register(request) => match reply {
                    Ok(r) => {
                        let r = r.into_inner();
                        let legacy = legacy_port::ignores_addresses(&r);
                        *self.client_token.write().unwrap_or_else(|p| p.into_inner()) = r.client_token_sha256;
                        let heartbeat = heartbeat_interval(r.heartbeat_interval_ms, self.config.heartbeat_interval);
                        let adopted: Vec<_> = r
                            .adopted
                            .iter()
                            .filter(|h| h.state_id == r.state_id)
                            .map(|h| (JobId(h.job_id), h.map_task, Attempt(h.attempt)))
                            .collect();
                        let dropped = store.keep_only(&adopted);
                        tracing::info!(worker = r.worker_id, heartbeat_ms = heartbeat.as_millis() as u64, adopted = adopted.len(), dropped, "registered with the coordinator");
                        store.set_state(r.state_id);
                        return Some(Session { id: WorkerId(r.worker_id), epoch: r.coordinator_epoch, secret: r.session_secret, heartbeat, legacy });
                    }
                    Err(status) => {
                        if !warned {
                            tracing::warn!(coordinator = %self.config.coordinator, "cannot register: {}; retrying", status.message());
                            warned = true;
                        }
                    }
                },
                _ = self.stopped() => return None,
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next()) => {}
                _ = self.stopped() => return None,
            }
        }
    }

    async fn task_loop(&self, id: &Session, mut dead: watch::Receiver<bool>) -> Stop {
        let mut backoff = Backoff::new();
        loop {
            if self.stopping() {
                return Stop::Shutdown;
            }
            if *dead.borrow() {
                return Stop::Reregister;
            }
            let mut client = self.client.clone();
            let request = GetTaskRequest {
                worker_id: id.id.0,
                coordinator_epoch: id.epoch,
                session_secret: id.secret.clone(),
                long_poll_ms: self.config.long_poll.as_millis() as u32,
                idle: true,
                reads_splits: true,
            };
            let started = tokio::time::Instant::now();
            let reply = tokio::select! {
                r = client.get_task(request) => r,
                _ = self.stopped() => return Stop::Shutdown,
                _ = dead.wait_for(|d| *d) => return Stop::Reregister,
            };
            let reply = match reply {
                Ok(r) => r.into_inner(),
                Err(s) if must_reregister(&s) => return Stop::Reregister,
                Err(s) => {
                    tracing::warn!("cannot get a task: {}", s.message());
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            backoff = Backoff::new();
            match convert::task_spec(reply, self.config.legacy_port_base) {
                Ok(Some(task)) => {
                    let span = tracing::info_span!(
                        "task",
                        job = %task.job(),
                        phase = %task.phase(),
                        task = task.index(),
                        attempt = task.attempt.map_or(0, |a| a.0)
                    );
                    if let Some(stop) = self.run_task(id, task).instrument(span).await {
                        return stop;
                    }
                }
                Ok(None) => {
                    // An older coordinator answers `wait` at once: pace it.
                    if started.elapsed() < Duration::from_millis(50) {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
                Err(e) => {
                    tracing::error!("ignoring malformed task assignment: {e}");
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }

    async fn run_task(&self, id: &Session, task: TaskSpec) -> Option<Stop> {
        tracing::debug!(app = %task.app, "running task");
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            r = self.executor.run(id.id, &task) => r,
            _ = self.stopped() => {
                let failure = TaskFailure { message: "worker shutting down".into(), retry: true, unreachable: None, crash: None };
                    let _ = self.report(id, &task, Err(failure)).await;
                return Some(Stop::Shutdown);
            }
        };
        match &outcome {
            Ok(_) => tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "task finished"
            ),
            Err(f) => tracing::warn!(retry = f.retry, "task failed: {}", f.message),
        }
        self.report(id, &task, outcome).await
    }

    /// Reports a task's outcome, retrying while the coordinator is
    /// unreachable.
    async fn report(
        &self,
        id: &Session,
        task: &TaskSpec,
        outcome: Result<TaskCounters, TaskFailure>,
    ) -> Option<Stop> {
        let mut backoff = Backoff::new();
        loop {
            let mut client = self.client.clone();
            let call = async {
                match &outcome {
                    Ok(c) => client
                        .finish_task(convert::finish_request(id.reporter(), task, c))
                        .await
                        .map(|_| ()),
                    Err(f) => client
                        .fail_task(convert::fail_request(id.reporter(), task, f))
                        .await
                        .map(|_| ()),
                }
            };
            let grace = self.config.shutdown_grace;
            let Some(result) =
                crate::shutdown::within_grace("the task report", grace, self.stopped(), call).await
            else {
                return Some(Stop::Shutdown);
            };
            match result {
                Ok(()) => return None,
                Err(s) if must_reregister(&s) => return Some(Stop::Reregister),
                Err(s) if s.code() == Code::InvalidArgument => {
                    tracing::error!("coordinator rejected the report: {}", s.message());
                    return None;
                }
                Err(s) => {
                    tracing::warn!(
                        "cannot report to the coordinator: {}; retrying",
                        s.message()
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next()) => {}
                        _ = self.stopped() => return Some(Stop::Shutdown),
                    }
                }
            }
        }
    }
}

async fn heartbeat_loop(mut client: Client, id: Session, dead: watch::Sender<bool>) {
    let mut ticker = tokio::time::interval(id.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        match client
            .heartbeat(HeartbeatRequest {
                worker_id: id.id.0,
                coordinator_epoch: id.epoch,
                session_secret: id.secret.clone(),
            })
            .await
        {
            Ok(_) => {
                if failing {
                    tracing::info!("coordinator reachable again");
                    failing = false;
                }
            }
            Err(s) if must_reregister(&s) => {
                let _ = dead.send(true);
                return;
            }
            Err(s) => {
                if !failing {
                    tracing::warn!("heartbeat failed: {}; will keep trying", s.message());
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advertised_port_of_zero_is_the_bound_port() {
        assert_eq!(
            with_bound_port("worker-a.example:0", 7012),
            "worker-a.example:7012"
        );
        assert_eq!(
            with_bound_port("https://w.example:0", 7012),
            "https://w.example:7012"
        );
        assert_eq!(with_bound_port("[::1]:0", 7012), "[::1]:7012");
        assert_eq!(with_bound_port("w.example:7000", 7012), "w.example:7000");
        assert_eq!(with_bound_port("w.example:10", 7012), "w.example:10");
        assert_eq!(with_bound_port(":0", 7012), ":0");
    }

    #[test]
    fn the_coordinators_heartbeat_interval_wins_unless_it_sends_none() {
        let default = Duration::from_secs(2);
        assert_eq!(heartbeat_interval(150, default), Duration::from_millis(150));
        assert_eq!(heartbeat_interval(0, default), default);
    }
}
