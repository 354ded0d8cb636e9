//! Chaos with real processes: a `chaos` job (a whitespace word count whose
//! maps sleep, so tasks take time) runs on a coordinator and three workers
//! while workers are SIGKILLed at moments drawn from a seeded PRNG — during
//! the maps, during the reduce phase, and while holding map output that
//! reduces fetch — and replacements are started so at least two stay alive.
//! The job must still succeed with output byte-identical to a fault-free
//! run, and no partial output file may ever be visible in the output folder.
//!
//! Waits poll with deadlines; nothing sleeps to synchronize. Every process
//! is killed when its guard drops.

use crate::common;

mod storm;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::procs::{dir_names, output_names, Cluster};
use common::{write_files, Prng};

/// Reduce tasks (output files) of every job.
const N_REDUCE: u32 = 4;

/// Input files (map tasks).
const N_FILES: usize = 24;

/// The app arguments: every map sleeps, so the map phase lasts a while.
/// Maps and reduces both take a while, so kills can land in either phase
/// (the reduce sleep is per key: about 40 keys per reduce task, so the
/// reduce phase lasts long enough for its kills on a loaded machine).
const APP_ARGS: [&str; 4] = ["--sleep-ms", "30", "--reduce-sleep-ms", "20"];

/// The seeds of the chaos runs.
const SEEDS: [u64; 3] = [0xc4a0_5001, 0xc4a0_5006, 0xc4a0_5007];

/// The longest one job may take, kills and recoveries included.
const JOB_DEADLINE: Duration = Duration::from_secs(30);

/// `N_FILES` deterministic inputs of a few KB: see [`inputs_n`].
fn inputs() -> Vec<(String, Vec<u8>)> {
    inputs_n(N_FILES)
}

/// `n` deterministic inputs of a few KB: words from a vocabulary (some
/// non-ASCII) separated by assorted whitespace.
fn inputs_n(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Prng::new(0xc0de_1a97);
    let mut vocabulary: Vec<String> = (0..150).map(|i| format!("w{i:03}")).collect();
    vocabulary.extend(
        [
            "the",
            "The",
            "ferry",
            "harbour",
            "Straße",
            "Ωμέγα",
            "日本",
            "naïve",
            "don't",
            "x²",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let separators = [" ", "  ", "\n", "\t", " \r\n", "\u{3000}"];
    (0..n)
        .map(|f| {
            let mut text = String::new();
            let words = 400 + rng.below(300);
            for _ in 0..words {
                let word: &String = rng.pick(&vocabulary);
                let separator: &&str = rng.pick(&separators);
                text.push_str(word);
                text.push_str(separator);
            }
            (format!("f{f:02}.txt"), text.into_bytes())
        })
        .collect()
}

/// The bytes of `mr-out-0..N_REDUCE` in `dir`.
fn output_bytes(dir: &Path) -> Vec<Vec<u8>> {
    (0..N_REDUCE)
        .map(|r| std::fs::read(dir.join(format!("mr-out-{r}"))).unwrap())
        .collect()
}

// ------------------------------------------------------------------ watcher

/// What the output watcher saw.
#[derive(Debug, Default)]
struct Watched {
    scans: u64,
    complete_files_seen: u64,
    violations: Vec<String>,
}

/// Lists `dir` over and over until told to stop: every `mr-out-N` present
/// must already be byte-identical to the reference, and nothing but
/// `mr-out-N`, the `_SUCCESS` manifest and the engine's hidden temporary
/// files may appear.
fn watch_output(
    dir: PathBuf,
    reference: Arc<Vec<Vec<u8>>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Watched> {
    std::thread::spawn(move || {
        let mut w = Watched::default();
        while !stop.load(Ordering::SeqCst) {
            w.scans += 1;
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    w.violations
                        .push(format!("cannot list {}: {e}", dir.display()));
                    break;
                }
            };
            for entry in entries {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                let index = name
                    .strip_prefix("mr-out-")
                    .and_then(|n| n.parse::<usize>().ok());
                match index {
                    Some(r) if r < reference.len() => match std::fs::read(dir.join(&name)) {
                        Ok(bytes) if bytes == reference[r] => w.complete_files_seen += 1,
                        Ok(bytes) => w.violations.push(format!(
                            "{name} was visible with {} bytes, not the final {} bytes",
                            bytes.len(),
                            reference[r].len()
                        )),
                        Err(e) => w
                            .violations
                            .push(format!("{name} listed but unreadable: {e}")),
                    },
                    _ if name.starts_with(".mr-out-") && name.ends_with(".tmp") => {}
                    // The manifest, written last when the job commits.
                    _ if name == "_SUCCESS"
                        || name.starts_with("._SUCCESS.") && name.ends_with(".tmp") => {}
                    _ => w.violations.push(format!("unexpected file {name}")),
                }
            }
            if w.violations.len() > 20 {
                break;
            }
            // Pacing only (two cores): this is not a synchronization wait.
            std::thread::sleep(Duration::from_millis(2));
        }
        w
    })
}

// ------------------------------------------------------------------ kills

/// When a planned kill fires.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// While maps run, once at least this many are done.
    MapsDone(u64),
    /// In the reduce phase: every map done, the job not ended.
    ReducePhase,
}

