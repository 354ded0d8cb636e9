//! The core's state, in one place: tasks ([`task`]), jobs ([`job`],
//! [`jobs`]),
//! workers ([`worker`]) and the queue of available tasks ([`available`]),
//! with their state enums.
//!
//! Each type keeps its fields private and offers the transitions that touch
//! only itself; none of these files imports another's behaviour except
//! [`available`] reading a [`Job`]. The [`Scheduler`](super::Scheduler)
//! façade composes them.

pub mod available;
pub mod job;
pub mod jobs;
pub mod task;
pub mod worker;

pub use available::Available;
pub use job::{Counters, Job, JobState, Verdict};
pub use jobs::Jobs;
pub use task::{Task, TaskState};
pub use worker::Workers;
