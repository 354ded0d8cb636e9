//! End-to-end tests of the fence against stale map output: the attempt the
//! core recorded for a map output travels through the coordinator's
//! conversion, the protobuf encoding, the worker's conversion and a fetch
//! over loopback to the holder's service, which refuses any other attempt.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;

use crate::coordinator::convert::task_reply;
use crate::core::{Assignment, Attempt, JobId, JobSpec, MapLocation, TaskId, WorkerId};
use crate::proto::coordinator::GetTaskReply;
use crate::proto::worker::worker_server::WorkerServer;
use crate::security::{Auth, Transport};
use crate::worker::convert::{task_spec, Location, TaskKind};
use crate::worker::fetch::{FetchSpill, Fetcher};
use crate::worker::service::WorkerService;
use crate::worker::spill::{MemoryBudget, Run};
use crate::worker::store::{MapOutput, MapOutputStore, PartitionRef};

/// Serves `store` on loopback; returns its address.
async fn serve(store: MapOutputStore) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let service = WorkerServer::new(WorkerService::new(store, Auth::open()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    address
}

/// The `GetTask` reply for a reduce whose only map output is `attempt` at
/// `address`, as the worker receives it: converted by the coordinator,
/// encoded and decoded.
fn wire_reply(address: &str, attempt: u32) -> GetTaskReply {
    let assignment = Assignment {
        task: TaskId::reduce(JobId(4), 0),
        attempt: Attempt(1),
        spec: Arc::new(JobSpec::new("wc", vec!["/in/a".into()], "/out", 1)),
        n_map: 1,
        map_locations: vec![MapLocation {
            task: 0,
            attempt: Attempt(attempt),
            worker: WorkerId(7),
            address: Some(address.to_string()),
        }],
    };
    let bytes = task_reply(assignment, String::new()).encode_to_vec();
    GetTaskReply::decode(&bytes[..]).unwrap()
}

/// The map output location the worker reads from `reply`.
fn location(reply: GetTaskReply) -> Location {
    let task = task_spec(reply, 10163).unwrap().unwrap();
    match task.kind {
        TaskKind::Reduce { mut locations } => locations.remove(0),
        TaskKind::Map { .. } => panic!("expected a reduce"),
    }
}

/// The partition a reduce of job 4 asks for at `loc`.
fn part(loc: &Location) -> PartitionRef {
    PartitionRef {
        job: JobId(4),
        map_task: loc.map_task,
        attempt: loc.attempt,
        reduce_task: 0,
    }
}

async fn fetch(
    loc: &Location,
    store: &MapOutputStore,
) -> Result<Run, crate::worker::fetch::FetchError> {
    let fetcher = Fetcher::new(
        Duration::from_secs(5),
        Duration::from_secs(5),
        Transport::plain(),
    );
    let spill = FetchSpill {
        budget: Arc::new(MemoryBudget::new(1 << 20)),
        work_dir: Arc::clone(store.work_dir()),
    };
    fetcher.fetch(&loc.address, part(loc), &spill).await
}

#[tokio::test]
async fn a_reduce_never_reads_another_attempts_map_output() {
    let store = MapOutputStore::default();
    // The holder kept attempt 1's output; the core recorded attempt 2.
    store.insert(
        JobId(4),
        0,
        MapOutput::new(Some(Attempt(1)), vec![Run::memory(&b"stale"[..])]),
    );
    let address = serve(store.clone()).await;

    let stale = location(wire_reply(&address, 2));
    assert_eq!(
        stale.attempt,
        Some(Attempt(2)),
        "the attempt reaches the worker"
    );
    let err = fetch(&stale, &store).await.unwrap_err();
    let reason = err.reason.to_string();
    assert!(
        reason.contains("NotFound") && reason.contains("attempt 1"),
        "{err}"
    );
    // The worker's own store applies the same fence.
    assert!(store.partition(part(&stale)).is_err());

    let current = location(wire_reply(&address, 1));
    let run = fetch(&current, &store).await.unwrap();
    assert_eq!(&run.to_bytes().unwrap()[..], b"stale");
}

#[tokio::test]
async fn an_older_peer_sending_no_attempt_reads_what_is_held() {
    let store = MapOutputStore::default();
    store.insert(
        JobId(4),
        0,
        MapOutput::new(Some(Attempt(3)), vec![Run::memory(&b"held"[..])]),
    );
    let address = serve(store.clone()).await;
    // An older coordinator sends no attempt: the field decodes as 0.
    let mut reply = wire_reply(&address, 3);
    reply.map_task_assignments[0].attempt = 0;
    let any = location(reply);
    let run = fetch(&any, &store).await.unwrap();
    assert_eq!(&run.to_bytes().unwrap()[..], b"held");
}
