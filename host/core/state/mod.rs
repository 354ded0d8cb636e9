//! The core's state, in one place: tasks and their [`TaskState`]
//! (`task.rs`; a backup attempt beside the running one in `task/backup.rs`),
//! a job and its [`JobState`] (`job.rs`; its counters in `job/counted.rs`,
//! lost workers and output in `job/loss.rs`, its parked tasks in
//! `job/parked.rs`, which straggler to back up in `job/speculation.rs`),
//! all jobs (`jobs.rs`),
//! workers (`worker.rs`) and the ordered set of available tasks
//! (`available.rs`); how many crashes in a row fail a task (`blame.rs`).
//!
//! Each type keeps its fields private and offers the transitions that touch
//! only itself. Imports point one way: a job drives its tasks, `Jobs` holds
//! jobs, `Available` reads a job (never changes it), and `Workers` knows
//! none of them. The [`Scheduler`](super::Scheduler) façade composes them
//! and carries each transition's consequences to the other parts.

mod available;
mod blame;
mod job;
mod jobs;
mod task;
mod worker;

pub use available::Available;
pub use job::{Counters, Job, JobState, OutputLoss, Verdict};
pub use jobs::{Jobs, Retention};
pub use task::{AttemptOutcome, AttemptRecord, TaskState};
pub use worker::Workers;
