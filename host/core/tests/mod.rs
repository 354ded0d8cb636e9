//! Unit tests of the scheduler core, driven directly with invented time.
//!
//! Every test builds a [`Scheduler`], takes `let t0 = Instant::now();` and
//! moves time forward by adding [`Duration`]s; nothing sleeps. This file holds
//! the shared helpers; each topic has its own file:
//! - `fifo`: the order tasks are handed out in (first come, first served,
//!   no idling);
//! - `property`: the same rules checked against a model over many random
//!   interleavings;
//! - `property_faults`: the same, with failures, lost workers and
//!   unreachable peers mixed in;
//! - `ids`: identifiers, attempt numbers and the errors the core refuses with;
//! - `kinds`: course workers and plugin workers never share a job;
//! - `locations`: where reduce tasks are told to fetch map output from, and
//!   the addresses workers registered with;
//! - `faults`: workers that fall silent, and slow workers that do not;
//! - `reports`: stale reports are fenced off;
//! - `failures`: task failures, retries, unreachable peers, cancellation;
//! - `status`: job and worker status views and counters;
//! - `backup`: backup attempts of stragglers (speculation on);
//! - `restore`: a core rebuilt from the durable store, and the map output
//!   registering workers still hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::{
    Assignment, Attempt, CoreError, Event, Failure, JobId, JobSpec, JobState, MapLocation, Report,
    ReportOutcome, Scheduler, SchedulerConfig, TaskCounters, TaskId, WorkerId,
};

mod backup;
mod counters;
mod crashes;
mod failures;
mod faults;
mod fifo;
mod history;
mod ids;
mod kinds;
mod locations;
mod property;
mod property_faults;
mod reports;
mod restore;
mod retention;
mod status;

/// The default worker timeout (7 s), which the tests rely on.
const TIMEOUT: Duration = Duration::from_millis(7000);

/// `n` milliseconds.
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A job with `n_map` input files `f0`, `f1`, ... and `n_reduce` partitions.
fn spec(n_map: u32, n_reduce: u32) -> JobSpec {
    let files = (0..n_map).map(|i| format!("f{i}")).collect();
    JobSpec::new("wc", files, "/out", n_reduce)
}

/// A scheduler with the default configuration, but without backup
/// attempts (the rules most tests check say a task runs on one worker at a
/// time; `backup` tests them with speculation on).
fn new_sched() -> Scheduler {
    let s = Scheduler::new(SchedulerConfig {
        speculation: false,
        ..SchedulerConfig::default()
    });
    assert_eq!(s.config().worker_timeout, TIMEOUT);
    assert_eq!(s.config().max_task_attempts, 4);
    s
}

/// Submits `spec(n_map, n_reduce)`.
fn submit(s: &mut Scheduler, n_map: u32, n_reduce: u32, now: Instant) -> JobId {
    s.submit(spec(n_map, n_reduce), now).expect("valid job")
}

/// Map task `index` of job `job`.
fn m(job: u32, index: u32) -> TaskId {
    TaskId::map(JobId(job), index)
}

/// Reduce task `index` of job `job`.
fn r(job: u32, index: u32) -> TaskId {
    TaskId::reduce(JobId(job), index)
}

/// The address the helpers register worker `w` with.
fn addr(w: WorkerId) -> String {
    format!("worker{}.test:7070", w.0)
}

/// The address the core reports for worker `w` registered with [`addr`].
fn at(w: WorkerId) -> Option<String> {
    Some(addr(w))
}

/// Registers `n` workers (with [`addr`] addresses) and checks they get the
/// next ids in a row.
fn register(s: &mut Scheduler, n: usize, now: Instant) -> Vec<WorkerId> {
    (0..n)
        .map(|_| {
            let expected = WorkerId(s.worker_statuses(now).len() as u32);
            let id = s.register_worker(Some(addr(expected)), now);
            assert_eq!(id, expected);
            id
        })
        .collect()
}

/// Registers one worker.
fn register1(s: &mut Scheduler, now: Instant) -> WorkerId {
    register(s, 1, now)[0]
}

/// `worker` asks for a task.
fn ask(s: &mut Scheduler, worker: WorkerId, now: Instant) -> Option<Assignment> {
    s.next_task(worker, now).expect("next_task")
}

/// `worker` asks for a task; just its id.
fn ask_task(s: &mut Scheduler, worker: WorkerId, now: Instant) -> Option<TaskId> {
    ask(s, worker, now).map(|a| a.task)
}

