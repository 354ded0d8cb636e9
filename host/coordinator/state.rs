//! [`Shared`]: the coordinator's state behind its services: the core under a
//! std mutex (never held across `.await`), and the signals that wake
//! long-polling workers, job watchers and the timer driver.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use tokio::sync::{mpsc, watch, Notify};

use super::convert::Clock;
use super::metrics::TaskDurations;
use super::outputs::PendingCommit;
use super::store::{random_id, Journal, Record, StoredEnd};
use super::watch::JobWatchers;
use crate::core::{Event, JobId, JobState, JobStatus, Scheduler};
use crate::plugin::{Registry, RegistryError};
use std::collections::HashSet;

/// State shared by the coordinator's service handlers and its driver.
pub struct Shared {
    core: Mutex<Scheduler>,
    /// The apps jobs may name (replaced whole on reload).
    registry: RwLock<Arc<Registry>>,
    /// The folders a reload rescans.
    plugin_dirs: Vec<PathBuf>,
    /// Notified (one waiter per available task) when tasks may be available.
    pub tasks_ready: Notify,
    /// How many `GetTask` calls are waiting on `tasks_ready`.
    pub waiting: std::sync::atomic::AtomicUsize,
    /// Wake-ups of `WatchJob` streams, per job.
    pub watchers: JobWatchers,
    /// Wakes the driver to recompute its deadline.
    pub driver_wake: Notify,
    /// Set when the coordinator shuts down.
    pub stopping: watch::Sender<bool>,
    /// Wall-clock conversion.
    pub clock: Clock,
    /// This coordinator instance, told to workers when they register.
    pub epoch: u64,
    /// RPCs served, for `/metrics`.
    pub rpcs: super::metrics::RpcCounts,
    /// Run times of finished task attempts, for `/metrics`.
    durations: TaskDurations,
    /// Output folders of unfinished jobs, and commits.
    pub outputs: super::outputs::OutputFolders,
    /// The durable job store's writer (`None`: jobs live in memory only).
    pub journal: Option<Journal>,
    /// This job state's identity (the store's, or this start's epoch):
    /// held map output tagged with another is never adopted.
    pub state_id: u64,
    /// Unfinished jobs that had a task assigned, so each job's start is
    /// logged once.
    started: Mutex<HashSet<JobId>>,
    events: mpsc::UnboundedSender<Event>,
}

impl Shared {
    /// Shared state around `core`; events go to `events`; changes are
    /// recorded in `journal` if there is one, whose state is `state_id`.
    pub fn new(
        core: Scheduler,
        registry: Arc<Registry>,
        plugin_dirs: Vec<PathBuf>,
        events: mpsc::UnboundedSender<Event>,
        journal: Option<(Journal, u64)>,
        watchers: JobWatchers,
    ) -> Self {
        // Differs between coordinator starts; never 0, which means "not sent".
        let epoch = random_id();
        let (journal, state_id) = match journal {
            Some((j, id)) => (Some(j), id),
            None => (None, epoch),
        };
        Shared {
            journal,
            state_id,
            core: Mutex::new(core),
            registry: RwLock::new(registry),
            plugin_dirs,
            tasks_ready: Notify::new(),
            waiting: Default::default(),
            watchers,
            driver_wake: Notify::new(),
            stopping: watch::channel(false).0,
            clock: Clock::new(),
            rpcs: Default::default(),
            durations: Default::default(),
            outputs: Default::default(),
            epoch,
            started: Default::default(),
            events,
        }
    }

