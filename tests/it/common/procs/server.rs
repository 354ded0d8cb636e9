//! A long-running `mr coordinator` / `mr worker` process for tests: its
//! standard error goes to a log file, its standard output is read for the
//! addresses it announces once bound (`listening on ADDR`, `http listening
//! on ADDR`: the format `host/cli/serve.rs` documents), and it is killed
//! and reaped on drop. Servers start on port 0, so no test ever picks a
//! port that another process may take first.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{mr, send_signal, STEP};
use crate::common::poll_until;

/// A server process logging into `log`; killed (SIGKILL) and reaped on
/// drop unless it already exited.
pub struct Server {
    /// A short name (`coordinator-0`, `worker-3`).
    pub name: String,
    /// The process.
    pub child: Child,
    /// Its log file (standard error).
    pub log: PathBuf,
    exit: Option<ExitStatus>,
    stdout: Receiver<String>,
    /// What it announced so far: `""` or `"http "` to the address.
    announced: HashMap<String, SocketAddr>,
}

impl Server {
    /// Starts `mr --log-format json ARGS`, logging into `logs/NAME.log`
    /// and caching plugin copies in `logs/../plugin-cache`.
    pub fn spawn(logs: &Path, name: &str, args: &[OsString]) -> Server {
        Server::spawn_with_env(logs, name, args, &[])
    }

    /// [`Server::spawn`] with `env` variables set.
    pub fn spawn_with_env(
        logs: &Path,
        name: &str,
        args: &[OsString],
        env: &[(&str, &str)],
    ) -> Server {
        std::fs::create_dir_all(logs).unwrap();
        let cache = logs.parent().unwrap_or(logs).join("plugin-cache");
        // Scratch folders (a worker's default `--work-dir`) stay in the
        // test's own folder: a killed worker leaves none in /tmp.
        let scratch = logs.parent().unwrap_or(logs).join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let mut cmd = mr();
        cmd.env("MR_PLUGIN_CACHE", cache)
            .env("TMPDIR", scratch)
            .envs(env.iter().copied())
            .args(["--log-format", "json"])
            .args(args);
        Server::start(name, logs.join(format!("{name}.log")), cmd)
    }

    /// Starts `cmd` (an `mr coordinator` or `mr worker` made with
    /// [`mr`]), with its standard error going to `log`.
    pub fn start(name: &str, log: PathBuf, mut cmd: Command) -> Server {
        let file = File::create(&log).unwrap();
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(file));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = read_lines(child.stdout.take().expect("a piped stdout"));
        Server {
            name: name.to_string(),
            child,
            log,
            exit: None,
            stdout,
            announced: HashMap::new(),
        }
    }

    /// The address announced as `{prefix}listening on ADDR` (`prefix` is
    /// `""` for the main service, `"http "` for the status page), waiting
    /// at most [`STEP`] for it; `Err(log)` if the process exited first.
    pub fn wait_listening(&mut self, prefix: &str) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(addr) = self.announced.get(prefix) {
                return Ok(*addr);
            }
            match self.stdout.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => self.record(&line),
                // Standard output closed: the process ended.
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(STEP);
                    return Err(format!(
                        "{} exited with {status} before announcing {prefix:?}:\n{}",
                        self.name,
                        self.log_tail(40)
                    ));
                }
                Err(RecvTimeoutError::Timeout) => assert!(
                    Instant::now() < deadline,
                    "{} announced no {prefix:?}address within {STEP:?}:\n{}",
                    self.name,
                    self.log_tail(40)
                ),
            }
        }
    }

    /// Like [`Server::wait_listening`], panicking if the process exited.
    pub fn listening(&mut self, prefix: &str) -> SocketAddr {
        self.wait_listening(prefix)
            .unwrap_or_else(|log| panic!("{log}"))
    }

    /// Checks one announced line against the documented format.
    fn record(&mut self, line: &str) {
        let (prefix, addr) = line
            .split_once("listening on ")
            .unwrap_or_else(|| panic!("{} printed {line:?} on stdout", self.name));
        assert!(
            prefix.is_empty() || prefix == "http ",
            "{} printed {line:?} on stdout",
            self.name
        );
        let addr: SocketAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{} announced {line:?}: {e}", self.name));
        assert_ne!(addr.port(), 0, "{} announced port 0", self.name);
        let again = self.announced.insert(prefix.to_string(), addr);
        assert!(again.is_none(), "{} announced {prefix:?} twice", self.name);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once it exited (reaps it).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().unwrap();
        }
        self.exit
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.exit_status() {
            return s;
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        self.exit = Some(status);
        status
    }

    /// Sends `signal` with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("{} (pid {}) to exit", self.name, self.pid());
        poll_until(&what, timeout, || self.exit_status())
    }

    /// The whole log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log's JSON lines whose message is `message` (lines that are
    /// not JSON, like a panic's backtrace, are skipped).
    pub fn log_events(&self, message: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }

    /// How many of the log's JSON lines have a message containing
    /// `part`.
    pub fn log_count_containing(&self, part: &str) -> usize {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(part))
            })
            .count()
    }

    /// Field `field` of the first log line whose message is `message`.
    pub fn log_field(&self, message: &str, field: &str) -> Option<String> {
        self.log_events(message)
            .first()
            .map(|v| match &v["fields"][field] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines of `stdout`, read on a thread of their own until the process
/// closes it (so it never blocks on a full pipe).
fn read_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The server may be dropped first; keep draining regardless.
            let _ = tx.send(line);
        }
    });
    rx
}
