//! The [`Scheduler`] façade: the core's only entry point. It owns the state
//! parts ([`Jobs`], [`Workers`], [`Available`]) and composes their
//! transitions; it holds no scheduling state of its own beyond the queues
//! of outputs.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::error::CoreError;
use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::messages::{
    Assignment, Event, Failure, HeldOutput, JobSpec, MapLocation, Report, ReportOutcome,
    RestoredJob, TaskCounters, TaskRun, WorkerKind,
};
use super::state::{
    AttemptOutcome, Available, Job, JobState, Jobs, OutputLoss, Retention, TaskState, Verdict,
    Workers,
};
use super::status::{self, JobStatus, Summary, TaskStatus, WorkerRun, WorkerStatus};

mod speculation;

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
/// Operations:
/// - jobs: [`submit`](Self::submit), [`cancel`](Self::cancel);
/// - restart: [`restore_job`](Self::restore_job) and
///   [`reserve_job_ids`](Self::reserve_job_ids) rebuild a core from the
///   durable store; [`register_worker_holding`](Self::register_worker_holding)
///   adopts the map output a registering worker still holds;
/// - workers: [`register_worker`](Self::register_worker),
///   [`adopt_outputs`](Self::adopt_outputs),
///   [`heartbeat`](Self::heartbeat), [`worker_idle`](Self::worker_idle);
/// - tasks: [`next_task`](Self::next_task) hands one out, or else a
///   backup attempt of a straggler (`scheduler/speculation.rs`);
///   [`finish_task`](Self::finish_task) and [`fail_task`](Self::fail_task)
///   apply a worker's report (stale reports are ignored);
/// - time: [`next_deadline`](Self::next_deadline) says when to call
///   [`tick`](Self::tick), which declares silent workers dead and forgets
///   ended jobs past their retention;
///   [`next_backup_due`](Self::next_backup_due) when an idle worker could
///   get a backup attempt;
/// - outputs: [`poll_event`](Self::poll_event) (jobs ended or forgotten,
///   workers died), [`poll_task_run`](Self::poll_task_run) (run times of
///   finished attempts) and [`poll_changed_job`](Self::poll_changed_job)
///   (jobs whose status may have changed), each to be drained by the
///   caller;
/// - views: [`job_status`](Self::job_status),
///   [`job_statuses`](Self::job_statuses),
///   [`worker_statuses`](Self::worker_statuses),
///   [`task_statuses`](Self::task_statuses) (attempt histories),
///   [`worker_runs`](Self::worker_runs),
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

    /// Puts back a job the durable store recorded (a coordinator restart;
    /// see [`Job::restore`] for what it keeps). An unfinished job's pending
    /// maps become available at once; one whose every reduce had finished
    /// but whose end was not recorded succeeds now (the caller commits it).
    /// Returns the job's state.
    pub fn restore_job(&mut self, job: RestoredJob, now: Instant) -> Result<JobState, CoreError> {
        let job = self.jobs.restore(Job::restore(job))?;
        let id = job.id();
        if job.state().is_ended() {
            return Ok(job.state());
        }
        if job.all_reduces_done() {
            self.end_job(id, JobState::Succeeded, now);
            return Ok(JobState::Succeeded);
        }
        let pending: Vec<_> = job
            .map_ids()
            .filter(|&t| job.task(t).is_ok_and(|t| t.state() == TaskState::Pending))
            .collect();
        self.available.extend(pending);
        Ok(job.state())
    }

    /// Job ids handed out from now on are at least `next` (the store's
    /// record of the next id: ids are never reused, even of forgotten jobs).
    pub fn reserve_job_ids(&mut self, next: JobId) {
        self.jobs.reserve_ids(next.0);
    }

    /// Registers a worker (as [`register_worker`](Self::register_worker))
    /// that says it holds `held` map outputs: each output of a pending map
    /// of an unfinished job is adopted (the map is done, held by this
    /// worker) unless the store recorded another attempt of that map as
    /// the one that finished. Returns the worker's id and the outputs
    /// adopted; the worker may drop the others.
    pub fn register_worker_holding(
        &mut self,
        address: Option<String>,
        held: &[HeldOutput],
        now: Instant,
    ) -> (WorkerId, Vec<HeldOutput>) {
        let kind = WorkerKind::of_registration(address.as_deref());
        let worker = self.workers.register(address, now);
        let mut adopted = Vec::new();
        for &h in held {
            let Ok(job) = self.jobs.get_mut(h.job) else {
                continue;
            };
            // Bound first: binding a job that keeps nothing changes nothing.
            if !job.may_run_on(kind) {
                continue;
            }
            job.bind(kind);
            if !job.adopt(h.map, h.attempt, worker) {
                continue;
            }
            let task = TaskId::map(h.job, h.map);
            self.available.remove(task);
            self.workers.hold(worker, task);
            self.available.open_reduces(job);
            adopted.push(h);
        }
        (worker, adopted)
    }

    /// Registers a worker that offers the map outputs `held` (made under
    /// this coordinator's job state): first those a restored job still
    /// needs ([`Scheduler::register_worker_holding`]), then those a
    /// predecessor on the same machine made and left behind
    /// ([`Scheduler::adopt_outputs`]). Returns its id and every output
    /// taken over; the worker may drop the rest.
    pub fn register_and_adopt(
        &mut self,
        address: Option<String>,
        held: &[HeldOutput],
        now: Instant,
    ) -> (WorkerId, Vec<HeldOutput>) {
        let (worker, mut adopted) = self.register_worker_holding(address, held, now);
        let rest: Vec<(TaskId, Attempt)> = held
            .iter()
            .filter(|h| !adopted.contains(h))
            .map(|h| (TaskId::map(h.job, h.map), h.attempt))
            .collect();
        let moved = self.adopt_outputs(worker, &rest, now).unwrap_or_default();
        adopted.extend(
            rest.iter()
                .filter(|(t, _)| moved.contains(t))
                .map(|&(t, attempt)| HeldOutput {
                    job: t.job,
                    map: t.index,
                    attempt,
                }),
        );
        (worker, adopted)
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

    /// `worker` (just registered) holds map outputs a predecessor on its
    /// machine left in their shared `--work-dir`, as `(map task, attempt)`:
    /// each such map that is pending (its output was lost) or done with
    /// that attempt on another worker becomes done on `worker`, and every
    /// predecessor so found is declared dead at once (it held the folder's
    /// lock, which `worker` now holds). Returns the maps adopted.
    pub fn adopt_outputs(
        &mut self,
        worker: WorkerId,
        held: &[(TaskId, Attempt)],
        now: Instant,
    ) -> Result<Vec<TaskId>, CoreError> {
        self.touch(worker, now)?;
        let kind = self.workers.kind(worker)?;
        let mut adopted = Vec::new();
        let mut predecessors = BTreeSet::new();
        for &(task, attempt) in held {
            let Ok(job) = self.jobs.get_mut(task.job) else {
                continue;
            };
            if !job.may_run_on(kind) {
                continue;
            }
            job.bind(kind);
            let Some(from) = job.adopt_output(task, attempt, worker) else {
                continue;
            };
            self.available.remove(task);
            self.available.open_reduces(job);
            self.workers.finish(worker, task);
            predecessors.extend(from.filter(|&w| w != worker));
            adopted.push(task);
        }
        for old in predecessors {
            self.declare_dead(old, now);
        }
        Ok(adopted)
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

    /// How many tasks a worker of `kind` could be handed now, counting at
    /// most `at_most` (the number of workers worth waking): tasks of jobs
    /// bound to the other kind do not count.
    pub fn available_tasks_for(&self, kind: WorkerKind, at_most: usize) -> usize {
        let jobs = &self.jobs;
        self.available.count_up_to(at_most, |job| {
            jobs.get(job).is_ok_and(|j| j.may_run_on(kind))
        })
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

    /// Up to `limit` tasks of `job`'s `phase` from index `offset` on, with
    /// their attempts; and how many tasks the phase has.
    pub fn task_statuses(
        &self,
        job: JobId,
        phase: Phase,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<TaskStatus>), CoreError> {
        let j = self.jobs.get(job)?;
        let total = j.tasks(phase).len();
        Ok((total, status::task_statuses(j, phase, offset, limit)))
    }

    /// The last `limit` attempts handed to `worker`, newest first; `None`
    /// for an unknown worker.
    pub fn worker_runs(&self, worker: WorkerId, limit: usize) -> Option<Vec<WorkerRun>> {
        status::worker_runs(&self.workers, &self.jobs, worker, limit)
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

    /// A reduce of `job` could not fetch from `peer`. After `max` such
    /// failures the map output it holds is taken for lost and its maps run
    /// again elsewhere (an alive peer that cannot serve, say cut off from
    /// other workers only); before that, the peer is suspect.
    fn blame_peer(&mut self, peer: WorkerId, job: JobId, max: u32) {
        let Ok(j) = self.jobs.get_mut(job) else {
            return;
        };
        if j.fetch_failures(peer) < max {
            self.suspect(peer, job);
            return;
        }
        j.unblock(peer);
        let lost = j.lose_outputs_of(peer);
        if !lost.is_empty() {
            self.available.close_reduces(j);
        }
        for task in lost {
            self.available.offer(task, j);
        }
        self.available.open_reduces(j);
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
                if job.lose_output(task, worker, OutputLoss::WorkerDied(worker)) {
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
            self.review_parked(job, now);
        }
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

    /// A task running on a dead worker: pending again, however often (a
    /// worker lost without evidence is not the task's fault).
    fn lose_running_task(&mut self, task: TaskId, worker: WorkerId, now: Instant) {
        let Ok(job) = self.jobs.get_mut(task.job) else {
            return;
        };
        if job.drop_duplicate(task, worker, AttemptOutcome::Lost, now) {
            return;
        }
        let verdict = job.lose_running(task, worker);
        if verdict != Verdict::Unchanged {
            job.close_attempt(task, worker, AttemptOutcome::Lost, now);
        }
        if verdict == Verdict::Retry {
            self.available.offer(task, job);
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
