//! `SIGTERM` stops every process within its shutdown grace whatever its
//! peers do: a coordinator with clients watching jobs (the watchers say
//! they lost it, then follow their jobs again on a restarted coordinator),
//! a worker whose coordinator never answers (SIGSTOPped), and a
//! coordinator with a SIGSTOPped worker holding a connection.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::procs::{spawn_mr, Cluster, ClusterConfig, Server, STEP};
use crate::common::{poll_until, write_files};

/// The servers' default grace is 3 s; a process must be gone well before
/// its watchdog (twice the grace and a second) would end it.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

fn inputs(dir: &Path, n: usize) -> Vec<PathBuf> {
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                format!("f{i}.txt"),
                format!("alpha beta f{i}\n").into_bytes(),
            )
        })
        .collect();
    write_files(&dir.join("in"), &files)
}

/// SIGTERMs `server`, asserts it exits cleanly (code 0: the bounded
/// drain, not the watchdog) within [`EXIT_WITHIN`].
fn terminate(server: &mut Server) {
    let asked = Instant::now();
    server.signal("TERM");
    let status = poll_until(&format!("{} to exit", server.name), STEP, || {
        server.exit_status()
    });
    let took = asked.elapsed();
    eprintln!("{} exited {status} {took:?} after SIGTERM", server.name);
    assert!(
        took < EXIT_WITHIN,
        "{} took {took:?} to exit:\n{}",
        server.name,
        server.log_tail(30)
    );
    assert_eq!(status.code(), Some(0), "{}", server.log_tail(30));
}

#[test]
fn a_coordinator_with_watchers_stops_and_the_watchers_follow_its_successor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::chaos(tmp.path());
    config.state_dir = Some(tmp.path().join("state"));
    // No worker: the jobs stay queued while three clients watch them.
    let mut cluster = Cluster::start_with(tmp.path(), 0, config);
    let paths = inputs(tmp.path(), 2);
    let watchers: Vec<_> = (0..3)
        .map(|j| {
            let out = tmp.path().join(format!("out{j}"));
            spawn_mr(cluster.submit_args(&paths, &out, "chaos", 1, true, &[]))
        })
        .collect();
    poll_until("three jobs submitted", STEP, || {
        (cluster.jobs_json().len() == 3).then_some(())
    });
    // Let the clients open their WatchJob streams.
    std::thread::sleep(Duration::from_millis(500));

    let mut coordinator = cluster.coordinator.take().unwrap();
    terminate(&mut coordinator);
    cluster.old_coordinators.push(coordinator);

    cluster.restart_coordinator();
    cluster.add_worker();
    for (j, w) in watchers.into_iter().enumerate() {
        let out = w.finish();
        assert!(out.status.success(), "watcher {j}: {out:#?}");
        let lost: Vec<_> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("lost the coordinator"))
            .collect();
        assert_eq!(lost.len(), 1, "said once: {out:#?}");
        assert!(lost[0].contains("coordinator shutting down"), "{out:#?}");
        assert!(
            out.stderr.contains("coordinator restarted; following job"),
            "{out:#?}"
        );
    }
}

#[test]
fn a_worker_whose_coordinator_never_answers_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(tmp.path(), 1);
    let paths = inputs(tmp.path(), 1);
    let out = tmp.path().join("out");
    cluster.submit(&paths, &out, "chaos", 1, &["--sleep-ms", "60000"]);
    poll_until("the worker to run the map", STEP, || {
        let listed = cluster.workers_json();
        listed
            .iter()
            .any(|w| w["running"].as_str().unwrap_or("").contains("map"))
            .then_some(())
    });
    // The worker's last report (its map handed back) goes to a
    // coordinator that holds the connection open and never answers.
    cluster.coordinator.as_ref().unwrap().signal("STOP");
    terminate(&mut cluster.workers[0]);
    cluster.coordinator.as_ref().unwrap().signal("CONT");
}

#[test]
fn a_coordinator_with_a_stopped_worker_connected_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(tmp.path(), 1);
    // The worker long-polls for a task on an open connection, then stops
    // answering anything (a graceful drain would wait on it for ever).
    std::thread::sleep(Duration::from_millis(300));
    cluster.workers[0].signal("STOP");
    let mut coordinator = cluster.coordinator.take().unwrap();
    terminate(&mut coordinator);
    cluster.old_coordinators.push(coordinator);
    cluster.workers[0].signal("CONT");
}
