//! The [`CoordinatorService`]'s helpers: session, epoch and token checks,
//! refusing split tasks to older workers, job polls, and small utilities
//! its handlers share.

use tonic::{Request, Status};

use super::CoordinatorService;
use crate::coordinator::convert::{self, status_of};
use crate::core::{Assignment, Failure, JobId, Report, WorkerId};
use crate::proto::coordinator as pb;
use crate::security::Role;

impl CoordinatorService {
    /// Checks that a worker RPC carries `worker`'s session secret.
    pub(super) fn check_session(
        &self,
        worker: u32,
        secret: &[u8],
        method: &str,
    ) -> Result<(), Status> {
        self.sessions.check(WorkerId(worker), secret, method)
    }

    /// A worker that registered with another coordinator instance (this
    /// one restarted) must register again: its id may now be another's.
    pub(super) fn check_epoch(&self, epoch: u64) -> Result<(), Status> {
        if epoch != 0 && epoch != self.shared.epoch {
            return Err(Status::not_found(
                "this worker registered with an earlier coordinator instance; register again",
            ));
        }
        Ok(())
    }

    /// Counts the call and checks the caller's token for `role`.
    pub(super) fn begin<T>(
        &self,
        request: &Request<T>,
        method: &'static str,
        role: Role,
    ) -> Result<(), Status> {
        self.shared.rpcs.count(method);
        self.auth.check(request.metadata(), role, method)
    }

    /// Fails `a`, a map task over part of a file or several files, which
    /// `worker` cannot run: it predates input splits and would read its
    /// first file whole. Failing the job names what to do; running the task
    /// would produce wrong output.
    pub(super) fn refuse_split(&self, worker: WorkerId, a: &Assignment) {
        let report = Report {
            worker,
            task: a.task,
            attempt: Some(a.attempt),
        };
        let failure = Failure {
            error: format!(
                "worker {worker} cannot run map tasks over input splits (it predates them); \
                 upgrade it, or submit with --split-size 0"
            ),
            retry: false,
            unreachable: None,
            crash: None,
        };
        let outcome = self
            .shared
            .update(|core, now| core.fail_task(&report, failure, now));
        tracing::warn!(worker = worker.0, task = %a.task, ?outcome, "an older worker got a split task");
    }

    pub(super) fn poll(&self, job: JobId) -> Result<pb::PollJobReply, Status> {
        let clock = self.shared.clock;
        self.shared
            .read(|core, _| {
                core.job_status(job).map(|mut s| {
                    self.shared.outputs.adjust(&mut s);
                    convert::poll_reply(&s, &clock)
                })
            })
            .map_err(status_of)
    }
}

pub(super) fn problem_lines(registry: &crate::plugin::Registry) -> Vec<String> {
    registry
        .problems()
        .iter()
        .map(|p| format!("{}: {}", p.path.display(), p.reason))
        .collect()
}

/// Runs `f` (file-system work) off the async runtime.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
}

/// Counts a waiting `GetTask` for as long as it lives.
pub(super) struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    pub(super) fn new(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
