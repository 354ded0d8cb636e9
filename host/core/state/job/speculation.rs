//! Backup tasks of one job (the MapReduce paper's section 3.6): which
//! running task deserves a backup attempt, and how a race between two
//! attempts of a task is settled. The façade asks only when a worker would
//! otherwise idle (see `scheduler/speculation.rs`).

use std::time::{Duration, Instant};

use super::Job;
use crate::core::error::CoreError;
use crate::core::ids::{Attempt, Phase, TaskId, WorkerId};
use crate::core::state::task::{AttemptOutcome, TaskState};

impl Job {
    /// The task of this job to back up on `worker`, and how long its
    /// attempt has run: the job's current phase (maps until all are done,
    /// then reduces) has every task handed out, and of its running tasks
    /// that never had a backup and do not run on `worker`, the one running
    /// longest, if that is at least `floor` and at least twice the median
    /// time of the phase's finished attempts.
    pub fn backup_candidate(
        &self,
        worker: WorkerId,
        now: Instant,
        floor: Duration,
    ) -> Option<(TaskId, Duration)> {
        let (phase, threshold) = self.speculation_phase(now, floor)?;
        self.tasks(phase)
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let age = now.saturating_duration_since(t.backup_eligible(worker)?);
                (age >= threshold).then_some((i, age))
            })
            // The longest running; the lowest index among equals.
            .min_by_key(|&(i, age)| (std::cmp::Reverse(age), i))
            .map(|(i, age)| {
                let task = TaskId {
                    job: self.id,
                    phase,
                    index: i as u32,
                };
                (task, age)
            })
    }

    /// When [`Job::backup_candidate`] for `worker` would first find a task
    /// if nothing else changed (`None`: never), so an idle worker waiting
    /// for work can be woken then.
    pub fn backup_due(&self, worker: WorkerId, now: Instant, floor: Duration) -> Option<Instant> {
        let (phase, threshold) = self.speculation_phase(now, floor)?;
        self.tasks(phase)
            .iter()
            .filter_map(|t| t.backup_eligible(worker))
            .min()
            .map(|since| since + threshold)
    }

    /// The phase that may get backups (maps until all are done, then
    /// reduces; none while one of its tasks waits to be handed out) and how
    /// long an attempt of it must have run first.
    fn speculation_phase(&self, now: Instant, floor: Duration) -> Option<(Phase, Duration)> {
        if self.state.is_ended() {
            return None;
        }
        let phase = if self.counts(Phase::Map).done < self.n_map() {
            Phase::Map
        } else if self.reduces_open() {
            Phase::Reduce
        } else {
            return None;
        };
        if self
            .tasks(phase)
            .iter()
            .any(|t| t.state() == TaskState::Pending)
        {
            return None;
        }
        Some((phase, floor.max(2 * self.median_finished(phase, now))))
    }

    /// The median run time of `phase`'s succeeded attempts (zero if none
    /// finished yet).
    fn median_finished(&self, phase: Phase, now: Instant) -> Duration {
        let mut took: Vec<Duration> = self
            .tasks(phase)
            .iter()
            .flat_map(|t| t.history())
            .filter(|r| r.outcome == AttemptOutcome::Succeeded)
            .map(|r| r.duration(now))
            .collect();
        took.sort_unstable();
        took.get(took.len() / 2).copied().unwrap_or_default()
    }

    /// Starts a backup attempt of running `task` on `worker`.
    pub fn assign_backup(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        now: Instant,
    ) -> Result<Attempt, CoreError> {
        let attempt = self
            .change_task(task, |t| {
                t.backup_eligible(worker)?;
                Some(t.start_backup(worker, now))
            })?
            .ok_or(CoreError::unknown_task(task))?;
        self.counters.task_attempts += 1;
        if task.phase == Phase::Map {
            self.touched.insert(worker);
        }
        Ok(attempt)
    }

    /// `winner` reports `task` finished while a second attempt of it runs:
    /// the winner's attempt is the task's, the other is superseded. Returns
    /// the loser's worker, `None` if no second attempt ran.
    pub fn settle_race(
        &mut self,
        task: TaskId,
        winner: WorkerId,
        now: Instant,
    ) -> Option<WorkerId> {
        self.change_task(task, |t| t.settle(winner, now))
            .ok()
            .flatten()
    }

    /// The attempt of `task` on `worker` failed, was lost or released while
    /// a second attempt runs: it ends with `outcome` and the other runs on,
    /// nothing held against the task. Whether that was the case.
    pub fn drop_duplicate(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        outcome: AttemptOutcome,
        now: Instant,
    ) -> bool {
        self.change_task(task, |t| {
            let dropped = t.drop_attempt(worker);
            if dropped {
                t.close(worker, outcome, now);
            }
            dropped
        })
        .unwrap_or(false)
    }
}
