//! The coordinator's durable job store: what must survive a restart (every
//! accepted submission, finished tasks, how jobs ended, the next job id)
//! behind the [`JobStore`] trait, so that a replicated backend (a standby
//! coordinator on etcd, say) can replace the embedded one.
//!
//! - [`RedbStore`] (`redb.rs`): the embedded backend, one `redb` file in
//!   the coordinator's `--state-dir`;
//! - [`Journal`] (`journal.rs`): the group-commit writer in front of any
//!   backend: concurrent records are gathered into one transaction, and a
//!   submission's reply waits until the transaction holding it is synced;
//! - [`Record`], [`Snapshot`]: what is written, and what is read back at
//!   start.
//!
//! The store knows ids, specs and counters, never the core's state
//! machines: the coordinator turns a [`Snapshot`] into the core's
//! `RestoredJob`s (`coordinator::restore`).

mod journal;
mod redb;

pub use self::journal::Journal;
pub use self::redb::RedbStore;

use std::collections::BTreeMap;

use crate::core::{Attempt, Counters, JobId, JobSpec, JobState, TaskCounters, TaskId};

/// One change to the stored state. Applying a record twice, or records of
/// one job out of order, leaves the same state (each is a keyed write).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A submission was accepted under `job` (synced before the reply).
    Submitted {
        /// Its id; the next id stored becomes at least `job + 1`.
        job: JobId,
        /// What was submitted.
        spec: JobSpec,
        /// The app's plugin library, for the commit's manifest.
        plugin_sha256: String,
        /// When, in milliseconds since the Unix epoch.
        submitted_at_ms: u64,
    },
    /// A task attempt finished (a map's output is on a worker; a reduce's
    /// is in the job's folder).
    TaskFinished {
        /// The task.
        task: TaskId,
        /// The attempt that finished.
        attempt: Attempt,
        /// What it measured.
        counters: TaskCounters,
    },
    /// A job ended; its finished-task records are no longer needed.
    JobEnded {
        /// The job.
        job: JobId,
        /// How it ended.
        end: StoredEnd,
    },
    /// Forget a job altogether (retention of ended jobs). Its id stays
    /// used.
    Forget {
        /// The job.
        job: JobId,
    },
}

/// How a job ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredEnd {
    /// Succeeded, failed or cancelled.
    pub state: JobState,
    /// Why it failed (or that it was cancelled).
    pub errors: Vec<String>,
    /// Its final counters.
    pub counters: Counters,
    /// When it ended, in milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
}

/// A finished task, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredTask {
    /// The attempt that finished.
    pub attempt: u32,
    /// What it measured.
    pub counters: TaskCounters,
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredJob {
    /// What was submitted (serde: fields added to the spec later persist).
    pub spec: JobSpec,
    /// The app's plugin library at submission.
    pub plugin_sha256: String,
    /// When it was submitted, in milliseconds since the Unix epoch.
    pub submitted_at_ms: u64,
    /// How it ended, if it had.
    pub end: Option<StoredEnd>,
    /// Finished map tasks by index (not stored in the job's row).
    #[serde(skip)]
    pub maps_done: BTreeMap<u32, StoredTask>,
    /// Finished reduce tasks by index (not stored in the job's row).
    #[serde(skip)]
    pub reduces_done: BTreeMap<u32, StoredTask>,
}

/// Everything stored, as read at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// This state's identity, random when the store was created: workers
    /// report held map output tagged with it, so output made for another
    /// coordinator's jobs (same ids, other jobs) is never adopted.
    pub state_id: u64,
    /// The id the next submission gets (ids are never reused).
    pub next_job_id: u32,
    /// Every stored job, by id.
    pub jobs: BTreeMap<JobId, StoredJob>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state folder cannot be created.
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be opened (another coordinator may use it).
    #[error("cannot open the job store {path}: {source}")]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        source: Box<::redb::DatabaseError>,
    },
    /// The embedded database failed.
    #[error("job store: {0}")]
    Backend(Box<::redb::Error>),
    /// A stored value cannot be read back.
    #[error("job store: a stored {what} is unreadable: {source}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// A write failed (the writer reports the one error to every waiter of
    /// its transaction).
    #[error("job store write failed: {0}")]
    Failed(std::sync::Arc<StoreError>),
    /// Opening the store off the async runtime panicked or was cancelled
    /// (the text is the one this case always had).
    #[error("job store write failed: {0}")]
    OpenCrashed(#[source] tokio::task::JoinError),
    /// The writer is gone (the coordinator is stopping).
    #[error("the job store's writer has stopped")]
    Stopped,
}

/// A durable home for the coordinator's jobs. Implementations apply each
/// batch atomically and durably; [`Journal`] batches concurrent callers.
pub trait JobStore: Send + Sync + 'static {
    /// Everything stored.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Applies `records` in one atomic transaction, synced to stable
    /// storage when this returns.
    fn append(&self, records: &[Record]) -> Result<(), StoreError>;
}

/// A random non-zero number (a hash of the clock and the process, seeded
/// per process): a store's id, and the coordinator's epoch, which differs
/// between starts.
pub fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish().max(1)
}
