//! End-to-end tests with real processes: a `mr coordinator` and three
//! `mr worker`s started from the built binary on their own loopback port,
//! jobs submitted with `mr submit`, followed with `mr poll --json`, and their
//! output printed with `mr process`, compared with independent sequential
//! implementations of the apps (`tests/common`). Also checks the output
//! files themselves and the exit status and messages of failing jobs and
//! rejected submissions.
//!
//! Every child process is killed when its guard drops (also when a test
//! panics); each test has its own temporary folder and ports, and waits by
//! polling with a deadline, never by fixed sleeps.

mod common;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{
    be_u64, degrees, expected_grep, expected_vertex_degree, expected_wc, grep_inputs, path_str,
    plugins_dir, poll_until, read_output_dir, texts, vertex_degree_inputs, wc_inputs, wc_records,
    word_counts, write_files,
};

/// The longest any single step (a command, a job, a server start) may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The number of reduce tasks the jobs use.
const N_REDUCE: u32 = 3;

/// An `mr` command with a clean environment (no ambient coordinator or
/// plugin settings).
fn mr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mr"));
    c.env_remove("MR_COORDINATOR")
        .env_remove("MR_PLUGINS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// A child process, killed and reaped on drop.
struct ChildGuard {
    child: Child,
    what: String,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished command printed.
#[derive(Debug)]
struct Output {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Panics, showing everything, unless the command exited with 0.
    fn success(self) -> Self {
        assert!(self.status.success(), "{self:#?}");
        self
    }
}

/// A running client command whose output is being collected.
struct Running {
    guard: ChildGuard,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Starts `mr ARGS`.
fn spawn_mr<I, S>(args: I) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = mr();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    Running {
        guard: ChildGuard { child, what },
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits (at most [`DEADLINE`]) for the command to exit.
    fn finish(mut self) -> Output {
        let what = self.guard.what.clone();
        let status = poll_until(&format!("{what} to exit"), DEADLINE, || {
            self.guard.child.try_wait().unwrap()
        });
        let text =
            |h: JoinHandle<Vec<u8>>| String::from_utf8_lossy(&h.join().unwrap()).into_owned();
        Output {
            what,
            status,
            stdout: text(self.stdout),
            stderr: text(self.stderr),
        }
    }
}

/// Runs `mr ARGS` to its end.
fn run_mr<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_mr(args).finish()
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A coordinator and workers as separate processes, logging into files.
struct Cluster {
    url: String,
    logs: PathBuf,
    // Dropped in this order: workers first, then the coordinator.
    workers: Vec<ChildGuard>,
    coordinator: ChildGuard,
}

/// Starts a server process logging into `logs/<name>.log`.
fn spawn_server(logs: &Path, name: &str, args: &[&OsStr]) -> ChildGuard {
    let log = File::create(logs.join(format!("{name}.log"))).unwrap();
    let mut cmd = mr();
    cmd.args(args)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    let what = format!("{name}: {cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    ChildGuard { child, what }
}

fn read_log(logs: &Path, name: &str) -> String {
    std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default()
}

impl Cluster {
    /// Starts a coordinator on a free port and `workers` workers
    /// (heartbeating every 200 ms), and waits until the coordinator accepts
    /// connections and every worker has registered.
    fn start(dir: &Path, workers: usize) -> Cluster {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let plugins = plugins_dir();
        let (coordinator, addr) = Self::start_coordinator(&logs, &plugins);
        let url = format!("http://{addr}");
        let mut cluster = Cluster {
            url,
            logs,
            workers: Vec::new(),
            coordinator,
        };
        for i in 0..workers {
            let args: [&OsStr; 7] = [
                "worker".as_ref(),
                "--coordinator".as_ref(),
                cluster.url.as_ref(),
                "--plugins".as_ref(),
                plugins.as_os_str(),
                "--heartbeat-interval-ms".as_ref(),
                "200".as_ref(),
            ];
            let w = spawn_server(&cluster.logs, &format!("worker-{i}"), &args);
            cluster.workers.push(w);
        }
        if workers > 0 {
            cluster.wait_for_workers(workers);
        }
        cluster
    }

    /// Starts the coordinator, retrying with another port if the one picked
    /// was taken in the meantime.
    fn start_coordinator(logs: &Path, plugins: &Path) -> (ChildGuard, SocketAddr) {
        for _ in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let listen = addr.to_string();
            let args: [&OsStr; 5] = [
                "coordinator".as_ref(),
                "--listen".as_ref(),
                listen.as_ref(),
                "--plugins".as_ref(),
                plugins.as_os_str(),
            ];
            let mut coordinator = spawn_server(logs, "coordinator", &args);
            // Another process may have taken the port since `free_port`, so
            // a connection alone proves nothing: wait for this coordinator to
            // log that it listens (it does so once bound), then connect.
            let up = poll_until("the coordinator to accept connections", DEADLINE, || {
                if let Some(status) = coordinator.child.try_wait().unwrap() {
                    return Some(Err(status));
                }
                if !read_log(logs, "coordinator").contains("coordinator listening") {
                    return None;
                }
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .ok()
                    .map(Ok)
            });
            match up {
                Ok(_) => return (coordinator, addr),
                Err(status) => {
                    let log = read_log(logs, "coordinator");
                    assert!(
                        log.contains("cannot listen"),
                        "the coordinator exited with {status}:\n{log}"
                    );
                }
            }
        }
        panic!("could not find a free port for the coordinator");
    }

    /// Waits until `n` workers are registered and alive.
    fn wait_for_workers(&mut self, n: usize) {
        poll_until(&format!("{n} workers to register"), DEADLINE, || {
            for w in &mut self.workers {
                if let Some(status) = w.child.try_wait().unwrap() {
                    panic!("{} exited with {status}", w.what);
                }
            }
            let out = run_mr(["workers", "--json", "--coordinator", &self.url]).success();
            let workers: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            let alive = workers
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| w["state"] == "alive")
                .count();
            (alive >= n).then_some(())
        });
    }

    /// The arguments of `mr submit` for a job.
    fn submit_args(
        &self,
        files: &[PathBuf],
        out: &Path,
        app: &str,
        wait: bool,
        app_args: &[&str],
    ) -> Vec<OsString> {
        common::procs::submit_args(&self.url, files, out, app, N_REDUCE, wait, app_args)
    }

    /// `mr submit ... --wait`, checking it succeeded and printed only the
    /// job id; returns the id.
    fn submit_and_wait(&self, files: &[PathBuf], out: &Path, app: &str, app_args: &[&str]) -> u32 {
        let output = run_mr(self.submit_args(files, out, app, true, app_args)).success();
        job_id_of(&output)
    }

    /// The tail of every server's log.
    fn dump_logs(&self) -> String {
        let mut names = vec!["coordinator".to_string()];
        names.extend((0..self.workers.len()).map(|i| format!("worker-{i}")));
        let mut s = format!(
            "----- cluster at {} ({})\n",
            self.url, self.coordinator.what
        );
        for name in names {
            let log = read_log(&self.logs, &name);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            s.push_str(&format!("----- {name} (last {} lines)\n", tail.len()));
            for line in tail.into_iter().rev() {
                s.push_str(line);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump_logs());
        }
    }
}

/// The job id `mr submit` printed: its stdout must be exactly `ID\n`.
fn job_id_of(output: &Output) -> u32 {
    let id = output
        .stdout
        .strip_suffix('\n')
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| {
            panic!(
                "stdout of {} is not exactly a job id and a newline: {output:#?}",
                output.what
            )
        });
    id.parse().unwrap()
}

/// `mr process -o OUT -a APP --plugins DIR`'s stdout.
fn process(out: &Path, app: &str) -> String {
    let plugins = plugins_dir();
    let args: [&OsStr; 7] = [
        "process".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "-a".as_ref(),
        app.as_ref(),
        "--plugins".as_ref(),
        plugins.as_os_str(),
    ];
    run_mr(args).success().stdout
}

/// Asserts two long texts are equal, showing the first differing line.
fn assert_same_text(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: output differs at line {}: got {:?}, want {:?} ({} lines vs {} expected)",
        i + 1,
        g.get(i),
        w.get(i),
        g.len(),
        w.len()
    );
}

