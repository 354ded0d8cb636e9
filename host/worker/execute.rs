//! [`Executor`]: runs one task end to end (read or fetch, app code off the
//! async runtime, store or write), turning every problem into a
//! [`TaskFailure`] that says whether another attempt may succeed.

use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::fetch::Fetcher;
use super::map_task::run_map;
use super::reduce_task::{reduce_to_file, ReduceError};
use super::store::{MapOutput, MapOutputStore};
use super::task::{Location, TaskKind, TaskSpec};
use crate::core::TaskCounters;
use crate::plugin::{App, Registry};

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
    pub unreachable: Option<u32>,
}

impl TaskFailure {
    fn fatal(message: impl Into<String>) -> Self {
        TaskFailure {
            message: message.into(),
            retry: false,
            unreachable: None,
        }
    }
}

/// Runs tasks for one worker.
pub struct Executor {
    registry: Arc<Registry>,
    store: MapOutputStore,
    fetcher: Fetcher,
}

impl Executor {
    /// An executor using `registry`'s apps and keeping map output in `store`.
    pub fn new(registry: Arc<Registry>, store: MapOutputStore, fetcher: Fetcher) -> Self {
        Executor {
            registry,
            store,
            fetcher,
        }
    }

    fn app(&self, name: &str, worker: u32) -> Result<Arc<dyn App>, TaskFailure> {
        match self.registry.get(name) {
            Some(entry) => Ok(Arc::clone(&entry.app)),
            None => Err(TaskFailure {
                message: format!(
                    "worker {worker} has no app {name:?} (it has: {})",
                    self.registry.names().join(", ")
                ),
                retry: true,
                unreachable: None,
            }),
        }
    }

    /// Runs `task` as worker `worker`.
    pub async fn run(&self, worker: u32, task: &TaskSpec) -> Result<TaskCounters, TaskFailure> {
        let app = self.app(&task.app, worker)?;
        match &task.kind {
            TaskKind::Map { file } => self.run_map(app, task, file).await,
            TaskKind::Reduce { locations } => self.run_reduce(app, worker, task, locations).await,
        }
    }

    async fn run_map(
        &self,
        app: Arc<dyn App>,
        task: &TaskSpec,
        file: &str,
    ) -> Result<TaskCounters, TaskFailure> {
        let contents = tokio::fs::read(file)
            .await
            .map_err(|e| TaskFailure::fatal(format!("cannot read input {file}: {e}")))?;
        let input_bytes = contents.len() as u64;
        let (path, args, n_reduce) = (file.to_string(), task.args.clone(), task.n_reduce);
        let (runs, stats) =
            tokio::task::spawn_blocking(move || run_map(&*app, &path, &contents, &args, n_reduce))
                .await
                .map_err(|e| TaskFailure::fatal(format!("map task crashed: {e}")))?
                .map_err(TaskFailure::fatal)?;
        self.store.insert(
            task.job,
            task.index,
            MapOutput {
                attempt: task.attempt,
                partitions: runs,
            },
        );
        Ok(TaskCounters {
            input_bytes,
            input_records: 1,
            output_records: stats.records,
            output_bytes: stats.bytes,
            shuffle_bytes: 0,
        })
    }

    async fn fetch_one(
        &self,
        worker: u32,
        task: &TaskSpec,
        loc: &Location,
    ) -> Result<bytes::Bytes, TaskFailure> {
        let result = if loc.worker == worker {
            self.store
                .partition(task.job, loc.map_task, task.index, loc.attempt)
                .map_err(|e| e.to_string())
        } else {
            self.fetcher
                .fetch(
                    &loc.address,
                    task.job,
                    loc.map_task,
                    loc.attempt,
                    task.index,
                )
                .await
                .map_err(|e| e.to_string())
        };
        result.map_err(|message| TaskFailure {
            message,
            retry: true,
            unreachable: Some(loc.worker),
        })
    }

    async fn run_reduce(
        &self,
        app: Arc<dyn App>,
        worker: u32,
        task: &TaskSpec,
        locations: &[Location],
    ) -> Result<TaskCounters, TaskFailure> {
        // Collected first: a lazily mapped stream of borrowing futures trips
        // the compiler's `Send` inference for the spawned worker future.
        let fetches: Vec<_> = locations
            .iter()
            .map(|loc| self.fetch_one(worker, task, loc))
            .collect();
        let runs: Vec<bytes::Bytes> = futures::stream::iter(fetches)
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        let shuffle_bytes = runs.iter().map(|r| r.len() as u64).sum();
        let dir = task.output_dir.clone();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| {
            TaskFailure::fatal(format!("cannot create output directory {dir}: {e}"))
        })?;
        let (args, r) = (task.args.clone(), task.index);
        let tag = format!("w{worker}-a{}-p{}", task.attempt, std::process::id());
        let stats = tokio::task::spawn_blocking(move || {
            reduce_to_file(&*app, runs, &args, Path::new(&dir), r, &tag)
        })
        .await
        .map_err(|e| TaskFailure::fatal(format!("reduce task crashed: {e}")))?
        .map_err(|e| match e {
            ReduceError::App(m) => TaskFailure::fatal(m),
            other => TaskFailure::fatal(other.to_string()),
        })?;
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
