//! The coordinator's driver: ticks the core at its deadlines (declaring
//! silent workers dead) and carries out the core's events (telling workers
//! to drop an ended job's map output).

use std::sync::Arc;
use std::time::Duration;

use crate::security::{SecurityError, Transport};
use tokio::sync::mpsc;

use super::convert;
use super::state::Shared;
use crate::core::Event;
use crate::proto::worker::worker_client::WorkerClient;
use crate::proto::worker::RemoveJobRequest;

/// Ticks the core at its deadlines until the coordinator stops.
pub async fn run_timer(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        let deadline = shared.read(|core, _| core.next_deadline());
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => shared.update(|core, now| core.tick(now)),
            _ = shared.driver_wake.notified() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Carries out the core's events until the channel closes.
pub async fn run_events(mut events: mpsc::UnboundedReceiver<Event>, transport: Transport) {
    while let Some(event) = events.recv().await {
        match event {
            Event::WorkerDied(w) => {
                tracing::warn!(
                    worker = w.0,
                    "worker declared dead (no heartbeat in time); its work will be redone"
                );
            }
            Event::WorkerReturned(w) => {
                tracing::info!(
                    worker = w.0,
                    "course worker declared dead is back; taken back as a fresh worker"
                );
            }
            // Shared::update already dropped what the coordinator kept.
            Event::JobForgotten(_) => {}
            Event::JobEnded { job, workers } => {
                for (worker, address) in workers {
                    let address = convert::worker_address(worker, address.as_deref());
                    tokio::spawn(remove_job(job.0, worker.0, address, transport.clone()));
                }
            }
        }
    }
}

/// Why a worker could not be told to drop a finished job's map output.
#[derive(Debug, thiserror::Error)]
enum RemoveJobError {
    /// The worker's address cannot be dialled.
    #[error(transparent)]
    Address(#[from] SecurityError),
    /// No connection to the worker.
    #[error(transparent)]
    Connect(#[from] tonic::transport::Error),
    /// The worker refused the request.
    #[error("{}", .0.message())]
    Refused(Box<tonic::Status>),
}

async fn remove_job(job: u32, worker: u32, address: String, transport: Transport) {
    let result = async {
        let endpoint = transport
            .endpoint(&address, Duration::from_secs(5))?
            .timeout(Duration::from_secs(10));
        let channel = transport.connect(&endpoint).await?;
        WorkerClient::new(transport.wrap(channel))
            .remove_job(RemoveJobRequest { job_id: job })
            .await
            .map_err(|s| RemoveJobError::Refused(Box::new(s)))
    }
    .await;
    match result {
        Ok(_) => tracing::debug!(job, worker, "worker dropped the job's map output"),
        Err(e) => tracing::debug!(job, worker, "could not tell worker to drop job data: {e}"),
    }
}
