//! Bounded-memory end-to-end tests: in-process clusters whose workers get a
//! memory limit far below the data they handle (256 KiB against megabytes),
//! so map output spills to sorted runs on disk, the store serves runs from
//! disk, reduces fetch to disk and merge by streaming. The outputs must be
//! exactly those of sequential implementations, and the scratch files must
//! be gone once the job's data is dropped and the workers stop.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mapreduce::client::{Client, JobState, JobView, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::coordinator::CoordinatorConfig;
use mapreduce::plugin::Registry;

use common::{
    grep_matches, parse_frames, plugins_dir, poll_until, read_output_dir, wc_records, word_counts,
    write_files, Prng,
};

const DEADLINE: Duration = Duration::from_secs(60);
const MEMORY_LIMIT: u64 = 256 << 10;

fn registry() -> Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let registry = Registry::load_dirs(&[plugins_dir()]).expect("loading the plugins");
            for app in ["wc", "sort", "grep"] {
                assert!(registry.get(app).is_some(), "no {app} plugin");
            }
            Arc::new(registry)
        })
        .clone()
}

/// A 2-worker cluster whose workers may hold `MEMORY_LIMIT` bytes and keep
/// their scratch folders under `work`.
async fn start(work: &Path) -> LocalCluster {
    let work = work.to_path_buf();
    LocalCluster::start_with(CoordinatorConfig::new(registry()), 2, move |mut c| {
        c.memory_limit = MEMORY_LIMIT;
        c.work_dir = work.clone();
        c
    })
    .await
    .expect("starting the cluster")
}

async fn run(
    cluster: &LocalCluster,
    files: &[PathBuf],
    out: &Path,
    app: &str,
    args: &[&str],
    n_reduce: u32,
) -> JobView {
    let client = Client::connect(cluster.url()).await.expect("connecting");
    let id = client
        .submit(Submission {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..crate::common::submission(app, files, out, n_reduce)
        })
        .await
        .expect("submitting");
    let view = tokio::time::timeout(DEADLINE, client.wait(id, |_| {}))
        .await
        .expect("the job ends in time")
        .expect("following the job");
    assert_eq!(view.state, JobState::Succeeded, "{view:#?}");
    view
}

/// Files under `root`, recursively, but for each scratch folder's `.lock`
/// (held by its live worker, gone with the folder).
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if e.file_name() != ".lock" {
            out.push(p);
        }
    }
    out
}

/// Checks both workers spilled, waits until the job's data is dropped (no
/// scratch files left), stops the cluster and checks the scratch folders
/// are gone.
async fn finish(cluster: LocalCluster, work: &Path) {
    // Both workers went to disk: each created its scratch folder.
    let dirs = std::fs::read_dir(work).unwrap().flatten().count();
    assert_eq!(dirs, 2, "scratch folders of the two workers");
    poll_until("scratch files removed after the job", DEADLINE, || {
        files_under(work).is_empty().then_some(())
    });
    cluster.shutdown().await;
    let left: Vec<_> = std::fs::read_dir(work).unwrap().flatten().collect();
    assert!(left.is_empty(), "scratch folders left: {left:?}");
}

