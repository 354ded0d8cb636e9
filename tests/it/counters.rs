//! Counters an operator can trust, with real processes: a job whose map
//! worker is killed after its maps finished runs them again elsewhere,
//! reports each input once, and says why its progress went back.

use crate::common::procs::{run_mr, Cluster, STEP};
use crate::common::{poll_until, write_files};

const N_MAPS: usize = 4;

#[test]
fn maps_run_again_after_their_worker_died_count_once_and_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..N_MAPS)
        .map(|i| {
            (
                format!("f{i}.txt"),
                format!("alpha beta f{i}\n").into_bytes(),
            )
        })
        .collect();
    let total_bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let paths = write_files(&tmp.path().join("in"), &files);
    let mut cluster = Cluster::start(tmp.path(), 1);
    let out = tmp.path().join("out");
    // The reduce is slow, so the maps are done and held by worker 0 when
    // it is killed.
    let job = cluster.submit(&paths, &out, "chaos", 1, &["--reduce-sleep-ms", "1000"]);
    poll_until("every map done", STEP, || {
        let v = cluster.poll(job);
        (v["maps"]["done"] == N_MAPS as u64).then_some(())
    });
    let first = cluster.alive_workers()[0]["worker_id"].as_u64().unwrap();
    cluster.add_worker();
    cluster.workers[0].kill();

    let status = cluster.wait_job(job, STEP);
    assert_eq!(status["state"], "succeeded", "{status}");
    let c = &status["counters"];
    assert_eq!(
        c["input_records"], N_MAPS as u64,
        "each input once: {status}"
    );
    assert_eq!(c["input_bytes"], total_bytes as u64, "{status}");
    assert!(
        c["task_attempts"].as_u64().unwrap() > (N_MAPS + 1) as u64,
        "every attempt counts: {status}"
    );
    let notes: Vec<&str> = status["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.ends_with(&format!("run again: worker {first} died"))),
        "{status}"
    );

    let text = run_mr(["poll", &job.to_string(), "--coordinator", &cluster.url]).ok();
    let said = format!("run again: worker {first} died");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("note: ") && l.ends_with(&said)),
        "{text:#?}"
    );
}
