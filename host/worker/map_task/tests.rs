//! Map task tests: with buffers far smaller than the output, spilling,
//! merging, combining and partitioning give the same runs as an unbounded
//! in-memory map.

use std::sync::Arc;

use plugin_api::frame::Frames;
use plugin_api::{AppError, Args, Emit, MapInput, Records, Values};

use super::*;
use crate::plugin::StaticApp;

/// Emits `word -> 1` for every whitespace-separated word; combiner and
/// reducer sum. No in-mapper combining, so the combiner has work to do.
#[derive(Default)]
struct Count;

fn sum(values: &mut dyn Values) -> Result<Vec<u8>, AppError> {
    let mut n = 0;
    while let Some(v) = values.next_value() {
        n += plugin_api::decode_u64(v)?;
    }
    Ok(u64::to_be_bytes(n).to_vec())
}

impl plugin_api::App for Count {
    const NAME: &'static str = "count";
    const HAS_COMBINER: bool = true;
    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        for w in input.contents.split(|b| b.is_ascii_whitespace()) {
            if !w.is_empty() {
                out.emit(w, &1u64.to_be_bytes());
            }
        }
        Ok(())
    }
    fn reduce(&self, _: &[u8], v: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        sum(v)
    }
    fn combine(&self, _: &[u8], v: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        sum(v)
    }
    fn format(&self, _: &mut dyn Records, _: &mut dyn std::io::Write) -> Result<(), AppError> {
        Ok(())
    }
}

/// Emits each line `key value` as is, with no combiner, routed to a range
/// partition by the key's first byte.
#[derive(Default)]
struct Ranged;

impl plugin_api::App for Ranged {
    const NAME: &'static str = "ranged";
    const HAS_PARTITIONER: bool = true;
    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        for line in input.contents.split(|b| *b == b'\n') {
            if let Some(sp) = line.iter().position(|b| *b == b' ') {
                out.emit(&line[..sp], &line[sp + 1..]);
            }
        }
        Ok(())
    }
    fn partition(&self, key: &[u8], n: u32, _: &Args<'_>) -> u32 {
        let first = u32::from(key.first().copied().unwrap_or(0));
        if key == b"!bad" {
            return n;
        }
        first * n / 256
    }
    fn reduce(&self, _: &[u8], _: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        Ok(Vec::new())
    }
    fn format(&self, _: &mut dyn Records, _: &mut dyn std::io::Write) -> Result<(), AppError> {
        Ok(())
    }
}

type Partitions = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

/// A deterministic pseudo-random text of `n` words over a vocabulary of
/// `vocab` words.
fn text(n: usize, vocab: u64) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("w{} ", x % vocab).as_bytes());
    }
    out
}

struct Setup {
    _parent: tempfile::TempDir,
    dir: WorkDir,
    memory: Arc<MemoryBudget>,
    limits: MemoryLimits,
}

fn setup(map_buffer: usize, store: usize) -> Setup {
    let parent = tempfile::tempdir().unwrap();
    Setup {
        dir: WorkDir::new(parent.path()),
        _parent: parent,
        memory: Arc::new(MemoryBudget::new(store)),
        limits: MemoryLimits {
            map_buffer,
            store,
            reduce_fetch: 0,
            merge_buffers: 4096,
            map_call: 1 << 20,
        },
    }
}

fn run(
    app: &dyn LoadedApp,
    s: &Setup,
    contents: &[u8],
    n_reduce: u32,
) -> Result<(Partitions, MapResult), MapError> {
    let cfg = MapConfig {
        limits: s.limits,
        memory: &s.memory,
        work_dir: &s.dir,
    };
    let result = run_map(app, "in", contents, &[], n_reduce, cfg)?;
    let parts = result
        .partitions
        .iter()
        .map(|run| {
            let bytes = run.to_bytes().unwrap();
            let frames: Vec<&[u8]> = Frames::new(&bytes).map(|f| f.unwrap()).collect();
            frames
                .chunks(2)
                .map(|kv| (kv[0].to_vec(), kv[1].to_vec()))
                .collect()
        })
        .collect();
    Ok((parts, result))
}

fn is_disk(run: &Run) -> bool {
    matches!(run, Run::Disk(_))
}

#[test]
fn small_output_stays_in_memory_and_is_charged_to_the_store() {
    let s = setup(1 << 20, 1 << 20);
    let app = StaticApp(Count);
    let (parts, result) = run(&app, &s, b"b a b c", 2).unwrap();
    assert_eq!(result.stats.spills, 0);
    assert!(!result.partitions.iter().any(is_disk));
    assert_eq!(s.memory.used() as u64, result.stats.bytes);
    let all: Vec<_> = parts.concat();
    assert_eq!(all.len(), 3, "one combined record per word");
    drop(result);
    assert_eq!(
        s.memory.used(),
        0,
        "dropping the output gives the memory back"
    );
}

