//! The HTML pages: `/` (jobs and workers), `/jobs/{id}` (one job: its
//! submission, outcome, counters, progress per phase, a timeline of
//! attempts per worker and the task table) and `/workers/{id}` (what a
//! worker ran). Each reads the core's status views under the lock, then
//! renders outside it. Everything a client or worker supplied is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::html::{self, esc, Times};
use super::AppState;
use crate::coordinator::convert;
use crate::core::{
    AttemptOutcome, JobId, JobStatus, Phase, TaskStage, TaskStatus, WorkerId, WorkerState,
    WorkerStatus,
};

/// Task rows shown per phase on a job's page (the API has them all).
const TASK_ROWS: usize = 1000;
/// Attempts shown on a worker's page.
const WORKER_RUNS: usize = 500;

/// A 404 page saying `what`.
pub fn not_found(what: &str) -> Response {
    let body = format!("<h1>Not found</h1>\n<p>{}</p>\n", esc(what));
    (
        StatusCode::NOT_FOUND,
        Html(html::page("not found", false, &body)),
    )
        .into_response()
}

fn job_link(id: JobId) -> String {
    format!("<a href=\"/jobs/{id}\">job {id}</a>")
}

fn worker_link(id: WorkerId) -> String {
    format!("<a href=\"/workers/{id}\">worker {id}</a>")
}

fn state_cell(name: &str) -> String {
    format!("<span class=\"s {name}\">{name}</span>")
}

fn job_duration(j: &JobStatus, now: Instant) -> String {
    html::span(
        j.finished_at
            .unwrap_or(now)
            .saturating_duration_since(j.submitted_at),
    )
}

/// `/`: every job (newest first) and every worker.
pub async fn overview(State(s): State<AppState>) -> Html<String> {
    let clock = s.shared.clock;
    let (jobs, workers, now) = s
        .shared
        .read(|core, now| (core.job_statuses(), core.worker_statuses(now), now));
    let t = Times { clock, now };
    let alive = workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let active = jobs.iter().filter(|j| !j.state.is_ended()).count();
    let mut h = String::from("<h1>mapreduce coordinator</h1>\n");
    let _ = writeln!(
        h,
        "<p>{} jobs ({active} queued or running); {alive} of {} workers alive.</p>",
        jobs.len(),
        workers.len()
    );
    h.push_str(
        "<h2>Jobs</h2>\n<table><tr><th>Job</th><th>App</th><th>State</th><th>Maps</th>\
         <th>Reduces</th><th>Submitted</th><th>Duration</th><th>Error</th></tr>\n",
    );
    for j in jobs.iter().rev() {
        let first_error = j.errors.first().map(String::as_str).unwrap_or("");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}/{}</td><td>{} {}/{}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"w\">{}</td></tr>",
            job_link(j.id),
            esc(&j.spec.app),
            state_cell(j.state.name()),
            html::progress(j.maps, true),
            j.maps.done,
            j.maps.total,
            html::progress(j.reduces, true),
            j.reduces.done,
            j.reduces.total,
            t.at(j.submitted_at),
            job_duration(j, now),
            esc(first_error)
        );
    }
    if jobs.is_empty() {
        h.push_str("<tr><td colspan=\"8\" class=\"muted\">No jobs yet.</td></tr>\n");
    }
    h.push_str("</table>\n");
    h.push_str("<h2>Workers</h2>\n");
    workers_table(&mut h, &workers);
    Html(html::page("coordinator", active > 0, &h))
}

fn workers_table(h: &mut String, workers: &[WorkerStatus]) {
    h.push_str(
        "<table><tr><th>Worker</th><th>Address</th><th>State</th>\
         <th>Last heartbeat</th><th>Running</th><th>Tasks done</th></tr>\n",
    );
    for w in workers {
        let state = match w.state {
            WorkerState::Alive => "alive",
            WorkerState::Dead => "dead",
        };
        let running: Vec<String> = w
            .running
            .iter()
            .map(|(t, a)| format!("{} {} {} (attempt {a})", job_link(t.job), t.phase, t.index))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} ago</td><td>{}</td>\
             <td class=\"n\">{}</td></tr>",
            worker_link(w.id),
            esc(&convert::worker_address(w.id, w.address.as_deref())),
            state_cell(state),
            html::span(w.last_seen_ago),
            running.join(", "),
            w.tasks_completed
        );
    }
    if workers.is_empty() {
        h.push_str("<tr><td colspan=\"6\" class=\"muted\">No workers registered.</td></tr>\n");
    }
    h.push_str("</table>\n");
}

/// The job's arguments, one frame each, as text.
fn arguments(args: &[u8]) -> String {
    let shown: Vec<String> = plugin_api::frame::Frames::new(args)
        .map(|f| match f {
            Ok(a) => format!("<code>{}</code>", esc(&String::from_utf8_lossy(a))),
            Err(_) => "<span class=\"muted\">(malformed)</span>".to_string(),
        })
        .collect();
    if shown.is_empty() {
        "<span class=\"muted\">none</span>".to_string()
    } else {
        shown.join(" ")
    }
}

