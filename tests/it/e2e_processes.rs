//! End-to-end tests with real processes: a `mr coordinator` and three
//! `mr worker`s started from the built binary on their own loopback port,
//! jobs submitted with `mr submit`, followed with `mr poll --json`, and their
//! output printed with `mr process`, compared with independent sequential
//! implementations of the apps (`common`), through the one process
//! harness (`common::procs`). Also checks the output
//! files themselves and the exit status and messages of failing jobs and
//! rejected submissions.
//!
//! Every child process is killed when its guard drops (also when a test
//! panics); each test has its own temporary folder, its servers pick their
//! own ports (port 0, read from what they announce), and waits by
//! polling with a deadline, never by fixed sleeps.

use crate::common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::procs::{job_id_of, run_mr, spawn_mr, Cluster, ClusterConfig};
use common::{
    be_u64, degrees, expected_grep, expected_vertex_degree, expected_wc, grep_inputs, grep_matches,
    path_str, plugins_dir, poll_until, read_output_dir, texts, vertex_degree_inputs, wc_inputs,
    wc_records, word_counts, write_files,
};

/// The longest a whole job followed with `mr poll` may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The number of reduce tasks the jobs use.
const N_REDUCE: u32 = 3;

/// Starts a coordinator and `workers` workers (heartbeating every 200 ms)
/// with every test app, and waits until every worker has registered.
fn start_cluster(dir: &Path, workers: usize) -> Cluster {
    let config = ClusterConfig {
        plugins: plugins_dir(),
        heartbeat_ms: 200,
        worker_timeout_ms: None,
        state_dir: None,
    };
    Cluster::start_with(dir, workers, config)
}

/// `mr submit ... --wait`, checking it succeeded and printed only the job
/// id; returns the id.
fn submit_and_wait(
    cluster: &Cluster,
    files: &[PathBuf],
    out: &Path,
    app: &str,
    app_args: &[&str],
) -> u32 {
    let output = run_mr(cluster.submit_args(files, out, app, N_REDUCE, true, app_args)).ok();
    job_id_of(&output)
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
    run_mr(args).ok().stdout
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
    // The output records are the matching lines, numbered from the start
    // of their file (see `grep_matches` for the key layout).
    let records = read_output_dir(out, N_REDUCE);
    let mut got: Vec<(String, u64, String)> = grep_matches(&records)
        .into_iter()
        .map(|(p, n, l)| (p, n, String::from_utf8(l).unwrap()))
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
    let cluster = start_cluster(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &wc_inputs());
    let out = tmp.path().join("out");
    let id = submit_and_wait(&cluster, &paths, &out, "wc", &[]);
    assert_eq!(id, 0, "the first job of a fresh coordinator");
    check_wc_output(&out, &texts);
}

#[test]
fn grep_job_matches_a_sequential_grep() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start_cluster(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &grep_inputs());
    let out = tmp.path().join("out");
    submit_and_wait(&cluster, &paths, &out, "grep", &["--term", "the"]);
    check_grep_output(&out, &paths, &texts, "the");
}

#[test]
fn vertex_degree_job_matches_a_sequential_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start_cluster(tmp.path(), 3);
    let (paths, texts) = inputs(tmp.path(), &vertex_degree_inputs());
    let out = tmp.path().join("out");
    submit_and_wait(&cluster, &paths, &out, "vertex-degree", &[]);
    check_vertex_degree_output(&out, &texts);
}

#[test]
fn three_jobs_submitted_at_once_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start_cluster(tmp.path(), 3);
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
            spawn_mr(cluster.submit_args(&wc_paths, &wc_out, "wc", N_REDUCE, false, &[])),
        ),
        (
            "grep",
            spawn_mr(cluster.submit_args(
                &grep_paths,
                &grep_out,
                "grep",
                N_REDUCE,
                false,
                &["--term", "the"],
            )),
        ),
        (
            "vertex-degree",
            spawn_mr(cluster.submit_args(
                &vd_paths,
                &vd_out,
                "vertex-degree",
                N_REDUCE,
                false,
                &[],
            )),
        ),
    ];
    let ids: Vec<(&str, u32)> = running
        .into_iter()
        .map(|(app, r)| (app, job_id_of(&r.finish().ok())))
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
            .ok();
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
    let cluster = start_cluster(tmp.path(), 3);
    let files = [
        ("good.txt".to_string(), b"some fine words".to_vec()),
        (
            "latin1.txt".to_string(),
            b"caf\xe9 cr\xe8me br\xfbl\xe9e\n".to_vec(),
        ),
    ];
    let paths = write_files(&tmp.path().join("in"), &files);
    let bad = path_str(&paths[1]);
    let out =
        run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "wc", N_REDUCE, true, &[]));
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
    let cluster = start_cluster(tmp.path(), 3);
    let paths = write_files(
        &tmp.path().join("in"),
        &[("a.txt".to_string(), b"the text\n".to_vec())],
    );
    let out =
        run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "grep", N_REDUCE, true, &[]));
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    job_id_of(&out);
    assert!(out.stderr.contains("--term"), "{out:#?}");
}

