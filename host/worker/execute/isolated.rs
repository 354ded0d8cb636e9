//! Tasks whose app code runs in the supervised executor process
//! (`--isolate`): the worker reads the input and fetches map output, the
//! executor runs the app over the bytes, and its reply (or its death)
//! becomes the task's result.

use std::sync::Arc;

use prost::Message;

use super::{read_source, Executor, TaskFailure};
use crate::core::{InputRange, TaskCounters};
use crate::proto::executor as pb;
use crate::worker::child::frame::{self, RunPart};
use crate::worker::child::CallError;
use crate::worker::convert::TaskSpec;
use crate::worker::spill::{Run, RunFile};
use crate::worker::store::MapOutput;

impl Executor {
    /// Runs `request` in the executor process.
    async fn isolated(&self, request: pb::request::Kind) -> Result<pb::reply::Kind, TaskFailure> {
        let request = pb::Request {
            kind: Some(request),
        };
        let payload = request.encode_to_vec();
        drop(request);
        self.isolated_encoded(vec![payload.into()]).await
    }

    /// Runs a request encoded in parts (see `child::frame`) in the executor
    /// process.
    async fn isolated_encoded(
        &self,
        payload: Vec<bytes::Bytes>,
    ) -> Result<pb::reply::Kind, TaskFailure> {
        let Some(supervisor) = &self.isolation else {
            return Err(TaskFailure::fatal("no executor process is configured"));
        };
        match supervisor.call(payload).await {
            Ok(pb::Reply {
                kind: Some(pb::reply::Kind::Failed(f)),
            }) => Err(TaskFailure {
                message: f.message,
                retry: f.retry,
                unreachable: None,
                crash: None,
            }),
            Ok(pb::Reply { kind: Some(kind) }) => Ok(kind),
            Ok(pb::Reply { kind: None }) => {
                Err(TaskFailure::retry("the executor sent an empty reply"))
            }
            Err(CallError::Died(cause)) => Err(TaskFailure {
                message: CallError::Died(cause.clone()).to_string(),
                retry: true,
                unreachable: None,
                crash: Some(cause),
            }),
            Err(e) => Err(TaskFailure::retry(e.to_string())),
        }
    }

