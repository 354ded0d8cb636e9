//! The course's port rule on the worker side. The CS 162 course's
//! coordinator ignores the address a worker registers with and sends reduce
//! tasks to `127.0.0.1:(10163 + worker id)`; a worker registered with such
//! a coordinator ([`ignores_addresses`]) serves its map output there too
//! ([`LegacyPort`]), beside its usual listener. Also where the worker's
//! service is started on a listener ([`spawn_server`]), for both.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::sync::watch;

use super::service::WorkerService;
use super::{WorkerConfig, WorkerError};
use crate::core::WorkerId;
use crate::net::Listener;
use crate::proto::coordinator::RegisterReply;
use crate::proto::worker::worker_server::WorkerServer;

/// The worker's gRPC service, ready to serve.
pub type Service = WorkerServer<WorkerService>;

/// A running server of [`Service`].
pub type ServerTask = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

/// Whether a registration reply comes from a coordinator that ignores the
/// address a worker registers with (the course's): every coordinator that
/// takes addresses also sends its heartbeat interval (since the first
/// version) and an epoch; the course's sends neither.
pub fn ignores_addresses(reply: &RegisterReply) -> bool {
    reply.heartbeat_interval_ms == 0 && reply.coordinator_epoch == 0
}

/// Serves `service` on `listener` (with the worker's TLS and connection
/// limits) until `stop` turns true.
pub fn spawn_server(
    config: &WorkerConfig,
    service: Service,
    listener: impl Listener,
    mut stop: watch::Receiver<bool>,
) -> Result<ServerTask, WorkerError> {
    let mut builder = config
        .connections
        .apply(tonic::transport::Server::builder().tcp_nodelay(true));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server()?)?;
    }
    Ok(tokio::spawn(
        builder.add_service(service).serve_with_incoming_shutdown(
            crate::net::guard::guard(listener.incoming(), config.connections),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ),
    ))
}

/// The service at the legacy port of the worker id it was started for.
pub struct LegacyPort {
    service: Service,
    running: Mutex<Option<(WorkerId, ServerTask)>>,
}

impl LegacyPort {
    /// Nothing served yet.
    pub fn new(service: Service) -> Self {
        LegacyPort {
            service,
            running: Mutex::new(None),
        }
    }

    /// Serves at `127.0.0.1:(config.legacy_port_base + worker)` until
    /// `stop`, unless already serving there; a server started for an
    /// earlier id (an earlier registration) stops. A port that cannot be
    /// bound is logged: reduces then cannot fetch this worker's output.
    pub async fn serve(
        &self,
        config: &WorkerConfig,
        worker: WorkerId,
        stop: watch::Receiver<bool>,
    ) {
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            if running
                .as_ref()
                .is_some_and(|(id, task)| *id == worker && !task.is_finished())
            {
                return;
            }
            if let Some((_, task)) = running.take() {
                task.abort();
            }
        }
        let port = u64::from(config.legacy_port_base) + u64::from(worker.0);
        let Ok(port) = u16::try_from(port) else {
            tracing::error!(%worker, port, "the legacy port is out of range; reduces cannot fetch this worker's map output");
            return;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%worker, %addr, "the coordinator ignores worker addresses, and the legacy port cannot be bound: {e}; reduces cannot fetch this worker's map output");
                return;
            }
        };
        match spawn_server(config, self.service.clone(), listener, stop) {
            Ok(task) => {
                tracing::info!(%worker, %addr, "the coordinator ignores worker addresses (an older coordinator): also serving map output at the legacy port");
                *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some((worker, task));
            }
            Err(e) => tracing::error!(%addr, "cannot serve at the legacy port: {e}"),
        }
    }

    /// Stops serving at the legacy port, if it does.
    pub fn stop(&self) {
        if let Some((_, task)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reply_without_heartbeat_interval_and_epoch_ignores_addresses() {
        let course = RegisterReply {
            worker_id: 3,
            ..Default::default()
        };
        assert!(ignores_addresses(&course));
        let ours = RegisterReply {
            worker_id: 3,
            heartbeat_interval_ms: 500,
            coordinator_epoch: 7,
            ..Default::default()
        };
        assert!(!ignores_addresses(&ours));
        // The first version that took addresses sent an interval, no epoch.
        let first = RegisterReply {
            heartbeat_interval_ms: 500,
            ..Default::default()
        };
        assert!(!ignores_addresses(&first));
    }
}
