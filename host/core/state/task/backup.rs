//! Backup attempts of one task (the MapReduce paper's section 3.6): a
//! second attempt of a running task on another worker, started when its
//! phase is nearly done. Both attempts are current until one finishes
//! (the winner) or drops out; a task gets at most one backup in its life.

use std::time::Instant;

use super::{AttemptOutcome, Task, TaskState};
use crate::core::ids::{Attempt, WorkerId};

/// The second attempt of a task, running beside the one in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backup {
    /// The worker running it.
    pub worker: WorkerId,
    /// Its attempt number.
    pub attempt: Attempt,
    /// When it was handed out.
    pub since: Instant,
}

impl Task {
    /// When the running attempt started, if a backup of it may start on
    /// `worker`: the task runs elsewhere and never had a backup.
    pub fn backup_eligible(&self, worker: WorkerId) -> Option<Instant> {
        match self.state {
            TaskState::Running {
                worker: w, since, ..
            } if w != worker && !self.backed_up => Some(since),
            _ => None,
        }
    }

    /// The attempt running on `worker` (the first or the backup), if any.
    pub fn attempt_on(&self, worker: WorkerId) -> Option<Attempt> {
        match (self.backup, self.state) {
            (Some(b), _) if b.worker == worker => Some(b.attempt),
            (
                _,
                TaskState::Running {
                    worker: w, attempt, ..
                },
            ) if w == worker => Some(attempt),
            _ => None,
        }
    }

    /// Starts a backup attempt on `worker` (the caller checked
    /// [`Task::backup_eligible`]).
    pub fn start_backup(&mut self, worker: WorkerId, now: Instant) -> Attempt {
        let attempt = self.open_attempt(worker, now);
        self.backed_up = true;
        self.backup = Some(Backup {
            worker,
            attempt,
            since: now,
        });
        attempt
    }

    /// `winner` (running one of two attempts) finished first: its attempt
    /// becomes the only running one, and the other's worker (the loser) is
    /// returned; its history record is closed as superseded at `now`.
    /// `None` if no backup runs or `winner` runs neither attempt.
    pub fn settle(&mut self, winner: WorkerId, now: Instant) -> Option<WorkerId> {
        let backup = self.backup?;
        let TaskState::Running { worker: first, .. } = self.state else {
            return None;
        };
        let loser = if winner == backup.worker {
            self.state = TaskState::Running {
                worker: backup.worker,
                attempt: backup.attempt,
                since: backup.since,
            };
            first
        } else if winner == first {
            backup.worker
        } else {
            return None;
        };
        self.backup = None;
        self.close(loser, AttemptOutcome::Superseded, now);
        Some(loser)
    }

    /// The attempt on `worker`, one of two running, failed or was lost:
    /// the other runs on alone and nothing else changes. Whether it was one
    /// of two.
    pub fn drop_attempt(&mut self, worker: WorkerId) -> bool {
        let Some(backup) = self.backup else {
            return false;
        };
        if backup.worker == worker {
            self.backup = None;
            return true;
        }
        if !self.is_running_on(worker) {
            return false;
        }
        self.state = TaskState::Running {
            worker: backup.worker,
            attempt: backup.attempt,
            since: backup.since,
        };
        self.backup = None;
        true
    }

    /// Removes the backup, if one runs (its job ended); its worker.
    pub fn take_backup(&mut self) -> Option<WorkerId> {
        self.backup.take().map(|b| b.worker)
    }
}
