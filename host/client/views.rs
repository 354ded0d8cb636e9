//! What a client gets back from the coordinator: [`JobView`] (with its
//! [`JobState`], [`Progress`] and [`Counters`]), [`WorkerView`] and
//! [`AppView`], each built from its wire type here and serialized with
//! plain-number ids for `--json` output.

use serde::Serialize;

use crate::core::{JobId, WorkerId};
use crate::proto::coordinator as pb;

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its first task to start.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        })
    }
}

/// Progress of one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Tasks in the phase.
    pub total: u32,
    /// Finished.
    pub done: u32,
    /// Running now.
    pub running: u32,
}

/// A job as a client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// The job's id.
    #[serde(serialize_with = "job_number")]
    pub job_id: JobId,
    /// Its state.
    pub state: JobState,
    /// Whether it ended.
    pub done: bool,
    /// Whether it failed (or was cancelled).
    pub failed: bool,
    /// Its errors.
    pub errors: Vec<String>,
    /// Why its progress went back, the last few, oldest first.
    pub notes: Vec<String>,
    /// The app.
    pub app: String,
    /// Map progress.
    pub maps: Progress,
    /// Reduce progress.
    pub reduces: Progress,
    /// Output directory.
    pub output_dir: String,
    /// Partitions.
    pub n_reduce: u32,
    /// Counters.
    pub counters: Counters,
    /// Submission time, ms since the Unix epoch.
    pub submitted_at_ms: u64,
    /// End time, ms since the Unix epoch (0 while running).
    pub finished_at_ms: u64,
    /// The job's name (empty if it has none).
    pub name: String,
    /// Who submitted it, as its client said (empty if unknown).
    pub submitted_by: String,
}

/// A job's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Bytes of input read.
    pub input_bytes: u64,
    /// Input records (files) read.
    pub input_records: u64,
    /// Map output records.
    pub map_output_records: u64,
    /// Map output bytes.
    pub map_output_bytes: u64,
    /// Bytes shuffled to reduces.
    pub shuffle_bytes: u64,
    /// Reduce output records.
    pub reduce_output_records: u64,
    /// Reduce output bytes.
    pub reduce_output_bytes: u64,
    /// Task attempts.
    pub task_attempts: u64,
    /// Failed or lost attempts.
    pub task_failures: u64,
}

fn progress(p: Option<pb::PhaseProgress>) -> Progress {
    let p = p.unwrap_or_default();
    Progress {
        total: p.total,
        done: p.done,
        running: p.running,
    }
}

impl From<pb::PollJobReply> for JobView {
    fn from(r: pb::PollJobReply) -> Self {
        let state = match pb::JobState::try_from(r.state).unwrap_or(pb::JobState::Unspecified) {
            pb::JobState::Queued => JobState::Queued,
            pb::JobState::Running => JobState::Running,
            pb::JobState::Succeeded => JobState::Succeeded,
            pb::JobState::Failed => JobState::Failed,
            pb::JobState::Cancelled => JobState::Cancelled,
            // An older coordinator sends only done/failed, and the
            // course's a failed job as failed but not done.
            pb::JobState::Unspecified => match (r.done, r.failed) {
                (_, true) => JobState::Failed,
                (true, false) => JobState::Succeeded,
                (false, false) => JobState::Running,
            },
        };
        let done = r.done || matches!(state, JobState::Failed);
        let c = r.counters.unwrap_or_default();
        JobView {
            job_id: JobId(r.job_id),
            state,
            done,
            failed: r.failed,
            errors: r.errors,
            notes: r.notes,
            app: r.app,
            maps: progress(r.maps),
            reduces: progress(r.reduces),
            output_dir: r.output_dir,
            n_reduce: r.n_reduce,
            counters: Counters {
                input_bytes: c.input_bytes,
                input_records: c.input_records,
                map_output_records: c.map_output_records,
                map_output_bytes: c.map_output_bytes,
                shuffle_bytes: c.shuffle_bytes,
                reduce_output_records: c.reduce_output_records,
                reduce_output_bytes: c.reduce_output_bytes,
                task_attempts: c.task_attempts,
                task_failures: c.task_failures,
            },
            submitted_at_ms: r.submitted_at_ms,
            finished_at_ms: r.finished_at_ms,
            name: r.name,
            submitted_by: r.submitted_by,
        }
    }
}

/// A worker as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerView {
    /// Its id.
    #[serde(serialize_with = "worker_number")]
    pub worker_id: WorkerId,
    /// Its address.
    pub address: String,
    /// `alive` or `dead`.
    pub state: String,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_age_ms: u64,
    /// What it runs.
    pub running: String,
    /// Tasks it completed.
    pub tasks_completed: u64,
}

impl From<pb::WorkerInfo> for WorkerView {
    fn from(w: pb::WorkerInfo) -> Self {
        WorkerView {
            worker_id: WorkerId(w.worker_id),
            address: w.address,
            state: match pb::WorkerState::try_from(w.state) {
                Ok(pb::WorkerState::Alive) => "alive",
                Ok(pb::WorkerState::Dead) => "dead",
                _ => "unknown",
            }
            .to_string(),
            last_heartbeat_age_ms: w.last_heartbeat_age_ms,
            running: w.running,
            tasks_completed: w.tasks_completed,
        }
    }
}

/// An app in the coordinator's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppView {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Plugin file.
    pub file: String,
    /// SHA-256 of the plugin file.
    pub sha256: String,
}

pub(super) fn app_views(apps: Vec<pb::AppInfo>) -> Vec<AppView> {
    apps.into_iter()
        .map(|a| AppView {
            name: a.name,
            version: a.version,
            description: a.description,
            file: a.file,
            sha256: a.sha256,
        })
        .collect()
}

/// Serializes a job id as its number (JSON output stays `"job_id": 3`).
fn job_number<S: serde::Serializer>(id: &JobId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(id.0)
}

/// Serializes a worker id as its number.
fn worker_number<S: serde::Serializer>(id: &WorkerId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(id.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_ids_serialize_as_plain_numbers() {
        let job = JobView::from(pb::PollJobReply {
            job_id: 3,
            ..Default::default()
        });
        assert_eq!(job.job_id, JobId(3));
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["job_id"], 3);
        let worker = WorkerView {
            worker_id: WorkerId(5),
            address: String::new(),
            state: "alive".into(),
            last_heartbeat_age_ms: 0,
            running: String::new(),
            tasks_completed: 0,
        };
        assert_eq!(serde_json::to_value(&worker).unwrap()["worker_id"], 5);
    }
}
