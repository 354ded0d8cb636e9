//! [`Executor`]: runs one task end to end (read or fetch, app code off the
//! async runtime, store or write), turning every problem into a
//! [`TaskFailure`] that says whether another attempt may succeed. Tasks
//! whose app code runs in the executor process are in `execute/isolated.rs`.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::child::Supervisor;
use super::convert::{Location, TaskKind, TaskSpec};
use super::fetch::{FetchSpill, Fetcher};
use super::input_error::InputReadError;
use super::map_task::{run_map_inputs, MapConfig, MapSource};
use super::plugins::PluginSource;
use super::reduce_task::{reduce_to_file, ReduceError};
use super::spill::{MemoryBudget, Run};
use super::store::{MapOutput, MapOutputStore, PartitionRef};
use crate::core::{InputRange, JobId, TaskCounters, WorkerId};
use crate::plugin::{AppEntry, LoadedApp};
use crate::proto::executor as pb;
use crate::security::{Confinement, OutputDir, PathError};

mod calls;
mod isolated;
mod joined;

pub(crate) use calls::task_calls;

/// How many map outputs a reduce fetches at once.
const FETCH_CONCURRENCY: usize = 8;

/// A failed task attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retry: bool,
    /// For a fetch failure: the worker that could not be reached.
    pub unreachable: Option<WorkerId>,
    /// The app code killed the process running it; how it died.
    pub crash: Option<String>,
}

impl TaskFailure {
    pub(super) fn fatal(message: impl Into<String>) -> Self {
        TaskFailure {
            message: message.into(),
            retry: false,
            unreachable: None,
            crash: None,
        }
    }

    pub(super) fn retry(message: impl Into<String>) -> Self {
        TaskFailure {
            retry: true,
            ..TaskFailure::fatal(message)
        }
    }
}

/// Runs tasks for one worker.
pub struct Executor {
    plugins: PluginSource,
    store: MapOutputStore,
    fetcher: Fetcher,
    /// Runs app code in an executor process, when set (apps linked in
    /// statically still run in this process).
    isolation: Option<Supervisor>,
    /// Reduce outputs to object storage above this size go up in parts.
    object_part_size: usize,
}

/// How a task runs its app code.
pub(super) enum AppCode {
    /// In this process.
    Here(Arc<dyn LoadedApp>),
    /// In the supervised executor process, loading this library.
    Isolated(pb::AppRef),
}

impl Executor {
    /// An executor using `plugins`' apps and keeping map output in `store`;
    /// with `isolation`, app code runs in executor processes it supervises.
    pub fn new(
        plugins: PluginSource,
        store: MapOutputStore,
        fetcher: Fetcher,
        isolation: Option<Supervisor>,
    ) -> Self {
        Executor {
            plugins,
            store,
            fetcher,
            isolation,
            object_part_size: super::DEFAULT_OBJECT_PART_SIZE,
        }
    }

    /// Uploads reduce outputs to object storage larger than `bytes` in
    /// parts of `bytes`.
    pub fn with_object_part_size(mut self, bytes: usize) -> Self {
        self.object_part_size = bytes;
        self
    }

    /// The part size of reduce outputs to object storage.
    pub(super) fn object_part_size(&self) -> usize {
        self.object_part_size
    }

    async fn app(&self, task: &TaskSpec, worker: WorkerId) -> Result<AppCode, TaskFailure> {
        let entry = self.entry(task, worker).await?;
        let library = self
            .isolation
            .as_ref()
            .and_then(|_| self.plugins.library_file(&entry));
        Ok(match library {
            Some(library) => AppCode::Isolated(pb::AppRef {
                name: entry.name,
                library: library.display().to_string(),
                sha256: entry.sha256,
            }),
            None => AppCode::Here(entry.app),
        })
    }

    async fn entry(&self, task: &TaskSpec, worker: WorkerId) -> Result<AppEntry, TaskFailure> {
        // Another worker may have the app, or a later fetch may work.
        self.plugins
            .app(&task.app, &task.app_sha256)
            .await
            .map_err(|message| TaskFailure {
                message: format!("worker {worker}: {message}"),
                retry: true,
                unreachable: None,
                crash: None,
            })
    }

