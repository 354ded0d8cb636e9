//! The coordinator's HTTP endpoint (`mr coordinator --http ADDR`): `/metrics`
//! in the Prometheus text format and a read-only status page at `/` listing
//! jobs and workers. Plain HTML, no scripts; it refreshes itself every 5 s.
//!
//! A deliberately small HTTP/1.1 server: GET only, one request per
//! connection, bounded request size and time.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::state::Shared;
use super::{convert, metrics};
use crate::core::{JobState, WorkerState};

/// Serves `/` and `/metrics` on `listener` until the coordinator stops.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(10), handle(stream, shared)).await;
                    });
                }
                Err(e) => tracing::warn!("status page: accept failed: {e}"),
            },
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics_page(&shared),
        ),
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", status_page(&shared)),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn metrics_page(shared: &Shared) -> String {
    // Totals only: no per-task or per-job status is built under the lock.
    let summary = shared.read(|core, _| core.summary());
    let durations = shared.task_durations();
    metrics::render(&summary, &durations, &shared.rpcs)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn status_page(shared: &Shared) -> String {
    let clock = shared.clock;
    let (jobs, workers, now) =
        shared.read(|core, now| (core.job_statuses(), core.worker_statuses(now), now));
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>mapreduce coordinator</title><style>body{font-family:sans-serif;margin:2em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
         th{background:#eee}.failed,.dead{color:#b00}.succeeded,.alive{color:#070}</style></head><body>\n\
         <h1>mapreduce coordinator</h1>\n",
    );
    let alive = workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let _ = writeln!(
        h,
        "<p>{} jobs, {alive} of {} workers alive.</p>",
        jobs.len(),
        workers.len()
    );
    h.push_str("<h2>Jobs</h2>\n<table><tr><th>Job</th><th>App</th><th>State</th><th>Maps done/running/total</th>\
                <th>Reduces done/running/total</th><th>Submitted (ms since epoch)</th><th>Duration</th><th>Errors</th></tr>\n");
    for j in jobs.iter().rev() {
        let state = match j.state {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        };
        let duration = j
            .finished_at
            .unwrap_or(now)
            .saturating_duration_since(j.submitted_at);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{state}\">{state}</td><td>{}/{}/{}</td><td>{}/{}/{}</td>\
             <td>{}</td><td>{:.1} s</td><td>{}</td></tr>",
            j.id,
            escape(&j.spec.app),
            j.maps.done,
            j.maps.running,
            j.maps.total,
            j.reduces.done,
            j.reduces.running,
            j.reduces.total,
            clock.epoch_ms(j.submitted_at),
            duration.as_secs_f64(),
            escape(&j.errors.join("; "))
        );
    }
    h.push_str(
        "</table>\n<h2>Workers</h2>\n<table><tr><th>Worker</th><th>Address</th><th>State</th>\
                <th>Last heartbeat</th><th>Running</th><th>Tasks done</th></tr>\n",
    );
    for w in &workers {
        let state = match w.state {
            WorkerState::Alive => "alive",
            WorkerState::Dead => "dead",
        };
        let running: Vec<String> = w
            .running
            .iter()
            .map(|(t, a)| format!("job {} {} {} (attempt {a})", t.job, t.phase, t.index))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{state}\">{state}</td><td>{:.1} s ago</td><td>{}</td><td>{}</td></tr>",
            w.id,
            escape(&convert::worker_address(w.id, w.address.as_deref())),
            w.last_seen_ago.as_secs_f64(),
            escape(&running.join(", ")),
            w.tasks_completed
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