struct JobPage {
    job: JobStatus,
    maps: (usize, Vec<TaskStatus>),
    reduces: (usize, Vec<TaskStatus>),
}

/// `/jobs/{id}`.
pub async fn job(State(s): State<AppState>, Path(id): Path<u32>) -> Response {
    let clock = s.shared.clock;
    let found = s.shared.read(|core, now| {
        let job = core.job_status(JobId(id))?;
        let maps = core.task_statuses(JobId(id), Phase::Map, 0, TASK_ROWS)?;
        let reduces = core.task_statuses(JobId(id), Phase::Reduce, 0, TASK_ROWS)?;
        Ok::<_, crate::core::CoreError>((JobPage { job, maps, reduces }, now))
    });
    let (p, now) = match found {
        Ok(found) => found,
        Err(e) => return not_found(&e.to_string()),
    };
    let t = Times { clock, now };
    let j = &p.job;
    let state = j.state.name();
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h1>Job {} · {} · {}</h1>",
        j.id,
        esc(&j.spec.app),
        state_cell(state)
    );
    if !j.errors.is_empty() {
        h.push_str("<div class=\"errors\"><strong>Errors</strong><ul>");
        for e in &j.errors {
            let _ = write!(h, "<li>{}</li>", esc(e));
        }
        h.push_str("</ul></div>\n");
    }
    let c = j.counters;
    let ended = match j.finished_at {
        Some(f) => t.at(f),
        None => "<span class=\"muted\">not yet</span>".to_string(),
    };
    let _ = writeln!(
        h,
        "<dl><dt>App</dt><dd>{}</dd><dt>Arguments</dt><dd>{}</dd>\
         <dt>Inputs</dt><dd>{} files, {} read</dd><dt>Output</dt><dd><code>{}</code> ({} partition{})</dd>\
         <dt>State</dt><dd>{}</dd><dt>Submitted</dt><dd>{}</dd><dt>Ended</dt><dd>{}</dd>\
         <dt>Duration</dt><dd>{}</dd></dl>",
        esc(&j.spec.app),
        arguments(&j.spec.args),
        j.spec.files.len(),
        html::bytes(c.input_bytes),
        esc(&j.spec.output_dir),
        j.spec.n_reduce,
        if j.spec.n_reduce == 1 { "" } else { "s" },
        state_cell(state),
        t.at(j.submitted_at),
        ended,
        job_duration(j, now)
    );
    h.push_str("<h2>Progress</h2>\n<table>");
    for (name, p) in [("Map", j.maps), ("Reduce", j.reduces)] {
        let _ = writeln!(
            h,
            "<tr><th>{name}</th><td>{}</td><td>{} of {} done, {} running</td></tr>",
            html::progress(p, false),
            p.done,
            p.total,
            p.running
        );
    }
    h.push_str("</table>\n<h2>Counters</h2>\n<table>");
    for (name, v) in [
        (
            "Input",
            format!(
                "{} in {} files",
                html::bytes(c.input_bytes),
                c.input_records
            ),
        ),
        (
            "Map output",
            format!(
                "{} records, {}",
                c.map_output_records,
                html::bytes(c.map_output_bytes)
            ),
        ),
        ("Shuffled", html::bytes(c.shuffle_bytes)),
        (
            "Output",
            format!(
                "{} records, {}",
                c.reduce_output_records,
                html::bytes(c.reduce_output_bytes)
            ),
        ),
        (
            "Attempts",
            format!(
                "{} handed out, {} failed or lost",
                c.task_attempts, c.task_failures
            ),
        ),
    ] {
        let _ = write!(h, "<tr><th>{name}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n");
    let tasks: Vec<&TaskStatus> = p.maps.1.iter().chain(&p.reduces.1).collect();
    timeline(&mut h, j, &tasks, now);
    task_table(&mut h, &p, &t, j.state.is_ended());
    Html(html::page(
        &format!("job {}", j.id),
        !j.state.is_ended(),
        &h,
    ))
    .into_response()
}

