//! [`OutputFolders`]: the output folders of the coordinator's unfinished
//! jobs, outside the core (this is file-system bookkeeping, not
//! scheduling).
//!
//! - A submission claims its folder before anything is created, so two
//!   queued or running jobs never write one folder; the claim passes to the
//!   job once the core accepted it and lapses when the core says the job
//!   ended.
//! - A job that succeeds commits: its manifest is written into the folder
//!   (off the lock), and until then the job reads as running, so a client
//!   that sees "succeeded" always finds the manifest. A commit that fails
//!   turns the job into a failed one, with the reason.
//!
//! Lock order: the core's lock, then this one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tonic::Status;

use super::convert::Clock;
use crate::core::{JobId, JobState, JobStatus, Scheduler};
use crate::output::manifest::{self, Manifest};
use crate::output::OutputError;
use crate::security::Confinement;

/// Who holds an output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A submission being admitted.
    Submitting,
    /// An accepted job.
    Job(JobId),
}

/// Where a job's commit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Commit {
    /// Not finished yet.
    Open,
    /// The manifest is being written.
    Writing,
    /// Writing it failed.
    Failed(String),
}

#[derive(Debug)]
struct JobOutput {
    dir: PathBuf,
    plugin_sha256: String,
    commit: Commit,
}

#[derive(Debug, Default)]
struct Inner {
    claims: HashMap<PathBuf, Claim>,
    jobs: HashMap<JobId, JobOutput>,
}

/// The output folders of unfinished jobs and their commits.
#[derive(Debug, Default)]
pub struct OutputFolders {
    inner: Mutex<Inner>,
}

/// A claimed folder during admission; released on drop unless
/// [`OutputFolders::bind`] hands it to the accepted job.
pub struct Claimed<'a> {
    folders: &'a OutputFolders,
    dir: Option<PathBuf>,
}

impl Claimed<'_> {
    /// The claimed folder.
    pub fn dir(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let mut inner = self.folders.lock();
            if inner.claims.get(&dir) == Some(&Claim::Submitting) {
                inner.claims.remove(&dir);
            }
        }
    }
}

/// What a commit needs, taken under the core's lock.
#[derive(Debug)]
pub struct PendingCommit {
    /// The job.
    pub job: JobId,
    dir: PathBuf,
    confinement: Arc<Confinement>,
    manifest: Manifest,
}

