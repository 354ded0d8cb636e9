//! Fault tolerance with real processes: `mr coordinator` (worker timeout
//! 1 s) and `mr worker`s (heartbeat every 100 ms) from the built binary,
//! misbehaving through the `chaos` test app (panicking maps, slow maps;
//! maps that crash their process are `crashes.rs`) or through signals (SIGKILL, SIGTERM, SIGSTOP/SIGCONT), and a
//! coordinator that goes away and comes back on the same port.
//!
//! Waits poll with deadlines; nothing sleeps to synchronize. Every process
//! is killed when its guard drops.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::procs::{
    dir_names, failed_errors, job_id_of, run_mr, tempdir_without, Cluster, ClusterConfig, STEP,
    WORKER_TIMEOUT_MS,
};
use common::{path_str, poll_until, write_files};

/// Small inputs `f00.txt..` (contents differ per file).
fn small_inputs(dir: &Path, n: usize) -> (Vec<PathBuf>, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let text = format!(
                "alpha beta f{i:02}\ngamma alpha\t{}\n",
                "beta ".repeat(i + 1)
            );
            (format!("f{i:02}.txt"), text.into_bytes())
        })
        .collect();
    (write_files(&dir.join("in"), &files), files)
}

/// Checks a `chaos` output folder against a whitespace word count.
fn check_chaos_output(out: &Path, n_reduce: u32, files: &[(String, Vec<u8>)]) {
    common::check_word_count_output(out, n_reduce, files);
}

fn assert_succeeded(status: &serde_json::Value) {
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["failed"], false, "{status}");
    assert_eq!(status["errors"], serde_json::json!([]), "{status}");
}

/// The `mr workers --json` entry of the worker process `i` (by the address
/// it serves on; the newest entry when it registered several times).
fn entry_of(cluster: &mut Cluster, i: usize) -> Option<serde_json::Value> {
    let address = cluster.worker_address(i);
    cluster
        .workers_json()
        .into_iter()
        .filter(|w| w["address"] == address.as_str())
        .max_by_key(|w| w["worker_id"].as_u64().unwrap())
}

#[test]
fn an_app_panic_fails_the_job_and_the_worker_keeps_going() {
    let tmp = tempdir_without(&["f02"]);
    let (paths, files) = small_inputs(tmp.path(), 4);
    let bad = path_str(&paths[2]);
    let mut cluster = Cluster::start(tmp.path(), 2);
    let pids: Vec<u32> = cluster.workers.iter().map(|w| w.pid()).collect();
    let ids: Vec<serde_json::Value> = (0..2)
        .map(|i| entry_of(&mut cluster, i).unwrap()["worker_id"].clone())
        .collect();

    let out = run_mr(cluster.submit_args(
        &paths,
        &tmp.path().join("out-bad"),
        "chaos",
        2,
        true,
        &["--panic-on", "f02"],
    ));
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    let job = job_id_of(&out);
    for needle in [
        "map task 2",
        "app panicked: chaos: panicking on",
        bad.as_str(),
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} not in {out:#?}");
    }
    let errors = failed_errors(&cluster.poll(job));
    assert_eq!(errors.len(), 1, "{errors:?}");
    for needle in [
        "map task 2",
        "app panicked: chaos: panicking on",
        bad.as_str(),
    ] {
        assert!(errors[0].contains(needle), "{needle:?} not in {errors:?}");
    }

    // The same workers run a good job.
    let good_out = tmp.path().join("out-good");
    let good = cluster.submit(&paths, &good_out, "chaos", 2, &[]);
    let status = cluster.wait_job(good, STEP);
    assert_succeeded(&status);
    assert_eq!(status["counters"]["task_failures"], 0, "{status}");
    check_chaos_output(&good_out, 2, &files);

    for (i, pid) in pids.iter().enumerate() {
        assert!(cluster.workers[i].is_running(), "worker {i} exited");
        assert_eq!(cluster.workers[i].pid(), *pid);
    }
    let listed = cluster.workers_json();
    assert_eq!(listed.len(), 2, "no worker registered again: {listed:?}");
    for id in ids {
        let w = listed.iter().find(|w| w["worker_id"] == id).unwrap();
        assert_eq!(w["state"], "alive", "{listed:?}");
    }
}

