//! [`Supervisor`]: the worker's side of its executor process. It starts
//! `PROGRAM executor` when a task needs one, sends one request at a time,
//! and keeps the process for the next task. When the pipe breaks mid-task
//! it reaps the child and names how it died: the evidence that the task
//! crashed it. The next task starts a fresh executor.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use super::describe_exit;
use crate::proto::executor as pb;

/// How long a child whose pipe broke gets to finish dying before it is
/// killed.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The executor could not be started.
    #[error("cannot start the executor {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The executor died while running the request: how.
    #[error("the executor running the app died: {0}")]
    Died(String),
    /// The executor answered with something that is not a reply (it was
    /// killed).
    #[error("the executor sent a malformed reply: {0}")]
    Malformed(prost::DecodeError),
}

/// A running executor and its pipes.
struct Running {
    child: Child,
    requests: ChildStdin,
    replies: ChildStdout,
}

/// Starts and talks to one executor process at a time.
pub struct Supervisor {
    program: PathBuf,
    running: Mutex<Option<Running>>,
}

impl Supervisor {
    /// Executors run `program executor` (normally this very binary).
    pub fn new(program: PathBuf) -> Self {
        Supervisor {
            program,
            running: Mutex::new(None),
        }
    }

    /// Sends a request and waits for its reply. The request comes encoded,
    /// as parts of one frame written in order (a reduce's runs in memory
    /// are parts of their own: see [`super::frame`]), each dropped once
    /// written. If the caller stops waiting, the executor is killed (it may
    /// be mid-request). The reply's bytes fields are slices of the frame
    /// read (no copies: a map task's output passes through here).
    pub async fn call(&self, payload: Vec<bytes::Bytes>) -> Result<pb::Reply, CallError> {
        let mut slot = self.running.lock().await;
        let mut running = match slot.take() {
            Some(r) => r,
            None => self.spawn()?,
        };
        match exchange(&mut running, payload).await {
            Ok(frame) => match pb::Reply::decode(bytes::Bytes::from(frame)) {
                Ok(reply) => {
                    *slot = Some(running);
                    Ok(reply)
                }
                Err(e) => Err(CallError::Malformed(e)),
            },
            Err(_) => Err(CallError::Died(reap(running).await)),
        }
    }

    fn spawn(&self) -> Result<Running, CallError> {
        let spawn_err = |source| CallError::Spawn {
            program: self.program.display().to_string(),
            source,
        };
        let mut child = Command::new(&self.program)
            .arg("executor")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        let pipes = (child.stdin.take(), child.stdout.take());
        let (Some(requests), Some(replies)) = pipes else {
            return Err(spawn_err(std::io::Error::other("no pipes to the child")));
        };
        tracing::debug!(pid = child.id(), "started an executor");
        Ok(Running {
            child,
            requests,
            replies,
        })
    }
}

/// Writes one frame and reads the reply frame.
async fn exchange(running: &mut Running, payload: Vec<bytes::Bytes>) -> std::io::Result<Vec<u8>> {
    let total: usize = payload.iter().map(bytes::Bytes::len).sum();
    let len = u32::try_from(total)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
    running.requests.write_all(&len.to_be_bytes()).await?;
    for part in payload {
        running.requests.write_all(&part).await?;
    }
    running.requests.flush().await?;
    let len = running.replies.read_u32().await?;
    let mut frame = vec![0; len as usize];
    running.replies.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Waits for a child whose pipe broke and says how it died.
async fn reap(running: Running) -> String {
    let Running {
        mut child,
        requests,
        replies,
    } = running;
    drop((requests, replies));
    let status = match tokio::time::timeout(REAP_GRACE, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return format!("cannot tell how it died: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            return "it closed its pipe and stopped answering".to_string();
        }
    };
    let cause = describe_exit(status);
    tracing::warn!(pid = child.id(), %cause, "executor died");
    cause
}
