//! Helpers for fault-tolerance tests with real processes (`tests/chaos.rs`,
//! `tests/faults_processes.rs`): `mr coordinator` / `mr worker` processes
//! logging JSON lines into files, killed and reaped on drop; `mr` client
//! commands run to their end with a deadline; a [`procs::Cluster`] whose
//! workers come and go.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{path_str, plugins_dir, poll_until};

/// The longest a single step (a command, a server start, a registration)
/// may take.
pub const STEP: Duration = Duration::from_secs(20);

/// The coordinator's `--worker-timeout-ms`.
pub const WORKER_TIMEOUT_MS: u64 = 1000;

/// The workers' (and the coordinator's) `--heartbeat-interval-ms`.
pub const HEARTBEAT_MS: u64 = 100;

/// An `mr` command with a clean environment (no ambient coordinator,
/// plugin, token, log or backtrace settings). The plugin cache stays the
/// one cargo sets for tests (`.cargo/config.toml`) unless a caller sets its
/// own.
pub fn mr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mr"));
    c.env_remove("MR_COORDINATOR")
        .env_remove("MR_PLUGINS")
        .env_remove("MR_CLIENT_TOKEN")
        .env_remove("MR_WORKER_TOKEN")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    c
}

/// A child process killed and reaped when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, ...) to `pid` with `kill(1)`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill -{signal} {pid}: {e}"));
    assert!(
        status.success(),
        "kill -{signal} {pid} exited with {status}"
    );
}

/// A temporary folder whose path contains none of `avoid` (the chaos
/// app matches its `--*-on SUBSTR` options against whole input paths).
pub fn tempdir_without(avoid: &[&str]) -> tempfile::TempDir {
    loop {
        let dir = tempfile::Builder::new()
            .prefix("mr-faults")
            .tempdir()
            .unwrap();
        let p = path_str(dir.path());
        if !avoid.iter().any(|a| p.contains(a)) {
            return dir;
        }
    }
}

