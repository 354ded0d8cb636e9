//! Crash attribution with real processes: `mr worker` runs app code in a
//! supervised executor process, so a task that kills its process (SIGSEGV,
//! SIGABRT, `exit(1)`) costs only its attempt, the worker reports how the
//! executor died, and the coordinator holds only such crashes against the
//! task. A poison input fails its job after exactly 4 attempts naming the
//! cause, with every worker still up; the MIT lab's crash workload (every
//! map and reduce call exits with probability 0.33 and sleeps with
//! probability 0.33) finishes correctly, again and again.
//!
//! Waits poll with deadlines; nothing sleeps to synchronize. Every process
//! is killed when its guard drops.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::procs::{failed_errors, tempdir_without, Cluster, ClusterConfig, STEP};
use common::{be_u64, path_str, poll_until, read_output_dir, write_files};

/// Checks a `chaos` output folder against a whitespace word count.
fn check_counts(out: &Path, n_reduce: u32, files: &[(String, Vec<u8>)]) {
    let mut want: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (_, bytes) in files {
        for w in std::str::from_utf8(bytes).unwrap().split_whitespace() {
            *want.entry(w.as_bytes().to_vec()).or_insert(0) += 1;
        }
    }
    let got: BTreeMap<Vec<u8>, u64> = read_output_dir(out, n_reduce)
        .iter()
        .map(|(k, v)| (k.clone(), be_u64(v)))
        .collect();
    assert_eq!(got, want, "the word counts in {}", out.display());
}

#[test]
fn a_poison_input_fails_its_job_after_4_crashes_naming_the_cause() {
    let tmp = tempdir_without(&["f03"]);
    // Ten inputs: the nine others' clean runs are evidence enough (8) to
    // call f03 poison after its fourth crash.
    let files: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                format!("f{i:02}.txt"),
                format!("alpha beta f{i}\n").into_bytes(),
            )
        })
        .collect();
    let paths = write_files(&tmp.path().join("in"), &files);
    let bad = path_str(&paths[3]);
    // No worker dies here: a generous timeout keeps a worker slowed by a
    // loaded machine from being declared dead, which would re-run its
    // attempt and add a failure that is not the poison input's.
    let config = ClusterConfig {
        worker_timeout_ms: Some(10_000),
        ..ClusterConfig::chaos(tmp.path())
    };
    let mut cluster = Cluster::start_with(tmp.path(), 2, config);
    let pids: Vec<u32> = cluster.workers.iter().map(|w| w.pid()).collect();
    let cases = [
        ("--segv-on", "killed by signal SIGSEGV"),
        ("--abort-on", "killed by signal SIGABRT"),
        ("--exit-on", "exit code 1"),
    ];
    for (i, (flag, cause)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}"));
        let job = cluster.submit(&paths, &out, "chaos", 2, &[flag, "f03"]);
        let status = cluster.wait_job(job, STEP);
        let errors = failed_errors(&status);
        assert_eq!(errors.len(), 1, "{status}");
        for needle in ["map task 3", bad.as_str(), "4 times in a row", cause] {
            assert!(errors[0].contains(needle), "{needle:?} not in {errors:?}");
        }
        assert_eq!(status["counters"]["task_failures"], 4, "{status}");
    }
    // The crashes took executors, never a worker; and the same workers
    // run a good job.
    for w in &mut cluster.workers {
        assert!(w.is_running(), "{} died", w.name);
    }
    let now: Vec<u32> = cluster.workers.iter().map(|w| w.pid()).collect();
    assert_eq!(now, pids);
    let out = tmp.path().join("out-good");
    let job = cluster.submit(&paths, &out, "chaos", 2, &[]);
    let status = cluster.wait_job(job, STEP);
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["counters"]["task_failures"], 0, "{status}");
    check_counts(&out, 2, &files);
}

/// The MIT lab's crash inputs, scaled: 8 files whose words are the four
/// keys its `crash` app emits, so a reduce task calls the app for at most
/// a key or two.
fn mit_inputs() -> Vec<(String, Vec<u8>)> {
    (0..8)
        .map(|i| {
            let text = format!("a b c d {}\n", "b ".repeat(i + 1));
            (format!("pg-{i}.txt"), text.into_bytes())
        })
        .collect()
}

/// Longest a crash-workload job may take (the lab allows 120 s).
const MIT_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn the_mit_crash_workload_always_finishes_correctly() {
    let tmp = tempdir_without(&[]);
    let files = mit_inputs();
    let paths = write_files(&tmp.path().join("in"), &files);
    let mut cluster = Cluster::start(tmp.path(), 3);
    let n_reduce = 10;
    for run in 0..3 {
        let out = tmp.path().join(format!("out-{run}"));
        let job = cluster.submit(&paths, &out, "chaos", n_reduce, &["--mit-crash", "500"]);
        let started = Instant::now();
        let mut last_start = Instant::now();
        let status = poll_until(&format!("job {job} to end"), MIT_DEADLINE, || {
            // A new worker every second, as the lab does.
            if last_start.elapsed() >= Duration::from_secs(1) && cluster.workers.len() < 12 {
                cluster.add_worker();
                last_start = Instant::now();
            }
            let v = cluster.poll(job);
            (v["done"] == true).then_some(v)
        });
        eprintln!(
            "run {run}: {} in {:?}, counters {}",
            status["state"],
            started.elapsed(),
            status["counters"]
        );
        assert_eq!(status["state"], "succeeded", "{status}");
        check_counts(&out, n_reduce, &files);
    }
}

#[test]
fn max_task_attempts_must_be_at_least_one() {
    let out = common::procs::run_mr(["coordinator", "--max-task-attempts", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:#?}");
    assert!(out.stderr.contains("--max-task-attempts"), "{out:#?}");
}
