//! Our `mr worker` under the course's coordinator, which dials workers at
//! `127.0.0.1:(10163 + id)` and takes no addresses, and reading map output
//! from a course worker, which has no `ReadMapStream`.

use std::net::SocketAddr;

use super::coordinator::LegacyCoordinator;
use super::peer_worker::PeerWorker;
use super::{job, legacy_port_base, start_worker, wc_output};
use crate::common::procs::STEP;
use crate::common::{poll_until, word_counts, write_files};

const TEXTS: [&str; 3] = [
    "the quick brown fox jumps over the lazy dog",
    "The dog sleeps; the fox runs.",
    "quick quick slow",
];

fn inputs() -> Vec<(String, Vec<u8>)> {
    TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("in-{i}.txt"), t.as_bytes().to_vec()))
        .collect()
}

/// Waits for `job` to end; panics with the worker's log if it fails or
/// takes longer than [`STEP`].
fn wait_succeeded(c: &LegacyCoordinator, job: u32, worker: &crate::common::procs::Server) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_until("the legacy job to end", STEP, || c.outcome(job))
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("the job failed: {e}\n{}", worker.log_tail(30)),
        Err(_) => panic!("the job did not end:\n{}", worker.log_tail(30)),
    }
}

#[test]
fn our_workers_serve_each_other_at_the_legacy_port_under_the_course_coordinator() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(&tmp.path().join("in"), &inputs());
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let coordinator = LegacyCoordinator::start();
    let base = legacy_port_base(2);
    // Worker 1 runs every map; worker 2 every reduce, which it can only
    // fetch from 127.0.0.1:(base + 1): the course gives no addresses.
    coordinator.state().reduces_only_to = Some(2);
    let job_id = coordinator.submit(job("wc", &files, &out, 2));
    let mapper = start_worker(tmp.path(), "worker-1", &coordinator.url(), base);
    poll_until("worker 1 to run every map", STEP, || {
        (coordinator.maps_done(job_id) == files.len()).then_some(())
    });
    let reducer = start_worker(tmp.path(), "worker-2", &coordinator.url(), base);
    wait_succeeded(&coordinator, job_id, &reducer);

    let reports = coordinator.state().reports.clone();
    let finished = |reduce: bool, by: u32| {
        reports
            .iter()
            .filter(|r| r.2 == reduce && r.0 == by && r.4)
            .count()
    };
    assert_eq!(finished(false, 1), files.len(), "{reports:?}");
    assert_eq!(finished(true, 2), 2, "{reports:?}");
    assert!(
        reports.iter().filter(|r| r.2).all(|r| r.4),
        "no reduce failed to fetch: {reports:?}\n{}",
        reducer.log_tail(30)
    );
    assert_eq!(wc_output(&out, 2), word_counts(&TEXTS));
    assert!(
        mapper.log_text().contains("legacy port"),
        "the worker says where it serves:\n{}",
        mapper.log_tail(20)
    );
}

#[test]
fn our_worker_reads_a_course_workers_map_output_with_read_map() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(&tmp.path().join("in"), &inputs()[..2]);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let coordinator = LegacyCoordinator::start();
    // The course worker is worker 1, at base + 1; ours will be 2.
    let base = legacy_port_base(2);
    let job_id = coordinator.submit(job("wc", &files, &out, 1));
    let peer_id = coordinator.register_peer();
    let peer = PeerWorker::start(SocketAddr::from(([127, 0, 0, 1], base + peer_id as u16)));
    // Map 0 ran on the course worker: its output is one partition of
    // sorted (word, count) frames, as wc's map and combine leave it.
    let mut partition = Vec::new();
    for (word, n) in word_counts(&TEXTS[..1]) {
        plugin_api::frame::push_frame(&mut partition, word.as_bytes()).unwrap();
        plugin_api::frame::push_frame(&mut partition, &plugin_api::encode_u64(n)).unwrap();
    }
    peer.hold(job_id, 0, 0, partition);
    coordinator.map_done_by(job_id, 0, peer_id);

    let worker = start_worker(tmp.path(), "worker", &coordinator.url(), base);
    wait_succeeded(&coordinator, job_id, &worker);

    assert_eq!(
        peer.reads(),
        vec![(job_id, 0, 0)],
        "fetched once, by ReadMap"
    );
    assert_eq!(wc_output(&out, 1), word_counts(&TEXTS[..2]));
}