#[test]
fn spilled_and_combined_output_equals_the_in_memory_output() {
    // ~600 KB of words with a 16 KiB buffer: dozens of spills.
    let input = text(100_000, 5_000);
    let app = StaticApp(Count);
    let unbounded = setup(usize::MAX / 2, usize::MAX / 2);
    let (want, r0) = run(&app, &unbounded, &input, 3).unwrap();
    assert_eq!(r0.stats.spills, 0);
    let bounded = setup(16 << 10, 0);
    let (got, r1) = run(&app, &bounded, &input, 3).unwrap();
    assert!(r1.stats.spills > 10, "spilled {} times", r1.stats.spills);
    assert!(r1.partitions.iter().all(is_disk));
    assert_eq!(got, want);
    assert_eq!(r1.stats.records, r0.stats.records);
    assert_eq!(r1.stats.bytes, r0.stats.bytes);
    // Every key once per partition, sorted, with the right total.
    let mut total = 0;
    for part in &got {
        assert!(part.windows(2).all(|w| w[0].0 < w[1].0));
        for (k, v) in part {
            assert_eq!(
                plugin_api::ihash(k) % 3,
                got.iter().position(|p| p == part).unwrap() as u32
            );
            total += u64::from_be_bytes(v[..].try_into().unwrap());
        }
    }
    assert_eq!(total, 100_000);
    // The spill files are gone; only the merged output file remains
    // (beside the folder's hidden lock file).
    let files = || {
        std::fs::read_dir(bounded.dir.created().unwrap())
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
    };
    assert_eq!(files(), 1);
    drop(r1);
    assert_eq!(files(), 0, "dropping the output deletes its file");
}

#[test]
fn without_a_combiner_spilling_keeps_every_value_in_emission_order() {
    let mut input = Vec::new();
    for i in 0..20_000u32 {
        input.extend_from_slice(
            format!("{} {i}\n", ["k", "z", "a", "m"][i as usize % 4]).as_bytes(),
        );
    }
    let app = StaticApp(Ranged);
    let (want, _) = run(&app, &setup(usize::MAX / 2, usize::MAX / 2), &input, 4).unwrap();
    let bounded = setup(8 << 10, 0);
    let (got, r) = run(&app, &bounded, &input, 4).unwrap();
    assert!(r.stats.spills > 5);
    assert_eq!(got, want);
    assert_eq!(r.stats.records, 20_000);
    // Range partitions: 'a' < 'k' < 'm' < 'z', partition = first byte * 4 / 256.
    for (p, part) in got.iter().enumerate() {
        for (k, _) in part {
            assert_eq!(u32::from(k[0]) * 4 / 256, p as u32);
        }
    }
    let k_values: Vec<u32> = got
        .concat()
        .iter()
        .filter(|(k, _)| k == b"k")
        .map(|(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap())
        .collect();
    assert_eq!(k_values, (0..20_000).step_by(4).collect::<Vec<u32>>());
}

#[test]
fn output_goes_to_disk_when_the_store_is_full() {
    let s = setup(1 << 20, 10);
    let (parts, result) = run(&StaticApp(Count), &s, b"a b c d e f", 2).unwrap();
    assert_eq!(result.stats.spills, 1);
    assert!(result.partitions.iter().all(is_disk));
    assert!(result.charge.is_none());
    assert_eq!(parts.concat().len(), 6);
    assert_eq!(s.memory.used(), 0);
}

#[test]
fn a_partition_out_of_range_fails_the_task() {
    let s = setup(1 << 20, 1 << 20);
    let err = run(&StaticApp(Ranged), &s, b"a 1\n!bad 2\n", 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the app's partitioner returned 3 for 3 partitions"
    );
}

/// The buffer's sort (prefix, then length or tail) orders keys as plain byte
/// comparison does, groups exactly the equal keys, and keeps emission order
/// among them: keys with zero bytes, of 0 to 33 bytes, sharing prefixes.
#[test]
fn buffer_sort_orders_keys_bytewise_and_groups_equal_ones() {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let alphabet: [&[u8]; 4] = [b"", b"\0", b"a", b"\xff"];
    for len in 0..=33usize {
        for (i, fill) in alphabet.iter().enumerate() {
            let mut k = b"abcdefgh".repeat(5)[..len].to_vec();
            if let Some(last) = k.last_mut() {
                *last = fill.first().copied().unwrap_or(b'z');
            }
            keys.push(k.clone());
            k.extend_from_slice(fill);
            keys.push(k);
            keys.push(vec![i as u8; len]);
        }
    }
    let mut buf = PartitionBuf::default();
    // Enough rounds that a sort by key alone would reorder equal keys.
    for round in 0..40u32 {
        for k in keys.iter().rev() {
            buf.push(k, &round.to_be_bytes()).expect("short key");
        }
    }
    buf.sort();
    let sorted: Vec<(&[u8], &[u8])> = buf
        .index
        .iter()
        .map(|e| (buf.key_of(e), buf.value_of(e)))
        .collect();
    let mut expected: Vec<(&[u8], &[u8])> = sorted.clone();
    expected.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    assert_eq!(sorted, expected, "bytewise order, rounds in emission order");
    for w in buf.index.windows(2) {
        let equal = buf.key_of(&w[0]) == buf.key_of(&w[1]);
        assert_eq!(buf.same_key(&w[0], &w[1]), equal);
    }
}
