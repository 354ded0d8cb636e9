//! The coordinator's metrics in the Prometheus text format (`/metrics`):
//! jobs by state, tasks by phase and state, workers by state, task run
//! times, and RPC counts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::core::{
    Histogram, JobState, JobStatus, TaskDurations, WorkerState, WorkerStatus, BUCKETS,
};

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

/// Renders the metrics page.
pub fn render(
    jobs: &[JobStatus],
    workers: &[WorkerStatus],
    durations: &TaskDurations,
    rpcs: &RpcCounts,
) -> String {
    let mut out = String::new();
    out.push_str("# HELP mr_jobs Jobs by state.\n# TYPE mr_jobs gauge\n");
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ] {
        let n = jobs.iter().filter(|j| j.state == state).count();
        let _ = writeln!(out, "mr_jobs{{state=\"{}\"}} {n}", state_name(state));
    }

    out.push_str(
        "# HELP mr_tasks Tasks of unfinished jobs by phase and state.\n# TYPE mr_tasks gauge\n",
    );
    let active: Vec<&JobStatus> = jobs.iter().filter(|j| !j.state.is_ended()).collect();
    for (phase, pick) in [
        (
            "map",
            (|j: &JobStatus| j.maps) as fn(&JobStatus) -> crate::core::PhaseProgress,
        ),
        ("reduce", |j: &JobStatus| j.reduces),
    ] {
        let (mut pending, mut running, mut done) = (0u64, 0u64, 0u64);
        for j in &active {
            let p = pick(j);
            running += u64::from(p.running);
            done += u64::from(p.done);
            pending += u64::from(p.total - p.done - p.running);
        }
        for (state, n) in [("pending", pending), ("running", running), ("done", done)] {
            let _ = writeln!(out, "mr_tasks{{phase=\"{phase}\",state=\"{state}\"}} {n}");
        }
    }

    out.push_str("# HELP mr_workers Workers by state.\n# TYPE mr_workers gauge\n");
    let alive = workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let _ = writeln!(out, "mr_workers{{state=\"alive\"}} {alive}");
    let _ = writeln!(
        out,
        "mr_workers{{state=\"dead\"}} {}",
        workers.len() - alive
    );

    out.push_str("# HELP mr_task_duration_seconds Run time of finished task attempts.\n");
    out.push_str("# TYPE mr_task_duration_seconds histogram\n");
    histogram(&mut out, "map", &durations.map);
    histogram(&mut out, "reduce", &durations.reduce);

    out.push_str("# HELP mr_task_attempts_total Task attempts handed out.\n# TYPE mr_task_attempts_total counter\n");
    let attempts: u64 = jobs.iter().map(|j| j.counters.task_attempts).sum();
    let _ = writeln!(out, "mr_task_attempts_total {attempts}");
    out.push_str("# HELP mr_task_failures_total Task attempts that failed or were lost.\n# TYPE mr_task_failures_total counter\n");
    let failures: u64 = jobs.iter().map(|j| j.counters.task_failures).sum();
    let _ = writeln!(out, "mr_task_failures_total {failures}");

    out.push_str("# HELP mr_rpc_requests_total RPCs served by method.\n# TYPE mr_rpc_requests_total counter\n");
    for (method, n) in rpcs.snapshot() {
        let _ = writeln!(out, "mr_rpc_requests_total{{method=\"{method}\"}} {n}");
    }
    out
}
