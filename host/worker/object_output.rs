//! Reduce output to object storage (`-o s3://bucket/prefix/`): the reduce
//! writes `mr-out-<r>` into a private staging folder in the worker's
//! scratch space (the same code path as a local output, in this process or
//! the executor), then commits it as ONE PUT of the finished bytes, so the
//! object appears whole or not at all; a worker killed before that PUT
//! leaves no object. The PUT is conditional (`If-None-Match: *`): a late
//! duplicate attempt never replaces a committed object; if one is there
//! already, this attempt succeeds only when its bytes are the same (the
//! same partition reduced again), and fails otherwise.

use std::path::PathBuf;

use super::convert::{Location, TaskSpec};
use super::execute::{AppCode, Executor, TaskFailure};
use crate::core::{TaskCounters, WorkerId};
use crate::output::manifest::output_name;
use crate::security::Confinement;
use crate::storage::{self, ObjectUrl, StorageError};

/// A staging folder, removed when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a reduce task whose job writes to object storage.
pub(super) async fn run_reduce(
    executor: &Executor,
    app: AppCode,
    worker: WorkerId,
    task: &TaskSpec,
    locations: &[Location],
) -> Result<TaskCounters, TaskFailure> {
    task.confinement
        .check_output_object(&task.output_dir)
        .map_err(|e| TaskFailure::fatal(format!("permission denied: {e}")))?;
    let prefix =
        ObjectUrl::parse(&task.output_dir).map_err(|e| TaskFailure::fatal(e.to_string()))?;
    let scratch = executor.store().work_dir().path().map_err(|e| {
        TaskFailure::retry(format!("cannot create the worker's scratch folder: {e}"))
    })?;
    let attempt = task.attempt.map_or(0, |a| a.0);
    let staging =
        Staging(scratch.join(format!("out-j{}-r{}-a{attempt}", task.job(), task.index())));
    std::fs::create_dir_all(&staging.0)
        .map_err(|e| TaskFailure::retry(format!("cannot create {}: {e}", staging.0.display())))?;
    let staged = TaskSpec {
        output_dir: staging.0.display().to_string(),
        confinement: Confinement::default(),
        ..task.clone()
    };
    let counters = executor.run_reduce(app, worker, &staged, locations).await?;
    let name = output_name(task.index());
    let (file, url) = (staging.0.join(&name), prefix.join(&name));
    tokio::task::spawn_blocking(move || commit(&file, &url))
        .await
        .map_err(|e| TaskFailure::fatal(format!("committing the output crashed: {e}")))??;
    drop(staging);
    Ok(counters)
}

/// Uploads the finished file as the object `url`, unless an object is there
/// already (blocking).
fn commit(file: &std::path::Path, url: &ObjectUrl) -> Result<(), TaskFailure> {
    let bytes = std::fs::read(file)
        .map_err(|e| TaskFailure::retry(format!("cannot read {}: {e}", file.display())))?;
    match storage::put(url, bytes.clone(), true) {
        Ok(()) => Ok(()),
        Err(StorageError::Exists(_)) => {
            let committed = storage::get(url).map_err(|e| TaskFailure::retry(e.to_string()))?;
            if committed == bytes {
                tracing::info!(%url, "the output was committed already, with the same bytes");
                Ok(())
            } else {
                Err(TaskFailure::fatal(format!(
                    "{url} was committed already with other bytes; it is not replaced"
                )))
            }
        }
        Err(e) => Err(TaskFailure::retry(format!("cannot write the output: {e}"))),
    }
}
