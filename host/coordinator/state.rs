//! [`Shared`]: the coordinator's state behind its services: the core under a
//! std mutex (never held across `.await`), and the signals that wake
//! long-polling workers, job watchers and the timer driver.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use tokio::sync::{mpsc, watch, Notify};

use super::convert::Clock;
use super::metrics::TaskDurations;
use crate::core::{Event, JobId, JobStatus, Scheduler};
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
    /// Bumped whenever a job's status may have changed.
    pub changed: watch::Sender<u64>,
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
    durations: Mutex<TaskDurations>,
    /// Output folders of unfinished jobs, and commits.
    pub outputs: super::outputs::OutputFolders,
    /// Unfinished jobs that had a task assigned, so each job's start is
    /// logged once.
    started: Mutex<HashSet<JobId>>,
    events: mpsc::UnboundedSender<Event>,
}

impl Shared {
    /// Shared state around `core`; events go to `events`.
    pub fn new(
        core: Scheduler,
        registry: Arc<Registry>,
        plugin_dirs: Vec<PathBuf>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Shared {
            core: Mutex::new(core),
            registry: RwLock::new(registry),
            plugin_dirs,
            tasks_ready: Notify::new(),
            waiting: Default::default(),
            changed: watch::channel(0).0,
            driver_wake: Notify::new(),
            stopping: watch::channel(false).0,
            clock: Clock::new(),
            rpcs: Default::default(),
            durations: Default::default(),
            outputs: Default::default(),
            epoch: new_epoch(),
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
    pub fn task_durations(&self) -> TaskDurations {
        self.durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
    /// if a task is available, job watchers, and the event handler.
    pub fn update<R>(&self, f: impl FnOnce(&mut Scheduler, Instant) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core, now());
        let ready = core.available_tasks();
        let mut events = Vec::new();
        while let Some(e) = core.poll_event() {
            events.push(e);
        }
        let runs: Vec<_> = std::iter::from_fn(|| core.poll_task_run()).collect();
        let ended: Vec<JobStatus> = events
            .iter()
            .filter_map(|e| match e {
                Event::JobEnded { job, .. } => core.job_status(*job).ok(),
                Event::WorkerDied(_) => None,
            })
            .collect();
        drop(core);
        for status in &ended {
            self.log_job_end(status);
        }
        if !runs.is_empty() {
            let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
            runs.iter().for_each(|r| durations.observe(r));
        }
        self.wake_workers(ready);
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        for e in events {
            let _ = self.events.send(e);
        }
        result
    }

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

    /// Records a sign of life without waking anyone (heartbeats are the
    /// most frequent call; they change no job).
    pub fn quiet_update<R>(&self, f: impl FnOnce(&mut Scheduler, Instant) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core, now());
        let ready = core.available_tasks();
        drop(core);
        // A heartbeat can release reduces held for a suspect worker.
        self.wake_workers(ready);
        result
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

/// A number that differs between coordinator starts (never 0, which means
/// "not sent").
fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish().max(1)
}
