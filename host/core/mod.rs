//! The scheduler core: jobs, tasks and workers as explicit state machines.
//!
//! Pure and synchronous: no tokio, no tonic, no clock reads. Every input takes
//! `now`; the core says when it next needs a [`Scheduler::tick`]
//! ([`Scheduler::next_deadline`]) and what the outside world should do
//! ([`Scheduler::poll_event`]). The coordinator service wraps it behind a
//! mutex; tests drive it directly with invented time.
//!
//! Rules it enforces:
//! - jobs are served first come, first served, and no worker idles while any
//!   task can run: a worker gets the first available task in job order, maps
//!   before reduces, and a job's reduces become available only once all its
//!   maps are done;
//! - no task runs on two workers at once but for a backup attempt (below);
//!   every assignment carries an attempt
//!   number, and reports from another attempt or from a worker declared dead
//!   change nothing;
//! - a worker silent for the timeout is dead: its running tasks become
//!   available again, and so do its finished map tasks while their job still
//!   needs their output; an attempt lost with its worker is never held
//!   against its task (re-run however often);
//! - a non-retryable task failure fails its job at once; retryable ones are
//!   retried up to `max_task_attempts` times;
//! - a crash with evidence (the process running the task's app code died of
//!   a signal or exited) re-queues the task at once; `max_task_attempts`
//!   crashes in a row fail its job once the job's other tasks ran clean
//!   (the task waits, parked, for them to tell), more when they crash too
//!   (a flaky app, not a poison input: `state::blame`); a reduce's fetch
//!   failure naming a peer is the peer's fault, and after
//!   `max_task_attempts` of them the peer's map output is re-made;
//! - a worker that would idle while every task of a job's phase runs gets a
//!   backup attempt of the phase's longest-running task (at most one per
//!   task, past a floor and twice the phase's median); the first attempt to
//!   finish wins and the other becomes stale (`scheduler/speculation.rs`);
//! - a job's tasks go to one kind of worker ([`WorkerKind`]): course
//!   workers (registered without an address, apps compiled in) or plugin
//!   workers; the first assignment binds the job, the binding holds while
//!   any of its tasks runs or is done (`state/job/kind.rs`), and a worker
//!   skips the other kind's jobs, never idling while a job it may run has
//!   a task; a course worker declared dead that is heard from again is taken
//!   back under its id (it cannot register again);
//! - a worker that registers with map outputs a predecessor left on its
//!   machine takes them over (`adopt_outputs`).
//! - after a coordinator restart, jobs come back from the durable store
//!   under their ids (`Scheduler::restore_job`): finished reduces stay
//!   finished, maps run again unless a registering worker holds their
//!   output (`Scheduler::register_worker_holding`), and new ids follow the
//!   stored next id.
//!
//! - an ended job is compacted once it falls out of the newest `retention.detailed` ended jobs (its per-task state and input list
//!   dropped; summary, counters, progress and errors kept) and forgotten once
//!   more than `retention.max_jobs` jobs ended after it or it ended
//!   `retention.max_age` ago; ids are never reused, so a forgotten job's id
//!   answers [`CoreError::JobForgotten`].
//!
//! A job's status view costs `O(1)` (plus its errors): each job keeps its
//! done/running counts per phase on every task transition. The core records
//! which jobs changed ([`Scheduler::poll_changed_job`]) so the service wakes
//! only their watchers.
//!
//! Choosing a task costs `O(log n)`: available tasks live in one ordered set
//! keyed by (job, phase, index); a worker skips a job of the other kind in
//! `O(log n)` too (only mixed fleets have any).
//!
//! Layout (state in one place, behaviour beside the part it touches, one
//! façade composing them; imports only point downwards, so no two files
//! import each other):
//! - `scheduler`: the [`Scheduler`] façade and its [`SchedulerConfig`];
//!   its documentation lists every operation; the only file that sees
//!   several state parts at once and changes them;
//! - `state/`: the state types and their own transitions: a job and its
//!   tasks (`job.rs`), all jobs (`jobs.rs`), workers and their liveness
//!   index (`worker.rs`), the ordered set of available tasks
//!   (`available.rs`);
//! - `messages`: what crosses the façade (job specs, reports,
//!   assignments, events, finished attempts' run times);
//! - `status`: read-only views for polls, listings, metrics and the web UI
//!   (task tables with every attempt, what a worker ran);
//! - `ids`: the newtype identifiers; `error`: [`CoreError`], what the core
//!   refuses.
//!
//! Policy that is not scheduling lives outside: how to reach a worker that
//! registered without an address is the coordinator's wire rule
//! (`coordinator::convert`), and metric buckets are the coordinator's
//! (`coordinator::metrics`), fed from [`Scheduler::poll_task_run`].

mod error;
mod ids;
mod messages;
mod scheduler;
mod state;
mod status;

#[cfg(test)]
mod tests;

pub use error::CoreError;
pub use ids::{Attempt, JobId, Phase, TaskId, WorkerId};
pub use messages::{
    Assignment, Event, Failure, FinishedTask, HeldOutput, InputRange, JobEnd, JobSpec, MapLocation,
    Report, ReportOutcome, RestoredJob, Split, TaskCounters, TaskRun, WorkerKind,
};
pub use scheduler::{Scheduler, SchedulerConfig};
pub use state::{AttemptOutcome, AttemptRecord, Counters, JobState, Retention};
pub use status::{
    JobStatus, PhaseProgress, Summary, TaskStage, TaskStatus, TaskTotals, WorkerRun, WorkerState,
    WorkerStatus,
};
