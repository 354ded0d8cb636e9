//! [`CoordinatorService`]: the coordinator's gRPC handlers. Each converts
//! the request, calls the core under its lock, and converts the answer.
//! Submission's admission steps are in `service/submit.rs`; checks and
//! small utilities the handlers share in `service/helpers.rs`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{self, status_of};
use super::input_sizes::InputSizes;
use super::sessions::{self, Sessions};
use super::state::Shared;
use super::{CoordinatorConfig, Limits};
use crate::core::{JobId, JobState, ReportOutcome, WorkerId};
use crate::proto::coordinator as pb;
use crate::proto::coordinator::coordinator_server::Coordinator;
use crate::security::{Auth, Confinement, Role};

mod helpers;
mod submit;

use helpers::{problem_lines, Waiting};

/// The longest a `GetTask` is held waiting for work.
const MAX_LONG_POLL: Duration = Duration::from_secs(30);

/// The coordinator's gRPC service.
#[derive(Clone)]
pub struct CoordinatorService {
    shared: Arc<Shared>,
    heartbeat_interval: Duration,
    auth: Auth,
    confinement: Arc<Confinement>,
    limits: Limits,
    sessions: Arc<Sessions>,
    inputs: Arc<InputSizes>,
    /// The client token's SHA-256 (empty without one), sent to workers.
    client_token_sha256: Vec<u8>,
    /// Whether the cluster speaks TLS (advertised addresses must not say
    /// `http://`).
    tls: bool,
}

