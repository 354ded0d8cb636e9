//! A minimal worker service speaking only the course's original RPCs
//! (`ReadMap`, `RemoveJob`; no `ReadMapStream`), serving map output the
//! test puts in it, as a course worker holding finished maps would. Written
//! for these tests from the protocol, no course code. It runs on its own
//! runtime, so tests around it may block.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use super::proto::worker as pb;
use super::proto::worker::worker_server::{Worker, WorkerServer};

/// Partitions by (job, map task, reduce task).
type Partitions = HashMap<(u32, u32, u32), Vec<u8>>;

#[derive(Clone, Default)]
struct Service {
    partitions: Arc<Mutex<Partitions>>,
    reads: Arc<Mutex<Vec<(u32, u32, u32)>>>,
}

#[tonic::async_trait]
impl Worker for Service {
    async fn read_map(
        &self,
        request: Request<pb::ReadMapRequest>,
    ) -> Result<Response<pb::ReadMapReply>, Status> {
        let r = request.into_inner();
        let key = (r.job_id, r.map_task, r.reduce_task);
        self.reads.lock().unwrap().push(key);
        let result = self
            .partitions
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no map output {key:?}")))?;
        Ok(Response::new(pb::ReadMapReply { result }))
    }

    async fn remove_job(
        &self,
        request: Request<pb::RemoveJobRequest>,
    ) -> Result<Response<pb::RemoveJobReply>, Status> {
        let job = request.into_inner().job_id;
        self.partitions.lock().unwrap().retain(|k, _| k.0 != job);
        Ok(Response::new(pb::RemoveJobReply {}))
    }
}

/// A running legacy worker service; stops when dropped.
pub struct PeerWorker {
    service: Service,
    runtime: Option<tokio::runtime::Runtime>,
}

impl PeerWorker {
    /// Starts one on `addr`.
    pub fn start(addr: SocketAddr) -> PeerWorker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the legacy worker");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("bind the legacy worker at {addr}: {e}"));
        let service = Service::default();
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(WorkerServer::new(service.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        PeerWorker {
            service,
            runtime: Some(runtime),
        }
    }

    /// Holds `bytes` as partition `reduce` of `job`'s map `map`.
    pub fn hold(&self, job: u32, map: u32, reduce: u32, bytes: Vec<u8>) {
        self.service
            .partitions
            .lock()
            .unwrap()
            .insert((job, map, reduce), bytes);
    }

    /// Every `ReadMap` asked of it: (job, map, reduce).
    pub fn reads(&self) -> Vec<(u32, u32, u32)> {
        self.service.reads.lock().unwrap().clone()
    }
}

impl Drop for PeerWorker {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
