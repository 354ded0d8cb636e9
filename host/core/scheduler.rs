//! The [`Scheduler`] façade: the core's only entry point. It owns the state
//! parts ([`Jobs`], [`Workers`], [`Available`]) and composes their
//! transitions; it holds no scheduling state of its own beyond the queues
//! of outputs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::error::CoreError;
use super::ids::{JobId, Phase, TaskId, WorkerId};
use super::messages::{
    Assignment, Event, Failure, JobSpec, MapLocation, Report, ReportOutcome, TaskCounters, TaskRun,
};
use super::state::{Available, Job, JobState, Jobs, Retention, Verdict, Workers};
use super::status::{self, JobStatus, Summary, WorkerStatus};

/// The core's tunables.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A worker with no heartbeat for this long is dead.
    pub worker_timeout: Duration,
    /// A task lost with its worker this many times, or failing retryably this
    /// many times, fails its job.
    pub max_task_attempts: u32,
    /// How many ended jobs to keep, and for how long.
    pub retention: Retention,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            worker_timeout: Duration::from_millis(7000),
            max_task_attempts: 4,
            retention: Retention::default(),
        }
    }
}

/// The scheduler core (see the [module documentation](super) for its
/// rules). Every operation takes `now`; none reads a clock or does I/O.
///
/// Operations:
/// - jobs: [`submit`](Self::submit), [`cancel`](Self::cancel);
/// - workers: [`register_worker`](Self::register_worker),
///   [`heartbeat`](Self::heartbeat), [`worker_idle`](Self::worker_idle);
/// - tasks: [`next_task`](Self::next_task) hands one out;
///   [`finish_task`](Self::finish_task) and [`fail_task`](Self::fail_task)
///   apply a worker's report (stale reports are ignored);
/// - time: [`next_deadline`](Self::next_deadline) says when to call
///   [`tick`](Self::tick), which declares silent workers dead and forgets
///   ended jobs past their retention;
/// - outputs: [`poll_event`](Self::poll_event) (jobs ended or forgotten,
///   workers died), [`poll_task_run`](Self::poll_task_run) (run times of
///   finished attempts) and [`poll_changed_job`](Self::poll_changed_job)
///   (jobs whose status may have changed), each to be drained by the
///   caller;
/// - views: [`job_status`](Self::job_status),
///   [`job_statuses`](Self::job_statuses),
///   [`worker_statuses`](Self::worker_statuses),
///   [`summary`](Self::summary),
///   [`unfinished_jobs`](Self::unfinished_jobs),
///   [`available_tasks`](Self::available_tasks),
///   [`config`](Self::config).
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    jobs: Jobs,
    workers: Workers,
    available: Available,
    events: VecDeque<Event>,
    runs: VecDeque<TaskRun>,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Scheduler {
            config,
            jobs: Jobs::default(),
            workers: Workers::default(),
            available: Available::default(),
            events: VecDeque::new(),
            runs: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Queues a job; its map tasks become available at once.
    pub fn submit(&mut self, spec: JobSpec, now: Instant) -> Result<JobId, CoreError> {
        if spec.files.is_empty() {
            return Err(CoreError::NoInputFiles);
        }
        if spec.n_reduce == 0 {
            return Err(CoreError::ZeroReduce);
        }
        let job = self.jobs.add(spec, now);
        self.available.extend(job.map_ids());
        Ok(job.id())
    }

    /// Cancels a job: no more of its tasks are handed out and workers drop
    /// its data.
    pub fn cancel(&mut self, job: JobId, now: Instant) -> Result<(), CoreError> {
        let j = self.jobs.get_mut(job)?;
        if j.state().is_ended() {
            return Err(CoreError::JobEnded(job));
        }
        j.note("cancelled");
        self.end_job(job, JobState::Cancelled, now);
        Ok(())
    }

    /// Registers a worker serving on `address` (`None` or empty: it gave
    /// none, and the service decides how to reach it). Ids start at 0 and
    /// are never reused.
    pub fn register_worker(&mut self, address: Option<String>, now: Instant) -> WorkerId {
        self.workers.register(address, now)
    }

    /// Records a heartbeat.
    pub fn heartbeat(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        self.touch(worker, now)
    }

    /// `worker` says it runs no task, so any task still recorded as running
    /// on it was lost on the way (say, the reply that assigned it never
    /// arrived): make it available again. This is not the task's fault and
    /// does not count against its attempts.
    pub fn worker_idle(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        self.touch(worker, now)?;
        for task in self.workers.take_running(worker) {
            let Ok(job) = self.jobs.get_mut(task.job) else {
                continue;
            };
            if job.release(task, worker) {
                self.available.offer(task, job);
            }
        }
        Ok(())
    }

    /// Hands `worker` the first available task in job order, or `None` when
    /// there is nothing it can do now. Counts as a sign of life.
    pub fn next_task(
        &mut self,
        worker: WorkerId,
        now: Instant,
    ) -> Result<Option<Assignment>, CoreError> {
        self.touch(worker, now)?;
        let Some(task) = self.available.pop_first() else {
            return Ok(None);
        };
        let attempt = self.jobs.get_mut(task.job)?.assign(task, worker, now)?;
        self.workers.start(worker, task);
        let job = self.jobs.get(task.job)?;
        let map_locations = match task.phase {
            Phase::Map => Vec::new(),
            Phase::Reduce => self.map_locations(job),
        };
        Ok(Some(Assignment {
            task,
            attempt,
            spec: job.spec().clone(),
            n_map: job.n_map(),
            map_locations,
        }))
    }

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
        let Report { worker, task, .. } = *report;
        let job = self.jobs.get_mut(task.job)?;
        let Some(done) = job.finish(task, worker, counters, now) else {
            return Ok(ReportOutcome::Ignored);
        };
        self.runs.push_back(TaskRun {
            task,
            attempt: done.attempt,
            took: done.took,
        });
        self.workers.finish(worker, task);
        if done.job_succeeded {
            self.end_job(task.job, JobState::Succeeded, now);
        } else if task.phase == Phase::Map {
            self.available.open_reduces(job);
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
        self.workers.stop(worker, task);
        let job = self.jobs.get_mut(task.job)?;
        if job.fail(task, &failure.error, failure.retry, max)? == Verdict::FailJob {
            self.end_job(task.job, JobState::Failed, now);
            return Ok(ReportOutcome::Accepted);
        }
        if let Some(peer) = failure.unreachable {
            self.suspect(peer, task.job);
        }
        if let Ok(job) = self.jobs.get(task.job) {
            self.available.offer(task, job);
        }
        Ok(ReportOutcome::Accepted)
    }

    /// When the core next needs [`Scheduler::tick`]: the moment the
    /// longest-silent alive worker times out, or the oldest ended job ages
    /// out of the history, whichever comes first.
    pub fn next_deadline(&self) -> Option<Instant> {
        let workers = self.workers.next_deadline(self.config.worker_timeout);
        let jobs = self.jobs.next_expiry(self.config.retention);
        workers.into_iter().chain(jobs).min()
    }

    /// Declares dead every worker silent for the timeout at `now`, and
    /// forgets the ended jobs past their retention.
    pub fn tick(&mut self, now: Instant) {
        while let Some(worker) = self
            .workers
            .first_timed_out(self.config.worker_timeout, now)
        {
            self.declare_dead(worker, now);
        }
        self.forget_old(now);
    }

    /// The next job whose status may have changed since the last call
    /// (submitted, a task moved, ended, forgotten), lowest id first.
    pub fn poll_changed_job(&mut self) -> Option<JobId> {
        self.jobs.take_changed()
    }

    /// How many tasks' states the core holds, over every job kept (ended
    /// jobs hold none once compacted).
    pub fn tasks_held(&self) -> usize {
        self.jobs
            .iter()
            .map(|j| j.tasks(Phase::Map).len() + j.tasks(Phase::Reduce).len())
            .sum()
    }

    /// How many ended jobs the history holds.
    pub fn ended_jobs(&self) -> usize {
        self.jobs.ended_count()
    }

    /// The next thing the outside world should act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The run time of the next finished task attempt not yet polled.
    pub fn poll_task_run(&mut self) -> Option<TaskRun> {
        self.runs.pop_front()
    }

    /// How many tasks can be handed out now.
    pub fn available_tasks(&self) -> usize {
        self.available.len()
    }

    /// Whether any task can be handed out now.
    pub fn has_available_task(&self) -> bool {
        self.available.len() > 0
    }

    /// One job's status.
    pub fn job_status(&self, job: JobId) -> Result<JobStatus, CoreError> {
        self.jobs.get(job).map(status::job_status)
    }

    /// Every job's status, oldest first.
    pub fn job_statuses(&self) -> Vec<JobStatus> {
        self.jobs.iter().map(status::job_status).collect()
    }

    /// Coordinator-wide totals for metrics, without walking any task.
    pub fn summary(&self) -> Summary {
        status::summary(&self.jobs, &self.workers)
    }

    /// How many jobs are queued or running.
    pub fn unfinished_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| !j.state().is_ended()).count()
    }

    /// Every worker's status, by id.
    pub fn worker_statuses(&self, now: Instant) -> Vec<WorkerStatus> {
        status::worker_statuses(&self.workers, &self.jobs, now)
    }

    /// Records a sign of life from `worker`; errors if it is unknown or dead.
    /// A suspect worker so proves alive and its jobs' reduces reopen.
    fn touch(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        for job in self.workers.touch(worker, now)? {
            if let Ok(j) = self.jobs.get_mut(job) {
                j.unblock(worker);
                self.available.open_reduces(j);
            }
        }
        Ok(())
    }

    /// Checks a report's sender and task; `Ok(false)` for a stale report.
    fn accept_report(&mut self, report: &Report, now: Instant) -> Result<bool, CoreError> {
        self.touch(report.worker, now)?;
        self.jobs
            .get(report.task.job)?
            .is_current(report.task, report.worker, report.attempt)
    }

    /// Where each map output of `job` is (all maps are done when called).
    fn map_locations(&self, job: &Job) -> Vec<MapLocation> {
        job.map_outputs()
            .map(|(task, attempt, worker)| MapLocation {
                task,
                attempt,
                worker,
                address: self.address_of(worker),
            })
            .collect()
    }

    fn address_of(&self, worker: WorkerId) -> Option<String> {
        let w = self.workers.get(worker)?;
        w.address().map(str::to_string)
    }

    /// A reduce of `job` could not fetch from `peer`: if `peer` is alive and
    /// holds some of the job's map output, hold the job's reduces until it
    /// proves alive (a heartbeat) or is declared dead (its maps then re-run).
    fn suspect(&mut self, peer: WorkerId, job: JobId) {
        if !self.workers.suspect(peer, job) {
            return;
        }
        if let Ok(j) = self.jobs.get_mut(job) {
            j.block_on(peer);
            self.available.close_reduces(j);
        }
    }

    /// Marks `worker` dead: its running tasks and the map output it held
    /// become available again.
    fn declare_dead(&mut self, worker: WorkerId, now: Instant) {
        let Some(remains) = self.workers.kill(worker) else {
            return;
        };
        self.events.push_back(Event::WorkerDied(worker));
        let mut affected = remains.suspect_for;
        for task in remains.running {
            affected.insert(task.job);
            self.lose_running_task(task, worker, now);
        }
        for task in remains.map_outputs {
            affected.insert(task.job);
            if let Ok(job) = self.jobs.get_mut(task.job) {
                if job.lose_output(task, worker) {
                    self.available.close_reduces(job);
                    self.available.offer(task, job);
                }
            }
        }
        for job in affected {
            if let Ok(j) = self.jobs.get_mut(job) {
                j.unblock(worker);
                self.available.open_reduces(j);
            }
        }
    }

    /// A task running on a dead worker: pending again, or its job fails once
    /// the task has been lost too often.
    fn lose_running_task(&mut self, task: TaskId, worker: WorkerId, now: Instant) {
        let max = self.config.max_task_attempts;
        let Ok(job) = self.jobs.get_mut(task.job) else {
            return;
        };
        match job.lose_running(task, worker, max) {
            Verdict::Unchanged => {}
            Verdict::Retry => self.available.offer(task, job),
            Verdict::FailJob => self.end_job(task.job, JobState::Failed, now),
        }
    }

    /// Ends `job` in `state`: withdraws its tasks, frees its workers' running
    /// slots and announces it so workers drop its data.
    fn end_job(&mut self, job: JobId, state: JobState, now: Instant) {
        let Ok(j) = self.jobs.get_mut(job) else {
            return;
        };
        let Some(ended) = j.end(state, now) else {
            return;
        };
        self.available.withdraw(j);
        for (task, worker) in ended.running {
            self.workers.stop(worker, task);
        }
        self.workers.forget_job(job);
        let workers = ended
            .touched
            .into_iter()
            .filter(|&w| self.workers.get(w).is_some_and(|w| w.is_alive()))
            .map(|w| (w, self.address_of(w)))
            .collect();
        self.events.push_back(Event::JobEnded { job, workers });
        self.jobs.ended(job, now);
        self.forget_old(now);
    }

    /// Forgets the ended jobs beyond the retention at `now`.
    fn forget_old(&mut self, now: Instant) {
        for job in self.jobs.forget_old(self.config.retention, now) {
            self.events.push_back(Event::JobForgotten(job));
        }
    }
}