/// `worker` asks for a task and must get one.
fn must_ask(s: &mut Scheduler, worker: WorkerId, now: Instant) -> Assignment {
    ask(s, worker, now).expect("a task to run")
}

/// The report `worker` sends on assignment `a`.
fn report(worker: WorkerId, a: &Assignment) -> Report {
    Report {
        worker,
        task: a.task,
        attempt: Some(a.attempt),
    }
}

/// `worker` reports `a` finished (zero counters).
fn finish(s: &mut Scheduler, worker: WorkerId, a: &Assignment, now: Instant) -> ReportOutcome {
    s.finish_task(&report(worker, a), TaskCounters::default(), now)
        .expect("finish_task")
}

/// A failure.
fn failure(error: &str, retry: bool, unreachable: Option<WorkerId>) -> Failure {
    Failure {
        error: error.to_string(),
        retry,
        unreachable,
        crash: None,
    }
}

/// A crash with evidence: the process running the task died of `cause`.
fn crash(cause: &str) -> Failure {
    Failure {
        error: format!("the executor died: {cause}"),
        retry: true,
        unreachable: None,
        crash: Some(cause.to_string()),
    }
}

/// `worker` reports `a` failed.
fn fail(
    s: &mut Scheduler,
    worker: WorkerId,
    a: &Assignment,
    f: Failure,
    now: Instant,
) -> ReportOutcome {
    s.fail_task(&report(worker, a), f, now).expect("fail_task")
}

/// `worker` asks for a task and, if it gets one, finishes it at once.
fn run_one(s: &mut Scheduler, worker: WorkerId, now: Instant) -> Option<TaskId> {
    let a = ask(s, worker, now)?;
    assert_eq!(finish(s, worker, &a, now), ReportOutcome::Accepted);
    Some(a.task)
}

/// `worker` runs every task it is given to completion until it gets none;
/// returns the tasks in the order it ran them.
fn drain(s: &mut Scheduler, worker: WorkerId, now: Instant) -> Vec<TaskId> {
    std::iter::from_fn(|| run_one(s, worker, now)).collect()
}

/// Every pending event.
fn events(s: &mut Scheduler) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A job's state.
fn state(s: &Scheduler, job: JobId) -> JobState {
    s.job_status(job).expect("known job").state
}

/// A job's errors.
fn errors(s: &Scheduler, job: JobId) -> Vec<String> {
    s.job_status(job).expect("known job").errors
}

/// Everything the scheduler holds, for "nothing changed" checks.
fn snapshot(s: &Scheduler) -> String {
    format!("{s:?}")
}

/// The tasks `worker` runs, with their attempts.
fn running_on(s: &Scheduler, worker: WorkerId, now: Instant) -> Vec<(TaskId, Attempt)> {
    s.worker_statuses(now)
        .into_iter()
        .find(|w| w.id == worker)
        .expect("known worker")
        .running
}

/// The assignment the core should hand out for `task` of a job submitted as
/// `job_spec`.
fn assignment(
    job_spec: JobSpec,
    task: TaskId,
    attempt: u32,
    map_locations: Vec<MapLocation>,
) -> Assignment {
    let n_map = job_spec.files.len() as u32;
    Assignment {
        task,
        attempt: Attempt(attempt),
        spec: Arc::new(job_spec),
        n_map,
        map_locations,
    }
}

/// Map `task`'s output, produced by `attempt` on `worker` (registered with
/// [`addr`]).
fn loc(task: u32, attempt: u32, worker: WorkerId) -> MapLocation {
    MapLocation {
        task,
        attempt: Attempt(attempt),
        worker,
        address: at(worker),
    }
}

/// Lets the timeout pass after `now`: every worker in `survivors` heartbeats
/// at `now + TIMEOUT`, then the core ticks at that moment, which kills every
/// worker last heard from at or before `now`. Returns the new time.
fn outlive(s: &mut Scheduler, survivors: &[WorkerId], now: Instant) -> Instant {
    let later = now + TIMEOUT;
    for &w in survivors {
        s.heartbeat(w, later).expect("survivor alive");
    }
    s.tick(later);
    later
}

/// Checks the error a call returned.
fn assert_err<T: std::fmt::Debug>(result: Result<T, CoreError>, expected: CoreError) {
    match result {
        Err(e) => assert_eq!(e, expected),
        Ok(v) => panic!("expected {expected:?}, got Ok({v:?})"),
    }
}

/// A tiny deterministic PRNG (xorshift64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Mix the seed so that 0 is usable and nearby seeds diverge.
        Rng(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
