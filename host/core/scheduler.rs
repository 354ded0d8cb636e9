//! The [`Scheduler`]: submission, task assignment and job endings.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::{Attempt, JobId, Phase, TaskId, WorkerId};
use super::job::{Job, JobSpec, JobState, TaskState};
use super::liveness::Worker;
use super::CoreError;

/// The core's tunables.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A worker with no heartbeat for this long is dead.
    pub worker_timeout: Duration,
    /// A task lost with its worker this many times, or failing retryably this
    /// many times, fails its job.
    pub max_task_attempts: u32,
    /// Workers that register without an address (older builds) are reached
    /// at `127.0.0.1:(legacy_port_base + worker id)`.
    pub legacy_port_base: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            worker_timeout: Duration::from_millis(7000),
            max_task_attempts: 4,
            legacy_port_base: 10163,
        }
    }
}

/// Where a finished map task's output can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLocation {
    /// The map task.
    pub task: u32,
    /// The attempt that produced the output.
    pub attempt: Attempt,
    /// The worker holding it.
    pub worker: WorkerId,
    /// That worker's address (host:port).
    pub address: String,
}

/// A task handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The task.
    pub task: TaskId,
    /// This assignment's attempt number.
    pub attempt: Attempt,
    /// The job's specification.
    pub spec: Arc<JobSpec>,
    /// Number of map tasks of the job.
    pub n_map: u32,
    /// For a reduce: where every map task's output is, by map index.
    pub map_locations: Vec<MapLocation>,
}

impl Assignment {
    /// For a map: its input file.
    pub fn file(&self) -> Option<&str> {
        match self.task.phase {
            Phase::Map => self
                .spec
                .files
                .get(self.task.index as usize)
                .map(String::as_str),
            Phase::Reduce => None,
        }
    }
}

/// Something the world outside the core should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A job ended: these workers may hold its map output and should drop it.
    JobEnded {
        /// The job.
        job: JobId,
        /// `(worker, address)` of every alive worker that ran one of its maps.
        workers: Vec<(WorkerId, String)>,
    },
    /// A worker was declared dead.
    WorkerDied(WorkerId),
}

/// What became of a task report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The report was applied.
    Accepted,
    /// The report was stale (another attempt, a dead worker, an ended job)
    /// and changed nothing.
    Ignored,
}

