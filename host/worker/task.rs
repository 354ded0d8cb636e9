//! [`TaskSpec`]: a task assignment as the worker uses it, converted from the
//! wire at the edge.

use crate::proto::coordinator::GetTaskReply;

/// Where one map task's output lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The map task.
    pub map_task: u32,
    /// The attempt that produced it (0: unknown, older coordinator).
    pub attempt: u32,
    /// The worker holding it.
    pub worker: u32,
    /// Its address.
    pub address: String,
}

/// Map or reduce, with what each needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// Map one input file.
    Map {
        /// The input path, as submitted.
        file: String,
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
    /// The job.
    pub job: u32,
    /// The task's index in its phase.
    pub index: u32,
    /// The attempt (0 from an older coordinator).
    pub attempt: u32,
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
    pub confinement: crate::security::Confinement,
}

impl TaskSpec {
    /// Converts a `GetTask` reply; `None` when told to wait. Locations
    /// without an address (an older coordinator) use the legacy port.
    pub fn from_reply(reply: GetTaskReply, legacy_port_base: u32) -> Result<Option<Self>, String> {
        if reply.wait {
            return Ok(None);
        }
        if reply.n_reduce == 0 {
            return Err("task assignment has n_reduce 0".to_string());
        }
        let kind = if reply.reduce {
            let mut locations: Vec<Location> = reply
                .map_task_assignments
                .into_iter()
                .map(|a| Location {
                    map_task: a.task,
                    attempt: a.attempt,
                    worker: a.worker_id,
                    address: if a.address.is_empty() {
                        format!("127.0.0.1:{}", legacy_port_base + a.worker_id)
                    } else {
                        a.address
                    },
                })
                .collect();
            locations.sort_by_key(|l| l.map_task);
            let complete = locations.len() == reply.n_map as usize
                && locations
                    .iter()
                    .enumerate()
                    .all(|(i, l)| l.map_task == i as u32);
            if !complete {
                return Err(format!(
                    "reduce assignment lists {} map locations for {} map tasks",
                    locations.len(),
                    reply.n_map
                ));
            }
            TaskKind::Reduce { locations }
        } else {
            TaskKind::Map { file: reply.file }
        };
        Ok(Some(TaskSpec {
            job: reply.job_id,
            index: reply.task,
            attempt: reply.attempt,
            app: reply.app,
            app_sha256: reply.app_sha256,
            output_dir: reply.output_dir,
            n_reduce: reply.n_reduce,
            n_map: reply.n_map,
            args: reply.args,
            kind,
            confinement: crate::security::Confinement::from_roots(
                reply.allowed_input,
                reply.allowed_output,
            ),
        }))
    }

    /// `map` or `reduce`.
    pub fn phase(&self) -> &'static str {
        match self.kind {
            TaskKind::Map { .. } => "map",
            TaskKind::Reduce { .. } => "reduce",
        }
    }
}
