//! Conversions between the wire types and the core's domain types: the only
//! place the coordinator touches protobuf structs. Missing or invalid fields
//! become `InvalidArgument`, never a panic.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tonic::Status;

use crate::core::{
    Assignment, Attempt, CoreError, Failure, HeldOutput, JobId, JobSpec, JobState, JobStatus,
    Phase, PhaseProgress, Report, TaskCounters, TaskId, WorkerId, WorkerState, WorkerStatus,
};
use crate::proto::coordinator as pb;

/// Maps a core error to the gRPC status a caller sees.
pub fn status_of(e: CoreError) -> Status {
    let msg = e.to_string();
    match e {
        CoreError::NoInputFiles | CoreError::ZeroReduce | CoreError::UnknownTask { .. } => {
            Status::invalid_argument(msg)
        }
        CoreError::UnknownJob(_) | CoreError::JobForgotten(_) | CoreError::UnknownWorker(_) => {
            Status::not_found(msg)
        }
        CoreError::WorkerDead(_) | CoreError::JobEnded(_) => Status::failed_precondition(msg),
        CoreError::JobExists(_) => Status::already_exists(msg),
    }
}

/// Workers that register without an address (older builds) serve their map
/// output at `127.0.0.1:(LEGACY_PORT_BASE + worker id)`.
pub const LEGACY_PORT_BASE: u32 = 10163;

/// Where to reach `worker`: the address it registered with, or the legacy
/// port rule when it gave none.
pub fn worker_address(worker: WorkerId, registered: Option<&str>) -> String {
    match registered {
        Some(a) => a.to_string(),
        None => format!("127.0.0.1:{}", LEGACY_PORT_BASE + worker.0),
    }
}

/// Converts instants of the core's monotonic clock to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    mono: Instant,
    wall: SystemTime,
}

impl Clock {
    /// A clock anchored now.
    pub fn new() -> Self {
        Clock {
            mono: super::state::now(),
            wall: SystemTime::now(),
        }
    }

    /// Milliseconds since the Unix epoch at `t`.
    pub fn epoch_ms(&self, t: Instant) -> u64 {
        let wall = if t >= self.mono {
            self.wall + (t - self.mono)
        } else {
            self.wall - (self.mono - t)
        };
        wall.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as u64
    }
}

