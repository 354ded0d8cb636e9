//! A job's parked tasks (see `TaskState::Parked`) and the evidence that
//! decides on them: the crashes and clean attempts of the job's other
//! tasks (the rule is `state::blame`).

use super::{Job, Task, TaskState};
use crate::core::ids::{Phase, TaskId};
use crate::core::state::blame::{crash_limit, EVIDENCE_FACTOR};

/// What reviewing a job's parked tasks decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Review {
    /// Parked tasks now pending again (the app proved flaky): to offer.
    pub released: Vec<TaskId>,
    /// Whether the job failed (a parked task's input is poison).
    pub failed: bool,
}

impl Job {
    /// Decides on the parked tasks (see [`TaskState::Parked`]) now that the
    /// job's other tasks may have given evidence: once any other task has
    /// crashed, the app is flaky and a parked task runs again unless its
    /// run of crashes already reaches the flaky limit; while none has, a
    /// parked task waits until no other task that could still crash is
    /// pending or running, and then its input is poison: the job fails.
    pub fn review_parked(&mut self, max: u32) -> Review {
        let mut review = Review::default();
        if self.state.is_ended() {
            return review;
        }
        let parked: Vec<TaskId> = self
            .all_ids()
            .filter(|&t| self.task(t).is_ok_and(|t| t.state() == TaskState::Parked))
            .collect();
        for task in parked {
            let other_crashes = self.other_crashes(task);
            let Ok(t) = self.task(task) else { continue };
            let streak = t.crash_streak();
            let poison = if other_crashes > 0 {
                streak >= crash_limit(max, other_crashes)
            } else if self.others_active(task) {
                continue;
            } else {
                // Clean attempts enough to tell poison from bad luck.
                self.other_clean(task) >= max.saturating_mul(EVIDENCE_FACTOR)
            };
            let (cause, error) = match poison {
                true => self.last_crash.remove(&task).unwrap_or_default(),
                false => self.last_crash.get(&task).cloned().unwrap_or_default(),
            };
            if poison {
                self.fail_crashing(task, streak, &cause, &error);
                review.failed = true;
                return review;
            }
            if self.change_task(task, |t| t.reset()).is_ok() {
                review.released.push(task);
            }
        }
        review
    }

    /// Whether a task other than `task` may still run (and so crash): one
    /// running, or pending and runnable before `task` is done.
    fn others_active(&self, task: TaskId) -> bool {
        self.all_ids().filter(|&t| t != task).any(|t| {
            let Ok(other) = self.task(t) else {
                return false;
            };
            match other.state() {
                TaskState::Running { .. } => true,
                // A map's reduces wait for it; anything else pending runs.
                TaskState::Pending => !(task.phase == Phase::Map && t.phase == Phase::Reduce),
                TaskState::Done { .. } | TaskState::Restored { .. } | TaskState::Parked => false,
            }
        })
    }

    /// Records why the job fails: `task` crashed its process `n` times in a
    /// row.
    pub(super) fn fail_crashing(&mut self, task: TaskId, n: u32, cause: &str, error: &str) {
        let describe = self.describe(task);
        self.errors.push(format!(
            "{describe} crashed the process running it {n} times in a row \
             (last: {cause}); the last error: {error}"
        ));
    }

    /// Clean attempts of every task but `task`, in all.
    fn other_clean(&self, task: TaskId) -> u32 {
        self.all_ids()
            .filter(|&t| t != task)
            .filter_map(|t| self.task(t).ok())
            .map(Task::clean)
            .sum()
    }

    /// Crashes of every task but `task`, in all.
    pub(super) fn other_crashes(&self, task: TaskId) -> u32 {
        self.all_ids()
            .filter(|&t| t != task)
            .filter_map(|t| self.task(t).ok())
            .map(Task::crashes)
            .sum()
    }
}
