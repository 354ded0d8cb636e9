//! A kill storm: one of four workers SIGKILLed every 0.8 s through a
//! 64-map `chaos` job, over three seeds; each victim is replaced at once by
//! a worker on the same `--work-dir` (as a supervisor restarting it on the
//! same machine would), which adopts the map output the victim left there.
//! Worker losses carry no evidence against any task, so however often a
//! task's attempt is lost with its worker, it runs again: the job must
//! succeed with the right word counts every time.
//!
//! Without adoption the job never ends: every kill takes a quarter of the
//! finished maps, and a worker is always dead but not yet timed out, so
//! the last reduce never finds all 64 outputs at once.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use super::inputs_n;
use crate::common::procs::Cluster;
use crate::common::{check_word_count_output, write_files, Prng};

/// Map tasks of the job.
const N_MAPS: usize = 64;

/// Reduce tasks.
const N_REDUCE: u32 = 4;

/// Workers kept running.
const WORKERS: usize = 4;

/// Maps and reduces take a while, so the storm lasts several kills:
/// about 3 s of maps on four workers, then reduces of about 0.4 s.
const APP_ARGS: [&str; 4] = ["--sleep-ms", "200", "--reduce-sleep-ms", "10"];

/// Time between kills.
const KILL_EVERY: Duration = Duration::from_millis(800);

/// The longest one job may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The seeds.
const SEEDS: [u64; 3] = [0x5707_0001, 0x5707_0002, 0x5707_0003];

/// Runs the job while killing workers as `seed` says; returns the kills.
fn storm(dir: &Path, seed: u64, files: &[(String, Vec<u8>)]) -> usize {
    let paths = write_files(&dir.join("in"), files);
    let mut rng = Prng::new(seed);
    let mut cluster = Cluster::start(&dir.join(format!("seed-{seed:x}")), 0);
    // Worker slot k works in its own folder, shared by its successors.
    let slot_args = |k: usize| -> Vec<OsString> {
        vec![
            "--work-dir".into(),
            dir.join(format!("slot-{k}")).into_os_string(),
        ]
    };
    let mut slots: Vec<usize> = Vec::new(); // worker index by slot
    for k in 0..WORKERS {
        slots.push(cluster.add_worker_with(&slot_args(k)));
    }
    cluster.wait_alive(WORKERS);
    let out = dir.join(format!("out-{seed:x}"));
    let job = cluster.submit(&paths, &out, "chaos", N_REDUCE, &APP_ARGS);
    let started = Instant::now();
    let mut next_kill = started + KILL_EVERY;
    let mut kills = 0;
    let status = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "seed {seed:x}: job {job} did not end within {DEADLINE:?} ({kills} kills): {}",
            cluster.poll(job)
        );
        let status = cluster.poll(job);
        if status["done"] == true {
            break status;
        }
        if Instant::now() >= next_kill {
            let k = rng.below(WORKERS as u64) as usize;
            cluster.workers[slots[k]].kill();
            slots[k] = cluster.add_worker_with(&slot_args(k));
            kills += 1;
            next_kill += KILL_EVERY;
        }
        // Pacing only (two cores): not a synchronization wait.
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "seed {seed:x}: {} after {:?} and {kills} kills: {}",
        status["state"],
        started.elapsed(),
        status["counters"]
    );
    assert_eq!(status["state"], "succeeded", "seed {seed:x}: {status}");
    check_word_count_output(&out, N_REDUCE, files);
    kills
}

#[test]
fn a_kill_every_800ms_never_fails_a_64_map_job() {
    let tmp = tempfile::tempdir().unwrap();
    let files = inputs_n(N_MAPS);
    let kills: usize = SEEDS
        .iter()
        .map(|&seed| storm(&tmp.path().join(format!("{seed:x}")), seed, &files))
        .sum();
    // The storm really blew: every run saw several kills.
    assert!(kills >= SEEDS.len() * 3, "only {kills} kills");
}
