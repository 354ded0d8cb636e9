//! One task: where it stands ([`TaskState`]) and its history (attempts
//! handed out, losses, retries, and a record of every attempt), with the
//! transitions of a single task.

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
}

/// How one attempt of a task ended (or that it has not yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Still running.
    Running,
    /// Finished; its report was accepted.
    Succeeded,
    /// Finished, but the map output it left on its worker was lost with
    /// that worker later, so the task ran again.
    OutputLost,
    /// Its worker reported a failure.
    Failed {
        /// The worker's error.
        error: String,
    },
    /// Its worker was declared dead while it ran.
    Lost,
    /// Its worker said it ran nothing (the assignment never arrived).
    Released,
    /// Its job ended (failed or was cancelled) while it ran.
    Abandoned,
}

/// One attempt of a task: who ran it, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt number.
    pub attempt: Attempt,
    /// The worker it was handed to.
    pub worker: WorkerId,
    /// When it was handed out.
    pub started_at: Instant,
    /// When it ended (`None` while running).
    pub ended_at: Option<Instant>,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

impl AttemptRecord {
    /// How long it ran, or has run by `now` if it still runs.
    pub fn duration(&self, now: Instant) -> Duration {
        self.ended_at
            .unwrap_or(now)
            .saturating_duration_since(self.started_at)
    }
}

/// One task and its history.
#[derive(Debug, Clone)]
pub struct Task {
    state: TaskState,
    /// Every attempt handed out, oldest first.
    history: Vec<AttemptRecord>,
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
            history: Vec::new(),
            attempts: 0,
            lost: 0,
            retries: 0,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Every attempt handed out, oldest first.
    pub fn history(&self) -> &[AttemptRecord] {
        &self.history
    }

    /// Ends the open attempt on `worker` (if the last attempt is open and
    /// ran there) with `outcome` at `now`. Changes only the history.
    pub fn close(&mut self, worker: WorkerId, outcome: AttemptOutcome, now: Instant) {
        if let Some(last) = self.history.last_mut() {
            if last.ended_at.is_none() && last.worker == worker {
                last.ended_at = Some(now);
                last.outcome = outcome;
            }
        }
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
        self.history.push(AttemptRecord {
            attempt,
            worker,
            started_at: now,
            ended_at: None,
            outcome: AttemptOutcome::Running,
        });
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
        self.close(worker, AttemptOutcome::Succeeded, now);
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

    /// Its finished output lived on `worker`, which died: pending again.
    /// Whether it changed.
    pub fn lose_output(&mut self, worker: WorkerId) -> bool {
        if !matches!(self.state, TaskState::Done { worker: w, .. } if w == worker) {
            return false;
        }
        self.state = TaskState::Pending;
        if let Some(r) = self
            .history
            .iter_mut()
            .rev()
            .find(|r| r.worker == worker && r.outcome == AttemptOutcome::Succeeded)
        {
            r.outcome = AttemptOutcome::OutputLost;
        }
        true
    }
}
