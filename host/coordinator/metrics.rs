//! The coordinator's metrics (`/metrics`), encoded by the official
//! `prometheus-client` crate in the OpenMetrics text format: jobs by state,
//! tasks by phase and state, workers by state, task run times, and RPC
//! counts.
//!
//! Sample names are those of the earlier hand-written Prometheus text
//! (`mr_jobs`, `mr_tasks`, `mr_workers`, `mr_task_duration_seconds_*`,
//! `mr_task_attempts_total`, `mr_task_failures_total`,
//! `mr_rpc_requests_total`); OpenMetrics names a counter's family without
//! its `_total` suffix in the `# TYPE` line and ends the page with `# EOF`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::core::{Phase, Summary, TaskRun};

/// Upper bounds of the task run time histogram buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    phase: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

fn task_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Run times of finished task attempts, by phase, fed from the core's
/// [`TaskRun`]s. Cheap to share: observing takes no lock of ours.
#[derive(Debug, Clone)]
pub struct TaskDurations(Family<PhaseLabel, Histogram, fn() -> Histogram>);

impl Default for TaskDurations {
    fn default() -> Self {
        TaskDurations(Family::new_with_constructor(task_histogram))
    }
}

impl TaskDurations {
    /// Counts one finished attempt.
    pub fn observe(&self, run: &TaskRun) {
        let phase = match run.task.phase {
            Phase::Map => "map",
            Phase::Reduce => "reduce",
        };
        self.0
            .get_or_create(&PhaseLabel { phase })
            .observe(run.took.as_secs_f64());
    }
}

/// Counts of RPCs served, by method.
#[derive(Debug, Clone, Default)]
pub struct RpcCounts(Family<MethodLabel, Counter>);

impl RpcCounts {
    /// Counts one call of `method`.
    pub fn count(&self, method: &'static str) {
        self.0.get_or_create(&MethodLabel { method }).inc();
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Renders the metrics page from the core's totals (a fresh registry per
/// scrape for the values derived from them; the histograms and RPC counts
/// live on between scrapes). Its cost does not grow with tasks.
pub fn render(summary: &Summary, durations: &TaskDurations, rpcs: &RpcCounts) -> String {
    let mut registry = Registry::default();

    let by_state = Family::<StateLabel, Gauge>::default();
    for (state, n) in summary.jobs {
        by_state
            .get_or_create(&StateLabel {
                state: state.name(),
            })
            .set(gauge(n));
    }
    registry.register("mr_jobs", "Jobs by state", by_state);

    let tasks = Family::<TaskLabels, Gauge>::default();
    for (phase, t) in [("map", summary.maps), ("reduce", summary.reduces)] {
        for (state, n) in [
            ("pending", t.pending),
            ("running", t.running),
            ("done", t.done),
        ] {
            tasks
                .get_or_create(&TaskLabels { phase, state })
                .set(gauge(n));
        }
    }
    registry.register(
        "mr_tasks",
        "Tasks of unfinished jobs by phase and state",
        tasks,
    );

    let by_liveness = Family::<StateLabel, Gauge>::default();
    by_liveness
        .get_or_create(&StateLabel { state: "alive" })
        .set(gauge(summary.workers_alive));
    by_liveness
        .get_or_create(&StateLabel { state: "dead" })
        .set(gauge(summary.workers_dead));
    registry.register("mr_workers", "Workers by state", by_liveness);

    registry.register(
        "mr_task_duration_seconds",
        "Run time of finished task attempts",
        durations.0.clone(),
    );
    registry.register(
        "mr_task_attempts",
        "Task attempts handed out",
        ConstCounter::new(summary.task_attempts),
    );
    registry.register(
        "mr_task_failures",
        "Task attempts that failed or were lost",
        ConstCounter::new(summary.task_failures),
    );
    registry.register("mr_rpc_requests", "RPCs served by method", rpcs.0.clone());

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::{Attempt, JobId, TaskId};

    fn run(task: TaskId, took: Duration) -> TaskRun {
        TaskRun {
            counters: Default::default(),
            task,
            attempt: Attempt(1),
            took,
        }
    }

    #[test]
    fn the_page_keeps_the_metric_names_and_cumulative_buckets() {
        let t = TaskDurations::default();
        let map = TaskId::map(JobId(0), 0);
        t.observe(&run(map, Duration::from_millis(30)));
        t.observe(&run(map, Duration::from_secs(3)));
        let rpcs = RpcCounts::default();
        rpcs.count("SubmitJob");
        rpcs.count("SubmitJob");
        let summary = crate::core::Scheduler::new(Default::default()).summary();
        let page = render(&summary, &t, &rpcs);
        for line in [
            "mr_jobs{state=\"queued\"} 0",
            "mr_tasks{phase=\"map\",state=\"pending\"} 0",
            "mr_workers{state=\"alive\"} 0",
            "mr_task_duration_seconds_bucket{le=\"0.025\",phase=\"map\"} 0",
            "mr_task_duration_seconds_bucket{le=\"0.05\",phase=\"map\"} 1",
            "mr_task_duration_seconds_bucket{le=\"2.5\",phase=\"map\"} 1",
            "mr_task_duration_seconds_bucket{le=\"5.0\",phase=\"map\"} 2",
            "mr_task_duration_seconds_bucket{le=\"+Inf\",phase=\"map\"} 2",
            "mr_task_duration_seconds_count{phase=\"map\"} 2",
            "mr_task_attempts_total 0",
            "mr_rpc_requests_total{method=\"SubmitJob\"} 2",
            "# EOF",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
        }
        assert!(page.contains("mr_task_duration_seconds_sum{phase=\"map\"} 3.03"));
    }
}