/// Writes the inputs under `dir/in`, returning their paths and texts.
fn inputs(dir: &Path, files: &[(String, Vec<u8>)]) -> (Vec<PathBuf>, Vec<String>) {
    (write_files(&dir.join("in"), files), texts(files))
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

/// Checks a finished `grep` output folder and its formatted output.
fn check_grep_output(out: &Path, paths: &[PathBuf], texts: &[String], term: &str) {
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| path_str(p))
        .zip(texts.iter().cloned())
        .collect();
    // Each output record is one matching line: key = path, a 0 byte and the
    // 8-byte big-endian line number; value = the line.
    let records = read_output_dir(out, N_REDUCE);
    let mut got: Vec<(String, u64, String)> = records
        .iter()
        .map(|(k, v)| {
            let (path, number) = k.split_at(k.len() - 9);
            assert_eq!(number[0], 0, "a 0 byte separates path and line number");
            (
                String::from_utf8(path.to_vec()).unwrap(),
                be_u64(&number[1..]),
                String::from_utf8(v.clone()).unwrap(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, u64, String)> = files
        .iter()
        .flat_map(|(p, t)| {
            (1u64..)
                .zip(t.lines())
                .filter(|(_, l)| l.contains(term))
                .map(|(n, l)| (p.clone(), n, l.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(got, want, "grep's output records are the matching lines");
    assert_same_text(&process(out, "grep"), &expected_grep(&files, term), "grep");
}

/// Checks a finished `wc` output folder and its formatted output.
fn check_wc_output(out: &Path, texts: &[String]) {
    let records = read_output_dir(out, N_REDUCE);
    assert_eq!(
        wc_records(&records),
        word_counts(&refs(texts)),
        "wc's records"
    );
    assert_same_text(&process(out, "wc"), &expected_wc(&refs(texts)), "wc");
}

/// Checks a finished `vertex-degree` output folder and its formatted output.
fn check_vertex_degree_output(out: &Path, texts: &[String]) {
    let records = read_output_dir(out, N_REDUCE);
    let got: std::collections::BTreeMap<u64, u64> = records
        .iter()
        .map(|(k, v)| (be_u64(k), be_u64(v)))
        .collect();
    assert_eq!(got.len(), records.len(), "a vertex in two records");
    assert_eq!(got, degrees(&refs(texts)), "vertex-degree's records");
    assert_same_text(
        &process(out, "vertex-degree"),
        &expected_vertex_degree(&refs(texts)),
        "vertex-degree",
    );
}

#[test]
fn wc_job_matches_a_sequential_word_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &wc_inputs());
    let out = tmp.path().join("out");
    let id = cluster.submit_and_wait(&paths, &out, "wc", &[]);
    assert_eq!(id, 0, "the first job of a fresh coordinator");
    check_wc_output(&out, &texts);
}

#[test]
fn grep_job_matches_a_sequential_grep() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &grep_inputs());
    let out = tmp.path().join("out");
    cluster.submit_and_wait(&paths, &out, "grep", &["--term", "the"]);
    check_grep_output(&out, &paths, &texts, "the");
}

#[test]
fn vertex_degree_job_matches_a_sequential_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &vertex_degree_inputs());
    let out = tmp.path().join("out");
    cluster.submit_and_wait(&paths, &out, "vertex-degree", &[]);
    check_vertex_degree_output(&out, &texts);
}

#[test]
fn three_jobs_submitted_at_once_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let (wc_paths, wc_texts) = inputs(&tmp.path().join("wc"), &wc_inputs());
    let (grep_paths, grep_texts) = inputs(&tmp.path().join("grep"), &grep_inputs());
    let (vd_paths, vd_texts) = inputs(&tmp.path().join("vd"), &vertex_degree_inputs());
    let (wc_out, grep_out, vd_out) = (
        tmp.path().join("out-wc"),
        tmp.path().join("out-grep"),
        tmp.path().join("out-vd"),
    );

    // Start all three submissions before waiting for any.
    let running = [
        (
            "wc",
            spawn_mr(cluster.submit_args(&wc_paths, &wc_out, "wc", false, &[])),
        ),
        (
            "grep",
            spawn_mr(cluster.submit_args(
                &grep_paths,
                &grep_out,
                "grep",
                false,
                &["--term", "the"],
            )),
        ),
        (
            "vertex-degree",
            spawn_mr(cluster.submit_args(&vd_paths, &vd_out, "vertex-degree", false, &[])),
        ),
    ];
    let ids: Vec<(&str, u32)> = running
        .into_iter()
        .map(|(app, r)| (app, job_id_of(&r.finish().success())))
        .collect();
    let mut sorted: Vec<u32> = ids.iter().map(|&(_, id)| id).collect();
    sorted.sort();
    assert_eq!(
        sorted,
        [0, 1, 2],
        "a fresh coordinator numbers jobs from 0: {ids:?}"
    );

    for &(app, id) in &ids {
        let status = poll_until(&format!("job {id} ({app}) to succeed"), DEADLINE, || {
            let out = run_mr([
                "poll",
                &id.to_string(),
                "--json",
                "--coordinator",
                &cluster.url,
            ])
            .success();
            let v: serde_json::Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("mr poll --json printed {:?}: {e}", out.stdout));
            assert_eq!(v["job_id"], id, "{v}");
            match v["state"].as_str() {
                Some("succeeded") => Some(v),
                Some("queued" | "running") => {
                    assert_eq!(v["done"], false, "{v}");
                    None
                }
                _ => panic!("job {id} ({app}) did not succeed: {v}"),
            }
        });
        assert_eq!(status["done"], true, "{status}");
        assert_eq!(status["failed"], false, "{status}");
        assert_eq!(status["errors"], serde_json::json!([]), "{status}");
    }

    check_wc_output(&wc_out, &wc_texts);
    check_grep_output(&grep_out, &grep_paths, &grep_texts, "the");
    check_vertex_degree_output(&vd_out, &vd_texts);
}