impl Trigger {
    fn ready(self, status: &serde_json::Value) -> bool {
        let maps_done = status["maps"]["done"].as_u64().unwrap();
        let maps_total = status["maps"]["total"].as_u64().unwrap();
        match self {
            Trigger::MapsDone(t) => maps_done >= t && maps_done < maps_total,
            Trigger::ReducePhase => maps_done == maps_total,
        }
    }
}

/// Three kills: the first during the maps (of a worker that already holds
/// map output), the second during the maps or the reduce phase, the third
/// in the reduce phase; each fires a random number of polls after its
/// trigger holds.
fn plan(rng: &mut Prng) -> Vec<(Trigger, u64)> {
    let first = 1 + rng.below(N_FILES as u64 / 4);
    let second = if rng.below(2) == 0 {
        Trigger::MapsDone(first + 1 + rng.below(N_FILES as u64 / 4))
    } else {
        Trigger::ReducePhase
    };
    vec![
        (Trigger::MapsDone(first), rng.below(3)),
        (second, rng.below(3)),
        (Trigger::ReducePhase, rng.below(4)),
    ]
}

/// One kill that happened (its fields are shown in the log).
#[derive(Debug)]
#[allow(dead_code)]
struct Kill {
    trigger: Trigger,
    /// `maps.done/total, reduces.done/total` when it fired.
    progress: String,
    victim: String,
    worker_id: u64,
    /// What the coordinator said the victim was running.
    running: String,
    /// Tasks the victim had finished (map output it may be serving).
    tasks_completed: u64,
}

/// SIGKILLs one alive, registered worker chosen with `rng` (for the
/// reduce phase, preferring one running a reduce, then one holding map
/// output), then starts a replacement.
fn kill_one(
    cluster: &mut Cluster,
    rng: &mut Prng,
    trigger: Trigger,
    status: &serde_json::Value,
) -> Option<Kill> {
    let alive = cluster.alive_workers();
    let mut candidates: Vec<(usize, serde_json::Value)> = Vec::new();
    for i in 0..cluster.workers.len() {
        if !cluster.workers[i].is_running() {
            continue;
        }
        let address = cluster.worker_address(i);
        if let Some(w) = alive.iter().find(|w| w["address"] == address.as_str()) {
            candidates.push((i, w.clone()));
        }
    }
    let holding: Vec<_> = candidates
        .iter()
        .filter(|(_, w)| w["tasks_completed"].as_u64().unwrap() > 0)
        .cloned()
        .collect();
    let reducing: Vec<_> = candidates
        .iter()
        .filter(|(_, w)| w["running"].as_str().unwrap().contains("reduce"))
        .cloned()
        .collect();
    let pool = match trigger {
        Trigger::ReducePhase if !reducing.is_empty() && rng.below(2) == 0 => reducing,
        _ if !holding.is_empty() => holding,
        _ => candidates,
    };
    if pool.is_empty() {
        return None;
    }
    let (i, w) = rng.pick(&pool).clone();
    cluster.workers[i].kill();
    cluster.add_worker();
    Some(Kill {
        trigger,
        progress: format!(
            "maps {}/{}, reduces {}/{}",
            status["maps"]["done"],
            status["maps"]["total"],
            status["reduces"]["done"],
            status["reduces"]["total"]
        ),
        victim: cluster.workers[i].name.clone(),
        worker_id: w["worker_id"].as_u64().unwrap(),
        running: w["running"].as_str().unwrap().to_string(),
        tasks_completed: w["tasks_completed"].as_u64().unwrap(),
    })
}

/// Whether the most recently started worker has registered.
fn newest_registered(cluster: &Cluster) -> bool {
    cluster
        .workers
        .last()
        .is_none_or(|w| !w.log_events("registered with the coordinator").is_empty())
}