#[test]
fn submitting_an_unknown_app_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start_cluster(tmp.path(), 0);
    let paths = write_files(
        &tmp.path().join("in"),
        &[("a.txt".to_string(), b"words\n".to_vec())],
    );
    let out =
        run_mr(cluster.submit_args(&paths, &tmp.path().join("out"), "nope", N_REDUCE, true, &[]));
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

/// Peak resident memory (`VmHWM`) of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// `wc` over one 48 MiB file of one repeated line, its counts checked;
/// the job and the file's size.
fn wc_over_48_mib(cluster: &Cluster, dir: &Path) -> (u32, usize) {
    let input = dir.join("big.txt");
    let line = "alpha beta gamma delta\n";
    let lines = (48 << 20) / line.len();
    std::fs::write(&input, line.repeat(lines)).unwrap();
    let out = dir.join("out");
    let job = submit_and_wait(cluster, &[input], &out, "wc", &[]);
    let counts = wc_records(&read_output_dir(&out, N_REDUCE));
    assert_eq!(counts.get("gamma"), Some(&(lines as u64)));
    (job, lines * line.len())
}

/// The peak RSS (KiB) of each executor process `worker` has now.
fn executor_peaks_kib(worker: u32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{worker}/task/{worker}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(peak_kib)
        .collect()
}

/// That `mr poll --json` says `job` read `bytes` of input.
fn assert_input_bytes(cluster: &Cluster, job: u32, bytes: usize) {
    let poll = run_mr([
        "poll",
        "--json",
        "--coordinator",
        &cluster.url,
        &job.to_string(),
    ])
    .ok();
    assert!(
        poll.stdout.contains(&format!("\"input_bytes\":{bytes}")),
        "{}",
        poll.stdout
    );
}

/// A split of lines larger than a sixteenth of the memory limit is read
/// and mapped in pieces of whole lines, one at a time: at `--memory-limit
/// 64MiB` (4 MiB pieces) a 48 MiB split never sits whole in the executor,
/// whose peak stays far below it (above it before), and the counts and the
/// input counter are those of the whole file.
#[test]
fn a_large_split_is_mapped_in_pieces_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_cluster(dir.path(), 0);
    cluster.add_worker_with(&["--memory-limit".into(), "64MiB".into()]);
    let (job, bytes) = wc_over_48_mib(&cluster, dir.path());
    let worker = cluster.workers[0].pid();
    let executors = executor_peaks_kib(worker);
    assert!(!executors.is_empty(), "the worker has an executor");
    assert!(
        executors.iter().all(|&k| k < 40 << 10),
        "an executor held the 48 MiB split: peaks {executors:?} KiB"
    );
    assert_input_bytes(&cluster, job, bytes);
}

/// A map task's output that went to a file in the executor (spilled, and
/// beyond the store's share) comes to the worker as that file, moved into
/// its scratch folder, not as bytes: over 40 MiB of `sort` output at
/// `--memory-limit 16MiB`, the worker's peak memory stays far below the
/// output's size (it received the whole output as one message before, and
/// the executor read it back from its file to send it), and the output is
/// complete and sorted.
#[test]
fn spilled_map_output_reaches_the_worker_as_a_file_not_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_cluster(dir.path(), 0);
    cluster.add_worker_with(&["--memory-limit".into(), "16MiB".into()]);
    let input = dir.path().join("records.txt");
    let n = 400_000u64;
    let mut text = String::with_capacity(n as usize * 101);
    for i in 0..n {
        // Keys in a scrambled order; 100 bytes a line.
        let key = (i * 7_919) % n;
        text.push_str(&format!("{key:010}{}\n", "x".repeat(89)));
    }
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("out");
    submit_and_wait(&cluster, &[input], &out, "sort", &["--format", "lines"]);
    let printed = process(&out, "sort");
    let mut want: Vec<&str> = text.lines().collect();
    want.sort_unstable();
    let got: Vec<&str> = printed.lines().collect();
    assert_eq!(got.len(), want.len(), "every record once");
    assert!(got == want, "the output is the input sorted");
    let worker_peak = peak_kib(cluster.workers[0].pid());
    assert!(
        worker_peak < 32 << 10,
        "the worker's peak RSS is {worker_peak} KiB for 40 MiB of map output"
    );
}

/// A map task's split is read by the worker's executor, which runs the
/// app, not by the worker: over one 48 MiB input the worker's own peak
/// memory stays far below the input's size (it held the split, and for a
/// moment its encoding, before: the split was in both processes at once),
/// and the executor's is above it. The counters still say what was read.
#[test]
fn the_executor_reads_the_split_and_the_worker_never_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path(), 1);
    let (job, bytes) = wc_over_48_mib(&cluster, dir.path());
    let worker = cluster.workers[0].pid();
    let worker_peak = peak_kib(worker);
    let executors = executor_peaks_kib(worker);
    assert!(
        worker_peak < 40 << 10,
        "the worker's peak RSS is {worker_peak} KiB for a 48 MiB split"
    );
    assert!(
        executors.iter().any(|&k| k > 48 << 10),
        "no executor held the split: {executors:?} KiB"
    );
    assert_input_bytes(&cluster, job, bytes);
}
