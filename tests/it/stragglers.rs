//! Backup tasks with real processes: three `mr worker`s, one slowed (the
//! `chaos` app's `--slow-env-ms` sleeps only where `MR_CHAOS_SLOW` is
//! set). With speculation on (the default) an idle fast worker runs a
//! backup of the slowed worker's map, which wins, and the job ends long
//! before the slowed attempt would have; with `mr submit --speculation
//! off` the job waits for it. Outputs are checked against a word count.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::procs::{run_mr, Cluster, STEP};
use common::{poll_until, write_files};

/// Inputs `f0.txt..`, written beneath `dir`: their paths and contents.
fn inputs(dir: &Path, n: usize) -> (Vec<PathBuf>, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let text = format!("alpha f{i}\nbeta {}\n", "gamma ".repeat(i + 1));
            (format!("f{i}.txt"), text.into_bytes())
        })
        .collect();
    (write_files(&dir.join("in"), &files), files)
}

/// Starts a cluster whose first worker is slowed, submits a `chaos` job
/// of 6 maps (`extra` submit options) once that worker runs a map, then
/// adds two fast workers. Returns the cluster, the job and when it was
/// submitted.
fn slowed_job(dir: &Path, slow_ms: u64, extra: &[&str]) -> (Cluster, u32, Instant) {
    let (paths, _) = inputs(dir, 6);
    let mut cluster = Cluster::start(dir, 0);
    cluster.add_worker_with_env(&[], &[("MR_CHAOS_SLOW", "1")]);
    cluster.wait_alive(1);
    let out = dir.join("out");
    let slow = slow_ms.to_string();
    let mut args = cluster.submit_args(&paths, &out, "chaos", 2, false, &["--slow-env-ms", &slow]);
    let app_args = args.iter().position(|a| a == "--").unwrap();
    for (i, a) in extra.iter().enumerate() {
        args.insert(app_args + i, a.into());
    }
    let started = Instant::now();
    let job = common::procs::job_id_of(&run_mr(args).ok());
    poll_until("the slowed worker to take a map", STEP, || {
        (cluster.poll(job)["maps"]["running"] == 1).then_some(())
    });
    cluster.add_worker();
    cluster.add_worker();
    (cluster, job, started)
}

#[test]
fn a_backup_of_the_slowed_workers_map_wins_and_the_output_is_right() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, files) = inputs(tmp.path(), 6);
    // The slowed map would take 60 s; its backup, on a fast worker, starts
    // once the others are done and it has run the 1 s floor.
    let (cluster, job, started) = slowed_job(tmp.path(), 60_000, &["--speculation", "on"]);
    let status = cluster.wait_job(job, Duration::from_secs(30));
    assert_eq!(
        status["state"],
        "succeeded",
        "{status}\n{}",
        cluster.dump_logs()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // 6 maps, 2 reduces and at least one backup (on a loaded machine a
    // reduce may get one too); failed attempts aside.
    let c = &status["counters"];
    let (attempts, failures) = (
        c["task_attempts"].as_u64().unwrap(),
        c["task_failures"].as_u64().unwrap(),
    );
    assert!(attempts - failures > 6 + 2, "{status}");
    common::check_word_count_output(&tmp.path().join("out"), 2, &files);
}

#[test]
fn with_speculation_off_the_job_waits_for_the_slowed_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, files) = inputs(tmp.path(), 6);
    let (cluster, job, started) = slowed_job(tmp.path(), 4_000, &["--speculation", "off"]);
    let status = cluster.wait_job(job, Duration::from_secs(30));
    assert_eq!(
        status["state"],
        "succeeded",
        "{status}\n{}",
        cluster.dump_logs()
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    // No backup attempt: every attempt beyond one per task is a re-run
    // after a failure (a worker that missed heartbeats on a loaded machine),
    // which a backup is not.
    let c = &status["counters"];
    let (attempts, failures) = (
        c["task_attempts"].as_u64().unwrap(),
        c["task_failures"].as_u64().unwrap(),
    );
    assert_eq!(
        attempts - failures,
        6 + 2,
        "{status}\n{}",
        cluster.dump_logs()
    );
    common::check_word_count_output(&tmp.path().join("out"), 2, &files);
}