/// Runs the job on a fresh cluster while killing workers as `seed` says;
/// checks the result against `reference`; returns the kills.
fn chaos_run(dir: &Path, seed: u64, files: &[PathBuf], reference: &Arc<Vec<Vec<u8>>>) -> Vec<Kill> {
    let mut rng = Prng::new(seed);
    let mut cluster = Cluster::start(&dir.join(format!("seed-{seed:x}")), 3);
    let out = dir.join(format!("out-{seed:x}"));
    let job = cluster.submit(files, &out, "chaos", N_REDUCE, &APP_ARGS);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_output(out.clone(), Arc::clone(reference), Arc::clone(&stop));

    let plan = plan(&mut rng);
    eprintln!("seed {seed:x}: plan (trigger, extra polls): {plan:?}");
    let mut plan = plan.into_iter().peekable();
    let mut kills = Vec::new();
    let mut waited_polls = 0;
    let deadline = Instant::now() + JOB_DEADLINE;
    let status = loop {
        assert!(
            Instant::now() < deadline,
            "seed {seed:x}: job {job} did not end within {JOB_DEADLINE:?}; kills so far: {kills:#?}"
        );
        let status = cluster.poll(job);
        if status["done"] == true {
            break status;
        }
        let Some(&(trigger, polls)) = plan.peek() else {
            continue;
        };
        if !trigger.ready(&status) || !newest_registered(&cluster) {
            continue;
        }
        if waited_polls < polls {
            waited_polls += 1;
            continue;
        }
        if let Some(kill) = kill_one(&mut cluster, &mut rng, trigger, &status) {
            eprintln!("seed {seed:x}: {kill:?}");
            kills.push(kill);
            plan.next();
            waited_polls = 0;
        }
    };

    stop.store(true, Ordering::SeqCst);
    let watched = watcher.join().unwrap();
    eprintln!("seed {seed:x}: job ended: {status}\nseed {seed:x}: watcher: {watched:?}");

    assert_eq!(status["state"], "succeeded", "seed {seed:x}: {status}");
    assert_eq!(status["failed"], false, "seed {seed:x}: {status}");
    assert_eq!(
        status["errors"],
        serde_json::json!([]),
        "seed {seed:x}: {status}"
    );
    assert!(
        plan.next().is_none(),
        "seed {seed:x}: the job ended before every planned kill fired: {kills:#?}"
    );
    assert_eq!(kills.len(), 3, "seed {seed:x}");
    // The first victim held finished map output, so some work was redone.
    let attempts = status["counters"]["task_attempts"].as_u64().unwrap();
    assert!(
        attempts > N_FILES as u64 + u64::from(N_REDUCE),
        "seed {seed:x}: {attempts} attempts, so no work was redone: {status}"
    );
    assert_eq!(
        dir_names(&out),
        output_names(N_REDUCE),
        "seed {seed:x}: the output folder holds exactly the output files"
    );
    for (r, (got, want)) in output_bytes(&out).iter().zip(reference.iter()).enumerate() {
        assert!(
            got == want,
            "seed {seed:x}: mr-out-{r} differs from the fault-free run ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
    assert!(
        watched.violations.is_empty(),
        "seed {seed:x}: partial or unexpected output was visible: {:#?}",
        watched.violations
    );
    assert!(watched.scans > 0, "seed {seed:x}: the watcher never looked");
    kills
}

#[test]
fn chaos_kills_keep_output_identical() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let files = inputs();
    let paths = write_files(&tmp.path().join("in"), &files);

    // The fault-free reference run.
    let reference = {
        let cluster = Cluster::start(&tmp.path().join("reference"), 2);
        let out = tmp.path().join("out-reference");
        let job = cluster.submit(&paths, &out, "chaos", N_REDUCE, &APP_ARGS);
        let status = cluster.wait_job(job, JOB_DEADLINE);
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(
            status["counters"]["task_attempts"],
            N_FILES as u64 + u64::from(N_REDUCE),
            "{status}"
        );
        assert_eq!(status["counters"]["task_failures"], 0, "{status}");
        common::check_word_count_output(&out, N_REDUCE, &files);
        output_bytes(&out)
    };
    let reference = Arc::new(reference);
    eprintln!("reference run done after {:?}", started.elapsed());

    let mut all = Vec::new();
    for seed in SEEDS {
        let t = Instant::now();
        all.extend(chaos_run(tmp.path(), seed, &paths, &reference));
        eprintln!("seed {seed:x} done in {:?}", t.elapsed());
    }

    // Across the seeds, kills hit the map phase, the reduce phase, and
    // workers holding map output that reduces needed.
    assert!(
        all.iter()
            .any(|k| matches!(k.trigger, Trigger::MapsDone(_))),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|k| matches!(k.trigger, Trigger::ReducePhase)),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|k| matches!(k.trigger, Trigger::ReducePhase) && k.tasks_completed > 0),
        "{all:#?}"
    );
    eprintln!(
        "{} kills, {} of them of a worker running a reduce; total {:?}",
        all.len(),
        all.iter().filter(|k| k.running.contains("reduce")).count(),
        started.elapsed()
    );
}