/// Makes `dir` a plugin folder holding only the `chaos` app (a link to
/// the built library): servers hash every plugin they load, so one
/// library starts them faster than all of them.
pub fn chaos_plugins(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let lib = format!(
        "{}mr_app_chaos.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let target = plugins_dir().join(&lib);
    assert!(target.is_file(), "no chaos plugin at {}", target.display());
    let link = dir.join(&lib);
    if !link.exists() {
        std::os::unix::fs::symlink(&target, &link).unwrap();
    }
    dir.to_path_buf()
}

// -------------------------------------------------------------- servers

/// A server process logging JSON lines into `log`; killed (SIGKILL) and
/// reaped on drop unless it already exited.
pub struct Server {
    /// A short name (`coordinator-0`, `worker-3`).
    pub name: String,
    /// The process.
    pub child: Child,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Starts `mr --log-format json ARGS`, logging into `logs/NAME.log`
    /// and caching plugin copies in `logs/../plugin-cache`.
    pub fn spawn(logs: &Path, name: &str, args: &[OsString]) -> Server {
        std::fs::create_dir_all(logs).unwrap();
        let log = logs.join(format!("{name}.log"));
        let file = File::create(&log).unwrap();
        let cache = logs.parent().unwrap_or(logs).join("plugin-cache");
        let mut cmd = mr();
        cmd.env("MR_PLUGIN_CACHE", cache)
            .args(["--log-format", "json"])
            .args(args)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Server {
            name: name.to_string(),
            child,
            log,
            exit: None,
        }
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

// -------------------------------------------------------------- commands

/// What a finished client command printed.
#[derive(Debug)]
pub struct CmdOutput {
    /// The command line.
    pub what: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl CmdOutput {
    /// Panics, showing everything, unless the command exited with 0.
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "{self:#?}");
        self
    }

    /// Stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{} printed no JSON ({e}): {self:#?}", self.what))
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `mr ARGS` to its end (at most [`STEP`]; killed after that).
pub fn run_mr<I, S>(args: I) -> CmdOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = mr();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = |h: JoinHandle<Vec<u8>>| String::from_utf8_lossy(&h.join().unwrap()).into_owned();
    CmdOutput {
        what,
        status,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

// -------------------------------------------------------------- cluster

/// A coordinator and workers as separate processes, with the `chaos`
/// app only ([`chaos_plugins`]). Workers are never removed from
/// [`Cluster::workers`] (killed ones stay, exited), so an index names
/// one process for the whole test.
pub struct Cluster {
    /// Where the logs go.
    pub logs: PathBuf,
    /// The plugin folder of every server.
    pub plugins: PathBuf,
    /// The coordinator's address.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub url: String,
    /// The coordinator (`None` while it is down).
    pub coordinator: Option<Server>,
    /// Coordinators that were stopped, kept for their logs.
    pub old_coordinators: Vec<Server>,
    /// Every worker started, in order.
    pub workers: Vec<Server>,
}

impl Cluster {
    /// Starts a coordinator (worker timeout [`WORKER_TIMEOUT_MS`]) on a
    /// free port and `workers` workers heartbeating every
    /// [`HEARTBEAT_MS`], and waits until they are all registered.
    pub fn start(dir: &Path, workers: usize) -> Cluster {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let plugins = chaos_plugins(&dir.join("plugins"));
        let mut last = None;
        for attempt in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let server = Self::spawn_coordinator(&logs, &plugins, attempt, addr);
            match Self::wait_listening(server) {
                Ok(server) => {
                    let mut cluster = Cluster {
                        logs,
                        plugins,
                        addr,
                        url: format!("http://{addr}"),
                        coordinator: Some(server),
                        old_coordinators: Vec::new(),
                        workers: Vec::new(),
                    };
                    for _ in 0..workers {
                        cluster.add_worker();
                    }
                    if workers > 0 {
                        cluster.wait_alive(workers);
                    }
                    return cluster;
                }
                Err(log) => last = Some(log),
            }
        }
        panic!(
            "could not start a coordinator on a free port:\n{}",
            last.unwrap()
        );
    }

    fn spawn_coordinator(logs: &Path, plugins: &Path, n: usize, addr: SocketAddr) -> Server {
        let args: Vec<OsString> = vec![
            "coordinator".into(),
            "--listen".into(),
            addr.to_string().into(),
            "--plugins".into(),
            plugins.as_os_str().to_owned(),
            "--worker-timeout-ms".into(),
            WORKER_TIMEOUT_MS.to_string().into(),
            "--heartbeat-interval-ms".into(),
            HEARTBEAT_MS.to_string().into(),
        ];
        Server::spawn(logs, &format!("coordinator-{n}"), &args)
    }

    /// Waits until `server` logged that it listens; `Err(log)` if it
    /// exited because it could not bind.
    fn wait_listening(mut server: Server) -> Result<Server, String> {
        let what = format!("{} to listen", server.name);
        let up = poll_until(&what, STEP, || {
            if let Some(status) = server.exit_status() {
                return Some(Err(status));
            }
            (!server.log_events("coordinator listening").is_empty()).then_some(Ok(()))
        });
        match up {
            Ok(()) => Ok(server),
            Err(status) => {
                let log = server.log_text();
                assert!(
                    log.contains("cannot listen"),
                    "{} exited with {status}:\n{log}",
                    server.name
                );
                Err(log)
            }
        }
    }

    /// Starts a new coordinator on the same address as before (the
    /// previous one must be down).
    pub fn restart_coordinator(&mut self) {
        assert!(self.coordinator.is_none(), "the coordinator is still up");
        let n = self.old_coordinators.len();
        let server = Self::spawn_coordinator(&self.logs, &self.plugins, 100 + n, self.addr);
        match Self::wait_listening(server) {
            Ok(s) => self.coordinator = Some(s),
            Err(log) => panic!("cannot restart the coordinator on {}:\n{log}", self.addr),
        }
    }

    /// SIGKILLs the coordinator.
    pub fn kill_coordinator(&mut self) {
        let mut c = self.coordinator.take().expect("a coordinator");
        c.kill();
        self.old_coordinators.push(c);
    }

    /// Starts one more worker; returns its index.
    pub fn add_worker(&mut self) -> usize {
        let i = self.workers.len();
        let args: Vec<OsString> = vec![
            "worker".into(),
            "--coordinator".into(),
            self.url.clone().into(),
            "--plugins".into(),
            self.plugins.as_os_str().to_owned(),
            "--heartbeat-interval-ms".into(),
            HEARTBEAT_MS.to_string().into(),
        ];
        self.workers
            .push(Server::spawn(&self.logs, &format!("worker-{i}"), &args));
        i
    }

    /// The address worker `i` serves on (from its log).
    pub fn worker_address(&mut self, i: usize) -> String {
        let w = &mut self.workers[i];
        let what = format!("{} to log its address", w.name);
        poll_until(&what, STEP, || {
            if let Some(s) = w.exit_status() {
                panic!("{} exited with {s}:\n{}", w.name, w.log_tail(30));
            }
            w.log_field("worker serving map output", "advertise")
        })
    }

    /// Waits until worker `i` has logged `times` registrations with a
    /// coordinator (the coordinator lists a worker a moment before the
    /// worker logs that it registered).
    pub fn wait_registered(&self, i: usize, times: usize) {
        let w = &self.workers[i];
        let what = format!("{} to log {times} registrations", w.name);
        poll_until(&what, STEP, || {
            let n = w.log_events("registered with the coordinator").len();
            assert!(
                n <= times,
                "{} registered {n} times:\n{}",
                w.name,
                w.log_tail(30)
            );
            (n == times).then_some(())
        });
    }

    /// `mr workers --json`.
    pub fn workers_json(&self) -> Vec<serde_json::Value> {
        let out = run_mr(["workers", "--json", "--coordinator", &self.url]).ok();
        out.json().as_array().expect("a JSON array").clone()
    }

    /// The alive entries of `mr workers --json`.
    pub fn alive_workers(&self) -> Vec<serde_json::Value> {
        self.workers_json()
            .into_iter()
            .filter(|w| w["state"] == "alive")
            .collect()
    }

    /// `mr jobs --json`.
    pub fn jobs_json(&self) -> Vec<serde_json::Value> {
        let out = run_mr(["jobs", "--json", "--coordinator", &self.url]).ok();
        out.json().as_array().expect("a JSON array").clone()
    }

    /// Waits until at least `n` workers are alive; returns them.
    pub fn wait_alive(&self, n: usize) -> Vec<serde_json::Value> {
        poll_until(&format!("{n} alive workers"), STEP, || {
            let alive = self.alive_workers();
            (alive.len() >= n).then_some(alive)
        })
    }

    /// The arguments of `mr submit`.
    pub fn submit_args(
        &self,
        files: &[PathBuf],
        out: &Path,
        app: &str,
        n_reduce: u32,
        wait: bool,
        app_args: &[&str],
    ) -> Vec<OsString> {
        submit_args(&self.url, files, out, app, n_reduce, wait, app_args)
    }

    /// `mr submit` without waiting; returns the job id.
    pub fn submit(
        &self,
        files: &[PathBuf],
        out: &Path,
        app: &str,
        n_reduce: u32,
        app_args: &[&str],
    ) -> u32 {
        let out = run_mr(self.submit_args(files, out, app, n_reduce, false, app_args)).ok();
        job_id_of(&out)
    }

    /// `mr poll ID --json`.
    pub fn poll(&self, job: u32) -> serde_json::Value {
        let v = run_mr([
            "poll",
            &job.to_string(),
            "--json",
            "--coordinator",
            &self.url,
        ])
        .ok()
        .json();
        assert_eq!(v["job_id"], job, "{v}");
        v
    }

    /// Polls the job with `mr poll --json` until it is done (at most
    /// `timeout`); returns its last status.
    pub fn wait_job(&self, job: u32, timeout: Duration) -> serde_json::Value {
        poll_until(&format!("job {job} to end"), timeout, || {
            let v = self.poll(job);
            (v["done"] == true).then_some(v)
        })
    }

    /// The tail of every server's log.
    pub fn dump_logs(&self) -> String {
        let mut s = format!("----- cluster at {}\n", self.url);
        let servers = self
            .old_coordinators
            .iter()
            .chain(self.coordinator.iter())
            .chain(self.workers.iter());
        for server in servers {
            s.push_str(&format!("----- {} (pid {})\n", server.name, server.pid()));
            s.push_str(&server.log_tail(40));
            s.push('\n');
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump_logs());
        }
        // Workers first, then the coordinator.
        self.workers.clear();
        self.coordinator = None;
    }
}

/// The job id `mr submit` printed: its stdout must be exactly `ID\n`.
pub fn job_id_of(output: &CmdOutput) -> u32 {
    output
        .stdout
        .strip_suffix('\n')
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("stdout is not exactly a job id and a newline: {output:#?}"))
        .parse()
        .unwrap()
}

/// The names in `dir`, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `mr-out-0..n` and the `_SUCCESS` manifest (a succeeded job's folder),
/// sorted as [`dir_names`] sorts.
pub fn output_names(n_reduce: u32) -> Vec<String> {
    let mut names: Vec<String> = (0..n_reduce).map(|r| format!("mr-out-{r}")).collect();
    names.push("_SUCCESS".to_string());
    names.sort();
    names
}

/// The arguments of `mr submit FILES -o OUT -a APP -n N [--wait]
/// --coordinator URL [-- APP_ARGS]`.
pub fn submit_args(
    url: &str,
    files: &[PathBuf],
    out: &Path,
    app: &str,
    n_reduce: u32,
    wait: bool,
    app_args: &[&str],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["submit".into()];
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    args.extend([
        "-o".into(),
        out.as_os_str().to_owned(),
        "-a".into(),
        app.into(),
        "-n".into(),
        n_reduce.to_string().into(),
        "--coordinator".into(),
        url.into(),
    ]);
    if wait {
        args.push("--wait".into());
    }
    if !app_args.is_empty() {
        args.push("--".into());
        args.extend(app_args.iter().map(OsString::from));
    }
    args
}
