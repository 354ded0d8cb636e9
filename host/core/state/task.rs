//! One task: where it stands ([`TaskState`]) and its history (attempts
//! handed out, losses, retries), with the transitions of a single task.

use std::time::{Duration, Instant};

use crate::core::ids::{Attempt, WorkerId};

/// Where one task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a worker (or for its job's maps, for a reduce).
    Pending,
    /// Handed to a worker.
    Running {
        worker: WorkerId,
        attempt: Attempt,
        since: Instant,
    },
    /// Finished; for a map, `worker` holds the output.
    Done { worker: WorkerId, attempt: Attempt },
    /// Finished before a coordinator restart, with no worker known to hold
    /// anything: a reduce of an unfinished job (its output is in the job's
    /// folder), or any task of a job that had ended.
    Restored { attempt: Attempt },
}

/// One task and its history.
#[derive(Debug, Clone)]
pub struct Task {
    state: TaskState,
    /// Attempts handed out so far (the last attempt number).
    attempts: u32,
    /// Attempts lost because their worker died.
    lost: u32,
    /// Retryable failures reported.
    retries: u32,
}

impl Task {
    /// A pending task with no history.
    pub fn new() -> Self {
        Task {
            state: TaskState::Pending,
            attempts: 0,
            lost: 0,
            retries: 0,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Whether it runs on `worker`.
    pub fn is_running_on(&self, worker: WorkerId) -> bool {
        matches!(self.state, TaskState::Running { worker: w, .. } if w == worker)
    }

    /// Whether a report from `worker` on `attempt` (`None`: not sent) is
    /// about the attempt now running.
    pub fn is_current(&self, worker: WorkerId, attempt: Option<Attempt>) -> bool {
        match self.state {
            TaskState::Running {
                worker: w,
                attempt: a,
                ..
            } => w == worker && attempt.is_none_or(|x| x == a),
            _ => false,
        }
    }

    /// Starts the next attempt on `worker`.
    pub fn assign(&mut self, worker: WorkerId, now: Instant) -> Attempt {
        self.attempts += 1;
        let attempt = Attempt(self.attempts);
        self.state = TaskState::Running {
            worker,
            attempt,
            since: now,
        };
        attempt
    }

    /// Pending again, with no mark against it.
    pub fn reset(&mut self) {
        self.state = TaskState::Pending;
    }

    /// The running attempt finished on `worker`: done, and how long it ran.
    /// `None` if it was not running.
    pub fn finish(&mut self, worker: WorkerId, now: Instant) -> Option<(Attempt, Duration)> {
        let TaskState::Running { attempt, since, .. } = self.state else {
            return None;
        };
        self.state = TaskState::Done { worker, attempt };
        Some((attempt, now.saturating_duration_since(since)))
    }

    /// The running attempt failed retryably: pending again; the number of
    /// such failures so far.
    pub fn retry(&mut self) -> u32 {
        self.state = TaskState::Pending;
        self.retries += 1;
        self.retries
    }

    /// The attempt running on `worker` was lost with it: pending again; the
    /// number of such losses so far. `None` if it was not running there.
    pub fn lose(&mut self, worker: WorkerId) -> Option<u32> {
        if !self.is_running_on(worker) {
            return None;
        }
        self.state = TaskState::Pending;
        self.lost += 1;
        Some(self.lost)
    }

    /// Restores a task that finished before a coordinator restart.
    pub fn restore_finished(&mut self, attempt: Attempt) {
        self.attempts = self.attempts.max(attempt.0);
        self.state = TaskState::Restored { attempt };
    }

    /// Restores a pending task whose last attempt handed out was at least
    /// `attempt`, so the next one gets a higher number.
    pub fn restore_attempts(&mut self, attempt: Attempt) {
        self.attempts = self.attempts.max(attempt.0);
    }

    /// A pending map's output, produced by `attempt`, is held by `worker`
    /// (it said so when it registered): done. Whether it changed.
    pub fn adopt(&mut self, worker: WorkerId, attempt: Attempt) -> bool {
        if self.state != TaskState::Pending {
            return false;
        }
        self.attempts = self.attempts.max(attempt.0);
        self.state = TaskState::Done { worker, attempt };
        true
    }

    /// Its finished output lived on `worker`, which died: pending again.
    /// Whether it changed.
    pub fn lose_output(&mut self, worker: WorkerId) -> bool {
        if !matches!(self.state, TaskState::Done { worker: w, .. } if w == worker) {
            return false;
        }
        self.state = TaskState::Pending;
        true
    }
}
