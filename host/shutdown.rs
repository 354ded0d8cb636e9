//! Bounded shutdown: every drain a server waits on after it was told to
//! stop (open streams, connections to peers that never answer, a last
//! report to an unreachable coordinator) gives up after a grace period,
//! so that `SIGTERM` stops a process whatever its peers do.

use std::future::Future;
use std::time::Duration;

/// How long a stopping server waits for its drains by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// The status a coordinator ends open streams with when it stops; clients
/// treat it as the coordinator going away and reconnect.
pub fn stopping_status(who: &str) -> tonic::Status {
    tonic::Status::unavailable(format!("{who} shutting down"))
}

/// Runs `work` to its end, or until `grace` has passed since `started`
/// completed (the stop request): `None` then, with a warning naming
/// `what` was abandoned.
pub async fn within_grace<T>(
    what: &str,
    grace: Duration,
    started: impl Future<Output = ()>,
    work: impl Future<Output = T>,
) -> Option<T> {
    let deadline = async {
        started.await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        out = work => Some(out),
        () = deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "{what} still open after the shutdown grace; stopping anyway");
            None
        }
    }
}

/// Runs `work` for at most `grace` (a drain that starts once stopping):
/// `None`, with a warning naming `what`, if it did not end in time.
pub async fn bounded<T>(what: &str, grace: Duration, work: impl Future<Output = T>) -> Option<T> {
    within_grace(what, grace, async {}, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_drain_that_never_ends_is_abandoned_after_the_grace() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let started = async move {
            let _ = rx.await;
        };
        let waiting = tokio::spawn(within_grace(
            "test drain",
            Duration::from_secs(2),
            started,
            std::future::pending::<()>(),
        ));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !waiting.is_finished(),
            "the grace counts from the stop request"
        );
        let _ = tx.send(());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(waiting.await.ok(), Some(None));
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_that_ends_in_time_gives_its_result() {
        let out = bounded("test drain", Duration::from_secs(2), async { 7 }).await;
        assert_eq!(out, Some(7));
    }
}
