//! [`RedbStore`]: the [`JobStore`] on `redb`, an embedded, pure-Rust,
//! crash-safe key-value store (copy-on-write B-trees, a commit is one
//! fsync'd write). One file, `jobs.redb`, in the state folder; redb locks
//! it, so a second coordinator on the same folder is refused.
//!
//! Tables: `jobs` (job id → the job's row as JSON: spec, plugin hash,
//! submission time, end), `tasks` ((job, phase, index) → finished attempt
//! and counters, dropped when the job ends) and `meta` (`next_job_id`,
//! `state_id`).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};

use super::{random_id, JobStore, Record, Snapshot, StoreError, StoredJob, StoredTask};
use crate::core::{JobId, Phase};

const JOBS: TableDefinition<u32, &[u8]> = TableDefinition::new("jobs");
const TASKS: TableDefinition<(u32, u8, u32), &[u8]> = TableDefinition::new("tasks");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const NEXT_JOB_ID: &str = "next_job_id";
const STATE_ID: &str = "state_id";

/// The job store in `DIR/jobs.redb`.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

fn phase_key(p: Phase) -> u8 {
    match p {
        Phase::Map => 0,
        Phase::Reduce => 1,
    }
}

/// `redb`'s error types, each into the one backend variant.
macro_rules! backend_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(Box::new(e.into()))
            }
        }
    )*};
}
backend_errors!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl RedbStore {
    /// Opens (creating if needed) the store in `dir` (created too, mode
    /// 0700: job specs name the cluster's files).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(dir).map_err(|source| StoreError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("jobs.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source: Box::new(source),
        })?;
        let store = RedbStore { db, path };
        store.init()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables and this state's identity on first open.
    fn init(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(JOBS)?;
            txn.open_table(TASKS)?;
            let mut meta = txn.open_table(META)?;
            if meta.get(STATE_ID)?.is_none() {
                meta.insert(STATE_ID, random_id())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl JobStore for RedbStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let mut snapshot = Snapshot {
            state_id: meta.get(STATE_ID)?.map(|v| v.value()).unwrap_or(0),
            next_job_id: meta.get(NEXT_JOB_ID)?.map(|v| v.value()).unwrap_or(0) as u32,
            ..Snapshot::default()
        };
        for row in txn.open_table(JOBS)?.iter()? {
            let (id, bytes) = row?;
            let job: StoredJob =
                serde_json::from_slice(bytes.value()).map_err(|source| StoreError::Corrupt {
                    what: "job",
                    source,
                })?;
            snapshot.jobs.insert(JobId(id.value()), job);
        }
        for row in txn.open_table(TASKS)?.iter()? {
            let (key, bytes) = row?;
            let (job, phase, index) = key.value();
            let task: StoredTask =
                serde_json::from_slice(bytes.value()).map_err(|source| StoreError::Corrupt {
                    what: "task",
                    source,
                })?;
            if let Some(j) = snapshot.jobs.get_mut(&JobId(job)) {
                let done = if phase == 0 {
                    &mut j.maps_done
                } else {
                    &mut j.reduces_done
                };
                done.insert(index, task);
            }
        }
        Ok(snapshot)
    }

    fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut tasks = txn.open_table(TASKS)?;
            let mut meta = txn.open_table(META)?;
            for record in records {
                match record {
                    Record::Submitted {
                        job,
                        spec,
                        plugin_sha256,
                        submitted_at_ms,
                    } => {
                        let row = StoredJob {
                            spec: spec.clone(),
                            plugin_sha256: plugin_sha256.clone(),
                            submitted_at_ms: *submitted_at_ms,
                            end: None,
                            maps_done: Default::default(),
                            reduces_done: Default::default(),
                        };
                        jobs.insert(job.0, encode(&row).as_slice())?;
                        let next = meta.get(NEXT_JOB_ID)?.map(|v| v.value()).unwrap_or(0);
                        let after = u64::from(job.0) + 1;
                        if after > next {
                            meta.insert(NEXT_JOB_ID, after)?;
                        }
                    }
                    Record::TaskFinished {
                        task,
                        attempt,
                        counters,
                    } => {
                        // A job that ended (or was forgotten) needs no
                        // task records.
                        let open = match jobs.get(task.job.0)? {
                            Some(row) => decode(row.value())?.end.is_none(),
                            None => false,
                        };
                        if open {
                            let value = StoredTask {
                                attempt: attempt.0,
                                counters: *counters,
                            };
                            let key = (task.job.0, phase_key(task.phase), task.index);
                            tasks.insert(key, encode(&value).as_slice())?;
                        }
                    }
                    Record::JobEnded { job, end } => {
                        let row = jobs.get(job.0)?.map(|r| decode(r.value())).transpose()?;
                        if let Some(mut row) = row {
                            row.end = Some(end.clone());
                            jobs.insert(job.0, encode(&row).as_slice())?;
                        }
                        remove_tasks(&mut tasks, *job)?;
                    }
                    Record::Forget { job } => {
                        jobs.remove(job.0)?;
                        remove_tasks(&mut tasks, *job)?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

fn remove_tasks(
    tasks: &mut redb::Table<'_, (u32, u8, u32), &[u8]>,
    job: JobId,
) -> Result<(), StoreError> {
    let keys: Vec<(u32, u8, u32)> = tasks
        .range((job.0, 0, 0)..=(job.0, u8::MAX, u32::MAX))?
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for k in keys {
        tasks.remove(k)?;
    }
    Ok(())
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<StoredJob, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        what: "job",
        source,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::store::StoredEnd;
    use crate::core::{Attempt, Counters, JobSpec, JobState, TaskCounters, TaskId};

    fn spec(n: usize) -> JobSpec {
        let files = (0..n).map(|i| format!("/in/f{i}")).collect();
        JobSpec {
            args: vec![1, 2],
            ..JobSpec::new("wc", files, "/out", 2)
        }
    }

    fn submitted(job: u32) -> Record {
        Record::Submitted {
            job: JobId(job),
            spec: spec(3),
            plugin_sha256: "abc".into(),
            submitted_at_ms: 1000 + u64::from(job),
        }
    }

    fn finished(task: TaskId, attempt: u32) -> Record {
        Record::TaskFinished {
            task,
            attempt: Attempt(attempt),
            counters: TaskCounters {
                input_bytes: 7,
                ..Default::default()
            },
        }
    }

    #[test]
    fn what_was_appended_is_there_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first_id = {
            let s = RedbStore::open(&state).unwrap();
            s.append(&[submitted(0), submitted(1), submitted(2)])
                .unwrap();
            s.append(&[
                finished(TaskId::map(JobId(1), 2), 3),
                finished(TaskId::reduce(JobId(1), 1), 1),
                finished(TaskId::map(JobId(0), 0), 1),
            ])
            .unwrap();
            let end = StoredEnd {
                state: JobState::Cancelled,
                errors: vec!["cancelled".into()],
                counters: Counters::default(),
                finished_at_ms: 5,
            };
            s.append(&[Record::JobEnded { job: JobId(0), end }])
                .unwrap();
            s.append(&[Record::Forget { job: JobId(2) }]).unwrap();
            s.load().unwrap().state_id
        };
        let s = RedbStore::open(&state).unwrap();
        let snap = s.load().unwrap();
        assert_eq!(snap.state_id, first_id, "the state keeps its identity");
        assert_eq!(snap.next_job_id, 3, "a forgotten job's id stays used");
        assert_eq!(
            snap.jobs.keys().copied().collect::<Vec<_>>(),
            [JobId(0), JobId(1)]
        );
        let j0 = &snap.jobs[&JobId(0)];
        assert_eq!(j0.end.as_ref().unwrap().state, JobState::Cancelled);
        assert!(j0.maps_done.is_empty(), "an ended job's tasks are dropped");
        let j1 = &snap.jobs[&JobId(1)];
        assert_eq!(j1.spec, spec(3));
        assert_eq!(j1.submitted_at_ms, 1001);
        assert_eq!(j1.maps_done[&2].attempt, 3);
        assert_eq!(j1.maps_done[&2].counters.input_bytes, 7);
        assert_eq!(j1.reduces_done[&1].attempt, 1);
        assert!(j1.end.is_none());
    }

    #[test]
    fn a_second_coordinator_on_the_same_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbStore::open(dir.path()).unwrap();
        let second = RedbStore::open(dir.path());
        assert!(matches!(second, Err(StoreError::Open { .. })), "{second:?}");
    }

    #[test]
    fn task_records_of_ended_or_unknown_jobs_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(dir.path()).unwrap();
        let end = StoredEnd {
            state: JobState::Failed,
            errors: vec![],
            counters: Counters::default(),
            finished_at_ms: 1,
        };
        s.append(&[submitted(4), Record::JobEnded { job: JobId(4), end }])
            .unwrap();
        s.append(&[
            finished(TaskId::map(JobId(4), 0), 1),
            finished(TaskId::map(JobId(9), 0), 1),
        ])
        .unwrap();
        let snap = s.load().unwrap();
        assert!(snap.jobs[&JobId(4)].maps_done.is_empty());
        assert_eq!(snap.next_job_id, 5);
    }
}