    /// The current registry.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Rescans the plugin folders and swaps in the new registry. Tasks
    /// already handed out keep the library they were given.
    pub fn reload_registry(&self) -> Result<Arc<Registry>, RegistryError> {
        let cache = self.registry().cache_dir().map(PathBuf::from);
        let fresh = match cache {
            Some(dir) => Registry::with_cache(dir),
            None => Registry::new(),
        };
        let fresh = Arc::new(fresh.load_dirs_into(&self.plugin_dirs)?);
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&fresh);
        tracing::info!(apps = ?fresh.names(), "plugin registry reloaded");
        Ok(fresh)
    }

    /// Run times of the task attempts finished so far.
    pub fn task_durations(&self) -> &TaskDurations {
        &self.durations
    }

    fn lock(&self) -> MutexGuard<'_, Scheduler> {
        // The core's methods do not panic on any input; if one did, its
        // state would still be consistent enough to keep serving.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the core.
    pub fn read<R>(&self, f: impl FnOnce(&Scheduler, Instant) -> R) -> R {
        f(&self.lock(), now())
    }

    /// Changes the core, then wakes whoever may care: long-polling workers
    /// if a task is available, the watchers of the jobs that changed (only
    /// those), and the event handler; drops what it kept about forgotten
    /// jobs.
    pub fn update<R>(&self, f: impl FnOnce(&mut Scheduler, Instant) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core, now());
        let ready = self.ready_for_waiting(&core);
        let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        let runs: Vec<_> = std::iter::from_fn(|| core.poll_task_run()).collect();
        if let Some(journal) = &self.journal {
            // Queued under the lock, so the store sees changes in order.
            let mut records: Vec<Record> = runs
                .iter()
                .map(|r| Record::TaskFinished {
                    task: r.task,
                    attempt: r.attempt,
                    counters: r.counters,
                })
                .collect();
            // A success is recorded once its commit is done
            // ([`Shared::commit`]); other ends at once.
            for e in &events {
                match e {
                    Event::JobEnded { job, .. } => {
                        records.extend(self.end_record(&core, *job, false));
                    }
                    Event::JobForgotten(job) => records.push(Record::Forget { job: *job }),
                    _ => {}
                }
            }
            journal.record(records);
        }
        let ended: Vec<JobStatus> = events
            .iter()
            .filter_map(|e| match e {
                Event::JobEnded { job, .. } => core.job_status(*job).ok(),
                _ => None,
            })
            .collect();
        let changed: Vec<_> = std::iter::from_fn(|| core.poll_changed_job()).collect();
        drop(core);
        for status in &ended {
            self.log_job_end(status);
        }
        runs.iter().for_each(|r| self.durations.observe(r));
        self.wake_workers(ready);
        for job in changed {
            self.watchers.notify(job);
        }
        for e in events {
            if let Event::JobForgotten(job) = e {
                self.outputs.forget(job);
                self.watchers.forget(job);
            }
            let _ = self.events.send(e);
        }
        result
    }

    /// The record of `job`'s end as clients see it (a success whose commit
    /// is under way is not ended yet, and is left out unless `committed`).
    fn end_record(&self, core: &Scheduler, job: JobId, committed: bool) -> Option<Record> {
        let mut s = core.job_status(job).ok()?;
        self.outputs.adjust(&mut s);
        let ended = s.state.is_ended() && (committed || s.state != JobState::Succeeded);
        ended.then(|| Record::JobEnded {
            job,
            end: StoredEnd {
                state: s.state,
                errors: s.errors,
                counters: s.counters,
                finished_at_ms: s.finished_at.map(|t| self.clock.epoch_ms(t)).unwrap_or(0),
            },
        })
    }

    /// Writes a succeeded job's manifest off the runtime, records how the
    /// commit ended, and wakes watchers. A task of its own, so the commit
    /// completes even if the caller is abandoned.
    pub fn commit(self: &Arc<Self>, commit: PendingCommit) -> tokio::task::JoinHandle<()> {
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let job = commit.job;
            let result = tokio::task::spawn_blocking(move || commit.write())
                .await
                .unwrap_or_else(|e| {
                    Err(crate::output::OutputError::Folder {
                        action: "commit",
                        path: PathBuf::new(),
                        source: std::io::Error::other(e.to_string()),
                    })
                });
            match &result {
                Ok(()) => tracing::info!(job = job.0, "job committed: manifest written"),
                Err(e) => tracing::error!(job = job.0, "job commit failed: {e}"),
            }
            shared.outputs.end_commit(job, result);
            if let Some(journal) = &shared.journal {
                // Synced before watchers hear of it: a restart never commits
                // a job a client saw succeed a second time.
                let records = {
                    let core = shared.lock();
                    shared.end_record(&core, job, true).into_iter().collect()
                };
                if let Err(e) = journal.commit(records).await {
                    tracing::error!(job = job.0, "cannot record the job's end: {e}");
                }
            }
            shared.watchers.notify(job);
        })
    }

    /// Records a sign of life or hands out a task: wakes long-polling
    /// workers and the watchers of jobs that changed (a task started), and
    /// no one else.
    /// Logs a job's start when its first task is handed out (once per job).
    pub fn note_assigned(&self, job: JobId, app: &str) {
        let first = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job);
        if first {
            tracing::info!(job = job.0, %app, "job started");
        }
    }

    fn log_job_end(&self, s: &JobStatus) {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&s.id);
        let end = s.finished_at.unwrap_or_else(now);
        let duration_ms = end.saturating_duration_since(s.submitted_at).as_millis() as u64;
        let outcome = format!("{:?}", s.state).to_lowercase();
        let error = s.errors.first().map(String::as_str).unwrap_or("");
        tracing::info!(
            job = s.id.0,
            app = %s.spec.app,
            %outcome,
            duration_ms,
            attempts = s.counters.task_attempts,
            failures = s.counters.task_failures,
            error,
            "job ended"
        );
    }

    /// Records a sign of life or hands out a task: wakes long-polling
    /// workers and the watchers of jobs that changed (a task started), and
    /// no one else.
    pub fn quiet_update<R>(&self, f: impl FnOnce(&mut Scheduler, Instant) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core, now());
        let ready = self.ready_for_waiting(&core);
        let changed: Vec<_> = std::iter::from_fn(|| core.poll_changed_job()).collect();
        drop(core);
        // A heartbeat can release reduces held for a suspect worker.
        self.wake_workers(ready);
        for job in changed {
            self.watchers.notify(job);
        }
        result
    }

    /// How many available tasks the long-polling workers could take, up to
    /// how many wait: only tasks a plugin worker may run count, since only
    /// our workers long-poll (the course's `GetTask` has no
    /// `long_poll_ms`). Counting tasks none of them may take would wake
    /// them for nothing, and the woken worker's own update would wake it
    /// again at once: a spin.
    fn ready_for_waiting(&self, core: &Scheduler) -> usize {
        let waiting = self.waiting.load(std::sync::atomic::Ordering::Acquire);
        core.available_tasks_for(crate::core::WorkerKind::Plugin, waiting.max(1))
    }

    /// Wakes as many long-polling workers as there are available tasks (not
    /// all of them: with many idle workers that would be a thundering herd
    /// on every change). A woken worker that finds nothing waits again.
    fn wake_workers(&self, available: usize) {
        let waiting = self.waiting.load(std::sync::atomic::Ordering::Acquire);
        for _ in 0..available.min(waiting.max(1)) {
            self.tasks_ready.notify_one();
        }
    }
}

/// The time the core is given: the runtime's clock, which is the system's
/// except under a paused (simulated) tokio clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
