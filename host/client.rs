//! [`Client`]: a typed client for the coordinator, used by the CLI and the
//! tests. Wire types stop here; callers get [`JobView`] and friends
//! (`client/views.rs`). How a failed connection is explained is in
//! `client/explain.rs`, retrying a lost coordinator in `client/reconnect.rs`.

use std::time::Duration;

use futures::{Stream, StreamExt};

use self::explain::Peer;
use self::views::app_views;
use crate::core::JobId;
use crate::proto::coordinator as pb;
use crate::proto::coordinator::coordinator_client::CoordinatorClient;
use crate::security::{AuthChannel, Transport};

mod explain;
mod older;
mod reconnect;
mod views;

/// How long connecting (TCP and TLS) to the coordinator may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often an HTTP/2 ping checks that the coordinator still answers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// How long an unanswered ping waits before the connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

pub use older::POLL_EVERY;
pub use reconnect::{Reconnect, RECONNECT_FOR};
pub use views::{AppView, Counters, JobState, JobView, Progress, WorkerView};

/// The default coordinator URL.
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:10162";

/// What went wrong talking to the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is malformed.
    #[error("bad coordinator URL {url:?}: {source}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        source: crate::security::SecurityError,
    },
    /// The coordinator cannot be reached.
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The connection failed in a way with a likely cause.
    #[error("the connection to the coordinator at {url} failed: {advice} ({detail})")]
    Connection {
        /// The URL.
        url: String,
        /// What is likely wrong and what to do.
        advice: String,
        /// What the transport said.
        detail: String,
    },
    /// The coordinator refused the request.
    #[error("{}", rpc_message(.0))]
    Rpc(tonic::Status),
    /// The coordinator does not implement the call (an older coordinator,
    /// such as the CS 162 course's, which offers clients only `SubmitJob`
    /// and `PollJob`).
    #[error("the coordinator at {url} does not offer {what} (an older coordinator, such as the course's, offers clients only submitting a job and `mr poll`)")]
    Unsupported {
        /// The URL.
        url: String,
        /// What it does not offer.
        what: &'static str,
    },
    /// A job argument is too long to frame.
    #[error("a job argument is too long: {0}")]
    ArgumentTooLong(#[from] plugin_api::frame::FrameTooLong),
}

// Not `#[from]`: that would make the status the error's source, and callers
// printing the chain would show its message twice.
impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        ClientError::Rpc(s)
    }
}

fn rpc_message(s: &tonic::Status) -> String {
    let code = match s.code() {
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::NotFound => "not found",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::ResourceExhausted => "resource exhausted",
        tonic::Code::FailedPrecondition => "failed precondition",
        tonic::Code::Unavailable => "coordinator unavailable",
        tonic::Code::Unimplemented => "not implemented by the coordinator",
        _ => "error",
    };
    match s.message() {
        "" => format!("{code} ({:?})", s.code()),
        message => format!("{code}: {message}"),
    }
}

/// A job to submit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    /// Input files (one map task each), as workers will open them.
    pub files: Vec<String>,
    /// Absolute output directory.
    pub output_dir: String,
    /// The app's name.
    pub app: String,
    /// Number of reduce tasks.
    pub n_reduce: u32,
    /// App arguments, one per element (sent as frames).
    pub args: Vec<String>,
    /// Replace an earlier job's output in `output_dir`.
    pub overwrite: bool,
    /// Target bytes per map task: large line-record files are cut and small
    /// files packed up to it. 0: one whole-file map task per input file.
    pub split_size: u64,
    /// Read the subfolders of input folders too.
    pub recursive: bool,
    /// Backup attempts of stragglers on or off; `None`: as the coordinator
    /// is configured.
    pub speculation: Option<bool>,
}

/// What a submission became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The job's id.
    pub job_id: JobId,
    /// Its map tasks.
    pub n_map: u32,
    /// The input files they read (folders and patterns expanded; 0 from
    /// an older coordinator).
    pub n_files: u32,
}