#[test]
fn a_slow_but_alive_worker_keeps_its_task() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 1);
    let cluster = Cluster::start(tmp.path(), 1);
    let out = tmp.path().join("out");
    let started = Instant::now();
    // The map sleeps three times the worker timeout; heartbeats keep the
    // worker alive meanwhile.
    let job = cluster.submit(&paths, &out, "chaos", 2, &["--sleep-ms", "3000"]);
    let status = cluster.wait_job(job, STEP);
    assert_succeeded(&status);
    assert!(started.elapsed() >= Duration::from_millis(3000));
    assert_eq!(status["counters"]["task_attempts"], 1 + 2, "{status}");
    assert_eq!(status["counters"]["task_failures"], 0, "{status}");
    check_chaos_output(&out, 2, &files);
    let listed = cluster.workers_json();
    assert_eq!(
        listed.len(),
        1,
        "the worker never had to register again: {listed:?}"
    );
    assert_eq!(listed[0]["state"], "alive");
}

#[test]
fn a_worker_survives_a_coordinator_outage_and_registers_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 3);
    let mut cluster = Cluster::start(tmp.path(), 1);
    let pid = cluster.workers[0].pid();
    cluster.wait_registered(0, 1);

    cluster.kill_coordinator();
    let down_at = Instant::now();
    poll_until("the worker to notice the outage", STEP, || {
        assert!(cluster.workers[0].is_running(), "the worker exited");
        (cluster.workers[0].log_count_containing("heartbeat failed") > 0).then_some(())
    });
    // Keep the coordinator away for the worker timeout (the outage itself,
    // not a synchronization wait), watching the worker stay up.
    let outage = Duration::from_millis(WORKER_TIMEOUT_MS);
    while down_at.elapsed() < outage {
        assert!(
            cluster.workers[0].is_running(),
            "the worker exited during the outage"
        );
        std::thread::sleep(
            (outage.saturating_sub(down_at.elapsed())).min(Duration::from_millis(50)),
        );
    }

    cluster.restart_coordinator();
    cluster.wait_alive(1);
    assert!(cluster.workers[0].is_running());
    assert_eq!(cluster.workers[0].pid(), pid);
    let listed = cluster.workers_json();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["address"], cluster.worker_address(0).as_str());
    cluster.wait_registered(0, 2);

    let out = tmp.path().join("out");
    let job = cluster.submit(&paths, &out, "chaos", 2, &[]);
    assert_eq!(job, 0, "the new coordinator numbers jobs from 0");
    assert_succeeded(&cluster.wait_job(job, STEP));
    check_chaos_output(&out, 2, &files);
}

/// Engine bug, reproduced here: a new coordinator hands out worker ids from
/// 0 again, and nothing tells a worker that its id belongs to an earlier
/// coordinator. A worker unreachable while the coordinator restarts (here
/// paused with SIGSTOP) would find its old id taken by another worker when
/// it comes back; the coordinator epoch it sends makes the new coordinator
/// answer NOT_FOUND, so it registers again under an id of its own instead of
/// two processes acting as one worker.
#[test]
fn a_worker_paused_across_a_coordinator_restart_gets_an_id_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 6);
    let mut cluster = Cluster::start(tmp.path(), 2);
    let first = (0..2)
        .find(|&i| entry_of(&mut cluster, i).unwrap()["worker_id"] == 0)
        .unwrap();
    let other = 1 - first;

    cluster.workers[first].signal("STOP");
    cluster.kill_coordinator();
    cluster.restart_coordinator();
    cluster.wait_registered(other, 2);
    cluster.workers[first].signal("CONT");

    let addresses = [cluster.worker_address(0), cluster.worker_address(1)];
    poll_until(
        "both workers to be listed alive, each under its own id",
        Duration::from_secs(5),
        || {
            let alive = cluster.alive_workers();
            let listed: Vec<&str> = alive
                .iter()
                .map(|w| w["address"].as_str().unwrap())
                .collect();
            addresses
                .iter()
                .all(|a| listed.contains(&a.as_str()))
                .then_some(())
        },
    );
    let out = tmp.path().join("out");
    let job = cluster.submit(&paths, &out, "chaos", 2, &[]);
    assert_succeeded(&cluster.wait_job(job, STEP));
    check_chaos_output(&out, 2, &files);
}