impl OutputFolders {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many submissions are being admitted (they count toward the
    /// queue limit).
    pub fn submitting(&self) -> usize {
        let inner = self.lock();
        inner
            .claims
            .values()
            .filter(|c| **c == Claim::Submitting)
            .count()
    }

    /// Claims `dir` (resolved) for a submission, unless an unfinished job or
    /// another submission holds it. Call with the core's lock held (its
    /// view of which jobs ended decides whether a claim lapsed).
    pub fn claim<'a>(&'a self, core: &Scheduler, dir: &Path) -> Result<Claimed<'a>, Status> {
        let mut inner = self.lock();
        match inner.claims.get(dir).copied() {
            Some(Claim::Submitting) => {
                return Err(Status::already_exists(format!(
                    "output directory {} is being claimed by another submission right now; \
                     choose another folder",
                    dir.display()
                )))
            }
            Some(Claim::Job(job)) => {
                let committing = inner
                    .jobs
                    .get(&job)
                    .is_some_and(|j| j.commit == Commit::Writing);
                match core.job_status(job) {
                    Ok(s) if !s.state.is_ended() || committing => {
                        let state = if committing {
                            "committing"
                        } else {
                            s.state.name()
                        };
                        return Err(Status::already_exists(format!(
                            "output directory {} is the output of job {} ({state}); two \
                             unfinished jobs may not write one folder: wait for it to end \
                             (`mr poll {}`), cancel it (`mr cancel {}`), or choose another folder",
                            dir.display(),
                            job.0,
                            job.0,
                            job.0
                        )));
                    }
                    _ => {
                        // Ended without a commit (failed or cancelled).
                        if inner
                            .jobs
                            .get(&job)
                            .is_some_and(|j| j.commit == Commit::Open)
                        {
                            inner.jobs.remove(&job);
                        }
                    }
                }
            }
            None => {}
        }
        inner.claims.insert(dir.to_path_buf(), Claim::Submitting);
        Ok(Claimed {
            folders: self,
            dir: Some(dir.to_path_buf()),
        })
    }

    /// Hands `claimed`'s folder to the accepted `job`, whose app's library
    /// had `plugin_sha256`.
    pub fn bind(&self, mut claimed: Claimed<'_>, job: JobId, plugin_sha256: String) {
        let Some(dir) = claimed.dir.take() else {
            return;
        };
        self.restore(job, dir, plugin_sha256);
    }

    /// Gives a job restored from the store (unfinished, or succeeded but
    /// not yet committed) its folder back.
    pub fn restore(&self, job: JobId, dir: PathBuf, plugin_sha256: String) {
        let mut inner = self.lock();
        inner.claims.insert(dir.clone(), Claim::Job(job));
        inner.jobs.insert(
            job,
            JobOutput {
                dir,
                plugin_sha256,
                commit: Commit::Open,
            },
        );
    }

    /// Starts the commit of `status`'s job, which just succeeded (call under
    /// the core's lock, in the same critical section as the report that
    /// finished it, so nobody sees it succeeded before its manifest exists).
    /// The folder is opened again at commit beneath `confinement`'s allowed
    /// output folders (no descriptor is held while the job runs).
    pub fn begin_commit(
        &self,
        status: &JobStatus,
        clock: &Clock,
        confinement: &Arc<Confinement>,
    ) -> Option<PendingCommit> {
        let mut inner = self.lock();
        let out = inner.jobs.get_mut(&status.id)?;
        if out.commit != Commit::Open {
            return None;
        }
        out.commit = Commit::Writing;
        let c = status.counters;
        let counters = BTreeMap::from(
            [
                ("input_bytes", c.input_bytes),
                ("input_records", c.input_records),
                ("map_output_records", c.map_output_records),
                ("map_output_bytes", c.map_output_bytes),
                ("shuffle_bytes", c.shuffle_bytes),
                ("reduce_output_records", c.reduce_output_records),
                ("reduce_output_bytes", c.reduce_output_bytes),
                ("task_attempts", c.task_attempts),
                ("task_failures", c.task_failures),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        Some(PendingCommit {
            job: status.id,
            dir: out.dir.clone(),
            confinement: Arc::clone(confinement),
            manifest: Manifest {
                format: manifest::FORMAT,
                job_id: status.id.0,
                app: status.spec.app.clone(),
                plugin_sha256: out.plugin_sha256.clone(),
                n_reduce: status.spec.n_reduce,
                files: Vec::new(),
                counters,
                submitted_at_ms: clock.epoch_ms(status.submitted_at),
                finished_at_ms: status.finished_at.map(|t| clock.epoch_ms(t)).unwrap_or(0),
            },
        })
    }

    /// Records how `job`'s commit ended; the folder is free again either way.
    pub fn end_commit(&self, job: JobId, result: Result<(), OutputError>) {
        let mut inner = self.lock();
        let Some(out) = inner.jobs.get_mut(&job) else {
            return;
        };
        let dir = out.dir.clone();
        match result {
            Ok(()) => {
                inner.jobs.remove(&job);
            }
            Err(e) => {
                out.commit = Commit::Failed(format!(
                    "every reduce finished, but the output could not be committed: {e}"
                ));
            }
        }
        if inner.claims.get(&dir) == Some(&Claim::Job(job)) {
            inner.claims.remove(&dir);
        }
    }

    /// The core forgot `job`: drop what is kept about it, unless its commit
    /// is being written (`end_commit` then cleans up).
    pub fn forget(&self, job: JobId) {
        let mut inner = self.lock();
        let Some(out) = inner.jobs.get(&job) else {
            return;
        };
        if out.commit == Commit::Writing {
            return;
        }
        let dir = out.dir.clone();
        inner.jobs.remove(&job);
        if inner.claims.get(&dir) == Some(&Claim::Job(job)) {
            inner.claims.remove(&dir);
        }
    }

    /// Shows `status` as clients must see it: a job whose manifest is being
    /// written still runs; one whose commit failed has failed.
    pub fn adjust(&self, status: &mut JobStatus) {
        if status.state != JobState::Succeeded {
            return;
        }
        let inner = self.lock();
        match inner.jobs.get(&status.id).map(|j| &j.commit) {
            Some(Commit::Writing) => {
                status.state = JobState::Running;
                status.finished_at = None;
            }
            Some(Commit::Failed(e)) => {
                status.state = JobState::Failed;
                status.errors.push(e.clone());
            }
            Some(Commit::Open) | None => {}
        }
    }
}

impl PendingCommit {
    /// Writes the manifest (blocking I/O): opens the folder once (beneath
    /// the allowed output folders), checks every output file is there and
    /// records their sizes, then writes `_SUCCESS` atomically, all through
    /// that descriptor, so a path swapped meanwhile cannot redirect it.
    pub fn write(mut self) -> Result<(), OutputError> {
        let url = self.dir.to_string_lossy();
        if crate::storage::is_object(&url) {
            return super::object_outputs::commit(&url, self.manifest);
        }
        let dir = self
            .confinement
            .open_output(&self.dir.to_string_lossy())
            .map_err(|e| OutputError::Folder {
                action: "open output directory",
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        self.manifest.files = manifest::output_files(&dir, self.manifest.n_reduce)?;
        self.manifest.write(&dir)
    }
}
