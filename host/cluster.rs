//! [`LocalCluster`]: a coordinator and workers on loopback inside this
//! process: the embedded default behind `mr run`, and a fixture for tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::coordinator::{self, CoordinatorConfig};
use crate::plugin::Registry;
use crate::worker::{self, WorkerConfig};

/// A running in-process cluster.
pub struct LocalCluster {
    url: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn stopped(stop: &watch::Sender<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl LocalCluster {
    /// Starts a coordinator and `workers` workers on `127.0.0.1`, all using
    /// `registry`'s apps.
    pub async fn start(registry: Arc<Registry>, workers: usize) -> std::io::Result<Self> {
        Self::start_with(CoordinatorConfig::new(registry.clone()), workers, |c| c).await
    }

    /// Like [`LocalCluster::start`], with the coordinator's configuration
    /// given and each worker's adjusted by `tune`.
    pub async fn start_with(
        config: CoordinatorConfig,
        workers: usize,
        tune: impl Fn(WorkerConfig) -> WorkerConfig,
    ) -> std::io::Result<Self> {
        let (stop, _) = watch::channel(false);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let registry = config.registry.clone();
        let mut tasks = Vec::new();
        let shutdown = stopped(&stop);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = coordinator::run(config, listener, shutdown).await {
                tracing::error!("embedded coordinator failed: {e}");
            }
        }));
        for _ in 0..workers {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let mut wc = WorkerConfig::new(url.clone(), registry.clone());
            wc.heartbeat_interval = Duration::from_millis(500);
            let wc = tune(wc);
            let shutdown = stopped(&stop);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = worker::run(wc, listener, shutdown).await {
                    tracing::error!("embedded worker failed: {e}");
                }
            }));
        }
        Ok(LocalCluster { url, stop, tasks })
    }

    /// The coordinator's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops everything and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
