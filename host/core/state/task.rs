//! One task: where it stands ([`TaskState`]) and its history (attempts
//! handed out, losses, retries, and a record of every attempt), with the
//! transitions of a single task.

use std::time::{Duration, Instant};

use crate::core::ids::{Attempt, WorkerId};

mod backup;

pub use backup::Backup;

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
    /// Crashed its process `max_task_attempts` times in a row while none of
    /// the job's other tasks ever crashed: not offered until the others
    /// tell whether the app is flaky (they crash too, or ran too few times
    /// to tell: run it again) or this input is poison (they all ran clean,
    /// often enough: fail the job).
    Parked,
    /// Finished before a coordinator restart, with no worker known to hold
    /// anything: a reduce of an unfinished job (its output is in the job's
    /// folder), or any task of a job that had ended.
    Restored { attempt: Attempt },
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
    /// A second attempt of the same task (a backup, or the attempt it
    /// backed up) finished first; this one's report is ignored.
    Superseded,
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
    /// Attempts lost because their worker died, without evidence against
    /// the task: never held against it.
    lost: u32,
    /// Retryable failures reported.
    retries: u32,
    /// Attempts that crashed the process running them, in all.
    crashes: u32,
    /// Attempts that ran the app and ended without a crash (finished or
    /// failed retryably).
    clean: u32,
    /// Crashes since the last attempt that ended otherwise.
    crash_streak: u32,
    /// A second attempt running beside the one in `state` (see
    /// `task/backup.rs`).
    backup: Option<Backup>,
    /// Whether a backup was ever started (at most one per task).
    backed_up: bool,
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
            crashes: 0,
            clean: 0,
            crash_streak: 0,
            backup: None,
            backed_up: false,
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

    /// Ends the open attempt on `worker` (if an attempt ran there and is
    /// still open) with `outcome` at `now`. Changes only the history.
    pub fn close(&mut self, worker: WorkerId, outcome: AttemptOutcome, now: Instant) {
        let open = self
            .history
            .iter_mut()
            .rev()
            .find(|r| r.ended_at.is_none() && r.worker == worker);
        if let Some(record) = open {
            record.ended_at = Some(now);
            record.outcome = outcome;
        }
    }

    /// Whether it runs on `worker`.
    pub fn is_running_on(&self, worker: WorkerId) -> bool {
        matches!(self.state, TaskState::Running { worker: w, .. } if w == worker)
    }

    /// Whether a report from `worker` on `attempt` (`None`: not sent) is
    /// about an attempt now running (the first or its backup).
    pub fn is_current(&self, worker: WorkerId, attempt: Option<Attempt>) -> bool {
        if self
            .backup
            .is_some_and(|b| b.worker == worker && attempt.is_none_or(|x| x == b.attempt))
        {
            return true;
        }
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
        let attempt = self.open_attempt(worker, now);
        self.state = TaskState::Running {
            worker,
            attempt,
            since: now,
        };
        attempt
    }

    /// Numbers the next attempt, on `worker` from `now`, and opens its
    /// record in the history (the running one's or a backup's).
    fn open_attempt(&mut self, worker: WorkerId, now: Instant) -> Attempt {
        self.attempts += 1;
        let attempt = Attempt(self.attempts);
        self.history.push(AttemptRecord {
            attempt,
            worker,
            started_at: now,
            ended_at: None,
            outcome: AttemptOutcome::Running,
        });
        attempt
    }

    /// Pending again, with no mark against it (and no backup running).
    pub fn reset(&mut self) {
        self.state = TaskState::Pending;
        self.backup = None;
    }

    /// Set aside after its last crash (see [`TaskState::Parked`]).
    pub fn park(&mut self) {
        self.state = TaskState::Parked;
    }

    /// The run of crashes so far.
    pub fn crash_streak(&self) -> u32 {
        self.crash_streak
    }

    /// The running attempt finished on `worker`: done, and how long it ran.
    /// `None` if it was not running.
    pub fn finish(&mut self, worker: WorkerId, now: Instant) -> Option<(Attempt, Duration)> {
        let TaskState::Running { attempt, since, .. } = self.state else {
            return None;
        };
        self.state = TaskState::Done { worker, attempt };
        self.clean += 1;
        self.crash_streak = 0;
        self.close(worker, AttemptOutcome::Succeeded, now);
        Some((attempt, now.saturating_duration_since(since)))
    }

    /// The running attempt failed retryably: pending again; the number of
    /// such failures so far.
    pub fn retry(&mut self) -> u32 {
        self.state = TaskState::Pending;
        self.clean += 1;
        self.crash_streak = 0;
        self.retries += 1;
        self.retries
    }

    /// The running attempt could not fetch map output from a peer: pending
    /// again, nothing held against it (the run of crashes ends).
    pub fn release_after_fetch(&mut self) {
        self.state = TaskState::Pending;
        self.crash_streak = 0;
    }

    /// The running attempt crashed the process running it: pending again;
    /// the number of crashes in a row so far.
    pub fn crash(&mut self) -> u32 {
        self.state = TaskState::Pending;
        self.crashes += 1;
        self.crash_streak += 1;
        self.crash_streak
    }

    /// Attempts that crashed the process running them, in all.
    pub fn crashes(&self) -> u32 {
        self.crashes
    }

    /// Attempts that ended without a crash, in all.
    pub fn clean(&self) -> u32 {
        self.clean
    }

    /// The attempt running on `worker` was lost with it, without evidence
    /// against the task: pending again, nothing held against it. Whether it
    /// was running there.
    pub fn lose(&mut self, worker: WorkerId) -> bool {
        if !self.is_running_on(worker) {
            return false;
        }
        self.state = TaskState::Pending;
        self.lost += 1;
        true
    }

    /// `worker` holds the output of `attempt` of this map, left by a
    /// predecessor on its machine: done on `worker` if the task was pending
    /// (that output was lost) or done with the same attempt elsewhere (the
    /// predecessor). Returns the predecessor, `Some(None)` for a pending
    /// task, `None` if nothing changed.
    pub fn adopt(&mut self, worker: WorkerId, attempt: Attempt) -> Option<Option<WorkerId>> {
        let from = match self.state {
            TaskState::Pending if (1..=self.attempts).contains(&attempt.0) => None,
            TaskState::Done {
                worker: w,
                attempt: a,
            } if a == attempt && w != worker => Some(w),
            _ => return None,
        };
        self.state = TaskState::Done { worker, attempt };
        Some(from)
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
    /// (it said so when it registered again after a coordinator restart):
    /// done. Whether it changed.
    pub fn adopt_restored(&mut self, worker: WorkerId, attempt: Attempt) -> bool {
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
