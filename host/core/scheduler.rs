//! The [`Scheduler`] façade: the core's only entry point. It owns the state
//! parts ([`Jobs`], [`Workers`], [`Available`]) and composes their
//! transitions; it holds no scheduling state of its own beyond the queues
//! of outputs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::error::CoreError;
use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::messages::{
    Assignment, Event, Failure, JobSpec, MapLocation, Report, ReportOutcome, TaskCounters, TaskRun,
};
use super::state::{AttemptOutcome, Available, Job, JobState, Jobs, Retention, Verdict, Workers};

mod loss;
mod restart;
mod speculation;
mod views;

/// The core's tunables.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A worker with no heartbeat for this long is dead.
    pub worker_timeout: Duration,
    /// A task failing retryably this many times, or crashing the process
    /// running it this many times in a row (more when its job's other tasks
    /// crash too: see `state::blame`), fails its job. Attempts lost with a
    /// worker without evidence against the task never count.
    pub max_task_attempts: u32,
    /// How many ended jobs to keep, and for how long.
    pub retention: Retention,
    /// Whether a worker that would idle gets a backup attempt of a
    /// straggling task (a job's spec may override it).
    pub speculation: bool,
    /// The shortest time an attempt must have run before it gets a backup
    /// (and at least twice the median of its phase's finished attempts).
    pub speculation_floor: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            worker_timeout: Duration::from_millis(7000),
            max_task_attempts: 4,
            retention: Retention::default(),
            speculation: true,
            speculation_floor: Duration::from_millis(1000),
        }
    }
}

