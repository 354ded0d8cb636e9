//! Conversions between the coordinator's wire types and the worker's task
//! specs: the only place the worker reads or builds coordinator protobuf
//! structs. A task assignment is checked and typed once here ([`TaskSpec`]);
//! everything past this module uses the core's id types.

use crate::core::{Attempt, InputRange, JobId, Phase, TaskCounters, TaskId, WorkerId};
use crate::proto::coordinator as pb;
use crate::security::Confinement;

/// Why a task assignment cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The assignment has no partitions.
    #[error("task assignment has n_reduce 0")]
    ZeroReduce,
    /// A reduce does not list exactly one location per map task.
    #[error("reduce assignment lists {listed} map locations for {n_map} map tasks")]
    IncompleteLocations {
        /// Locations listed.
        listed: usize,
        /// Map tasks of the job.
        n_map: u32,
    },
}

/// Where one map task's output lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The map task's index.
    pub map_task: u32,
    /// The attempt that produced it (`None`: unknown, an older coordinator;
    /// any attempt is accepted).
    pub attempt: Option<Attempt>,
    /// The worker holding it.
    pub worker: WorkerId,
    /// Its address.
    pub address: String,
}

/// Map or reduce, with what each needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// Map one split: whole files, or a byte range of one file.
    Map {
        /// What to read, in order.
        inputs: Vec<InputRange>,
    },
    /// Reduce one partition.
    Reduce {
        /// Every map task's output location, by map index.
        locations: Vec<Location>,
    },
}

/// A task to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The task: job, phase and index.
    pub task: TaskId,
    /// The attempt (`None` from an older coordinator).
    pub attempt: Option<Attempt>,
    /// The app's name.
    pub app: String,
    /// SHA-256 of the coordinator's library for it (empty: older
    /// coordinator).
    pub app_sha256: String,
    /// The job's output directory.
    pub output_dir: String,
    /// Number of partitions.
    pub n_reduce: u32,
    /// Number of map tasks.
    pub n_map: u32,
    /// The job's app arguments.
    pub args: Vec<u8>,
    /// What to do.
    pub kind: TaskKind,
    /// Where the job may read and write.
    pub confinement: Confinement,
}

impl TaskSpec {
    /// The job.
    pub fn job(&self) -> JobId {
        self.task.job
    }

    /// The task's index in its phase.
    pub fn index(&self) -> u32 {
        self.task.index
    }

    /// Map or reduce.
    pub fn phase(&self) -> Phase {
        self.task.phase
    }
}

/// An attempt number from the wire: 0 means unknown.
fn attempt(a: u32) -> Option<Attempt> {
    (a != 0).then_some(Attempt(a))
}

/// An attempt for the wire: unknown is 0.
fn wire_attempt(a: Option<Attempt>) -> u32 {
    a.map_or(0, |a| a.0)
}

/// Converts a `GetTask` reply; `None` when told to wait. Locations without
/// an address (an older coordinator) use `legacy_port_base` plus the
/// holder's id on loopback.
pub fn task_spec(
    reply: pb::GetTaskReply,
    legacy_port_base: u32,
) -> Result<Option<TaskSpec>, ConvertError> {
    if reply.wait {
        return Ok(None);
    }
    if reply.n_reduce == 0 {
        return Err(ConvertError::ZeroReduce);
    }
    let job = JobId(reply.job_id);
    let (task, kind) = if reply.reduce {
        let locations = locations(reply.map_task_assignments, reply.n_map, legacy_port_base)?;
        (
            TaskId::reduce(job, reply.task),
            TaskKind::Reduce { locations },
        )
    } else {
        (
            TaskId::map(job, reply.task),
            TaskKind::Map {
                inputs: map_inputs(reply.inputs, reply.file),
            },
        )
    };
    Ok(Some(TaskSpec {
        task,
        attempt: attempt(reply.attempt),
        app: reply.app,
        app_sha256: reply.app_sha256,
        output_dir: reply.output_dir,
        n_reduce: reply.n_reduce,
        n_map: reply.n_map,
        args: reply.args,
        kind,
        confinement: Confinement::from_roots(reply.allowed_input, reply.allowed_output),
    }))
}