#[test]
fn wc_on_a_non_utf8_file_fails_with_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let files = [
        ("good.txt".to_string(), b"some fine words".to_vec()),
        (
            "latin1.txt".to_string(),
            b"caf\xe9 cr\xe8me br\xfbl\xe9e\n".to_vec(),
        ),
    ];
    let paths = write_files(&tmp.path().join("in"), &files);
    let bad = path_str(&paths[1]);
    let out = run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "wc", true, &[]));
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    job_id_of(&out);
    assert!(out.stderr.contains("not valid UTF-8"), "{out:#?}");
    assert!(
        out.stderr.contains(&bad),
        "stderr should name {bad}: {out:#?}"
    );
}

#[test]
fn grep_without_a_term_fails_with_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 3);
    let paths = write_files(
        &tmp.path().join("in"),
        &[("a.txt".to_string(), b"the text\n".to_vec())],
    );
    let out = run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "grep", true, &[]));
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    job_id_of(&out);
    assert!(out.stderr.contains("--term"), "{out:#?}");
}

#[test]
fn submitting_an_unknown_app_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(tmp.path(), 0);
    let paths = write_files(
        &tmp.path().join("in"),
        &[("a.txt".to_string(), b"words\n".to_vec())],
    );
    let out = run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "nope", true, &[]));
    assert!(!out.status.success(), "{out:#?}");
    assert_eq!(out.stdout, "", "no job id for a refused job: {out:#?}");
    assert!(out.stderr.contains(r#"unknown app "nope""#), "{out:#?}");
    let listed = out
        .stderr
        .split("available apps:")
        .nth(1)
        .unwrap_or_else(|| panic!("no app list: {out:#?}"));
    for app in ["grep", "vertex-degree", "wc"] {
        assert!(
            listed.contains(app),
            "the app list should include {app}: {out:#?}"
        );
    }
}