/// The scheduler core (see the [module documentation](super) for its
/// rules). Every operation takes `now`; none reads a clock or does I/O.
///
/// Operations (this file unless a child module is named):
/// - jobs: [`submit`](Self::submit), [`cancel`](Self::cancel);
/// - restart (`scheduler/restart.rs`): [`restore_job`](Self::restore_job)
///   and [`reserve_job_ids`](Self::reserve_job_ids) rebuild a core from the
///   durable store; [`register_worker_holding`](Self::register_worker_holding)
///   adopts the map output a registering worker still holds, and
///   [`register_and_adopt`](Self::register_and_adopt) also what a
///   predecessor on its machine left ([`adopt_outputs`](Self::adopt_outputs));
/// - workers: [`register_worker`](Self::register_worker),
///   [`heartbeat`](Self::heartbeat), [`worker_idle`](Self::worker_idle);
///   a dead worker's tasks and output are recovered in
///   `scheduler/loss.rs`;
/// - tasks: [`next_task`](Self::next_task) hands one out, or else a
///   backup attempt of a straggler (`scheduler/speculation.rs`);
///   [`finish_task`](Self::finish_task) and [`fail_task`](Self::fail_task)
///   apply a worker's report (stale reports are ignored);
/// - time: [`next_deadline`](Self::next_deadline) says when to call
///   [`tick`](Self::tick), which declares silent workers dead and forgets
///   ended jobs past their retention;
///   [`next_backup_due`](Self::next_backup_due) when an idle worker could
///   get a backup attempt;
/// - outputs (`scheduler/views.rs`): [`poll_event`](Self::poll_event)
///   (jobs ended or forgotten, workers died),
///   [`poll_task_run`](Self::poll_task_run) (run times of finished
///   attempts) and [`poll_changed_job`](Self::poll_changed_job) (jobs whose
///   status may have changed), each to be drained by the caller;
/// - views (`scheduler/views.rs`): [`job_status`](Self::job_status),
///   [`job_statuses`](Self::job_statuses),
///   [`worker_statuses`](Self::worker_statuses),
///   [`task_statuses`](Self::task_statuses) (attempt histories),
///   [`worker_runs`](Self::worker_runs),
///   [`summary`](Self::summary),
///   [`unfinished_jobs`](Self::unfinished_jobs),
///   [`available_tasks`](Self::available_tasks),
///   [`available_tasks_for`](Self::available_tasks_for) (tasks a kind of worker may take),
///   [`has_available_task`](Self::has_available_task),
///   [`tasks_held`](Self::tasks_held),
///   [`ended_jobs`](Self::ended_jobs),
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
        if spec.n_map() == 0 {
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
            if job.drop_duplicate(task, worker, AttemptOutcome::Released, now) {
                continue;
            }
            if job.release(task, worker) {
                job.close_attempt(task, worker, AttemptOutcome::Released, now);
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
        // A job's tasks go to one kind of worker (`Job::may_run_on`): skip
        // the jobs of the other kind, never idling while one allows it.
        let kind = self.workers.kind(worker)?;
        let jobs = &self.jobs;
        let may = |job| jobs.get(job).is_ok_and(|j| j.may_run_on(kind));
        let Some(task) = self.available.take_first(may) else {
            return self.next_backup(worker, now);
        };
        let job = self.jobs.get_mut(task.job)?;
        job.bind(kind);
        let attempt = job.assign(task, worker, now)?;
        self.assignment(worker, task, attempt).map(Some)
    }

    /// Records that `worker` runs `attempt` of `task` and builds what it is
    /// told.
    fn assignment(
        &mut self,
        worker: WorkerId,
        task: TaskId,
        attempt: Attempt,
    ) -> Result<Assignment, CoreError> {
        self.workers.start(worker, task);
        self.workers.record_run(worker, task, attempt);
        let job = self.jobs.get(task.job)?;
        let map_locations = match task.phase {
            Phase::Map => Vec::new(),
            Phase::Reduce => self.map_locations(job),
        };
        Ok(Assignment {
            task,
            attempt,
            spec: job.spec().clone(),
            n_map: job.n_map(),
            map_locations,
        })
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
        if let Some(loser) = job.settle_race(task, worker, now) {
            self.workers.stop(loser, task);
        }
        let Some(done) = job.finish(task, worker, counters, now) else {
            return Ok(ReportOutcome::Ignored);
        };
        self.runs.push_back(TaskRun {
            task,
            attempt: done.attempt,
            took: done.took,
            counters,
        });
        self.workers.finish(worker, task);
        if done.job_succeeded {
            self.end_job(task.job, JobState::Succeeded, now);
        } else if task.phase == Phase::Map {
            self.available.open_reduces(job);
        }
        self.review_parked(task.job, now);
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
        let error = failure.error.clone();
        if job.drop_duplicate(task, worker, AttemptOutcome::Failed { error }, now) {
            return Ok(ReportOutcome::Accepted);
        }
        let verdict = job.fail(task, &failure, max)?;
        let error = failure.error.clone();
        job.close_attempt(task, worker, AttemptOutcome::Failed { error }, now);
        if verdict == Verdict::FailJob {
            self.end_job(task.job, JobState::Failed, now);
            return Ok(ReportOutcome::Accepted);
        }
        if let Some(peer) = failure.unreachable {
            self.blame_peer(peer, task.job, max);
        }
        if verdict == Verdict::Retry {
            if let Ok(job) = self.jobs.get(task.job) {
                self.available.offer(task, job);
            }
        }
        self.review_parked(task.job, now);
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

    /// Records a sign of life from `worker`; errors if it is unknown or dead.
    /// A suspect worker so proves alive and its jobs' reduces reopen.
    fn touch(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        let was_dead = self.workers.get(worker).is_some_and(|w| !w.is_alive());
        let suspect_for = self.workers.touch(worker, now)?;
        if was_dead {
            self.events.push_back(Event::WorkerReturned(worker));
        }
        for job in suspect_for {
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

    /// Decides on `job`'s parked tasks (see `Job::review_parked`): offers
    /// those released, or fails the job.
    fn review_parked(&mut self, job: JobId, now: Instant) {
        let max = self.config.max_task_attempts;
        let Ok(j) = self.jobs.get_mut(job) else {
            return;
        };
        let review = j.review_parked(max);
        if review.failed {
            self.end_job(job, JobState::Failed, now);
            return;
        }
        for task in review.released {
            self.available.offer(task, j);
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
        self.jobs.ended(job, now, self.config.retention.detailed);
        self.forget_old(now);
    }

    /// Forgets the ended jobs beyond the retention at `now`.
    fn forget_old(&mut self, now: Instant) {
        for job in self.jobs.forget_old(self.config.retention, now) {
            self.events.push_back(Event::JobForgotten(job));
        }
    }
}
