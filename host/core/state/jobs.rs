//! [`Jobs`]: every job ever submitted, by id. Ids start at 0 and are never
//! reused.

use std::collections::BTreeMap;
use std::time::Instant;

use super::job::Job;
use crate::core::error::CoreError;
use crate::core::ids::JobId;
use crate::core::messages::JobSpec;

/// Every job, oldest first.
#[derive(Debug, Default)]
pub struct Jobs {
    by_id: BTreeMap<JobId, Job>,
    next_id: u32,
}

impl Jobs {
    /// Adds a queued job (already validated) under the next id.
    pub fn add(&mut self, spec: JobSpec, now: Instant) -> &Job {
        let id = JobId(self.next_id);
        self.next_id += 1;
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

    /// One job, or [`CoreError::UnknownJob`].
    pub fn get(&self, job: JobId) -> Result<&Job, CoreError> {
        self.by_id.get(&job).ok_or(CoreError::UnknownJob(job))
    }

    /// One job to change, or [`CoreError::UnknownJob`].
    pub fn get_mut(&mut self, job: JobId) -> Result<&mut Job, CoreError> {
        self.by_id.get_mut(&job).ok_or(CoreError::UnknownJob(job))
    }

    /// Every job, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Job> + '_ {
        self.by_id.values()
    }
}