#[test]
fn sigterm_stops_worker_and_coordinator_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 2);
    // The stopping worker says goodbye, so no death waits for a timeout: a
    // generous one keeps a worker slowed by a loaded machine from being
    // declared dead, which would add an attempt that SIGTERM did not cause.
    let config = ClusterConfig {
        worker_timeout_ms: Some(10_000),
        ..ClusterConfig::chaos(tmp.path())
    };
    let mut cluster = Cluster::start_with(tmp.path(), 2, config);
    let out = tmp.path().join("out");
    let job = cluster.submit(&paths, &out, "chaos", 2, &["--sleep-ms", "1500"]);

    // SIGTERM a worker in the middle of its map.
    poll_until("both workers to run a map", STEP, || {
        let listed = cluster.workers_json();
        let busy = listed
            .iter()
            .filter(|w| w["running"].as_str().unwrap().contains("map"))
            .count();
        (busy == 2).then_some(())
    });
    let term_at = Instant::now();
    cluster.workers[0].signal("TERM");
    let s = cluster.workers[0].wait_exit(Duration::from_secs(5));
    assert_eq!(s.code(), Some(0), "the worker ended with {s}");
    eprintln!("worker exited {:?} after SIGTERM", term_at.elapsed());
    assert_eq!(cluster.workers[0].log_events("worker stopped").len(), 1);

    // Its map was handed back (a retryable failure) and redone by the other.
    let status = cluster.wait_job(job, STEP);
    assert_succeeded(&status);
    assert_eq!(status["counters"]["task_failures"], 1, "{status}");
    assert_eq!(status["counters"]["task_attempts"], 2 + 1 + 2, "{status}");
    check_chaos_output(&out, 2, &files);

    // SIGTERM the coordinator while the other worker long-polls it.
    let coordinator = cluster.coordinator.as_mut().unwrap();
    let term_at = Instant::now();
    coordinator.signal("TERM");
    let s = coordinator.wait_exit(Duration::from_secs(5));
    assert_eq!(s.code(), Some(0), "the coordinator ended with {s}");
    eprintln!("coordinator exited {:?} after SIGTERM", term_at.elapsed());
    assert_eq!(coordinator.log_events("coordinator stopped").len(), 1);
    assert!(
        cluster.workers[1].is_running(),
        "the other worker waits for a coordinator"
    );
}

#[test]
fn a_worker_declared_dead_rejoins_with_a_new_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 3);
    let mut cluster = Cluster::start(tmp.path(), 1);
    let pid = cluster.workers[0].pid();
    let address = cluster.worker_address(0);
    let old = entry_of(&mut cluster, 0).unwrap()["worker_id"]
        .as_u64()
        .unwrap();

    cluster.workers[0].signal("STOP");
    poll_until("the stopped worker to be declared dead", STEP, || {
        let listed = cluster.workers_json();
        let w = listed.iter().find(|w| w["worker_id"] == old).unwrap();
        (w["state"] == "dead").then_some(())
    });
    cluster.workers[0].signal("CONT");

    let new = poll_until("the worker to register again", STEP, || {
        let listed = cluster.workers_json();
        let old_entry = listed.iter().find(|w| w["worker_id"] == old).unwrap();
        assert_eq!(
            old_entry["state"], "dead",
            "a dead id stays dead: {listed:?}"
        );
        listed
            .iter()
            .find(|w| w["worker_id"] != old && w["state"] == "alive")
            .cloned()
    });
    assert_eq!(new["address"], address.as_str(), "{new}");
    assert!(new["worker_id"].as_u64().unwrap() > old, "{new}");
    assert_eq!(cluster.workers[0].pid(), pid);
    assert!(cluster.workers[0].is_running());
    cluster.wait_registered(0, 2);
    assert_eq!(
        cluster.workers[0].log_count_containing("coordinator no longer knows this worker"),
        1
    );

    let out = tmp.path().join("out");
    let job = cluster.submit(&paths, &out, "chaos", 2, &[]);
    assert_succeeded(&cluster.wait_job(job, STEP));
    check_chaos_output(&out, 2, &files);
    let listed = cluster.workers_json();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[test]