impl Clock {
    /// The instant at `ms` milliseconds since the Unix epoch (the inverse
    /// of [`Clock::epoch_ms`], for times read back from the job store).
    pub fn instant_of(&self, ms: u64) -> Instant {
        let wall = UNIX_EPOCH + Duration::from_millis(ms);
        match wall.duration_since(self.wall) {
            Ok(ahead) => self.mono.checked_add(ahead).unwrap_or(self.mono),
            Err(e) => self.mono.checked_sub(e.duration()).unwrap_or(self.mono),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A submit request as a job spec (the app is checked by the caller).
pub fn job_spec(r: pb::SubmitJobRequest) -> Result<JobSpec, Status> {
    if r.app.is_empty() {
        return Err(Status::invalid_argument("app must be given"));
    }
    if r.output_dir.is_empty() {
        return Err(Status::invalid_argument("output_dir must be given"));
    }
    let object = crate::storage::is_object(&r.output_dir);
    if !object && !std::path::Path::new(&r.output_dir).is_absolute() {
        return Err(Status::invalid_argument(format!(
            "output_dir must be an absolute path, got {:?}",
            r.output_dir
        )));
    }
    for (field, value) in [("name", &r.name), ("submitted_by", &r.submitted_by)] {
        if value.len() > MAX_LABEL_BYTES {
            return Err(Status::invalid_argument(format!(
                "{field} is {} bytes long; at most {MAX_LABEL_BYTES}",
                value.len()
            )));
        }
    }
    if let Some(i) = r.files.iter().position(String::is_empty) {
        return Err(Status::invalid_argument(format!(
            "input file {i} is an empty path"
        )));
    }
    Ok(JobSpec {
        files: r.files,
        splits: Vec::new(),
        output_dir: r.output_dir,
        app: r.app,
        n_reduce: r.n_reduce,
        args: r.args,
        name: r.name,
        submitted_by: r.submitted_by,
        speculation: r.speculation,
    })
}

fn progress(p: PhaseProgress) -> pb::PhaseProgress {
    pb::PhaseProgress {
        total: p.total,
        done: p.done,
        running: p.running,
    }
}

fn job_state(s: JobState) -> pb::JobState {
    match s {
        JobState::Queued => pb::JobState::Queued,
        JobState::Running => pb::JobState::Running,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

/// The longest job name or submitter accepted, in bytes.
pub const MAX_LABEL_BYTES: usize = 256;

/// A job's status as a `PollJob` reply.
pub fn poll_reply(s: &JobStatus, clock: &Clock) -> pb::PollJobReply {
    let c = s.counters;
    pb::PollJobReply {
        done: s.state.is_ended(),
        failed: matches!(s.state, JobState::Failed | JobState::Cancelled),
        errors: s.errors.clone(),
        notes: s.notes.clone(),
        job_id: s.id.0,
        state: job_state(s.state) as i32,
        app: s.spec.app.clone(),
        maps: Some(progress(s.maps)),
        reduces: Some(progress(s.reduces)),
        counters: Some(pb::JobCounters {
            input_bytes: c.input_bytes,
            input_records: c.input_records,
            map_output_records: c.map_output_records,
            map_output_bytes: c.map_output_bytes,
            shuffle_bytes: c.shuffle_bytes,
            reduce_output_records: c.reduce_output_records,
            reduce_output_bytes: c.reduce_output_bytes,
            task_attempts: c.task_attempts,
            task_failures: c.task_failures,
        }),
        output_dir: s.spec.output_dir.clone(),
        n_reduce: s.spec.n_reduce,
        submitted_at_ms: clock.epoch_ms(s.submitted_at),
        finished_at_ms: s.finished_at.map(|t| clock.epoch_ms(t)).unwrap_or(0),
        name: s.spec.name.clone(),
        submitted_by: s.spec.submitted_by.clone(),
    }
}

/// An assignment as a `GetTask` reply; `app_sha256` names the library the
/// worker must run it with.
pub fn task_reply(a: Assignment, app_sha256: String) -> pb::GetTaskReply {
    let split = a.split().unwrap_or_default();
    let file = split.whole_file().unwrap_or_default().to_string();
    let inputs = split
        .inputs
        .into_iter()
        .map(|r| pb::InputRange {
            path: r.path,
            offset: r.offset,
            ranged: r.len.is_some(),
            length: r.len.unwrap_or(0),
        })
        .collect();
    pb::GetTaskReply {
        job_id: a.task.job.0,
        output_dir: a.spec.output_dir.clone(),
        app: a.spec.app.clone(),
        task: a.task.index,
        file,
        n_reduce: a.spec.n_reduce,
        n_map: a.n_map,
        reduce: a.task.phase == Phase::Reduce,
        wait: false,
        map_task_assignments: a
            .map_locations
            .into_iter()
            .map(|l| pb::MapTaskAssignment {
                task: l.task,
                worker_id: l.worker.0,
                address: worker_address(l.worker, l.address.as_deref()),
                attempt: l.attempt.0,
            })
            .collect(),
        args: a.spec.args.clone(),
        inputs,
        attempt: a.attempt.0,
        app_sha256,
        allowed_input: Vec::new(),
        allowed_output: Vec::new(),
    }
}

/// The `GetTask` reply telling a worker to wait.
pub fn wait_reply() -> pb::GetTaskReply {
    pb::GetTaskReply {
        wait: true,
        ..Default::default()
    }
}

fn task_id(job: u32, task: u32, reduce: bool) -> TaskId {
    let phase = if reduce { Phase::Reduce } else { Phase::Map };
    TaskId {
        job: JobId(job),
        phase,
        index: task,
    }
}

fn attempt(a: u32) -> Option<Attempt> {
    (a != 0).then_some(Attempt(a))
}

/// A `FinishTask` request as a core report.
pub fn finish_report(r: pb::FinishTaskRequest) -> (Report, TaskCounters) {
    let c = r.counters.unwrap_or_default();
    (
        Report {
            worker: WorkerId(r.worker_id),
            task: task_id(r.job_id, r.task, r.reduce),
            attempt: attempt(r.attempt),
        },
        TaskCounters {
            input_bytes: c.input_bytes,
            input_records: c.input_records,
            output_records: c.output_records,
            output_bytes: c.output_bytes,
            shuffle_bytes: c.shuffle_bytes,
        },
    )
}

/// The held map outputs a registering worker offers that were made under
/// this coordinator's job state `state_id` (job ids of another state name
/// other jobs), with a known attempt.
pub fn held_outputs(held: &[pb::HeldMapOutput], state_id: u64) -> Vec<HeldOutput> {
    held.iter()
        .filter(|h| h.state_id == state_id && h.attempt > 0)
        .map(|h| HeldOutput {
            job: JobId(h.job_id),
            map: h.map_task,
            attempt: Attempt(h.attempt),
        })
        .collect()
}

/// A `FailTask` request as a core report.
pub fn fail_report(r: pb::FailTaskRequest) -> (Report, Failure) {
    (
        Report {
            worker: WorkerId(r.worker_id),
            task: task_id(r.job_id, r.task, r.reduce),
            attempt: attempt(r.attempt),
        },
        Failure {
            error: if r.error.is_empty() {
                "(the worker gave no error message)".to_string()
            } else {
                r.error
            },
            retry: r.retry,
            unreachable: r.unreachable_worker.map(WorkerId),
            crash: (!r.crash_cause.is_empty()).then_some(r.crash_cause),
        },
    )
}

/// A registry's apps for `ListApps`.
pub fn app_infos(registry: &crate::plugin::Registry) -> Vec<pb::AppInfo> {
    registry
        .apps()
        .map(|a| pb::AppInfo {
            name: a.name.clone(),
            version: a.version.clone(),
            description: a.description.clone(),
            file: a
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            sha256: a.sha256.clone(),
        })
        .collect()
}

/// A worker's status for `ListWorkers`.
pub fn worker_info(w: &WorkerStatus) -> pb::WorkerInfo {
    let running = w
        .running
        .iter()
        .map(|(t, a)| format!("job {} {} {} (attempt {a})", t.job, t.phase, t.index))
        .collect::<Vec<_>>()
        .join(", ");
    pb::WorkerInfo {
        worker_id: w.id.0,
        address: worker_address(w.id, w.address.as_deref()),
        state: match w.state {
            WorkerState::Alive => pb::WorkerState::Alive,
            WorkerState::Dead => pb::WorkerState::Dead,
        } as i32,
        last_heartbeat_age_ms: w.last_seen_ago.as_millis() as u64,
        running,
        tasks_completed: w.tasks_completed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::MapLocation;

    #[test]
    fn job_names_and_submitters_are_kept_and_bounded() {
        let request = |name: String| pb::SubmitJobRequest {
            files: vec!["/in".into()],
            output_dir: "/out".into(),
            app: "wc".into(),
            n_reduce: 1,
            name,
            submitted_by: "ada".into(),
            ..Default::default()
        };
        let spec = job_spec(request("nightly".into())).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.submitted_by.as_str()),
            ("nightly", "ada")
        );
        let long = job_spec(request("x".repeat(MAX_LABEL_BYTES + 1))).unwrap_err();
        assert_eq!(long.code(), tonic::Code::InvalidArgument);
        assert!(job_spec(request("x".repeat(MAX_LABEL_BYTES))).is_ok());
    }

    #[test]
    fn workers_without_an_address_are_reached_at_the_legacy_port() {
        assert_eq!(worker_address(WorkerId(1), None), "127.0.0.1:10164");
        assert_eq!(
            worker_address(WorkerId(2), Some("10.1.2.3:9000")),
            "10.1.2.3:9000"
        );
    }

    #[test]
    fn task_replies_and_worker_infos_apply_the_legacy_port_rule() {
        let spec = JobSpec {
            files: vec!["a".into(), "b".into()],
            splits: Vec::new(),
            output_dir: "/out".into(),
            app: "wc".into(),
            n_reduce: 1,
            args: Vec::new(),
            name: String::new(),
            submitted_by: String::new(),
            speculation: None,
        };
        let location = |task, worker, address: Option<&str>| MapLocation {
            task,
            attempt: Attempt(1),
            worker: WorkerId(worker),
            address: address.map(str::to_string),
        };
        let a = Assignment {
            task: TaskId::reduce(JobId(0), 0),
            attempt: Attempt(1),
            spec: Arc::new(spec),
            n_map: 2,
            map_locations: vec![location(0, 0, Some("10.1.2.3:9000")), location(1, 5, None)],
        };
        let addresses: Vec<String> = task_reply(a, String::new())
            .map_task_assignments
            .into_iter()
            .map(|m| m.address)
            .collect();
        assert_eq!(addresses, ["10.1.2.3:9000", "127.0.0.1:10168"]);

        let status = WorkerStatus {
            id: WorkerId(3),
            address: None,
            state: WorkerState::Alive,
            last_seen_ago: Duration::ZERO,
            running: Vec::new(),
            tasks_completed: 0,
        };
        assert_eq!(worker_info(&status).address, "127.0.0.1:10166");
    }
}