/// The scheduler core. See the module documentation for its rules.
#[derive(Debug)]
pub struct Scheduler {
    pub(crate) config: SchedulerConfig,
    pub(crate) jobs: BTreeMap<JobId, Job>,
    pub(crate) workers: BTreeMap<WorkerId, Worker>,
    /// Tasks that may be handed out now, in scheduling order.
    pub(crate) available: BTreeSet<TaskId>,
    /// Alive workers by last sign of life, for finding the dead cheaply.
    pub(crate) last_seen: BTreeSet<(Instant, WorkerId)>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) durations: super::durations::TaskDurations,
    next_job: u32,
    pub(crate) next_worker: u32,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Scheduler {
            config,
            jobs: BTreeMap::new(),
            workers: BTreeMap::new(),
            available: BTreeSet::new(),
            last_seen: BTreeSet::new(),
            events: VecDeque::new(),
            next_job: 0,
            next_worker: 0,
            durations: Default::default(),
        }
    }

    /// Run times of finished task attempts.
    pub fn task_durations(&self) -> &super::durations::TaskDurations {
        &self.durations
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
        let id = JobId(self.next_job);
        self.next_job += 1;
        let job = Job::new(id, spec, now);
        self.available
            .extend((0..job.n_map()).map(|i| TaskId::map(id, i)));
        self.jobs.insert(id, job);
        Ok(id)
    }

    /// How many tasks can be handed out now.
    pub fn available_tasks(&self) -> usize {
        self.available.len()
    }

    /// Whether any task can be handed out now.
    pub fn has_available_task(&self) -> bool {
        !self.available.is_empty()
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
        let job = self
            .jobs
            .get_mut(&task.job)
            .ok_or(CoreError::UnknownJob(task.job))?;
        let t = job
            .task_mut(task.phase, task.index)
            .ok_or(CoreError::unknown_task(task))?;
        t.attempts += 1;
        let attempt = Attempt(t.attempts);
        t.state = TaskState::Running {
            worker,
            attempt,
            since: now,
        };
        job.counters.task_attempts += 1;
        if job.state == JobState::Queued {
            job.state = JobState::Running;
        }
        if task.phase == Phase::Map {
            job.touched.insert(worker);
        }
        let map_locations = match task.phase {
            Phase::Map => Vec::new(),
            Phase::Reduce => self.map_locations(task.job),
        };
        let job = &self.jobs[&task.job];
        if let Some(w) = self.workers.get_mut(&worker) {
            w.running.insert(task);
        }
        Ok(Some(Assignment {
            task,
            attempt,
            spec: Arc::clone(&job.spec),
            n_map: job.n_map(),
            map_locations,
        }))
    }

    /// `worker` says it runs no task, so any task still recorded as running
    /// on it was lost on the way (say, the reply that assigned it never
    /// arrived): make it available again. This is not the task's fault and
    /// does not count against its attempts.
    pub fn worker_idle(&mut self, worker: WorkerId, now: Instant) -> Result<(), CoreError> {
        self.touch(worker, now)?;
        let Some(w) = self.workers.get_mut(&worker) else {
            return Ok(());
        };
        let abandoned = std::mem::take(&mut w.running);
        for task in abandoned {
            let Some(job) = self.jobs.get_mut(&task.job) else {
                continue;
            };
            let Some(t) = job.task_mut(task.phase, task.index) else {
                continue;
            };
            if matches!(t.state, TaskState::Running { worker: w, .. } if w == worker) {
                t.state = TaskState::Pending;
                if task.phase == Phase::Map || job.reduces_open() {
                    self.available.insert(task);
                }
            }
        }
        Ok(())
    }

    /// Where each map output of `job` is (all maps are done when called).
    fn map_locations(&self, job: JobId) -> Vec<MapLocation> {
        let Some(job) = self.jobs.get(&job) else {
            return Vec::new();
        };
        job.maps
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t.state {
                TaskState::Done { worker, attempt } => Some(MapLocation {
                    task: i as u32,
                    attempt,
                    worker,
                    address: self.address_of(worker),
                }),
                _ => None,
            })
            .collect()
    }

    /// The next thing the outside world should act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Opens `job`'s pending reduces when its maps are all done and nothing
    /// blocks them.
    pub(crate) fn open_reduces_if_ready(&mut self, job: JobId) {
        if let Some(j) = self.jobs.get(&job) {
            if j.reduces_open() {
                let pending: Vec<TaskId> = j.pending_reduces().collect();
                self.available.extend(pending);
            }
        }
    }

    /// Withdraws `job`'s pending reduces (a map output was lost, or a map
    /// worker is suspect).
    pub(crate) fn close_reduces(&mut self, job: JobId) {
        if let Some(j) = self.jobs.get(&job) {
            for t in j.pending_reduces() {
                self.available.remove(&t);
            }
        }
    }

    /// Ends `job` in `state`: withdraws its tasks, frees its workers' running
    /// slots and announces it so workers drop its data.
    pub(crate) fn end_job(&mut self, job: JobId, state: JobState, now: Instant) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.state.is_ended() {
            return;
        }
        j.state = state;
        j.finished_at = Some(now);
        j.blocked_on.clear();
        let touched = std::mem::take(&mut j.touched);
        let running: Vec<(TaskId, WorkerId)> = running_tasks(j).collect();
        let pending: Vec<TaskId> = all_tasks(j).collect();
        for t in pending {
            self.available.remove(&t);
        }
        for (t, w) in running {
            if let Some(w) = self.workers.get_mut(&w) {
                w.running.remove(&t);
            }
            if let Some(task) = self
                .jobs
                .get_mut(&job)
                .and_then(|j| j.task_mut(t.phase, t.index))
            {
                task.state = TaskState::Pending;
            }
        }
        for w in self.workers.values_mut() {
            w.suspect_for.remove(&job);
            w.map_outputs.retain(|t| t.job != job);
        }
        let workers = touched
            .into_iter()
            .filter(|w| self.workers.get(w).is_some_and(|w| w.alive))
            .map(|w| (w, self.address_of(w)))
            .collect();
        self.events.push_back(Event::JobEnded { job, workers });
    }

    pub(crate) fn address_of(&self, worker: WorkerId) -> String {
        match self.workers.get(&worker).and_then(|w| w.address.clone()) {
            Some(a) => a,
            None => format!("127.0.0.1:{}", self.config.legacy_port_base + worker.0),
        }
    }
}

fn running_tasks(j: &Job) -> impl Iterator<Item = (TaskId, WorkerId)> + '_ {
    let maps = j
        .maps
        .iter()
        .enumerate()
        .map(|(i, t)| (TaskId::map(j.id, i as u32), t));
    let reduces = j
        .reduces
        .iter()
        .enumerate()
        .map(|(i, t)| (TaskId::reduce(j.id, i as u32), t));
    maps.chain(reduces).filter_map(|(id, t)| match t.state {
        TaskState::Running { worker, .. } => Some((id, worker)),
        _ => None,
    })
}

fn all_tasks(j: &Job) -> impl Iterator<Item = TaskId> + '_ {
    let maps = (0..j.n_map()).map(|i| TaskId::map(j.id, i));
    let reduces = (0..j.spec.n_reduce).map(|i| TaskId::reduce(j.id, i));
    maps.chain(reduces)
}
