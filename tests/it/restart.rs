//! A coordinator with a job store (`--state-dir`), SIGKILLed at moments of
//! a multi-job workload (jobs queued, mapping, reducing) and restarted on
//! the same address and folder: every job ends once with the output of a
//! sequential word count, `mr submit --wait` clients started before the
//! kills succeed, and job ids are never reused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::procs::{spawn_mr, Cluster, ClusterConfig, STEP};
use crate::common::{poll_until, write_files, Prng};

const N_JOBS: usize = 4;
const N_MAPS: usize = 4;
const N_REDUCE: u32 = 2;
/// Maps sleep this long, and reduces this long per key, so the kills land
/// while jobs map and reduce.
const APP_ARGS: &[&str] = &["--sleep-ms", "150", "--reduce-sleep-ms", "25"];

/// Job `j`'s inputs (contents differ per job and file).
fn inputs(dir: &Path, j: usize) -> (Vec<PathBuf>, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..N_MAPS)
        .map(|i| {
            let text = format!(
                "alpha j{j} beta f{i}\ngamma alpha\t{}\n",
                "beta ".repeat(i + j + 1)
            );
            (format!("f{i}.txt"), text.into_bytes())
        })
        .collect();
    (write_files(&dir.join(format!("in{j}")), &files), files)
}

/// Checks a `chaos` output folder against a sequential word count.
fn check_output(out: &Path, files: &[(String, Vec<u8>)]) {
    crate::common::check_word_count_output(out, N_REDUCE, files);
}

/// Kills the coordinator and starts it again at once on the same address
/// and state folder.
fn bounce(cluster: &mut Cluster) {
    cluster.kill_coordinator();
    cluster.restart_coordinator();
}

/// Whether some job has all its maps done and a reduce not done.
fn some_job_reducing(cluster: &Cluster) -> bool {
    cluster.jobs_json().iter().any(|j| {
        j["maps"]["done"] == j["maps"]["total"] && j["reduces"]["done"] != j["reduces"]["total"]
    })
}

fn run_seed(seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::chaos(tmp.path());
    config.state_dir = Some(tmp.path().join("state"));
    let mut cluster = Cluster::start_with(tmp.path(), 2, config);
    let mut rng = Prng::new(seed);

    let jobs: Vec<_> = (0..N_JOBS).map(|j| inputs(tmp.path(), j)).collect();
    let outs: Vec<PathBuf> = (0..N_JOBS)
        .map(|j| tmp.path().join(format!("out{j}")))
        .collect();
    // Two clients wait for their jobs across the kills; two jobs are
    // submitted without waiting and queue behind them.
    let waiting: Vec<_> = (0..2)
        .map(|j| {
            let args = cluster.submit_args(&jobs[j].0, &outs[j], "chaos", N_REDUCE, true, APP_ARGS);
            let cmd = spawn_mr(args);
            // Submit in order: the job's id must be j.
            poll_until("the submission to be listed", STEP, || {
                (cluster.jobs_json().len() > j).then_some(())
            });
            cmd
        })
        .collect();
    for j in 2..N_JOBS {
        let id = cluster.submit(&jobs[j].0, &outs[j], "chaos", N_REDUCE, APP_ARGS);
        assert_eq!(id, j as u32);
    }

    // Kill 1: with jobs queued and the first ones mapping.
    std::thread::sleep(Duration::from_millis(rng.below(300)));
    bounce(&mut cluster);
    // Kill 2: while a job reduces.
    poll_until("a job to reduce", STEP, || {
        some_job_reducing(&cluster).then_some(())
    });
    std::thread::sleep(Duration::from_millis(rng.below(150)));
    bounce(&mut cluster);
    // Kill 3: at a random later moment.
    std::thread::sleep(Duration::from_millis(200 + rng.below(600)));
    bounce(&mut cluster);

    for (j, out) in outs.iter().enumerate() {
        let status = cluster.wait_job(j as u32, STEP);
        assert_eq!(status["state"], "succeeded", "job {j}: {status}");
        check_output(out, &jobs[j].1);
        let manifest = std::fs::read_to_string(out.join("_SUCCESS")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest["job_id"], j, "{manifest}");
    }
    let listed: Vec<_> = cluster
        .jobs_json()
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(listed, (0..N_JOBS).collect::<Vec<_>>(), "each job once");

    for (j, cmd) in waiting.into_iter().enumerate() {
        let out = cmd.finish();
        assert!(out.status.success(), "job {j}'s waiting client: {out:#?}");
        assert_eq!(out.stdout, format!("{j}\n"), "{out:#?}");
        let said = out
            .stderr
            .matches(&format!("coordinator restarted; following job {j} again"))
            .count();
        assert!(said <= 3, "one line per restart at most: {out:#?}");
        // Job 1 queued behind job 0, so it was still followed at kill 1.
        if j == 1 {
            assert!(
                said >= 1,
                "the client said nothing of the restart: {out:#?}"
            );
        }
    }

    // Workers that registered again offered the map output they held, and
    // the restarted coordinators adopted some (kill 2 came while a job
    // reduced, so its maps were all held).
    let adopted: u64 = cluster
        .old_coordinators
        .iter()
        .chain(cluster.coordinator.iter())
        .flat_map(|c| c.log_events("worker registered"))
        .filter_map(|e| e["fields"]["adopted"].as_u64())
        .sum();
    assert!(adopted > 0, "no held map output was adopted");

    // Ids handed out before the kills are never reused.
    let (files, _) = inputs(tmp.path(), 9);
    let out = tmp.path().join("out-after");
    let id = cluster.submit(&files, &out, "chaos", N_REDUCE, &[]);
    assert_eq!(id, N_JOBS as u32, "a new job after the restarts");
    assert_eq!(cluster.wait_job(id, STEP)["state"], "succeeded");
}

#[test]
fn every_job_survives_coordinator_kills_seed_1() {
    run_seed(1);
}

#[test]
fn every_job_survives_coordinator_kills_seed_2() {
    run_seed(2);
}

#[test]
fn every_job_survives_coordinator_kills_seed_3() {
    run_seed(3);
}

/// A job submitted just before a SIGKILL (the reply was sent) is there
/// after the restart, and the restarted coordinator says what it restored.
#[test]
fn an_answered_submission_survives_an_immediate_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::chaos(tmp.path());
    config.state_dir = Some(tmp.path().join("state"));
    let mut cluster = Cluster::start_with(tmp.path(), 0, config);
    let (files, contents) = inputs(tmp.path(), 0);
    let out = tmp.path().join("out");
    let id = cluster.submit(&files, &out, "chaos", N_REDUCE, &[]);
    bounce(&mut cluster);
    assert_eq!(cluster.poll(id)["state"], "queued");
    cluster.add_worker();
    assert_eq!(cluster.wait_job(id, STEP)["state"], "succeeded");
    check_output(&out, &contents);
    let restarted = cluster.coordinator.as_ref().unwrap();
    let restored = restarted.log_events("jobs restored from the job store");
    assert_eq!(restored.len(), 1, "{}", restarted.log_tail(20));
}