    /// A map whose app code runs in the executor process; the output comes
    /// back to this worker's store (in memory if the budget allows, else in
    /// one scratch file), so the executor's death cannot lose it.
    pub(super) async fn run_map_isolated(
        &self,
        app: pb::AppRef,
        task: &TaskSpec,
        inputs: &[InputRange],
    ) -> Result<TaskCounters, TaskFailure> {
        let work_dir = self.store.work_dir().path().map_err(|e| {
            TaskFailure::retry(format!("cannot create the worker's scratch folder: {e}"))
        })?;
        let mut request = pb::MapRequest {
            app: Some(app),
            inputs: Vec::new(),
            input_ranges: Vec::new(),
            allowed_input: task.confinement.input_roots(),
            args: task.args.clone().into(),
            n_reduce: task.n_reduce,
            memory_limit: self.store.memory_limit(),
            work_dir: work_dir.display().to_string(),
            output_files: true,
        };
        if inputs.iter().any(|r| crate::storage::is_object(&r.path)) {
            // Object storage is read here (the executor has no async
            // runtime for its client): the bytes go to the executor.
            let (confinement, ranges) = (task.confinement.clone(), inputs.to_vec());
            let sources = tokio::task::spawn_blocking(move || {
                ranges
                    .iter()
                    .map(|input| read_source(&confinement, input))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(|e| TaskFailure::fatal(format!("reading the input crashed: {e}")))?
            .map_err(|e| TaskFailure::fatal(e.to_string()))?;
            request.inputs = sources
                .into_iter()
                .map(|s| pb::MapSource {
                    path: s.path,
                    offset: s.offset,
                    contents: s.contents,
                })
                .collect();
        } else {
            // Files: the executor reads the split itself, one input at a
            // time, confined and by descriptor as this worker would, so the
            // worker never holds it.
            request.input_ranges = inputs
                .iter()
                .map(|r| pb::InputRef {
                    path: r.path.clone(),
                    offset: r.offset,
                    len: r.len,
                })
                .collect();
        }
        let (sent_bytes, sent_records) = (
            request
                .inputs
                .iter()
                .map(|s| s.contents.len() as u64)
                .sum::<u64>(),
            request.inputs.len() as u64,
        );
        let done = match self.isolated(pb::request::Kind::Map(request)).await? {
            pb::reply::Kind::Map(done) => done,
            _ => {
                return Err(TaskFailure::retry(
                    "the executor answered a map with another reply",
                ))
            }
        };
        let kept = if done.partition_files.is_empty() {
            self.store.adopt(done.partitions)
        } else {
            let files: Vec<(&str, u64, u64)> = done
                .partition_files
                .iter()
                .map(|f| (f.path.as_str(), f.offset, f.len))
                .collect();
            self.store.adopt_files(&files).map(|runs| (runs, None))
        };
        let (partitions, charge) =
            kept.map_err(|e| TaskFailure::retry(format!("cannot keep the map output: {e}")))?;
        self.store.insert(
            task.job(),
            task.index(),
            MapOutput {
                attempt: task.attempt,
                partitions,
                charge,
                state: 0,
            },
        );
        Ok(TaskCounters {
            input_bytes: sent_bytes + done.input_bytes,
            input_records: sent_records + done.input_records,
            output_records: done.records,
            output_bytes: done.bytes,
            shuffle_bytes: 0,
        })
    }

    /// A reduce whose app code runs in the executor process over the
    /// fetched `runs` (`buffer` bytes of merge buffer each); it writes the
    /// output itself, under a temporary name unique to `tag`.
    pub(super) async fn run_reduce_isolated(
        &self,
        app: pb::AppRef,
        task: &TaskSpec,
        runs: Vec<Run>,
        buffer: usize,
        tag: String,
        shuffle_bytes: u64,
    ) -> Result<TaskCounters, TaskFailure> {
        // Runs on disk go by reference: the executor reads them where they
        // are, while `files` keeps them until it answers. Runs in memory go
        // as bytes, written into the request frame as they are (no second
        // copy of them here) and each dropped once written.
        let mut files = Vec::new();
        let runs = runs
            .into_iter()
            .map(|run| run_part(run, &mut files))
            .collect();
        let header = pb::ReduceRequest {
            app: Some(app),
            runs: Vec::new(),
            run_refs: Vec::new(),
            args: task.args.clone().into(),
            partition: task.index(),
            output_dir: task.output_dir.clone(),
            allowed_output: task.confinement.output_roots(),
            tag,
            buffer: buffer as u64,
            job: task.job().0,
        };
        let payload = frame::reduce_request_parts(header, runs);
        let done = self.isolated_encoded(payload).await;
        drop(files);
        let done = match done? {
            pb::reply::Kind::Reduce(done) => done,
            _ => {
                return Err(TaskFailure::retry(
                    "the executor answered a reduce with another reply",
                ))
            }
        };
        Ok(TaskCounters {
            input_bytes: 0,
            input_records: 0,
            output_records: done.records,
            output_bytes: done.bytes,
            shuffle_bytes,
        })
    }
}

/// How the executor gets a fetched run: the bytes of one in memory, the
/// place of one on disk (its file kept in `files` until the executor is
/// done with it).
fn run_part(run: Run, files: &mut Vec<Arc<RunFile>>) -> RunPart {
    match run {
        Run::Disk(range) => {
            let disk = pb::DiskRun {
                path: range.file.path().to_string_lossy().into_owned(),
                offset: range.offset,
                len: range.len,
            };
            files.push(range.file);
            RunPart::Disk(disk)
        }
        Run::Memory(chunks) => RunPart::Memory(chunks),
    }
}
