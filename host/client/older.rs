//! Talking to an older coordinator, such as the CS 162 course's, which
//! offers clients only `SubmitJob` and `PollJob`: following a job by
//! polling when `WatchJob` is unimplemented ([`Client::watch`] falls back
//! to it), and naming the call it lacks instead of an empty error.

use std::time::Duration;

use futures::Stream;

use super::{Client, ClientError, JobView};
use crate::core::JobId;

/// How often a job is polled when the coordinator cannot stream its
/// status (no `WatchJob`).
pub const POLL_EVERY: Duration = Duration::from_millis(200);

impl Client {
    /// `status` as [`ClientError::Unsupported`] (`what` is not offered)
    /// when it is `Unimplemented`, else with advice as usual.
    pub(super) fn unsupported(&self, status: tonic::Status, what: &'static str) -> ClientError {
        match status.code() {
            tonic::Code::Unimplemented => ClientError::Unsupported {
                url: self.peer.url.clone(),
                what,
            },
            _ => self.explain(status),
        }
    }

    /// A job's status now and when a poll finds it changed, ending when it
    /// is done or a poll fails (with that error).
    pub(super) fn polled(
        &self,
        job: JobId,
    ) -> impl Stream<Item = Result<JobView, ClientError>> + Send {
        let client = self.clone();
        futures::stream::unfold(Some((client, None)), move |state| async move {
            let (client, last): (Client, Option<JobView>) = state?;
            loop {
                if last.is_some() {
                    tokio::time::sleep(POLL_EVERY).await;
                }
                match client.poll(job).await {
                    Err(e) => return Some((Err(e), None)),
                    Ok(v) if v.done => return Some((Ok(v), None)),
                    Ok(v) if last.as_ref() != Some(&v) => {
                        return Some((Ok(v.clone()), Some((client, Some(v)))));
                    }
                    Ok(_) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::JobState;
    use super::*;
    use crate::proto::coordinator as pb;

    #[test]
    fn an_older_coordinators_failed_job_is_failed_and_done() {
        let course = |done, failed| {
            JobView::from(pb::PollJobReply {
                done,
                failed,
                ..Default::default()
            })
        };
        // The course's coordinator: failed, not done.
        let v = course(false, true);
        assert_eq!((v.state, v.done, v.failed), (JobState::Failed, true, true));
        let v = course(true, true);
        assert_eq!((v.state, v.done), (JobState::Failed, true));
        let v = course(true, false);
        assert_eq!((v.state, v.done), (JobState::Succeeded, true));
        let v = course(false, false);
        assert_eq!((v.state, v.done), (JobState::Running, false));
    }

    #[test]
    fn a_status_without_a_message_names_its_code() {
        let text = ClientError::Rpc(tonic::Status::unimplemented("")).to_string();
        assert_eq!(text, "not implemented by the coordinator (Unimplemented)");
    }
}