fn unwritable_output_dir_is_refused_or_fails_the_job() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, _) = small_inputs(tmp.path(), 2);
    let cluster = Cluster::start(tmp.path(), 2);
    let file = tmp.path().join("file");
    std::fs::write(&file, b"a regular file").unwrap();
    let under_file = file.join("sub");
    let under_file_str = path_str(&under_file);

    // The coordinator cannot create the folder: it refuses the job at
    // submission, through `mr submit` or directly, and submits nothing.
    let out = run_mr(cluster.submit_args(&paths, &under_file, "chaos", 2, true, &[]));
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert_eq!(out.stdout, "", "no job was submitted: {out:#?}");
    assert!(
        out.stderr.contains("output directory") && out.stderr.contains("Not a directory"),
        "{out:#?}"
    );
    assert!(out.stderr.contains(&under_file_str), "{out:#?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = runtime.block_on(async {
        use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
        use mapreduce::proto::coordinator::SubmitJobRequest;
        let mut client = CoordinatorClient::connect(cluster.url.clone())
            .await
            .unwrap();
        client
            .submit_job(SubmitJobRequest {
                files: paths.iter().map(|p| path_str(p)).collect(),
                output_dir: under_file_str.clone(),
                app: "chaos".into(),
                n_reduce: 2,
                args: Vec::new(),
                overwrite: false,
                ..Default::default()
            })
            .await
            .expect_err("an output folder that cannot be created")
    });
    assert!(refused.message().contains("Not a directory"), "{refused:?}");
    assert_eq!(
        cluster.jobs_json(),
        Vec::<serde_json::Value>::new(),
        "no job was submitted"
    );
    assert!(file.is_file(), "the regular file is untouched");

    // A read-only folder, where permissions are enforced (not for root).
    let read_only = tmp.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    set_mode(&read_only, 0o555);
    let enforced = std::fs::write(read_only.join("probe"), b"").is_err();
    if !enforced {
        eprintln!("skipping the read-only folder case: permissions are not enforced here");
        set_mode(&read_only, 0o755);
        return;
    }
    let out = run_mr(cluster.submit_args(&paths, &read_only, "chaos", 2, true, &[]));
    set_mode(&read_only, 0o755);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    job_id_of(&out);
    assert!(
        out.stderr.contains("cannot write output") || out.stderr.contains("cannot create"),
        "{out:#?}"
    );
    assert!(out.stderr.contains(&path_str(&read_only)), "{out:#?}");
    assert_eq!(
        dir_names(&read_only),
        Vec::<String>::new(),
        "nothing was left behind"
    );
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_killed_workers_scratch_folder_is_removed_by_the_next_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, files) = small_inputs(tmp.path(), 2);
    let mut cluster = Cluster::start(tmp.path(), 1);
    let out = tmp.path().join("out");
    let job = cluster.submit(&paths, &out, "chaos", 2, &[]);
    assert_succeeded(&cluster.wait_job(job, STEP));
    check_chaos_output(&out, 2, &files);

    // The harness points every worker's scratch space (TMPDIR) here.
    let scratch = tmp.path().join("scratch");
    let pid = cluster.workers[0].pid();
    let ours = |pid: u32| -> Vec<String> {
        dir_names(&scratch)
            .into_iter()
            .filter(|n| n.starts_with(&format!("mr-worker-{pid}-")))
            .collect()
    };
    assert!(!ours(pid).is_empty(), "no scratch folder of worker {pid}");
    cluster.workers[0].kill();
    assert!(!ours(pid).is_empty(), "SIGKILL leaves the folder behind");

    let next = cluster.add_worker();
    cluster.wait_registered(next, 1);
    assert!(ours(pid).is_empty(), "{:?}", dir_names(&scratch));
    assert_eq!(
        cluster.workers[next]
            .log_events("removed scratch folders left by workers that were killed")
            .len(),
        1
    );
}
