//! Fetching map output partitions from other workers over their gRPC
//! service, streamed in chunks, with timeouts so an unreachable peer fails
//! the fetch instead of hanging the task.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tonic::transport::{Channel, Endpoint};

use crate::proto::worker::worker_client::WorkerClient;
use crate::proto::worker::ReadMapRequest;

/// Why a partition could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot fetch job {job} map task {map_task} output from worker at {address}: {reason}")]
pub struct FetchError {
    /// The job.
    pub job: u32,
    /// The map task.
    pub map_task: u32,
    /// The peer's address.
    pub address: String,
    /// What went wrong.
    pub reason: String,
}

/// Fetches partitions, keeping one lazily connected channel per peer.
#[derive(Debug)]
pub struct Fetcher {
    channels: Mutex<HashMap<String, Channel>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl Fetcher {
    /// A fetcher whose connections give up after `connect_timeout`, and
    /// whose streams give up when no chunk arrives for `idle_timeout`.
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> Self {
        Fetcher {
            channels: Mutex::new(HashMap::new()),
            connect_timeout,
            idle_timeout,
        }
    }

    fn channel(&self, address: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| format!("bad address: {e}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }

    /// Forgets the channel to `address` (after an error), so the next fetch
    /// connects afresh.
    fn forget(&self, address: &str) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(address);
    }

    /// Fetches partition `reduce_task` of `job`'s map task `map_task`
    /// (attempt `map_attempt`, 0 for any) from the worker at `address`.
    pub async fn fetch(
        &self,
        address: &str,
        job: u32,
        map_task: u32,
        map_attempt: u32,
        reduce_task: u32,
    ) -> Result<Bytes, FetchError> {
        let err = |reason: String| FetchError {
            job,
            map_task,
            address: address.to_string(),
            reason,
        };
        let channel = self.channel(address).map_err(err)?;
        let result = self
            .fetch_on(channel, job, map_task, map_attempt, reduce_task)
            .await
            .map_err(err);
        if result.is_err() {
            self.forget(address);
        }
        result
    }

    async fn fetch_on(
        &self,
        channel: Channel,
        job: u32,
        map_task: u32,
        map_attempt: u32,
        reduce_task: u32,
    ) -> Result<Bytes, String> {
        let mut client = WorkerClient::new(channel).max_decoding_message_size(64 << 20);
        let request = ReadMapRequest {
            job_id: job,
            map_task,
            reduce_task,
            map_attempt,
        };
        let response = tokio::time::timeout(self.idle_timeout, client.read_map_stream(request))
            .await
            .map_err(|_| format!("no answer within {:?}", self.idle_timeout))?
            .map_err(|s| status_text(&s))?;
        let mut stream = response.into_inner();
        let mut chunks: Vec<Bytes> = Vec::new();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, stream.message())
                .await
                .map_err(|_| format!("stream stalled for {:?}", self.idle_timeout))?
                .map_err(|s| status_text(&s))?;
            match next {
                Some(chunk) => chunks.push(chunk.data),
                None => break,
            }
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                for c in chunks {
                    all.extend_from_slice(&c);
                }
                all.freeze()
            }
        })
    }
}

fn status_text(s: &tonic::Status) -> String {
    if s.message().is_empty() {
        format!("{:?}", s.code())
    } else {
        format!("{:?}: {}", s.code(), s.message())
    }
}