impl CoordinatorService {
    /// A service over `shared`, set up as `config` says.
    pub fn new(shared: Arc<Shared>, config: &CoordinatorConfig) -> Self {
        CoordinatorService {
            shared,
            heartbeat_interval: config.heartbeat_interval,
            auth: config.auth.clone(),
            confinement: Arc::new(config.confinement.clone()),
            limits: config.limits.clone(),
            sessions: Arc::new(Sessions::new(config.auth.worker.is_some())),
            inputs: Arc::default(),
            client_token_sha256: config
                .auth
                .client
                .as_ref()
                .map(|t| t.sha256())
                .unwrap_or_default(),
            tls: config.tls.is_some(),
        }
    }
}

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobReply>, Status> {
        self.begin(&request, "SubmitJob", Role::Client)?;
        self.submit(request.into_inner()).await.map(Response::new)
    }

    async fn poll_job(
        &self,
        request: Request<pb::PollJobRequest>,
    ) -> Result<Response<pb::PollJobReply>, Status> {
        self.begin(&request, "PollJob", Role::Client)?;
        self.poll(JobId(request.into_inner().job_id))
            .map(Response::new)
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatReply>, Status> {
        self.begin(&request, "Heartbeat", Role::Worker)?;
        let r = request.into_inner();
        self.check_epoch(r.coordinator_epoch)?;
        self.check_session(r.worker_id, &r.session_secret, "Heartbeat")?;
        let worker = WorkerId(r.worker_id);
        self.shared
            .quiet_update(|core, now| core.heartbeat(worker, now))
            .map_err(status_of)?;
        Ok(Response::new(pb::HeartbeatReply {}))
    }

    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        self.begin(&request, "Register", Role::Worker)?;
        let r = request.into_inner();
        // Only output made for this job state can be adopted.
        let held = convert::held_outputs(&r.held, self.shared.state_id);
        let address = (!r.address.is_empty()).then_some(r.address);
        if let Some(a) = &address {
            crate::security::check_advertised(a, self.tls)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        let (id, adopted) = self.shared.update(|core, now| {
            sessions::check_address_free(core, address.as_deref(), now)?;
            Ok::<_, Status>(core.register_and_adopt(address.clone(), &held, now))
        })?;
        let session_secret = self.sessions.open(id)?;
        self.shared.driver_wake.notify_one();
        tracing::info!(
            worker = id.0,
            address = address.as_deref().unwrap_or("(legacy port)"),
            held = held.len(),
            adopted = adopted.len(),
            "worker registered"
        );
        let state_id = self.shared.state_id;
        Ok(Response::new(pb::RegisterReply {
            coordinator_epoch: self.shared.epoch,
            worker_id: id.0,
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u32,
            session_secret,
            client_token_sha256: self.client_token_sha256.clone(),
            adopted: adopted
                .iter()
                .map(|h| pb::HeldMapOutput {
                    job_id: h.job.0,
                    map_task: h.map,
                    attempt: h.attempt.0,
                    state_id,
                })
                .collect(),
            state_id,
        }))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskReply>, Status> {
        self.begin(&request, "GetTask", Role::Worker)?;
        let r = request.into_inner();
        self.check_epoch(r.coordinator_epoch)?;
        self.check_session(r.worker_id, &r.session_secret, "GetTask")?;
        let worker = WorkerId(r.worker_id);
        let long_poll = Duration::from_millis(u64::from(r.long_poll_ms)).min(MAX_LONG_POLL);
        let give_up = tokio::time::Instant::now() + long_poll;
        let mut stopping = self.shared.stopping.subscribe();
        if r.idle {
            self.shared
                .update(|core, now| core.worker_idle(worker, now))
                .map_err(status_of)?;
        }
        loop {
            let notified = self.shared.tasks_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _waiting = Waiting::new(&self.shared.waiting);
            // With nothing to do, a backup attempt may fall due before any
            // change wakes this poll: wake it then too.
            let (assignment, backup_due) = self.shared.quiet_update(|core, now| {
                let a = core.next_task(worker, now);
                let due = matches!(a, Ok(None))
                    .then(|| core.next_backup_due(worker, now))
                    .flatten();
                (a, due)
            });
            let wake = backup_due.map_or(give_up, |d| give_up.min(d.into()));
            match assignment.map_err(status_of)? {
                Some(a)
                    if !r.reads_splits && a.split().is_some_and(|s| s.whole_file().is_none()) =>
                {
                    self.refuse_split(worker, &a);
                    continue;
                }
                Some(a) => {
                    self.shared.note_assigned(a.task.job, &a.spec.app);
                    let sha = self
                        .shared
                        .registry()
                        .get(&a.spec.app)
                        .map(|e| e.sha256.clone())
                        .unwrap_or_default();
                    let mut reply = convert::task_reply(a, sha);
                    reply.allowed_input = self.confinement.input_roots();
                    reply.allowed_output = self.confinement.output_roots();
                    return Ok(Response::new(reply));
                }
                None if long_poll.is_zero() => return Ok(Response::new(convert::wait_reply())),
                None => {}
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {
                    if wake >= give_up {
                        return Ok(Response::new(convert::wait_reply()));
                    }
                }
                _ = stopping.wait_for(|s| *s) => return Ok(Response::new(convert::wait_reply())),
            }
        }
    }

    async fn finish_task(
        &self,
        request: Request<pb::FinishTaskRequest>,
    ) -> Result<Response<pb::FinishTaskReply>, Status> {
        self.begin(&request, "FinishTask", Role::Worker)?;
        let r = request.into_inner();
        self.check_epoch(r.coordinator_epoch)?;
        self.check_session(r.worker_id, &r.session_secret, "FinishTask")?;
        let (report, counters) = convert::finish_report(r);
        let counters = self.inputs.clamp(report.task, counters);
        let clock = self.shared.clock;
        let outputs = &self.shared.outputs;
        let (outcome, commit) = self
            .shared
            .update(|core, now| {
                let outcome = core.finish_task(&report, counters, now)?;
                // The report that finished the job starts its commit under
                // the same lock, so no one sees it succeeded too early.
                let status = core.job_status(report.task.job);
                if status.as_ref().is_ok_and(|s| s.state.is_ended()) {
                    self.inputs.forget(report.task.job);
                }
                let commit = match status {
                    Ok(s)
                        if outcome == ReportOutcome::Accepted && s.state == JobState::Succeeded =>
                    {
                        outputs.begin_commit(&s, &clock, &self.confinement)
                    }
                    _ => None,
                };
                Ok((outcome, commit))
            })
            .map_err(status_of)?;
        tracing::debug!(worker = report.worker.0, task = %report.task, ?outcome, "task finished");
        if let Some(commit) = commit {
            let _ = self.shared.commit(commit).await;
        }
        Ok(Response::new(pb::FinishTaskReply {}))
    }

    async fn fail_task(
        &self,
        request: Request<pb::FailTaskRequest>,
    ) -> Result<Response<pb::FailTaskReply>, Status> {
        self.begin(&request, "FailTask", Role::Worker)?;
        let r = request.into_inner();
        self.check_epoch(r.coordinator_epoch)?;
        self.check_session(r.worker_id, &r.session_secret, "FailTask")?;
        let (report, failure) = convert::fail_report(r);
        let error = failure.error.clone();
        let retry = failure.retry;
        let outcome = self
            .shared
            .update(|core, now| {
                let outcome = core.fail_task(&report, failure, now)?;
                let ended = outcome == ReportOutcome::Accepted
                    && core
                        .job_status(report.task.job)
                        .is_ok_and(|s| s.state.is_ended());
                if ended {
                    self.inputs.forget(report.task.job);
                }
                Ok(outcome)
            })
            .map_err(status_of)?;
        tracing::warn!(worker = report.worker.0, task = %report.task, retry, ?outcome, "task failed: {error}");
        Ok(Response::new(pb::FailTaskReply {}))
    }

    type WatchJobStream = ReceiverStream<Result<pb::PollJobReply, Status>>;

    async fn watch_job(
        &self,
        request: Request<pb::PollJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        self.begin(&request, "WatchJob", Role::Client)?;
        let conn = request.remote_addr();
        let job = JobId(request.into_inner().job_id);
        let first = self.poll(job)?;
        let watch = self
            .shared
            .watchers
            .watch(job, conn)
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
        let (tx, rx) = mpsc::channel(4);
        let service = self.clone();
        let mut stopping = self.shared.stopping.subscribe();
        tokio::spawn(async move {
            let mut watch = watch;
            let changed = &mut watch.changed;
            let mut status = first;
            let mut last: Option<pb::PollJobReply> = None;
            loop {
                if last.as_ref() != Some(&status) {
                    let done = status.done;
                    if tx.send(Ok(status.clone())).await.is_err() || done {
                        return;
                    }
                    last = Some(status);
                }
                let forgotten = tokio::select! {
                    r = changed.changed() => r.is_err(),
                    _ = tx.closed() => return,
                    // End the stream with a status the client reads as
                    // "reconnect", so that the server's drain is not held.
                    _ = stopping.wait_for(|s| *s) => {
                        let _ = tx.try_send(Err(crate::shutdown::stopping_status("coordinator")));
                        return;
                    }
                };
                status = match service.poll(job) {
                    Ok(s) if !forgotten => s,
                    Ok(s) => {
                        let _ = tx.send(Ok(s)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsReply>, Status> {
        self.begin(&request, "ListJobs", Role::Client)?;
        let clock = self.shared.clock;
        let jobs = self.shared.read(|core, _| {
            core.job_statuses()
                .into_iter()
                .map(|mut s| {
                    self.shared.outputs.adjust(&mut s);
                    convert::poll_reply(&s, &clock)
                })
                .collect()
        });
        Ok(Response::new(pb::ListJobsReply { jobs }))
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersReply>, Status> {
        self.begin(&request, "ListWorkers", Role::Client)?;
        let workers = self.shared.read(|core, now| {
            core.worker_statuses(now)
                .iter()
                .map(convert::worker_info)
                .collect()
        });
        Ok(Response::new(pb::ListWorkersReply { workers }))
    }

    async fn list_apps(
        &self,
        request: Request<pb::ListAppsRequest>,
    ) -> Result<Response<pb::ListAppsReply>, Status> {
        self.begin(&request, "ListApps", Role::Client)?;
        let registry = self.shared.registry();
        let problems = problem_lines(&registry);
        Ok(Response::new(pb::ListAppsReply {
            apps: convert::app_infos(&registry),
            problems,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::PollJobRequest>,
    ) -> Result<Response<pb::PollJobReply>, Status> {
        self.begin(&request, "CancelJob", Role::Client)?;
        let job = JobId(request.into_inner().job_id);
        self.shared
            .update(|core, now| core.cancel(job, now))
            .map_err(status_of)?;
        self.inputs.forget(job);
        tracing::info!(job = job.0, "job cancelled");
        self.poll(job).map(Response::new)
    }

    async fn reload_apps(
        &self,
        request: Request<pb::ListAppsRequest>,
    ) -> Result<Response<pb::ListAppsReply>, Status> {
        self.begin(&request, "ReloadApps", Role::Client)?;
        let registry = self.shared.reload_registry().map_err(|e| {
            Status::failed_precondition(format!("reload failed, keeping the current apps: {e}"))
        })?;
        Ok(Response::new(pb::ListAppsReply {
            apps: convert::app_infos(&registry),
            problems: problem_lines(&registry),
        }))
    }

    type FetchPluginStream = ReceiverStream<Result<pb::PluginChunk, Status>>;

    async fn fetch_plugin(
        &self,
        request: Request<pb::FetchPluginRequest>,
    ) -> Result<Response<Self::FetchPluginStream>, Status> {
        self.begin(&request, "FetchPlugin", Role::Worker)?;
        let r = request.into_inner();
        let registry = self.shared.registry();
        let bytes = tokio::task::spawn_blocking(move || {
            registry.library_bytes(&r.sha256).ok_or((r.app, r.sha256))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|(app, sha)| {
            Status::not_found(format!(
                "the coordinator has no plugin library {sha} (app {app:?})"
            ))
        })?;
        let bytes = bytes::Bytes::from(bytes);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            for start in (0..bytes.len()).step_by(PLUGIN_CHUNK) {
                let data = bytes.slice(start..(start + PLUGIN_CHUNK).min(bytes.len()));
                if tx
                    .send(Ok(pb::PluginChunk {
                        data: data.to_vec(),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Size of the chunks `FetchPlugin` sends.
const PLUGIN_CHUNK: usize = 1 << 20;
