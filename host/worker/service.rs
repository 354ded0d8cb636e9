//! [`WorkerService`]: the worker's gRPC service, serving held map output to
//! reduce tasks and dropping a job's data when told.
//!
//! `ReadMapStream` sends a partition in chunks of [`CHUNK_SIZE`] as the
//! client takes them: from memory by slicing, from disk by reading one chunk
//! at a time, so serving never loads a whole spilled partition.

use std::pin::Pin;
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::security::{Auth, Role};

use super::spill::{DiskRange, Run};
use super::store::{MapOutputStore, PartitionRef, StoreError};
use crate::core::{Attempt, JobId};
use crate::proto::worker::worker_server::Worker;
use crate::proto::worker::{
    ReadMapChunk, ReadMapReply, ReadMapRequest, RemoveJobReply, RemoveJobRequest,
};

/// Size of the chunks `ReadMapStream` sends.
pub const CHUNK_SIZE: usize = 1 << 20;

/// The SHA-256 of the cluster's client token, as the coordinator sent it
/// at registration (this worker never holds the token itself).
pub type ClientTokenDigest = Arc<RwLock<Vec<u8>>>;

/// Serves a [`MapOutputStore`].
#[derive(Debug, Clone)]
pub struct WorkerService {
    store: MapOutputStore,
    auth: Auth,
    client_token: ClientTokenDigest,
}

impl WorkerService {
    /// A service over `store`; callers need `auth`'s worker token.
    pub fn new(store: MapOutputStore, auth: Auth) -> Self {
        WorkerService {
            store,
            auth,
            client_token: ClientTokenDigest::default(),
        }
    }

    /// Where to put the client token's SHA-256 once known: a caller with
    /// that token is then refused with `PermissionDenied` (the wrong role)
    /// rather than `Unauthenticated` (an unknown token).
    pub fn client_token_digest(&self) -> ClientTokenDigest {
        Arc::clone(&self.client_token)
    }

    /// Checks the caller's token for a worker RPC.
    fn check(&self, metadata: &tonic::metadata::MetadataMap, method: &str) -> Result<(), Status> {
        self.auth
            .check(metadata, Role::Worker, method)
            .map_err(|status| {
                if status.code() != tonic::Code::Unauthenticated {
                    return status;
                }
                let presented = metadata
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                let known = self.client_token.read().unwrap_or_else(|p| p.into_inner());
                let is_client = presented.is_some_and(|t| {
                    use sha2::Digest;
                    !known.is_empty()
                        && sha2::Sha256::digest(t.as_bytes()).as_slice() == known.as_slice()
                });
                if is_client {
                    Status::permission_denied(format!(
                        "{method} is for workers; this token's role may not call it"
                    ))
                } else {
                    status
                }
            })
    }

    fn partition(&self, r: &ReadMapRequest) -> Result<Run, Status> {
        self.store.partition(partition_ref(r)).map_err(|e| match e {
            StoreError::NoPartition { .. } => Status::invalid_argument(e.to_string()),
            StoreError::Missing { .. } | StoreError::OtherAttempt { .. } => {
                Status::not_found(e.to_string())
            }
        })
    }
}

/// The partition a `ReadMap` request asks for; attempt 0 (an older peer)
/// accepts any.
fn partition_ref(r: &ReadMapRequest) -> PartitionRef {
    PartitionRef {
        job: JobId(r.job_id),
        map_task: r.map_task,
        attempt: (r.map_attempt != 0).then_some(Attempt(r.map_attempt)),
        reduce_task: r.reduce_task,
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<ReadMapChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Worker for WorkerService {
    async fn read_map(
        &self,
        request: Request<ReadMapRequest>,
    ) -> Result<Response<ReadMapReply>, Status> {
        self.check(request.metadata(), "ReadMap")?;
        let run = self.partition(request.get_ref())?;
        let result = tokio::task::spawn_blocking(move || run.to_bytes())
            .await
            .map_err(|e| Status::internal(format!("reading map output crashed: {e}")))?
            .map_err(|e| Status::internal(format!("cannot read map output: {e}")))?;
        Ok(Response::new(ReadMapReply { result }))
    }

    async fn remove_job(
        &self,
        request: Request<RemoveJobRequest>,
    ) -> Result<Response<RemoveJobReply>, Status> {
        self.check(request.metadata(), "RemoveJob")?;
        let job = JobId(request.get_ref().job_id);
        let freed = self.store.remove_job(job);
        tracing::debug!(%job, freed, "dropped job data");
        Ok(Response::new(RemoveJobReply {}))
    }

    type ReadMapStreamStream = ChunkStream;

    async fn read_map_stream(
        &self,
        request: Request<ReadMapRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        self.check(request.metadata(), "ReadMapStream")?;
        let stream: ChunkStream = match self.partition(request.get_ref())? {
            Run::Memory(pieces) => {
                let chunks: Vec<Result<ReadMapChunk, Status>> = pieces
                    .into_iter()
                    .flat_map(|data| {
                        (0..data.len())
                            .step_by(CHUNK_SIZE)
                            .map(move |start| {
                                Ok(ReadMapChunk {
                                    data: data.slice(start..(start + CHUNK_SIZE).min(data.len())),
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Box::pin(futures::stream::iter(chunks))
            }
            Run::Disk(range) => Box::pin(disk_chunks(range)),
        };
        Ok(Response::new(stream))
    }
}

/// The chunks of a range on disk, each read when the stream is polled.
fn disk_chunks(range: DiskRange) -> impl Stream<Item = Result<ReadMapChunk, Status>> + Send {
    futures::stream::try_unfold((range, 0u64), |(range, done)| async move {
        if done >= range.len {
            return Ok(None);
        }
        let n = (range.len - done).min(CHUNK_SIZE as u64) as usize;
        let file = range.file.clone();
        let offset = range.offset + done;
        let data = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; n];
            file.read_exact_at(&mut buf, offset).map(|()| buf)
        })
        .await
        .map_err(|e| Status::internal(format!("reading map output crashed: {e}")))?
        .map_err(|e| Status::internal(format!("cannot read map output: {e}")))?;
        Ok(Some((
            ReadMapChunk { data: data.into() },
            (range, done + n as u64),
        )))
    })
    .boxed()
}
