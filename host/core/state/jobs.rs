//! [`Jobs`]: the jobs the core keeps, by id, and the bounded history of
//! ended ones. Ids start at 0 and are never reused, not even after a job is
//! forgotten. Also records which jobs changed since the caller last asked,
//! so only their watchers need waking.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::job::Job;
use crate::core::error::CoreError;
use crate::core::ids::JobId;
use crate::core::messages::JobSpec;

/// How much history of ended jobs to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most ended jobs kept (at least 1: the job that just ended is always
    /// kept until a later one ends or it ages out).
    pub max_jobs: usize,
    /// How long an ended job is kept after it ended.
    pub max_age: Duration,
    /// How many of the newest ended jobs keep their per-task detail (the
    /// web UI's task tables and timelines); older ended jobs are compacted
    /// to their summary, counters and errors.
    pub detailed: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_jobs: 1000,
            max_age: Duration::from_secs(24 * 3600),
            detailed: 100,
        }
    }
}

/// Every job kept, oldest first.
#[derive(Debug, Default)]
pub struct Jobs {
    by_id: BTreeMap<JobId, Job>,
    next_id: u32,
    /// Ended jobs still kept, in the order they ended.
    ended: VecDeque<(Instant, JobId)>,
    /// Jobs changed (or forgotten) since [`Jobs::take_changed`] last ran.
    changed: BTreeSet<JobId>,
    /// Task attempts and failures of the jobs forgotten so far.
    forgotten_totals: (u64, u64),
}

impl Jobs {
    /// Adds a queued job (already validated) under the next id.
    pub fn add(&mut self, spec: JobSpec, now: Instant) -> &Job {
        let id = JobId(self.next_id);
        self.next_id += 1;
        self.changed.insert(id);
        self.by_id.entry(id).or_insert(Job::new(id, spec, now))
    }

    /// Puts back a job the durable store recorded; later ids follow it.
    /// Refused if a job with its id exists.
    pub fn restore(&mut self, job: Job) -> Result<&Job, CoreError> {
        let id = job.id();
        if self.by_id.contains_key(&id) {
            return Err(CoreError::JobExists(id));
        }
        self.next_id = self.next_id.max(id.0.saturating_add(1));
        Ok(self.by_id.entry(id).or_insert(job))
    }

    /// The next job gets an id of at least `next` (ids handed out before a
    /// restart are never reused, even those of jobs no longer stored).
    pub fn reserve_ids(&mut self, next: u32) {
        self.next_id = self.next_id.max(next);
    }

    /// One job, or why there is none: never submitted, or forgotten.
    pub fn get(&self, job: JobId) -> Result<&Job, CoreError> {
        self.by_id.get(&job).ok_or_else(|| self.missing(job))
    }

    /// One job to change (it counts as changed), or why there is none.
    pub fn get_mut(&mut self, job: JobId) -> Result<&mut Job, CoreError> {
        if !self.by_id.contains_key(&job) {
            return Err(self.missing(job));
        }
        self.changed.insert(job);
        self.by_id.get_mut(&job).ok_or(CoreError::UnknownJob(job))
    }

    fn missing(&self, job: JobId) -> CoreError {
        if job.0 < self.next_id {
            CoreError::JobForgotten(job)
        } else {
            CoreError::UnknownJob(job)
        }
    }

    /// Every job kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Job> + '_ {
        self.by_id.values()
    }

    /// Records that `job` ended at `now` (it joins the history), and
    /// compacts the ended job that this pushes out of the newest
    /// `detailed` ones.
    pub fn ended(&mut self, job: JobId, now: Instant, detailed: usize) {
        if !self.by_id.contains_key(&job) {
            return;
        }
        self.ended.push_back((now, job));
        let older = self
            .ended
            .len()
            .checked_sub(detailed + 1)
            .and_then(|i| self.ended.get(i))
            .map(|&(_, id)| id);
        if let Some(j) = older.and_then(|id| self.by_id.get_mut(&id)) {
            j.compact();
        }
    }

    /// Forgets the oldest ended jobs beyond `retention` at `now`; the ids
    /// forgotten, oldest first.
    pub fn forget_old(&mut self, retention: Retention, now: Instant) -> Vec<JobId> {
        let mut gone = Vec::new();
        while let Some(&(ended_at, job)) = self.ended.front() {
            let too_many = self.ended.len() > retention.max_jobs.max(1);
            let too_old = expiry(ended_at, retention.max_age).is_some_and(|t| t <= now);
            if !too_many && !too_old {
                break;
            }
            self.ended.pop_front();
            if let Some(j) = self.by_id.remove(&job) {
                let c = j.counters();
                self.forgotten_totals.0 += c.task_attempts;
                self.forgotten_totals.1 += c.task_failures;
            }
            self.changed.insert(job);
            gone.push(job);
        }
        gone
    }

    /// When the oldest ended job ages out of `retention`.
    pub fn next_expiry(&self, retention: Retention) -> Option<Instant> {
        let &(ended_at, _) = self.ended.front()?;
        expiry(ended_at, retention.max_age)
    }

    /// Task attempts and failures of every job forgotten so far.
    pub fn forgotten_totals(&self) -> (u64, u64) {
        self.forgotten_totals
    }

    /// How many ended jobs are kept.
    pub fn ended_count(&self) -> usize {
        self.ended.len()
    }

    /// The next job changed since the last call, lowest id first.
    pub fn take_changed(&mut self) -> Option<JobId> {
        self.changed.pop_first()
    }
}

fn expiry(ended_at: Instant, max_age: Duration) -> Option<Instant> {
    ended_at.checked_add(max_age)
}
