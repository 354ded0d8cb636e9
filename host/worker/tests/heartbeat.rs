//! The worker heartbeats as often as the coordinator says at registration,
//! not at its own default.

use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::cluster::LocalCluster;
use crate::coordinator::CoordinatorConfig;
use crate::plugin::Registry;

#[tokio::test]
async fn the_worker_heartbeats_at_the_coordinators_interval() {
    let mut config = CoordinatorConfig::new(Arc::new(Registry::new()));
    config.heartbeat_interval = Duration::from_millis(50);
    config.scheduler.worker_timeout = Duration::from_millis(600);
    // Left to its own interval, or kept alive by its long polls, the worker
    // would be declared dead long before the check below.
    let cluster = LocalCluster::start_with(config, 1, |mut w| {
        w.heartbeat_interval = Duration::from_secs(60);
        w.long_poll = Duration::from_secs(30);
        w
    })
    .await
    .unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let workers = client.workers().await.unwrap();
    cluster.shutdown().await;
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].state, "alive", "{workers:?}");
    assert!(workers[0].last_heartbeat_age_ms < 400, "{workers:?}");
}
