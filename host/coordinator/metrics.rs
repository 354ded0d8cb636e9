//! The coordinator's metrics in the Prometheus text format (`/metrics`):
//! jobs by state, tasks by phase and state, workers by state, task run
//! times, and RPC counts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::core::{JobState, Phase, Summary, TaskRun};

/// Upper bounds of the task run time histogram buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// One phase's histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Count of observations at or below each bound of [`BUCKETS`]
    /// (cumulative, as Prometheus wants).
    pub cumulative: [u64; BUCKETS.len()],
    /// All observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, n) in BUCKETS.iter().zip(self.cumulative.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Run times of finished task attempts, by phase, fed from the core's
/// [`TaskRun`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskDurations {
    /// Map tasks.
    pub map: Histogram,
    /// Reduce tasks.
    pub reduce: Histogram,
}

impl TaskDurations {
    /// Counts one finished attempt.
    pub fn observe(&mut self, run: &TaskRun) {
        match run.task.phase {
            Phase::Map => self.map.observe(run.took),
            Phase::Reduce => self.reduce.observe(run.took),
        }
    }
}

/// Counts of RPCs served, by method.
#[derive(Debug, Default)]
pub struct RpcCounts(Mutex<BTreeMap<&'static str, u64>>);

impl RpcCounts {
    /// Counts one call of `method`.
    pub fn count(&self, method: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
    }
}

fn histogram(out: &mut String, phase: &str, h: &Histogram) {
    for (bound, n) in BUCKETS.iter().zip(h.cumulative.iter()) {
        let _ = writeln!(
            out,
            "mr_task_duration_seconds_bucket{{phase=\"{phase}\",le=\"{bound}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "mr_task_duration_seconds_bucket{{phase=\"{phase}\",le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(
        out,
        "mr_task_duration_seconds_sum{{phase=\"{phase}\"}} {}",
        h.sum
    );
    let _ = writeln!(
        out,
        "mr_task_duration_seconds_count{{phase=\"{phase}\"}} {}",
        h.count
    );
}

/// Renders the metrics page from the core's totals.
pub fn render(summary: &Summary, durations: &TaskDurations, rpcs: &RpcCounts) -> String {
    let mut out = String::new();
    out.push_str("# HELP mr_jobs Jobs by state.\n# TYPE mr_jobs gauge\n");
    for (state, n) in summary.jobs {
        let _ = writeln!(out, "mr_jobs{{state=\"{}\"}} {n}", state_name(state));
    }

    out.push_str(
        "# HELP mr_tasks Tasks of unfinished jobs by phase and state.\n# TYPE mr_tasks gauge\n",
    );
    for (phase, t) in [("map", summary.maps), ("reduce", summary.reduces)] {
        for (state, n) in [
            ("pending", t.pending),
            ("running", t.running),
            ("done", t.done),
        ] {
            let _ = writeln!(out, "mr_tasks{{phase=\"{phase}\",state=\"{state}\"}} {n}");
        }
    }

    out.push_str("# HELP mr_workers Workers by state.\n# TYPE mr_workers gauge\n");
    let _ = writeln!(
        out,
        "mr_workers{{state=\"alive\"}} {}",
        summary.workers_alive
    );
    let _ = writeln!(out, "mr_workers{{state=\"dead\"}} {}", summary.workers_dead);

    out.push_str("# HELP mr_task_duration_seconds Run time of finished task attempts.\n");
    out.push_str("# TYPE mr_task_duration_seconds histogram\n");
    histogram(&mut out, "map", &durations.map);
    histogram(&mut out, "reduce", &durations.reduce);

    out.push_str("# HELP mr_task_attempts_total Task attempts handed out.\n# TYPE mr_task_attempts_total counter\n");
    let _ = writeln!(out, "mr_task_attempts_total {}", summary.task_attempts);
    out.push_str("# HELP mr_task_failures_total Task attempts that failed or were lost.\n# TYPE mr_task_failures_total counter\n");
    let _ = writeln!(out, "mr_task_failures_total {}", summary.task_failures);

    out.push_str("# HELP mr_rpc_requests_total RPCs served by method.\n# TYPE mr_rpc_requests_total counter\n");
    for (method, n) in rpcs.snapshot() {
        let _ = writeln!(out, "mr_rpc_requests_total{{method=\"{method}\"}} {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Attempt, JobId, TaskId};

    fn run(task: TaskId, took: Duration) -> TaskRun {
        TaskRun {
            task,
            attempt: Attempt(1),
            took,
        }
    }

    #[test]
    fn buckets_are_cumulative() {
        let mut t = TaskDurations::default();
        let map = TaskId::map(JobId(0), 0);
        t.observe(&run(map, Duration::from_millis(30)));
        t.observe(&run(map, Duration::from_secs(3)));
        assert_eq!(t.map.count, 2);
        assert_eq!(t.map.cumulative[..4], [0, 0, 0, 1]);
        assert_eq!(t.map.cumulative[BUCKETS.len() - 1], 2);
        assert_eq!(t.map.cumulative[8], 1);
        assert_eq!(t.map.cumulative[9], 2);
        assert!((t.map.sum - 3.03).abs() < 1e-9);
        assert_eq!(t.reduce, Histogram::default());
    }
}
