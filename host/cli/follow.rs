//! Following a job to its end for `mr submit --wait` and `mr run`:
//! progress as it changes, the clock while nothing does, and the
//! coordinator going away and coming back (reconnect, then say so once).

use std::process::ExitCode;

use super::progress::ProgressPrinter;
use crate::client::{Client, ClientError, JobView, Reconnect, RECONNECT_FOR};
use crate::core::JobId;

/// Ctrl-C stopped `mr` while it followed a job; the job itself goes on.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; job {0} goes on: follow it again with `mr wait {0}`, or stop it with `mr cancel {0}`")]
pub(super) struct Interrupted(pub JobId);

/// Follows `job` to its end, printing progress (and, every second, whether
/// any worker is alive); prints errors of a failed job and returns the exit
/// code. Ctrl-C stops following with [`Interrupted`].
pub(super) async fn follow(client: &Client, job: JobId) -> anyhow::Result<(JobView, ExitCode)> {
    tokio::select! {
        followed = follow_to_end(client, job) => followed,
        _ = tokio::signal::ctrl_c() => {
            // Off the progress line.
            eprintln!();
            Err(Interrupted(job).into())
        }
    }
}

async fn follow_to_end(client: &Client, job: JobId) -> anyhow::Result<(JobView, ExitCode)> {
    let mut progress = ProgressPrinter::new();
    let mut last: Option<JobView> = None;
    let mut reconnect = Reconnect::new(RECONNECT_FOR);
    let mut restarted = false;
    let view = loop {
        let stream = match client.watch(job).await {
            Ok(s) => s,
            Err(e) if e.is_disconnect() => {
                reconnect.wait(e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if std::mem::take(&mut restarted) {
            progress.finish();
            eprintln!("coordinator restarted; following job {job} again");
        }
        reconnect = Reconnect::new(RECONNECT_FOR);
        match follow_stream(client, job, stream, &mut progress, &mut last).await {
            Ok(v) => break v,
            Err(e) if e.is_disconnect() => {
                tracing::debug!("lost the coordinator: {e}");
                // Said once per loss; "restarted" follows when it is back.
                progress.finish();
                eprintln!("lost the coordinator ({e}); reconnecting to follow job {job}");
                restarted = true;
                reconnect.wait(e).await?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    progress.finish();
    if view.failed {
        eprintln!("job {job} {}:", view.state);
        for e in &view.errors {
            eprintln!("  {}", super::print::shown(e));
        }
        return Ok((view, ExitCode::FAILURE));
    }
    Ok((view, ExitCode::SUCCESS))
}

/// Follows one `WatchJob` stream until the job is done (its last status)
/// or the stream breaks.
async fn follow_stream(
    client: &Client,
    job: JobId,
    stream: impl futures::Stream<Item = Result<JobView, ClientError>>,
    progress: &mut ProgressPrinter,
    last: &mut Option<JobView>,
) -> Result<JobView, ClientError> {
    use futures::StreamExt;
    let mut stream = Box::pin(stream);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(v) => {
                    let v = v?;
                    progress.update(&v);
                    if v.done {
                        return Ok(v);
                    }
                    *last = Some(v);
                }
                // The stream ended early (coordinator stopping): ask once
                // more; if it still runs, the caller follows it again.
                None => {
                    let v = client.poll(job).await?;
                    if v.done {
                        return Ok(v);
                    }
                    return Err(ClientError::Rpc(tonic::Status::unavailable(
                        "the coordinator ended the job's status stream",
                    )));
                }
            },
            _ = tick.tick() => if let Some(v) = last.as_ref() {
                let no_worker = match client.workers().await {
                    Ok(ws) => !ws.iter().any(|w| w.state == "alive"),
                    Err(_) => false,
                };
                progress.tick(v, no_worker);
            },
        }
    }
}
