//! Fault scenarios on a deterministic simulation of a whole cluster: the
//! real coordinator and workers as hosts of a `turmoil` simulation
//! (`sim/harness.rs`), with simulated time and network faults chosen at
//! exact points, so each run covers simulated minutes in well under a
//! second and asserts exact outcomes: job state, output against a
//! sequential run, which host ran which map, and the attempt counters.

mod harness;

use std::time::Duration;

use harness::{SimCluster, COORDINATOR, LATENCY, WORKER_TIMEOUT};
use mapreduce::client::JobState;

const SEED: u64 = 7;
const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_fault_free_job_matches_the_sequential_run() {
    let mut c = SimCluster::new(SEED, 6);
    c.add_worker("w1");
    c.add_worker("w2");
    c.submit(2);
    let job = c.finish(MINUTE);
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(job.counters.task_attempts, 6 + 2);
    assert_eq!(job.counters.task_failures, 0);
    let mut maps = c.maps_by("w1");
    maps.extend(c.maps_by("w2"));
    maps.sort();
    assert_eq!(maps, c.input_names(), "each input mapped once");
    c.assert_output_matches_sequential();
}

/// Sorted.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// (a) A worker host crashes in the map phase, right after running its first
/// map: its map output is gone with it, so once it is declared dead every
/// map it ran runs again on the survivor.
#[test]
fn a_worker_crashed_in_the_map_phase_has_its_maps_run_again() {
    let mut c = SimCluster::new(SEED, 6);
    c.add_worker("w1");
    c.add_worker("w2");
    c.submit(2);
    c.step_until(MINUTE, "w1 runs a map", |c| !c.maps_by("w1").is_empty());
    c.sim.crash("w1");
    let lost = c.maps_by("w1");
    let job = c.finish(MINUTE);
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(lost.len(), 1, "crashed right after its first map");
    assert_eq!(c.maps_by("w1"), lost, "nothing ran on w1 after the crash");
    assert_eq!(
        sorted(c.maps_by("w2")),
        c.input_names(),
        "w2 mapped every input once"
    );
    // Its report never left: the map was lost while running (one failed
    // attempt) and ran again on w2.
    assert_eq!(job.counters.task_attempts, 6 + 2 + 1);
    assert_eq!(job.counters.task_failures, 1);
    c.assert_output_matches_sequential();
}

/// (b) The link between a worker and the coordinator stalls (messages held,
/// as TCP would keep retransmitting them) past the worker timeout, then
/// heals: the worker is declared dead and its map runs again elsewhere; its
/// report, delivered late, changes nothing; told it is unknown, the worker
/// registers again under a new id.
#[test]
fn a_worker_cut_off_past_the_timeout_is_declared_dead_and_registers_again() {
    let mut c = SimCluster::new(SEED, 6);
    c.add_worker("w1");
    c.add_worker("w2");
    c.submit(2);
    c.step_until(MINUTE, "w1 runs a map", |c| !c.maps_by("w1").is_empty());
    c.sim.hold("w1", COORDINATOR);
    let cut_at = c.sim.elapsed();
    c.step_until(MINUTE, "w1 declared dead", |c| {
        c.worker_entries("w1")
            .first()
            .is_some_and(|w| w.state == "dead")
    });
    let dead_after = c.sim.elapsed() - cut_at;
    assert!(
        dead_after >= WORKER_TIMEOUT - Duration::from_secs(1) && dead_after < 2 * WORKER_TIMEOUT,
        "declared dead {dead_after:?} after the cut"
    );
    let job = c.finish(MINUTE);
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(c.maps_by("w1").len(), 1, "w1 could not get more work");
    assert_eq!(
        sorted(c.maps_by("w2")),
        c.input_names(),
        "w1's map ran again on w2"
    );
    assert_eq!(job.counters.task_attempts, 6 + 2 + 1);
    assert_eq!(job.counters.task_failures, 1);

    c.sim.release("w1", COORDINATOR);
    c.step_until(MINUTE, "w1 registers again", |c| {
        c.worker_entries("w1").len() == 2
    });
    c.run_for(Duration::from_secs(5));
    let entries = c.worker_entries("w1");
    assert_eq!(entries[0].state, "dead");
    assert_eq!(entries[1].state, "alive");
    assert!(entries[1].worker_id > entries[0].worker_id);
    assert_eq!(c.job(), Some(job), "the late report changed nothing");
    c.assert_output_matches_sequential();
}

/// (c) A map worker drops off the network once its maps are reported: the
/// reduce, on a worker that joined later, cannot fetch from it and fails
/// naming it; the reduce waits until the coordinator declares the map worker
/// dead, its maps run again, and the retried reduce succeeds.
#[test]
fn a_reduce_that_cannot_reach_a_map_worker_is_retried_after_it_is_declared_dead() {
    let mut c = SimCluster::new(SEED, 3);
    c.add_worker("w1");
    c.submit(1);
    c.step_until(MINUTE, "w1 runs every map", |c| c.maps_by("w1").len() == 3);
    // The last report reaches the coordinator; w1 never hears back.
    c.run_for(LATENCY + Duration::from_millis(2));
    c.sim.partition("w1", COORDINATOR);
    c.add_worker("w2");
    c.sim.partition("w1", "w2");
    let job = c.finish(MINUTE);
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(sorted(c.maps_by("w1")), c.input_names());
    assert_eq!(
        sorted(c.maps_by("w2")),
        c.input_names(),
        "w1's output was redone"
    );
    // Maps 3 on w1 + 3 again on w2, the reduce twice; the one failure is
    // the reduce's fetch (a finished map lost with its worker is no failed
    // attempt, and w2 ran each map once).
    assert_eq!(job.counters.task_attempts, 3 + 3 + 2);
    assert_eq!(job.counters.task_failures, 1);
    assert_eq!(c.worker_entries("w1")[0].state, "dead");
    c.assert_output_matches_sequential();
}