/// What a job is called and who submitted it: for people, not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLabel {
    /// A name for the job (may be empty).
    pub name: String,
    /// Who submitted it (may be empty).
    pub submitted_by: String,
}

impl JobLabel {
    /// A label naming the OS user this process runs as (`$USER`, else
    /// `$LOGNAME`, else `uid N`).
    pub fn for_this_user(name: Option<String>) -> JobLabel {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()));
        JobLabel {
            name: name.unwrap_or_default(),
            submitted_by: user,
        }
    }
}

/// A connected coordinator client.
#[derive(Debug, Clone)]
pub struct Client {
    inner: CoordinatorClient<AuthChannel>,
    peer: Peer,
}

impl Client {
    /// Connects to the coordinator at `url` over plain HTTP/2 with no token
    /// (`http://` is assumed when no scheme is given).
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Client::connect_with(url, &Transport::plain()).await
    }

    /// Connects to the coordinator at `url` with `transport`'s TLS and token
    /// (`https://` is assumed when TLS is configured and no scheme given).
    pub async fn connect_with(url: &str, transport: &Transport) -> Result<Self, ClientError> {
        let bad_url = |source| ClientError::BadUrl {
            url: url.to_string(),
            source,
        };
        let full = transport.url(url).map_err(bad_url)?;
        // Keepalive pings end a call on a connection that went quiet (a
        // coordinator that accepted and stopped answering, or a refused
        // handshake the client never heard of) instead of waiting forever.
        let endpoint = transport
            .endpoint(url, CONNECT_TIMEOUT)
            .map_err(bad_url)?
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let channel = transport.connect(&endpoint).await.map_err(|e| {
            let detail = source_chain(&e);
            let peer = Peer {
                url: full.clone(),
                tls: transport.is_tls(),
                client_cert: transport.has_client_cert(),
            };
            ClientError::Unreachable {
                reason: peer
                    .advice(&detail)
                    .map_or(detail.clone(), |a| format!("{a} ({detail})")),
                url: full.clone(),
            }
        })?;
        Ok(Client {
            inner: CoordinatorClient::new(transport.wrap(channel)),
            peer: Peer {
                url: full,
                tls: transport.is_tls(),
                client_cert: transport.has_client_cert(),
            },
        })
    }

    /// `status` with advice when it is a transport failure.
    fn explain(&self, status: tonic::Status) -> ClientError {
        explain(&self.peer, status)
    }

    /// Submits a job; returns its id.
    pub async fn submit(&self, job: Submission) -> Result<JobId, ClientError> {
        self.submit_job(job).await.map(|s| s.job_id)
    }

    /// Submits a job; returns its id and how many map tasks it got.
    pub async fn submit_job(&self, job: Submission) -> Result<Submitted, ClientError> {
        self.submit_labelled(job, &JobLabel::default()).await
    }

    /// Submits a job with a name and its submitter; returns its id and how
    /// many map tasks it got.
    pub async fn submit_labelled(
        &self,
        job: Submission,
        label: &JobLabel,
    ) -> Result<Submitted, ClientError> {
        let args = plugin_api::frame::encode_frames(&job.args)?;
        let reply = self
            .inner
            .clone()
            .submit_job(pb::SubmitJobRequest {
                files: job.files,
                output_dir: job.output_dir,
                app: job.app,
                n_reduce: job.n_reduce,
                args,
                overwrite: job.overwrite,
                split_size: job.split_size,
                recursive: job.recursive,
                name: label.name.clone(),
                submitted_by: label.submitted_by.clone(),
                speculation: job.speculation,
            })
            .await
            .map_err(|s| self.explain(s))?
            .into_inner();
        Ok(Submitted {
            job_id: JobId(reply.job_id),
            n_map: reply.n_map,
            n_files: reply.n_files,
        })
    }

    /// A job's status.
    pub async fn poll(&self, job: JobId) -> Result<JobView, ClientError> {
        let reply = self
            .inner
            .clone()
            .poll_job(pb::PollJobRequest { job_id: job.0 })
            .await
            .map_err(|s| self.explain(s))?;
        // An older coordinator does not say which job it answers for.
        Ok(JobView {
            job_id: job,
            ..reply.into_inner().into()
        })
    }

    /// A job's status now and at every change, ending when it is done.
    /// From a coordinator without `WatchJob` (the course's), by polling
    /// every [`POLL_EVERY`].
    pub async fn watch(
        &self,
        job: JobId,
    ) -> Result<impl Stream<Item = Result<JobView, ClientError>>, ClientError> {
        let answer = self
            .inner
            .clone()
            .watch_job(pb::PollJobRequest { job_id: job.0 })
            .await;
        let stream = match answer {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                tracing::debug!("the coordinator has no WatchJob; polling job {job}");
                return Ok(self.polled(job).boxed());
            }
            Err(s) => return Err(self.explain(s)),
        };
        let peer = self.peer.clone();
        Ok(stream
            .map(move |r| r.map(JobView::from).map_err(|s| explain(&peer, s)))
            .boxed())
    }

    /// Every job, oldest first.
    pub async fn jobs(&self) -> Result<Vec<JobView>, ClientError> {
        let reply = self
            .inner
            .clone()
            .list_jobs(pb::ListJobsRequest {})
            .await
            .map_err(|s| self.unsupported(s, "job listings (`mr jobs`)"))?;
        Ok(reply
            .into_inner()
            .jobs
            .into_iter()
            .map(JobView::from)
            .collect())
    }

    /// Every worker.
    pub async fn workers(&self) -> Result<Vec<WorkerView>, ClientError> {
        let reply = self
            .inner
            .clone()
            .list_workers(pb::ListWorkersRequest {})
            .await
            .map_err(|s| self.unsupported(s, "worker listings (`mr workers`)"))?;
        Ok(reply
            .into_inner()
            .workers
            .into_iter()
            .map(WorkerView::from)
            .collect())
    }

    /// The coordinator's apps.
    pub async fn apps(&self) -> Result<Vec<AppView>, ClientError> {
        let reply = self
            .inner
            .clone()
            .list_apps(pb::ListAppsRequest {})
            .await
            .map_err(|s| self.unsupported(s, "app listings (`mr apps`)"))?;
        Ok(app_views(reply.into_inner().apps))
    }

    /// Has the coordinator rescan its plugin folders; its apps after, and
    /// the plugin files it skipped (with why).
    pub async fn reload_apps(&self) -> Result<(Vec<AppView>, Vec<String>), ClientError> {
        let reply = self
            .inner
            .clone()
            .reload_apps(pb::ListAppsRequest {})
            .await
            .map_err(|s| self.unsupported(s, "reloading apps (`mr apps reload`)"))?
            .into_inner();
        Ok((app_views(reply.apps), reply.problems))
    }

    /// Cancels a job; its status after.
    pub async fn cancel(&self, job: JobId) -> Result<JobView, ClientError> {
        let reply = self
            .inner
            .clone()
            .cancel_job(pb::PollJobRequest { job_id: job.0 })
            .await
            .map_err(|s| self.unsupported(s, "cancelling jobs (`mr cancel`)"))?;
        Ok(reply.into_inner().into())
    }
}

/// `status` as a [`ClientError::Connection`] when it is a transport failure
/// that `peer` can advise on, else as [`ClientError::Rpc`].
fn explain(peer: &Peer, status: tonic::Status) -> ClientError {
    let transport_level = matches!(
        status.code(),
        tonic::Code::Unknown
            | tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::Internal
    );
    if transport_level {
        let mut detail = status.message().to_string();
        if let Some(source) = std::error::Error::source(&status) {
            detail = format!("{detail}: {}", source_chain(source));
        }
        if let Some(advice) = peer.advice(&detail) {
            return ClientError::Connection {
                url: peer.url.clone(),
                advice,
                detail,
            };
        }
    }
    ClientError::Rpc(status)
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
