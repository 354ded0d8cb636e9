//! Following a job across coordinator restarts: which errors mean the
//! coordinator went away ([`ClientError::is_disconnect`]), the backoff
//! between reconnection attempts ([`Reconnect`]), and the client calls
//! that use them ([`Client::wait`], [`Client::poll_through_restarts`]).

use std::time::Duration;

use futures::StreamExt;

use super::{Client, ClientError, JobView};
use crate::core::JobId;

impl ClientError {
    /// Whether this means the coordinator went away (it stopped, restarted
    /// or the connection broke) rather than that it refused the request:
    /// worth reconnecting and asking again.
    pub fn is_disconnect(&self) -> bool {
        match self {
            // A transport failure mid-call (the advice is a guess): the
            // coordinator went away, or its connection broke.
            ClientError::Unreachable { .. } | ClientError::Connection { .. } => true,
            ClientError::Rpc(s) => matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ),
            _ => false,
        }
    }
}

/// How long a client following a job waits for a coordinator that went
/// away to come back.
pub const RECONNECT_FOR: Duration = Duration::from_secs(300);

/// Delays between reconnection attempts: 50 ms doubling to 1 s.
#[derive(Debug)]
pub struct Reconnect {
    delay: Duration,
    give_up: tokio::time::Instant,
}

impl Reconnect {
    /// Starts waiting now, for at most `within`.
    pub fn new(within: Duration) -> Self {
        Reconnect {
            delay: Duration::from_millis(50),
            give_up: tokio::time::Instant::now() + within,
        }
    }

    /// Sleeps before the next attempt; `Err(e)` once the time is up.
    pub async fn wait(&mut self, e: ClientError) -> Result<(), ClientError> {
        if tokio::time::Instant::now() + self.delay > self.give_up {
            return Err(e);
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(1));
        Ok(())
    }
}

impl Client {
    /// A job's status, asking again while the coordinator is away (for up
    /// to `within`); `on_lost` is called once if it was.
    pub async fn poll_through_restarts(
        &self,
        job: JobId,
        within: Duration,
        mut on_lost: impl FnMut(&ClientError),
    ) -> Result<JobView, ClientError> {
        let mut reconnect = Reconnect::new(within);
        let mut lost = false;
        loop {
            match self.poll(job).await {
                Err(e) if e.is_disconnect() => {
                    if !lost {
                        on_lost(&e);
                        lost = true;
                    }
                    reconnect.wait(e).await?;
                }
                other => return other,
            }
        }
    }

    /// Follows a job to its end; `on_change` sees every status. When the
    /// coordinator goes away (a restart), reconnects with backoff for up to
    /// [`RECONNECT_FOR`] and follows the job again.
    pub async fn wait(
        &self,
        job: JobId,
        mut on_change: impl FnMut(&JobView),
    ) -> Result<JobView, ClientError> {
        let mut reconnect = Reconnect::new(RECONNECT_FOR);
        loop {
            let mut stream = match self.watch(job).await {
                Ok(s) => Box::pin(s),
                Err(e) if e.is_disconnect() => {
                    reconnect.wait(e).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            reconnect = Reconnect::new(RECONNECT_FOR);
            let lost = loop {
                match stream.next().await {
                    Some(Ok(view)) => {
                        on_change(&view);
                        if view.done {
                            return Ok(view);
                        }
                    }
                    Some(Err(e)) if e.is_disconnect() => break e,
                    Some(Err(e)) => return Err(e),
                    // The stream ended early (coordinator stopping): ask
                    // once more, and follow again if it is still running.
                    None => match self.poll(job).await {
                        Ok(v) if v.done => return Ok(v),
                        Ok(_) => {
                            break ClientError::Rpc(tonic::Status::unavailable("stream ended"))
                        }
                        Err(e) if e.is_disconnect() => break e,
                        Err(e) => return Err(e),
                    },
                }
            };
            tracing::info!(job = job.0, "lost the coordinator ({lost}); reconnecting");
            reconnect.wait(lost).await?;
        }
    }
}
