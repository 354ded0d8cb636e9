//! The JSON API behind the pages. Jobs and workers are the client's own
//! serde views ([`JobView`], [`WorkerView`]) built from the very protobuf
//! replies `PollJob`/`ListJobs`/`ListWorkers` send, so `/api/jobs`,
//! `/api/jobs/{id}` and `/api/workers` carry exactly the fields of
//! `mr jobs --json`, `mr poll --json` and `mr workers --json`.
//! `/api/jobs/{id}/tasks` adds the task table with every attempt.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::client::{JobView, WorkerView};
use crate::coordinator::convert::{self, Clock};
use crate::core::{AttemptOutcome, JobId, Phase, TaskStage, TaskStatus};

fn not_found(what: String) -> Response {
    #[derive(Serialize)]
    struct Error {
        error: String,
    }
    (StatusCode::NOT_FOUND, Json(Error { error: what })).into_response()
}

/// `/api/jobs`: every job, oldest first (as `mr jobs --json`).
pub async fn jobs(State(s): State<AppState>) -> Json<Vec<JobView>> {
    let clock = s.shared.clock;
    let jobs = s.shared.read(|core, _| core.job_statuses());
    Json(
        jobs.iter()
            .map(|j| JobView::from(convert::poll_reply(j, &clock)))
            .collect(),
    )
}

/// `/api/jobs/{id}`: one job (as `mr poll --json`).
pub async fn job(State(s): State<AppState>, Path(id): Path<u32>) -> Response {
    let clock = s.shared.clock;
    match s.shared.read(|core, _| core.job_status(JobId(id))) {
        Ok(j) => Json(JobView::from(convert::poll_reply(&j, &clock))).into_response(),
        Err(e) => not_found(e.to_string()),
    }
}

/// `/api/workers`: every worker (as `mr workers --json`).
pub async fn workers(State(s): State<AppState>) -> Json<Vec<WorkerView>> {
    let workers = s.shared.read(|core, now| core.worker_statuses(now));
    Json(
        workers
            .iter()
            .map(|w| WorkerView::from(convert::worker_info(w)))
            .collect(),
    )
}

/// One attempt in `/api/jobs/{id}/tasks`.
#[derive(Debug, Serialize)]
struct AttemptJson {
    attempt: u32,
    worker_id: u32,
    started_at_ms: u64,
    /// 0 while running.
    ended_at_ms: u64,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One task in `/api/jobs/{id}/tasks`.
#[derive(Debug, Serialize)]
struct TaskJson {
    phase: &'static str,
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    state: &'static str,
    attempts: Vec<AttemptJson>,
}

fn task_json(t: TaskStatus, clock: &Clock) -> TaskJson {
    TaskJson {
        phase: match t.task.phase {
            Phase::Map => "map",
            Phase::Reduce => "reduce",
        },
        index: t.task.index,
        input: t.input,
        state: match t.stage {
            TaskStage::Pending => "pending",
            TaskStage::Running => "running",
            TaskStage::Done => "done",
        },
        attempts: t
            .attempts
            .into_iter()
            .map(|a| AttemptJson {
                attempt: a.attempt.0,
                worker_id: a.worker.0,
                started_at_ms: clock.epoch_ms(a.started_at),
                ended_at_ms: a.ended_at.map(|e| clock.epoch_ms(e)).unwrap_or(0),
                outcome: super::html::outcome(&a.outcome),
                error: match a.outcome {
                    AttemptOutcome::Failed { error } => Some(error),
                    _ => None,
                },
            })
            .collect(),
    }
}

/// `/api/jobs/{id}/tasks`: every task of the job with its attempts, maps
/// then reduces.
pub async fn tasks(State(s): State<AppState>, Path(id): Path<u32>) -> Response {
    let clock = s.shared.clock;
    let found = s.shared.read(|core, _| {
        let (_, maps) = core.task_statuses(JobId(id), Phase::Map, 0, usize::MAX)?;
        let (_, reduces) = core.task_statuses(JobId(id), Phase::Reduce, 0, usize::MAX)?;
        Ok::<_, crate::core::CoreError>((maps, reduces))
    });
    match found {
        Ok((maps, reduces)) => Json(
            maps.into_iter()
                .chain(reduces)
                .map(|t| task_json(t, &clock))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => not_found(e.to_string()),
    }
}
