//! Reduce output to object storage (`-o s3://bucket/prefix/`): the reduce
//! writes `mr-out-<r>` into a private staging folder in the worker's
//! scratch space (the same code path as a local output, in this process or
//! the executor), then commits it so that the object appears whole or not
//! at all and a late duplicate attempt never replaces a committed object:
//! - up to the part size (8 MiB by default), as ONE conditional PUT
//!   (`If-None-Match: *`) of the finished bytes;
//! - above it, streamed from the file as a multipart upload (memory
//!   bounded by a few parts; aborted on error, so it leaves nothing) to a
//!   private key under `prefix/_temporary/`, then published by a
//!   conditional server-side copy to `mr-out-<r>` (`storage::upload`), and
//!   the temporary object removed. A worker killed before the publishing
//!   step leaves no `mr-out-<r>` (at most a `_temporary/` object, which the
//!   coordinator removes when it commits the job).
//!
//! If an object is there already, this attempt succeeds only when its
//! bytes are the same (the same partition reduced again, compared a part at
//! a time), and fails otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::convert::{Location, TaskSpec};
use super::execute::{AppCode, Executor, TaskFailure};
use crate::core::{TaskCounters, WorkerId};
use crate::output::manifest::{output_name, TEMPORARY};
use crate::security::Confinement;
use crate::storage::upload::{self, Published};
use crate::storage::{ObjectUrl, StorageError};

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
    let temporary = prefix.join(&temporary_name(&name, task.job(), attempt));
    let part_size = executor.object_part_size();
    tokio::task::spawn_blocking(move || commit(&file, &url, &temporary, part_size))
        .await
        .map_err(|e| TaskFailure::fatal(format!("committing the output crashed: {e}")))??;
    drop(staging);
    Ok(counters)
}

/// Where a large output is uploaded before it is published: under the
/// prefix's `_temporary/` (skipped as an input, ignored as an output),
/// unique to this attempt of this process.
fn temporary_name(name: &str, job: impl std::fmt::Display, attempt: u32) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{TEMPORARY}{name}.j{job}-a{attempt}-p{}-{n}",
        std::process::id()
    )
}

/// Publishes the finished file as the object `url`, unless an object is
/// there already (blocking).
fn commit(
    file: &Path,
    url: &ObjectUrl,
    temporary: &ObjectUrl,
    part_size: usize,
) -> Result<(), TaskFailure> {
    match upload::publish_file(file, url, temporary, part_size) {
        Ok(Published::Created) => Ok(()),
        Ok(Published::AlreadySame) => {
            tracing::info!(%url, "the output was committed already, with the same bytes");
            Ok(())
        }
        Err(e @ (StorageError::Differs(_) | StorageError::TooLarge { .. })) => {
            Err(TaskFailure::fatal(e.to_string()))
        }
        Err(e) => Err(TaskFailure::retry(format!("cannot write the output: {e}"))),
    }
}