/// A map's inputs: the `inputs` list, or from an older coordinator, which
/// sends only `file`, that whole file.
fn map_inputs(wire: Vec<pb::InputRange>, file: String) -> Vec<InputRange> {
    if wire.is_empty() {
        return vec![InputRange::whole(file)];
    }
    wire.into_iter()
        .map(|r| InputRange {
            path: r.path,
            offset: r.offset,
            len: r.ranged.then_some(r.length),
        })
        .collect()
}

/// A reduce's map locations, by map index; exactly one per map task.
fn locations(
    wire: Vec<pb::MapTaskAssignment>,
    n_map: u32,
    legacy_port_base: u32,
) -> Result<Vec<Location>, ConvertError> {
    let mut locations: Vec<Location> = wire
        .into_iter()
        .map(|a| Location {
            map_task: a.task,
            attempt: attempt(a.attempt),
            worker: WorkerId(a.worker_id),
            address: if a.address.is_empty() {
                format!(
                    "127.0.0.1:{}",
                    u64::from(legacy_port_base) + u64::from(a.worker_id)
                )
            } else {
                a.address
            },
        })
        .collect();
    locations.sort_by_key(|l| l.map_task);
    let complete = locations.len() == n_map as usize
        && locations.iter().zip(0u32..).all(|(l, i)| l.map_task == i);
    if !complete {
        return Err(ConvertError::IncompleteLocations {
            listed: locations.len(),
            n_map,
        });
    }
    Ok(locations)
}

/// Who reports: this worker's id, the coordinator instance that gave it,
/// and the session secret of that registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// This worker's id.
    pub worker: WorkerId,
    /// The coordinator's epoch from registration.
    pub epoch: u64,
    /// The session secret from registration.
    pub secret: Vec<u8>,
}

/// A finished task's `FinishTask` request.
pub fn finish_request(by: Reporter, task: &TaskSpec, c: &TaskCounters) -> pb::FinishTaskRequest {
    pb::FinishTaskRequest {
        worker_id: by.worker.0,
        coordinator_epoch: by.epoch,
        session_secret: by.secret,
        job_id: task.task.job.0,
        task: task.task.index,
        reduce: task.task.phase == Phase::Reduce,
        attempt: wire_attempt(task.attempt),
        counters: Some(pb::TaskCounters {
            input_bytes: c.input_bytes,
            input_records: c.input_records,
            output_records: c.output_records,
            output_bytes: c.output_bytes,
            shuffle_bytes: c.shuffle_bytes,
        }),
    }
}