    /// Runs `task` as worker `worker`.
    pub async fn run(
        &self,
        worker: WorkerId,
        task: &TaskSpec,
    ) -> Result<TaskCounters, TaskFailure> {
        let app = self.app(task, worker).await?;
        match &task.kind {
            TaskKind::Map { inputs } => self.run_map(app, task, inputs).await,
            TaskKind::Reduce { locations } if crate::storage::is_object(&task.output_dir) => {
                super::object_output::run_reduce(self, app, worker, task, locations).await
            }
            TaskKind::Reduce { locations } => self.run_reduce(app, worker, task, locations).await,
        }
    }

    async fn run_map(
        &self,
        app: AppCode,
        task: &TaskSpec,
        inputs: &[InputRange],
    ) -> Result<TaskCounters, TaskFailure> {
        let app = match app {
            AppCode::Here(app) => app,
            AppCode::Isolated(app) => return self.run_map_isolated(app, task, inputs).await,
        };
        let (args, n_reduce) = (task.args.clone(), task.n_reduce);
        let (confinement, inputs) = (task.confinement.clone(), inputs.to_vec());
        let store = self.store.clone();
        let (result, input_bytes, input_records) = tokio::task::spawn_blocking(move || {
            let cfg = MapConfig {
                limits: store.limits(),
                memory: store.memory(),
                work_dir: store.work_dir(),
            };
            let (mut bytes, mut records) = (0u64, 0u64);
            // Each input opened once beneath the job's allowed folder,
            // checked to be a regular file, and read through that
            // descriptor only: a whole file, or a range's lines by
            // position, in pieces. One piece is in memory at a time.
            let format = app.input_format(&args);
            let mut sources = task_calls(
                &confinement,
                inputs,
                format,
                cfg.limits.map_call,
                |calls, read| {
                    bytes += read;
                    records += calls;
                },
            );
            let result = run_map_inputs(&*app, &mut sources, &args, n_reduce, cfg);
            drop(sources);
            result.map(|r| (r, bytes, records))
        })
        .await
        .map_err(|e| TaskFailure::fatal(format!("map task crashed: {e}")))?
        .map_err(|e| TaskFailure::fatal(e.to_string()))?;
        let stats = result.stats;
        if stats.spills > 0 {
            tracing::debug!(
                spills = stats.spills,
                bytes = stats.bytes,
                "map output spilled"
            );
        }
        self.store.insert(
            task.job(),
            task.index(),
            MapOutput {
                attempt: task.attempt,
                partitions: result.partitions,
                charge: result.charge,
                state: 0,
            },
        );
        Ok(TaskCounters {
            input_bytes,
            input_records,
            output_records: stats.records,
            output_bytes: stats.bytes,
            shuffle_bytes: 0,
        })
    }

    async fn fetch_one(
        &self,
        worker: WorkerId,
        task: &TaskSpec,
        loc: &Location,
        spill: &FetchSpill,
    ) -> Result<Run, TaskFailure> {
        let part = PartitionRef {
            job: task.job(),
            map_task: loc.map_task,
            attempt: loc.attempt,
            reduce_task: task.index(),
        };
        let result = if loc.worker == worker {
            self.store.partition(part).map_err(|e| e.to_string())
        } else {
            self.fetcher
                .fetch(&loc.address, part, spill)
                .await
                .map_err(|e| e.to_string())
        };
        result.map_err(|message| TaskFailure {
            message,
            retry: true,
            unreachable: Some(loc.worker),
            crash: None,
        })
    }

