//! Backup tasks in the façade (the MapReduce paper's section 3.6): a
//! worker that asks for work when no task of any job is available gets a
//! second attempt of a straggler, if speculation is on for its job (the
//! job's spec overrides [`SchedulerConfig::speculation`]). Jobs are
//! searched first come, first served; within a job `Job::backup_candidate`
//! picks the task. Whichever attempt reports first wins
//! (`Job::settle_race`); the other's report is then stale and ignored.
//!
//! Cost: one scan of the current phase's tasks of each running job, only
//! when a worker would otherwise idle.

use std::time::Instant;

use super::{Scheduler, SchedulerConfig};
use crate::core::error::CoreError;
use crate::core::ids::WorkerId;
use crate::core::messages::Assignment;
use crate::core::state::Job;

impl Scheduler {
    /// A backup attempt for `worker`, which found nothing available.
    pub(super) fn next_backup(
        &mut self,
        worker: WorkerId,
        now: Instant,
    ) -> Result<Option<Assignment>, CoreError> {
        let floor = self.config.speculation_floor;
        let kind = self.workers.kind(worker)?;
        let Some(task) = self
            .jobs
            .iter()
            .filter(|j| speculates(&self.config, j) && j.may_run_on(kind))
            .find_map(|j| j.backup_candidate(worker, now, floor))
            .map(|(task, _)| task)
        else {
            return Ok(None);
        };
        let attempt = self
            .jobs
            .get_mut(task.job)?
            .assign_backup(task, worker, now)?;
        self.assignment(worker, task, attempt).map(Some)
    }

    /// When `worker`, finding nothing to do at `now`, could next get a
    /// backup attempt if nothing else changed: the service wakes an idle
    /// worker's long poll then. `None`: not before something changes.
    pub fn next_backup_due(&self, worker: WorkerId, now: Instant) -> Option<Instant> {
        let floor = self.config.speculation_floor;
        let kind = self.workers.kind(worker).ok()?;
        self.jobs
            .iter()
            .filter(|j| speculates(&self.config, j) && j.may_run_on(kind))
            .filter_map(|j| j.backup_due(worker, now, floor))
            .filter(|&due| due > now)
            .min()
    }
}

/// Whether `job` gets backup attempts.
fn speculates(config: &SchedulerConfig, job: &Job) -> bool {
    job.spec().speculation.unwrap_or(config.speculation)
}
