//! [`WorkerService`]: the worker's gRPC service, serving held map output to
//! reduce tasks and dropping a job's data when told.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::store::{MapOutputStore, StoreError};
use crate::proto::worker::worker_server::Worker;
use crate::proto::worker::{
    ReadMapChunk, ReadMapReply, ReadMapRequest, RemoveJobReply, RemoveJobRequest,
};

/// Size of the chunks `ReadMapStream` sends.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Serves a [`MapOutputStore`].
#[derive(Debug, Clone)]
pub struct WorkerService {
    store: MapOutputStore,
}

impl WorkerService {
    /// A service over `store`.
    pub fn new(store: MapOutputStore) -> Self {
        WorkerService { store }
    }

    fn partition(&self, r: &ReadMapRequest) -> Result<bytes::Bytes, Status> {
        self.store
            .partition(r.job_id, r.map_task, r.reduce_task, r.map_attempt)
            .map_err(|e| match e {
                StoreError::NoPartition { .. } => Status::invalid_argument(e.to_string()),
                StoreError::Missing { .. } | StoreError::OtherAttempt { .. } => {
                    Status::not_found(e.to_string())
                }
            })
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<ReadMapChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Worker for WorkerService {
    async fn read_map(
        &self,
        request: Request<ReadMapRequest>,
    ) -> Result<Response<ReadMapReply>, Status> {
        let result = self.partition(request.get_ref())?;
        Ok(Response::new(ReadMapReply { result }))
    }

    async fn remove_job(
        &self,
        request: Request<RemoveJobRequest>,
    ) -> Result<Response<RemoveJobReply>, Status> {
        let job = request.get_ref().job_id;
        let freed = self.store.remove_job(job);
        tracing::debug!(job, freed, "dropped job data");
        Ok(Response::new(RemoveJobReply {}))
    }

    type ReadMapStreamStream = ChunkStream;

    async fn read_map_stream(
        &self,
        request: Request<ReadMapRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let data = self.partition(request.get_ref())?;
        let chunks: Vec<Result<ReadMapChunk, Status>> = (0..data.len())
            .step_by(CHUNK_SIZE)
            .map(|start| {
                Ok(ReadMapChunk {
                    data: data.slice(start..(start + CHUNK_SIZE).min(data.len())),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }
}