/// Text with a Zipf-like word distribution over a large vocabulary (with
/// some non-ASCII words), so each map task's output outgrows the limit.
fn zipf_text(rng: &mut Prng, words: usize) -> String {
    let mut text = String::new();
    for i in 0..words {
        // Log-uniform rank (density ~ 1/rank): many common words and a
        // long tail of rare ones.
        let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
        let rank = 200_000f64.powf(u) as u64;
        // Words are letters only: spell the rank in base 26.
        let mut word = String::new();
        let mut r = rank;
        loop {
            word.push(char::from(b'a' + (r % 26) as u8));
            r /= 26;
            if r == 0 {
                break;
            }
        }
        match rank % 11 {
            0 => text.push_str(&format!("Ωμέγα{word} ")),
            1 => text.push_str(&format!("{} ", word.to_uppercase())),
            _ => text.push_str(&format!("{word} ")),
        }
        if i % 13 == 0 {
            text.push('\n');
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wc_far_beyond_the_memory_limit_spills_and_counts_exactly() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut rng = Prng::new(4);
    let inputs: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| {
            (
                format!("in-{i}.txt"),
                zipf_text(&mut rng, 200_000).into_bytes(),
            )
        })
        .collect();
    let total: usize = inputs.iter().map(|(_, c)| c.len()).sum();
    assert!(total as u64 > 8 * MEMORY_LIMIT, "inputs of {total} bytes");
    let files = write_files(data.path(), &inputs);
    let out = data.path().join("out");
    let cluster = start(work.path()).await;
    let view = run(&cluster, &files, &out, "wc", &[], 3).await;
    assert!(view.counters.reduce_output_records > 0);
    let texts: Vec<String> = inputs
        .iter()
        .map(|(_, c)| String::from_utf8(c.clone()).unwrap())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_eq!(wc_records(&read_output_dir(&out, 3)), word_counts(&refs));
    finish(cluster, work.path()).await;
}

/// `n` sort-benchmark ASCII records (10-byte key, 88 bytes, `\r\n`), every
/// tenth key repeating the one before.
fn sort_records(rng: &mut Prng, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 100);
    let mut key = [b'a'; 10];
    for i in 0..n {
        if i % 10 != 9 {
            for b in &mut key {
                *b = b' ' + rng.below(95) as u8;
            }
        }
        out.extend_from_slice(&key);
        out.extend((0..88).map(|_| b' ' + rng.below(95) as u8));
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_far_beyond_the_memory_limit_is_complete_and_globally_sorted() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut rng = Prng::new(9);
    let inputs: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("recs-{i}"), sort_records(&mut rng, 8_000)))
        .collect();
    let files = write_files(data.path(), &inputs);
    let out = data.path().join("out");
    let cluster = start(work.path()).await;
    run(&cluster, &files, &out, "sort", &[], 5).await;
    // Concatenate the outputs in partition order, printing records as
    // `mr process` does (key then each framed value).
    let mut got: Vec<Vec<u8>> = Vec::new();
    for r in 0..5 {
        let frames = parse_frames(&std::fs::read(out.join(format!("mr-out-{r}"))).unwrap());
        for pair in frames.chunks(2) {
            for value in parse_frames(&pair[1]) {
                got.push([&pair[0][..], &value[..]].concat());
            }
        }
    }
    let mut want: Vec<Vec<u8>> = inputs
        .iter()
        .flat_map(|(_, c)| c.chunks(100).map(<[u8]>::to_vec))
        .collect();
    want.sort();
    assert_eq!(got.len(), want.len(), "every record exactly once");
    assert!(got == want, "output not globally sorted or records differ");
    finish(cluster, work.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_output_larger_than_the_memory_limit_is_complete() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let line = "a line with the common term and some padding to make it long\n";
    let inputs: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("g-{i}.txt"), line.repeat(8_000).into_bytes()))
        .collect();
    let files = write_files(data.path(), &inputs);
    let out = data.path().join("out");
    let cluster = start(work.path()).await;
    let view = run(&cluster, &files, &out, "grep", &["--term", "common"], 2).await;
    assert!(view.counters.reduce_output_bytes > MEMORY_LIMIT * 4);
    // One record per matching line, plus each file's line count.
    let records = read_output_dir(&out, 2);
    assert_eq!(
        records.len(),
        3 * 8_000 + 3,
        "every matching line exactly once"
    );
    let mut per_file = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for (path, n, value) in grep_matches(&records) {
        assert_eq!(format!("{}\n", String::from_utf8_lossy(&value)), line);
        per_file.entry(path).or_default().push(n);
    }
    assert_eq!(per_file.len(), 3);
    for numbers in per_file.values_mut() {
        numbers.sort_unstable();
        assert_eq!(*numbers, (1..=8_000).collect::<Vec<u64>>());
    }
    finish(cluster, work.path()).await;
}