/// A failed task's `FailTask` request.
pub fn fail_request(
    by: Reporter,
    task: &TaskSpec,
    failure: &super::execute::TaskFailure,
) -> pb::FailTaskRequest {
    pb::FailTaskRequest {
        worker_id: by.worker.0,
        coordinator_epoch: by.epoch,
        session_secret: by.secret,
        job_id: task.task.job.0,
        task: task.task.index,
        reduce: task.task.phase == Phase::Reduce,
        retry: failure.retry,
        error: failure.message.clone(),
        attempt: wire_attempt(task.attempt),
        unreachable_worker: failure.unreachable.map(|w| w.0),
        crash_cause: failure.crash.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::execute::TaskFailure;

    fn loc(task: u32, worker: u32, attempt: u32, address: &str) -> pb::MapTaskAssignment {
        pb::MapTaskAssignment {
            task,
            worker_id: worker,
            address: address.to_string(),
            attempt,
        }
    }

    fn reduce_reply(locations: Vec<pb::MapTaskAssignment>, n_map: u32) -> pb::GetTaskReply {
        pb::GetTaskReply {
            job_id: 3,
            task: 1,
            reduce: true,
            n_reduce: 2,
            n_map,
            attempt: 2,
            map_task_assignments: locations,
            ..Default::default()
        }
    }

    #[test]
    fn a_wait_reply_is_no_task() {
        let reply = pb::GetTaskReply {
            wait: true,
            ..Default::default()
        };
        assert_eq!(task_spec(reply, 10163), Ok(None));
    }

    #[test]
    fn a_map_assignment_is_typed() {
        let reply = pb::GetTaskReply {
            job_id: 5,
            task: 4,
            file: "/in/x".into(),
            n_reduce: 3,
            n_map: 9,
            attempt: 1,
            app: "wc".into(),
            ..Default::default()
        };
        let spec = task_spec(reply, 10163).unwrap().unwrap();
        assert_eq!(spec.task, TaskId::map(JobId(5), 4));
        assert_eq!(spec.phase(), Phase::Map);
        assert_eq!(spec.attempt, Some(Attempt(1)));
        assert_eq!(
            spec.kind,
            TaskKind::Map {
                inputs: vec![InputRange::whole("/in/x".into())]
            }
        );
    }

    #[test]
    fn a_split_assignment_reads_its_ranges_not_the_file_field() {
        let range = |path: &str, offset, length, ranged| pb::InputRange {
            path: path.into(),
            offset,
            length,
            ranged,
        };
        let reply = pb::GetTaskReply {
            task: 1,
            n_reduce: 1,
            file: String::new(),
            inputs: vec![range("/in/a", 64, 32, true), range("/in/b", 0, 0, false)],
            ..Default::default()
        };
        let spec = task_spec(reply, 10163).unwrap().unwrap();
        assert_eq!(
            spec.kind,
            TaskKind::Map {
                inputs: vec![
                    InputRange {
                        path: "/in/a".into(),
                        offset: 64,
                        len: Some(32)
                    },
                    InputRange::whole("/in/b".into()),
                ]
            }
        );
    }

    #[test]
    fn reduce_locations_are_sorted_typed_and_keep_their_attempts() {
        let reply = reduce_reply(vec![loc(1, 4, 3, "h:1"), loc(0, 2, 0, "")], 2);
        let spec = task_spec(reply, 10163).unwrap().unwrap();
        assert_eq!(spec.task, TaskId::reduce(JobId(3), 1));
        assert_eq!(
            spec.kind,
            TaskKind::Reduce {
                locations: vec![
                    Location {
                        map_task: 0,
                        attempt: None,
                        worker: WorkerId(2),
                        address: "127.0.0.1:10165".into(),
                    },
                    Location {
                        map_task: 1,
                        attempt: Some(Attempt(3)),
                        worker: WorkerId(4),
                        address: "h:1".into(),
                    },
                ]
            }
        );
    }

    #[test]
    fn invalid_assignments_are_errors() {
        let mut zero = reduce_reply(vec![loc(0, 0, 1, "h:1")], 1);
        zero.n_reduce = 0;
        assert_eq!(task_spec(zero, 10163), Err(ConvertError::ZeroReduce));
        let missing = reduce_reply(vec![loc(0, 0, 1, "h:1")], 2);
        assert_eq!(
            task_spec(missing, 10163),
            Err(ConvertError::IncompleteLocations {
                listed: 1,
                n_map: 2
            })
        );
        let twice = reduce_reply(vec![loc(0, 0, 1, "h:1"), loc(0, 1, 1, "h:2")], 2);
        assert!(matches!(
            task_spec(twice, 10163),
            Err(ConvertError::IncompleteLocations { .. })
        ));
        let huge_legacy = reduce_reply(vec![loc(0, u32::MAX, 1, "")], 1);
        assert!(task_spec(huge_legacy, u32::MAX).is_ok(), "no overflow");
    }

    #[test]
    fn reports_carry_the_task_and_attempt_back() {
        let spec = task_spec(reduce_reply(vec![loc(0, 0, 1, "h:1")], 1), 10163)
            .unwrap()
            .unwrap();
        let by = Reporter {
            worker: WorkerId(7),
            epoch: 99,
            secret: vec![1; 16],
        };
        let done = finish_request(by.clone(), &spec, &TaskCounters::default());
        assert_eq!(
            (
                done.worker_id,
                done.coordinator_epoch,
                done.job_id,
                done.task
            ),
            (7, 99, 3, 1)
        );
        assert!(done.reduce);
        assert_eq!(done.attempt, 2);
        assert_eq!(done.session_secret, vec![1; 16]);
        let failure = TaskFailure {
            message: "peer gone".into(),
            retry: true,
            unreachable: Some(WorkerId(4)),
            crash: None,
        };
        let failed = fail_request(by, &spec, &failure);
        assert_eq!(failed.unreachable_worker, Some(4));
        assert_eq!(failed.crash_cause, "");
        assert_eq!((failed.attempt, failed.reduce), (2, true));
        assert_eq!(failed.session_secret, vec![1; 16]);
        assert!(failed.retry);
    }
}