    pub(super) async fn run_reduce(
        &self,
        app: AppCode,
        worker: WorkerId,
        task: &TaskSpec,
        locations: &[Location],
    ) -> Result<TaskCounters, TaskFailure> {
        let limits = self.store.limits();
        // An executor holds a copy of the runs it is given in memory (the
        // request it decoded) while this worker holds them: fetch half as
        // much into memory, so that both copies fit the fetch share.
        let fetch_share = match app {
            AppCode::Here(_) => limits.reduce_fetch,
            AppCode::Isolated(_) => limits.reduce_fetch / 2,
        };
        let spill = FetchSpill {
            budget: Arc::new(MemoryBudget::new(fetch_share)),
            work_dir: Arc::clone(self.store.work_dir()),
        };
        // Collected first: a lazily mapped stream of borrowing futures trips
        // the compiler's `Send` inference for the spawned worker future.
        let fetches: Vec<_> = locations
            .iter()
            .map(|loc| self.fetch_one(worker, task, loc, &spill))
            .collect();
        let runs: Vec<Run> = futures::stream::iter(fetches)
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        let shuffle_bytes = runs.iter().map(Run::len).sum();
        let buffer = limits.merge_buffer_per_run(runs.len());
        let job = task.job();
        let attempt = task.attempt.map_or(0, |a| a.0);
        let tag = format!("j{job}-w{worker}-a{attempt}-p{}", std::process::id());
        let app = match app {
            AppCode::Here(app) => app,
            AppCode::Isolated(app) => {
                return self
                    .run_reduce_isolated(app, task, runs, buffer, tag, shuffle_bytes)
                    .await
            }
        };
        // Opened once beneath the job's allowed folder; the output is
        // created and renamed inside it by descriptor.
        let (confinement, dir) = (task.confinement.clone(), task.output_dir.clone());
        let dir = tokio::task::spawn_blocking(move || confinement.open_output(&dir))
            .await
            .map_err(|e| TaskFailure::fatal(format!("opening the output crashed: {e}")))?
            .map_err(path_failure)?;
        let (args, r) = (task.args.clone(), task.index());
        let stats = tokio::task::spawn_blocking(move || {
            let stats = reduce_to_file(&*app, runs, buffer, &args, &dir, r, &tag)?;
            remove_stale_temporaries(&dir, job, r);
            Ok(stats)
        })
        .await
        .map_err(|e| TaskFailure::fatal(format!("reduce task crashed: {e}")))?
        .map_err(|e: ReduceError| TaskFailure::fatal(e.to_string()))?;
        Ok(TaskCounters {
            input_bytes: 0,
            input_records: 0,
            output_records: stats.records,
            output_bytes: stats.bytes,
            shuffle_bytes,
        })
    }

    /// The store this executor fills.
    pub fn store(&self) -> &MapOutputStore {
        &self.store
    }
}

/// Removes temporary output files of this job's partition `r` left by
/// earlier attempts whose worker died between creating and renaming them.
/// (Another job writing into the same folder has another job id in its
/// temporaries' names and is left alone.)
pub(super) fn remove_stale_temporaries(dir: &OutputDir, job: JobId, r: u32) {
    let prefix = format!(".mr-out-{r}.j{job}-");
    let Ok(names) = dir.names() else {
        return;
    };
    for name in names {
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = dir.remove(&name);
        }
    }
}

/// Reads one input of a map task: a whole file, or the lines of a range.
pub(crate) fn read_source(
    confinement: &Confinement,
    input: &InputRange,
) -> Result<MapSource, InputReadError> {
    if crate::storage::is_object(&input.path) {
        return super::object_input::read(confinement, input);
    }
    let path = input.path.clone();
    match input.len {
        None => confinement
            .read_input(&input.path)
            .map(|contents| MapSource::new(path, 0, contents.into())),
        Some(len) => confinement
            .read_input_lines(&input.path, input.offset, len)
            .map(|split| MapSource::new(path, split.offset, split.bytes.into())),
    }
    .map_err(InputReadError::from)
}

/// A job path that could not be used: refused by the job's confinement,
/// not a regular file, or unreadable. Another attempt would fare the same.
fn path_failure(e: PathError) -> TaskFailure {
    TaskFailure::fatal(path_message(&e))
}

/// The message for a job path that could not be used.
pub(super) fn path_message(e: &PathError) -> String {
    if e.is_refusal() {
        format!("permission denied: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_jobs_partition_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            ".mr-out-1.j7-w0-a1-p9.tmp",
            ".mr-out-1.j7-w3-a2-p9.tmp",
            ".mr-out-1.j8-w0-a1-p9.tmp",
            ".mr-out-2.j7-w0-a1-p9.tmp",
            "mr-out-1",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let opened = crate::security::Confinement::default()
            .open_output(&dir.path().display().to_string())
            .unwrap();
        super::remove_stale_temporaries(&opened, crate::core::JobId(7), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".mr-out-1.j8-w0-a1-p9.tmp",
                ".mr-out-2.j7-w0-a1-p9.tmp",
                "mr-out-1"
            ]
        );
    }
}
