//! [`Available`]: the tasks that may be handed out now, in one ordered set
//! keyed by (job, phase, index), so choosing the next task is `O(log n)` and
//! follows the FIFO rule by construction. Reads a job, touches only the set.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};

use super::job::Job;
use crate::core::ids::{JobId, Phase, TaskId};

/// Tasks that may be handed out now, in scheduling order.
#[derive(Debug, Default)]
pub struct Available(BTreeSet<TaskId>);

impl Available {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes the first in scheduling order of a job that `may` allows,
    /// skipping the others' tasks a job at a time: `O(log n)` per job
    /// skipped, none when the first job is allowed.
    pub fn take_first(&mut self, mut may: impl FnMut(JobId) -> bool) -> Option<TaskId> {
        let mut first = *self.0.first()?;
        while !may(first.job) {
            let next_job = JobId(first.job.0.checked_add(1)?);
            first = *self.0.range(TaskId::map(next_job, 0)..).next()?;
        }
        self.0.remove(&first);
        Some(first)
    }

    /// How many tasks of jobs that `may` allows there are, counting at most
    /// `at_most`: `O((at_most + jobs skipped) log n)`.
    pub fn count_up_to(&self, at_most: usize, mut may: impl FnMut(JobId) -> bool) -> usize {
        let mut n = 0;
        let mut next = self.0.first().copied();
        while let Some(t) = next.filter(|_| n < at_most) {
            next = if may(t.job) {
                n += 1;
                self.0.range((Excluded(t), Unbounded)).next().copied()
            } else {
                let next_job = t.job.0.checked_add(1).map(JobId);
                next_job.and_then(|j| self.0.range(TaskId::map(j, 0)..).next().copied())
            };
        }
        n
    }

    /// Adds tasks that may run at once (a new job's maps, a lost map output).
    pub fn extend(&mut self, tasks: impl IntoIterator<Item = TaskId>) {
        self.0.extend(tasks);
    }

    /// Removes one task (a map whose output a worker turned out to hold).
    pub fn remove(&mut self, task: TaskId) {
        self.0.remove(&task);
    }

    /// Offers a pending task of `job` again: a map at once, a reduce only
    /// while the job's reduces are open.
    pub fn offer(&mut self, task: TaskId, job: &Job) {
        if task.phase == Phase::Map || job.reduces_open() {
            self.0.insert(task);
        }
    }

    /// Opens `job`'s pending reduces when its maps are all done and nothing
    /// blocks them.
    pub fn open_reduces(&mut self, job: &Job) {
        if job.reduces_open() {
            self.0.extend(job.pending_reduces());
        }
    }

    /// Withdraws `job`'s pending reduces (a map output was lost, or a map
    /// worker is suspect).
    pub fn close_reduces(&mut self, job: &Job) {
        for t in job.pending_reduces() {
            self.0.remove(&t);
        }
    }

    /// Withdraws every task of `job` (it ended).
    pub fn withdraw(&mut self, job: &Job) {
        for t in job.all_ids() {
            self.0.remove(&t);
        }
    }
}
