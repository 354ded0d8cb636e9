//! Scheduler core throughput (`cargo bench --bench scheduler`): how fast
//! `Scheduler::next_task` hands out tasks with a deep queue, and whether its
//! cost per decision stays flat as the queue grows. A plain `harness =
//! false` bench: it prints its figures as `key=value` words.

use std::time::{Duration, Instant};

use mapreduce::core::{JobSpec, Report, Scheduler, SchedulerConfig, TaskCounters, WorkerId};

const WORKERS: u32 = 64;

/// A scheduler with `jobs` queued jobs of `tasks` tasks (`tasks - 1` maps
/// and one reduce) and `WORKERS` registered workers.
fn queued(jobs: usize, tasks: usize, now: Instant) -> (Scheduler, Vec<WorkerId>) {
    let mut s = Scheduler::new(SchedulerConfig {
        worker_timeout: Duration::from_secs(3600),
        ..SchedulerConfig::default()
    });
    let workers = (0..WORKERS)
        .map(|i| s.register_worker(Some(format!("127.0.0.1:{}", 20000 + i)), now))
        .collect();
    for j in 0..jobs {
        s.submit(
            JobSpec::new(
                "wc",
                (0..tasks - 1).map(|i| format!("/in/{j}/{i}")).collect(),
                "/out",
                1,
            ),
            now,
        )
        .expect("submit");
    }
    (s, workers)
}

/// Hands out `n` tasks round-robin without finishing them; the time per
/// assignment.
fn assign_only(s: &mut Scheduler, workers: &[WorkerId], n: usize, now: Instant) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        let w = workers[i % workers.len()];
        let a = s.next_task(w, now).expect("next_task");
        std::hint::black_box(a);
    }
    started.elapsed() / n as u32
}

/// Assign-and-finish cycles until the queue is empty (reduces open as maps
/// finish); returns (cycles, time).
fn drain(s: &mut Scheduler, workers: &[WorkerId], now: Instant) -> (usize, Duration) {
    let started = Instant::now();
    let mut n = 0;
    let mut idle = 0;
    let mut i = 0;
    while idle < workers.len() {
        let w = workers[i % workers.len()];
        i += 1;
        match s.next_task(w, now).expect("next_task") {
            Some(a) => {
                idle = 0;
                let report = Report {
                    worker: w,
                    task: a.task,
                    attempt: Some(a.attempt),
                };
                s.finish_task(&report, TaskCounters::default(), now)
                    .expect("finish");
                n += 1;
            }
            None => idle += 1,
        }
        while s.poll_event().is_some() {}
    }
    (n, started.elapsed())
}

fn main() {
    let now = Instant::now();
    // The headline: 10,000 queued jobs of 10 tasks.
    let build = Instant::now();
    let (mut s, workers) = queued(10_000, 10, now);
    let build = build.elapsed();
    let per = assign_only(&mut s, &workers, 90_000, now);
    println!(
        "scenario=assign jobs=10000 tasks_per_job=10 assignments=90000 ns_per_assignment={:.0} assignments_per_s={:.0} submit_ms={}",
        per.as_nanos() as f64,
        1e9 / per.as_nanos().max(1) as f64,
        build.as_millis()
    );
    let (mut s, workers) = queued(10_000, 10, now);
    let (n, t) = drain(&mut s, &workers, now);
    println!(
        "scenario=assign+finish jobs=10000 tasks_per_job=10 tasks={n} ns_per_task={:.0} tasks_per_s={:.0}",
        t.as_nanos() as f64 / n as f64,
        n as f64 / t.as_secs_f64()
    );
    // Flatness: the cost of one decision as the queue grows.
    for jobs in [100, 1_000, 10_000, 100_000] {
        let (mut s, workers) = queued(jobs, 10, now);
        let n = 50_000.min(jobs * 9);
        let per = assign_only(&mut s, &workers, n, now);
        println!(
            "scenario=flatness queued_jobs={jobs} assignments={n} ns_per_assignment={:.0}",
            per.as_nanos() as f64
        );
    }
}