/// One row per worker with a bar per attempt, placed on the job's time
/// span: re-runs and stragglers stand out.
fn timeline(h: &mut String, j: &JobStatus, tasks: &[&TaskStatus], now: Instant) {
    h.push_str("<h2>Timeline</h2>\n");
    let start = j.submitted_at;
    let total = j
        .finished_at
        .unwrap_or(now)
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-3);
    let mut rows: BTreeMap<WorkerId, String> = BTreeMap::new();
    for task in tasks {
        for a in &task.attempts {
            let left = a.started_at.saturating_duration_since(start).as_secs_f64() / total;
            let width = a.duration(now).as_secs_f64() / total;
            let name = html::outcome(&a.outcome);
            let _ = write!(
                rows.entry(a.worker).or_default(),
                "<span class=\"{name}\" style=\"left:{:.3}%;width:{:.3}%\" \
                 title=\"{} {} attempt {}: {name}, {}\"></span>",
                100.0 * left.min(1.0),
                100.0 * width.min(1.0 - left.min(1.0)),
                task.task.phase,
                task.task.index,
                a.attempt,
                html::span(a.duration(now))
            );
        }
    }
    if rows.is_empty() {
        h.push_str("<p class=\"muted\">No attempts yet.</p>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<table><tr><th>Worker</th><th>Attempts from submission (0) to {}</th></tr>",
        html::span(std::time::Duration::from_secs_f64(total))
    );
    for (worker, bars) in rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td style=\"width:640px\"><div class=\"tl\">{bars}</div></td></tr>",
            worker_link(worker)
        );
    }
    h.push_str(
        "</table>\n<p class=\"muted\">Green: succeeded; blue: running; red: failed or lost with \
         its worker; amber: succeeded but its output was lost; grey: released or abandoned.</p>\n",
    );
}

/// What the task table says of a task: its stage, or for a task its
/// ended job left unfinished, how its last attempt ended.
fn task_state(task: &TaskStatus, job_ended: bool) -> &'static str {
    match (task.stage, task.attempts.last()) {
        (TaskStage::Done, _) => "done",
        (TaskStage::Running, _) => "running",
        (TaskStage::Pending, Some(a)) if job_ended => html::outcome(&a.outcome),
        (TaskStage::Pending, None) if job_ended => "not run",
        (TaskStage::Pending, _) => "pending",
    }
}

fn task_table(h: &mut String, p: &JobPage, t: &Times, job_ended: bool) {
    h.push_str(
        "<h2>Tasks</h2>\n<table><tr><th>Phase</th><th>Index</th><th>Input</th><th>State</th>\
         <th>Worker</th><th>Attempts</th><th>Started</th><th>Duration</th><th>Error</th></tr>\n",
    );
    for (total, shown) in [&p.maps, &p.reduces] {
        for task in shown {
            let last = task.attempts.last();
            let state = task_state(task, job_ended);
            let attempts: Vec<String> = task
                .attempts
                .iter()
                .map(|a| {
                    let name = html::outcome(&a.outcome);
                    format!(
                        "#{} on {}: <span class=\"{name}\">{name}</span>",
                        a.attempt,
                        worker_link(a.worker)
                    )
                })
                .collect();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"w\">{}</td></tr>",
                task.task.phase,
                task.task.index,
                esc(task.input.as_deref().unwrap_or("")),
                state_cell(state),
                last.map(|a| worker_link(a.worker)).unwrap_or_default(),
                attempts.join("<br>"),
                last.map(|a| t.iso(a.started_at)).unwrap_or_default(),
                last.map(|a| html::span(a.duration(t.now)))
                    .unwrap_or_default(),
                esc(task.last_error().unwrap_or(""))
            );
        }
        if *total > shown.len() {
            let _ = writeln!(
                h,
                "<tr><td colspan=\"9\" class=\"muted\">… {} more; all are in \
                 <a href=\"/api/jobs/{}/tasks\">the JSON</a>.</td></tr>",
                total - shown.len(),
                p.job.id
            );
        }
    }
    h.push_str("</table>\n");
}

/// `/workers/{id}`.
pub async fn worker(State(s): State<AppState>, Path(id): Path<u32>) -> Response {
    let clock = s.shared.clock;
    let (status, runs, now) = s.shared.read(|core, now| {
        let status = core
            .worker_statuses(now)
            .into_iter()
            .find(|w| w.id == WorkerId(id));
        (status, core.worker_runs(WorkerId(id), WORKER_RUNS), now)
    });
    let (Some(w), Some(runs)) = (status, runs) else {
        return not_found(&format!("no worker {id}"));
    };
    let t = Times { clock, now };
    let mut h = format!("<h1>Worker {}</h1>\n", w.id);
    workers_table(&mut h, std::slice::from_ref(&w));
    let _ = writeln!(
        h,
        "<h2>What it ran</h2>\n<p>The last {} attempts, newest first.</p>",
        runs.len()
    );
    h.push_str(
        "<table><tr><th>Job</th><th>Task</th><th>Attempt</th><th>Started</th>\
         <th>Duration</th><th>Outcome</th><th>Error</th></tr>\n",
    );
    for r in &runs {
        let name = html::outcome(&r.record.outcome);
        let error = match &r.record.outcome {
            AttemptOutcome::Failed { error } => esc(error),
            _ => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{} {}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td><span class=\"{name}\">{name}</span></td><td class=\"w\">{error}</td></tr>",
            job_link(r.task.job),
            r.task.phase,
            r.task.index,
            r.record.attempt,
            t.at(r.record.started_at),
            html::span(r.record.duration(now)),
        );
    }
    h.push_str("</table>\n");
    let alive = w.state == WorkerState::Alive;
    Html(html::page(&format!("worker {}", w.id), alive, &h)).into_response()
}
