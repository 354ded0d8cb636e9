//! The one harness for tests with real `mr` processes: [`mr`] (an `mr`
//! command with a clean environment), client commands run to their end
//! with a deadline ([`run_mr`], [`spawn_mr`]), long-running servers that
//! start on port 0 and announce their address ([`Server`]), and a
//! [`Cluster`] of a coordinator and workers that come and go.

mod cluster;
mod server;

pub use cluster::{Cluster, ClusterConfig};
pub use server::Server;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{path_str, plugins_dir};

/// The longest a single step (a command, a server start, a registration)
/// may take.
pub const STEP: Duration = Duration::from_secs(30);

/// The coordinator's `--worker-timeout-ms` in [`ClusterConfig::chaos`].
pub const WORKER_TIMEOUT_MS: u64 = 1000;

/// The workers' (and the coordinator's) `--heartbeat-interval-ms` in
/// [`ClusterConfig::chaos`].
pub const HEARTBEAT_MS: u64 = 100;

/// An `mr` command with a clean environment: see [`clean_command`].
pub fn mr() -> Command {
    clean_command(env!("CARGO_BIN_EXE_mr"))
}

/// `mr coordinator --listen 127.0.0.1:0 --plugins PLUGINS`: a coordinator
/// on a port the system picks, which it announces (`listening on ADDR`,
/// read with [`Server::listening`]); tests add their own arguments.
pub fn coordinator_cmd(plugins: &Path) -> Command {
    let mut cmd = mr();
    cmd.args(["coordinator", "--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins);
    cmd
}

/// `program` without any `MR_*` variable of this process's environment
/// (`MR_COORDINATOR`, `MR_PLUGINS`, `MR_CLIENT_TOKEN`, `MR_WORKER_TOKEN`,
/// and whatever the binary reads next), nor `RUST_LOG` or `RUST_BACKTRACE`;
/// plugin copies are cached in `target/plugin-cache` (as
/// `.cargo/config.toml` sets for `cargo run`) unless the caller sets
/// `MR_PLUGIN_CACHE` again; standard input is empty.
pub fn clean_command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"MR_") {
            c.env_remove(name);
        }
    }
    c.env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env("MR_PLUGIN_CACHE", plugin_cache())
        .stdin(Stdio::null());
    c
}

/// `target/plugin-cache`: beside the profile folder holding `mr`.
pub fn plugin_cache() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_mr"));
    bin.parent()
        .and_then(Path::parent)
        .expect("the mr binary is in target/<profile>/")
        .join("plugin-cache")
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

/// A client command whose output is being collected; killed and reaped
/// if dropped before [`RunningCmd::finish`].
pub struct RunningCmd {
    what: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// Starts `mr ARGS` (to be ended with [`RunningCmd::finish`]).
pub fn spawn_mr<I, S>(args: I) -> RunningCmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = mr();
    cmd.args(args);
    spawn_command(cmd)
}

/// Starts `cmd` (an [`mr`] command with its arguments and environment set)
/// to be ended with [`RunningCmd::finish`].
pub fn spawn_command(mut cmd: Command) -> RunningCmd {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    RunningCmd {
        what,
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl RunningCmd {
    /// The command's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the command to exit (at most [`STEP`]; killed after
    /// that) and returns what it printed.
    pub fn finish(mut self) -> CmdOutput {
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() <= deadline,
                "{} did not exit within {STEP:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.expect("collected once").join().unwrap()).into_owned()
        };
        CmdOutput {
            what: self.what.clone(),
            status,
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
        }
    }
}

impl Drop for RunningCmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mr ARGS` to its end (at most [`STEP`]; killed after that).
pub fn run_mr<I, S>(args: I) -> CmdOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_mr(args).finish()
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

/// The errors of a finished job's status (`mr poll --json`), asserting
/// that it failed.
pub fn failed_errors(status: &serde_json::Value) -> Vec<String> {
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["done"], true, "{status}");
    assert_eq!(status["failed"], true, "{status}");
    status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
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

/// The arguments of `mr submit FILES -o OUT -a APP -n N --split-size 0
/// [--wait] --coordinator URL [-- APP_ARGS]`: one map task per file, which
/// the fault and chaos scenarios count and aim at (`tests/it/inputs.rs`
/// covers splits and packing).
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
        "--split-size".into(),
        "0".into(),
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
