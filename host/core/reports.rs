//! Task reports from workers (finished, failed) and job cancellation.

use std::time::Instant;

use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::job::{JobState, TaskState};
use super::scheduler::{ReportOutcome, Scheduler};
use super::CoreError;

/// What a worker measured while running one task attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounters {
    /// Bytes read (a map's input file).
    pub input_bytes: u64,
    /// Records read (a map: 1 per file).
    pub input_records: u64,
    /// Records written (map output after the combiner, or reduce output).
    pub output_records: u64,
    /// Bytes written.
    pub output_bytes: u64,
    /// Bytes fetched from map workers (a reduce).
    pub shuffle_bytes: u64,
}

/// A worker's report on one task attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The reporting worker.
    pub worker: WorkerId,
    /// The task.
    pub task: TaskId,
    /// The attempt reported on; `None` from older workers, which do not
    /// send it (then only the worker is checked).
    pub attempt: Option<Attempt>,
}

/// How a task attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error, as the worker reported it.
    pub error: String,
    /// Whether another attempt may succeed (an unreachable peer, say).
    pub retry: bool,
    /// For a fetch failure: the map worker that could not be reached.
    pub unreachable: Option<WorkerId>,
}

impl Scheduler {
    /// Applies a worker's report that a task attempt finished.
    pub fn finish_task(
        &mut self,
        report: &Report,
        counters: TaskCounters,
        now: Instant,
    ) -> Result<ReportOutcome, CoreError> {
        if !self.accept_report(report, now)? {
            return Ok(ReportOutcome::Ignored);
        }
        let Report {
            worker,
            task,
            attempt: _,
        } = *report;
        let job = self
            .jobs
            .get_mut(&task.job)
            .ok_or(CoreError::UnknownJob(task.job))?;
        let Some(t) = job.task_mut(task.phase, task.index) else {
            return Ok(ReportOutcome::Ignored);
        };
        let TaskState::Running { attempt, since, .. } = t.state else {
            return Ok(ReportOutcome::Ignored);
        };
        t.state = TaskState::Done { worker, attempt };
        self.durations
            .observe(task.phase, now.saturating_duration_since(since));
        let c = &mut job.counters;
        c.input_bytes += counters.input_bytes;
        c.input_records += counters.input_records;
        c.shuffle_bytes += counters.shuffle_bytes;
        match task.phase {
            Phase::Map => {
                c.map_output_records += counters.output_records;
                c.map_output_bytes += counters.output_bytes;
                job.maps_done += 1;
            }
            Phase::Reduce => {
                c.reduce_output_records += counters.output_records;
                c.reduce_output_bytes += counters.output_bytes;
                job.reduces_done += 1;
            }
        }
        let succeeded = job.reduces_done == job.spec.n_reduce;
        if let Some(w) = self.workers.get_mut(&worker) {
            w.running.remove(&task);
            w.completed += 1;
            if task.phase == Phase::Map {
                w.map_outputs.insert(task);
            }
        }
        if succeeded {
            self.end_job(task.job, JobState::Succeeded, now);
        } else if task.phase == Phase::Map {
            self.open_reduces_if_ready(task.job);
        }
        Ok(ReportOutcome::Accepted)
    }

    /// Applies a worker's report that a task attempt failed.
    pub fn fail_task(
        &mut self,
        report: &Report,
        failure: Failure,
        now: Instant,
    ) -> Result<ReportOutcome, CoreError> {
        if !self.accept_report(report, now)? {
            return Ok(ReportOutcome::Ignored);
        }
        let Report { worker, task, .. } = *report;
        let max = self.config.max_task_attempts;
        if let Some(w) = self.workers.get_mut(&worker) {
            w.running.remove(&task);
        }
        let job = self
            .jobs
            .get_mut(&task.job)
            .ok_or(CoreError::UnknownJob(task.job))?;
        let describe = job.describe(task.phase, task.index);
        job.counters.task_failures += 1;
        let Some(t) = job.task_mut(task.phase, task.index) else {
            return Ok(ReportOutcome::Ignored);
        };
        t.state = TaskState::Pending;
        if !failure.retry {
            job.errors
                .push(format!("{describe} failed: {}", failure.error));
            self.end_job(task.job, JobState::Failed, now);
            return Ok(ReportOutcome::Accepted);
        }
        t.retries += 1;
        if t.retries >= max {
            let n = t.retries;
            job.errors.push(format!(
                "{describe} failed {n} times; the last error: {}",
                failure.error
            ));
            self.end_job(task.job, JobState::Failed, now);
            return Ok(ReportOutcome::Accepted);
        }
        if let Some(peer) = failure.unreachable {
            self.suspect(peer, task.job);
        }
        let job = &self.jobs[&task.job];
        if task.phase == Phase::Map || job.reduces_open() {
            self.available.insert(task);
        }
        Ok(ReportOutcome::Accepted)
    }

    /// Cancels a job: no more of its tasks are handed out and workers drop
    /// its data.
    pub fn cancel(&mut self, job: JobId, now: Instant) -> Result<(), CoreError> {
        let j = self.jobs.get_mut(&job).ok_or(CoreError::UnknownJob(job))?;
        if j.state.is_ended() {
            return Err(CoreError::JobEnded(job));
        }
        j.errors.push("cancelled".to_string());
        self.end_job(job, JobState::Cancelled, now);
        Ok(())
    }

    /// Checks a report's sender and task; `Ok(false)` for a stale report.
    fn accept_report(&mut self, report: &Report, now: Instant) -> Result<bool, CoreError> {
        self.touch(report.worker, now)?;
        let task = report.task;
        let job = self
            .jobs
            .get(&task.job)
            .ok_or(CoreError::UnknownJob(task.job))?;
        let t = job
            .task(task.phase, task.index)
            .ok_or(CoreError::unknown_task(task))?;
        if job.state.is_ended() {
            return Ok(false);
        }
        Ok(match t.state {
            TaskState::Running {
                worker, attempt, ..
            } => worker == report.worker && report.attempt.is_none_or(|a| a == attempt),
            _ => false,
        })
    }

    /// A reduce of `job` could not fetch from `peer`: if `peer` is alive and
    /// holds some of the job's map output, hold the job's reduces until it
    /// proves alive (a heartbeat) or is declared dead (its maps then re-run).
    fn suspect(&mut self, peer: WorkerId, job: JobId) {
        let Some(w) = self.workers.get_mut(&peer) else {
            return;
        };
        if !w.alive || !w.map_outputs.iter().any(|t| t.job == job) {
            return;
        }
        w.suspect_for.insert(job);
        if let Some(j) = self.jobs.get_mut(&job) {
            j.blocked_on.insert(peer);
        }
        self.close_reduces(job);
    }
}
