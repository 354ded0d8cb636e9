//! Fetching map output partitions from other workers over their gRPC
//! service, streamed in chunks (`ReadMapStream`; from a peer without it,
//! the course's worker, one `ReadMap` message), with timeouts so an
//! unreachable peer fails the fetch instead of hanging the task.
//!
//! Chunks stay in memory while the reduce task's fetch budget lasts; once it
//! runs out, the partition goes to a scratch file instead (what was already
//! received first), so a reduce never holds more than its budget of fetched
//! data.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use std::sync::Arc;

use crate::security::{AuthChannel, SecurityError, Transport};
use bytes::Bytes;

use super::spill::{DiskRange, MemoryBudget, Run, RunFile, WorkDir};
use super::store::PartitionRef;
use crate::core::JobId;

use crate::proto::worker::worker_client::WorkerClient;
use crate::proto::worker::ReadMapRequest;

/// Why a partition could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch job {job} map task {map_task} output from worker at {address}: {reason}")]
pub struct FetchError {
    /// The job.
    pub job: JobId,
    /// The map task.
    pub map_task: u32,
    /// The peer's address.
    pub address: String,
    /// What went wrong.
    pub reason: FetchFailure,
}

/// What went wrong while fetching one partition.
#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    /// The peer's address cannot be dialled.
    #[error(transparent)]
    Dial(#[from] SecurityError),
    /// The peer did not answer the request in time.
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    /// The peer stopped sending chunks.
    #[error("stream stalled for {0:?}")]
    Stalled(Duration),
    /// The peer answered with an error status.
    #[error("{}", status_text(*.code, .message))]
    Refused {
        /// The status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// No scratch file for a partition that outgrew the budget.
    #[error("cannot create a scratch file: {0}")]
    CreateScratch(#[source] std::io::Error),
    /// Writing a scratch file failed.
    #[error("cannot write a scratch file: {0}")]
    WriteScratch(#[source] std::io::Error),
    /// The blocking scratch write panicked or was cancelled.
    #[error("scratch write crashed: {0}")]
    WriteCrashed(#[source] tokio::task::JoinError),
}

impl From<tonic::Status> for FetchFailure {
    fn from(s: tonic::Status) -> Self {
        FetchFailure::Refused {
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

/// Where fetched partitions go: memory while `budget` allows, else files in
/// `work_dir`.
#[derive(Debug, Clone)]
pub struct FetchSpill {
    /// The reduce task's budget for fetched data held in memory.
    pub budget: Arc<MemoryBudget>,
    /// Where to write what does not fit.
    pub work_dir: Arc<WorkDir>,
}

/// A partition being received.
struct Landing<'a> {
    spill: &'a FetchSpill,
    chunks: Vec<Bytes>,
    reserved: usize,
    file: Option<Arc<RunFile>>,
    len: u64,
}

impl Landing<'_> {
    async fn push(&mut self, chunk: Bytes) -> Result<(), FetchFailure> {
        if self.file.is_none() {
            if self.spill.budget.try_reserve(chunk.len()) {
                self.reserved += chunk.len();
                self.len += chunk.len() as u64;
                self.chunks.push(chunk);
                return Ok(());
            }
            let file = self
                .spill
                .work_dir
                .create_file("fetch")
                .map_err(FetchFailure::CreateScratch)?;
            self.file = Some(file);
            self.len = 0;
            for c in std::mem::take(&mut self.chunks) {
                self.write(c).await?;
            }
            self.spill
                .budget
                .release(std::mem::take(&mut self.reserved));
        }
        self.write(chunk).await
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), FetchFailure> {
        let file = self.file.clone().expect("writing to a file");
        let offset = self.len;
        self.len += chunk.len() as u64;
        tokio::task::spawn_blocking(move || file.write_all_at(&chunk, offset))
            .await
            .map_err(FetchFailure::WriteCrashed)?
            .map_err(FetchFailure::WriteScratch)
    }

    fn finish(mut self) -> Run {
        self.reserved = 0; // the run keeps it for the rest of the task
        match self.file.take() {
            Some(file) => Run::Disk(DiskRange {
                file,
                offset: 0,
                len: self.len,
            }),
            None => Run::Memory(std::mem::take(&mut self.chunks)),
        }
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.spill.budget.release(self.reserved);
    }
}

/// Fetches partitions, keeping one lazily connected channel per peer.
#[derive(Debug)]
pub struct Fetcher {
    channels: Mutex<HashMap<String, AuthChannel>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    transport: Transport,
}

impl Fetcher {
    /// A fetcher whose connections give up after `connect_timeout`, and
    /// whose streams give up when no chunk arrives for `idle_timeout`.
    /// Peers are dialled with `transport` (TLS and our worker token).
    pub fn new(connect_timeout: Duration, idle_timeout: Duration, transport: Transport) -> Self {
        Fetcher {
            channels: Mutex::new(HashMap::new()),
            connect_timeout,
            idle_timeout,
            transport,
        }
    }

    fn channel(&self, address: &str) -> Result<AuthChannel, FetchFailure> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        let channel = self.transport.lazy(address, self.connect_timeout)?;
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

    /// Fetches `part` from the worker at `address` (which refuses another
    /// attempt's output than the one named), into memory or `spill`'s
    /// files.
    pub async fn fetch(
        &self,
        address: &str,
        part: PartitionRef,
        spill: &FetchSpill,
    ) -> Result<Run, FetchError> {
        let err = |reason: FetchFailure| FetchError {
            job: part.job,
            map_task: part.map_task,
            address: address.to_string(),
            reason,
        };
        let channel = self.channel(address).map_err(err)?;
        let result = self.fetch_on(channel, part, spill).await.map_err(err);
        if result.is_err() {
            self.forget(address);
        }
        result
    }

    async fn fetch_on(
        &self,
        channel: AuthChannel,
        part: PartitionRef,
        spill: &FetchSpill,
    ) -> Result<Run, FetchFailure> {
        let mut client = WorkerClient::new(channel).max_decoding_message_size(64 << 20);
        let request = ReadMapRequest {
            job_id: part.job.0,
            map_task: part.map_task,
            reduce_task: part.reduce_task,
            map_attempt: part.attempt.map_or(0, |a| a.0),
        };
        let mut landing = Landing {
            spill,
            chunks: Vec::new(),
            reserved: 0,
            file: None,
            len: 0,
        };
        let answer = tokio::time::timeout(self.idle_timeout, client.read_map_stream(request))
            .await
            .map_err(|_| FetchFailure::NoAnswer(self.idle_timeout))?;
        let response = match answer {
            Ok(r) => r,
            // A peer that predates streaming (the course's worker) serves
            // the partition in one message.
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                let reply = tokio::time::timeout(self.idle_timeout, client.read_map(request))
                    .await
                    .map_err(|_| FetchFailure::NoAnswer(self.idle_timeout))??;
                landing.push(reply.into_inner().result).await?;
                return Ok(landing.finish());
            }
            Err(s) => return Err(s.into()),
        };
        let mut stream = response.into_inner();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, stream.message())
                .await
                .map_err(|_| FetchFailure::Stalled(self.idle_timeout))??;
            match next {
                Some(chunk) => landing.push(chunk.data).await?,
                None => break,
            }
        }
        Ok(landing.finish())
    }
}

fn status_text(code: tonic::Code, message: &str) -> String {
    if message.is_empty() {
        format!("{code:?}")
    } else {
        format!("{code:?}: {message}")
    }
}
