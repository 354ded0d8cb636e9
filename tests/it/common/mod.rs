//! Shared helpers for the end-to-end tests: where the plugins are, input
//! files, a reader for `mr-out-<r>` files, and polling with a deadline.
//! Inputs for the bundled apps and independent sequential implementations
//! of them (the expected output of a job, computed without the engine's or
//! the apps' code) are in `apps.rs`; job submissions in `jobs.rs`, word
//! count checks in `words.rs`, certificates in `tls.rs`, real processes in
//! `procs/`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A library built in this workspace (`stem` like `mr_app_wc`): next to the
/// `mr` binary when `cargo build` put it there, else in `deps/`, where
/// `cargo test` leaves the cdylibs of dev-dependencies.
pub fn built_library(stem: &str) -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mr"))
        .parent()
        .expect("the mr binary has a parent folder");
    let name = format!(
        "{}{stem}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let uplifted = bin_dir.join(&name);
    let in_deps = bin_dir.join("deps").join(&name);
    // The newer of the two, in case an old `cargo build` left a stale copy.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&uplifted), modified(&in_deps)) {
        (Some(a), Some(b)) if a >= b => uplifted,
        (_, Some(_)) => in_deps,
        _ => uplifted,
    }
}

/// The library of the root package's example `name` (a test fixture such
/// as `fixture-incompatible-plugin`), built with `cargo build --example`
/// for the profile of the `mr` binary under test: `cargo test` builds
/// examples, but `cargo test --test it` does not. Fixtures live in
/// `target/<profile>/examples/`, never in the folder `mr` loads plugins
/// from.
pub fn example_library(name: &str) -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mr"))
        .parent()
        .expect("the mr binary has a parent folder");
    let target_dir = bin_dir.parent().expect("target/<profile>/");
    let mut cargo = std::process::Command::new(env!("CARGO"));
    // What `cargo test` sets for the test process only (the package's
    // metadata, its build script's OUT_DIR, which build scripts of
    // dependencies watch) would make this cargo rebuild half the tree.
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        let set_by_cargo_test = n == "OUT_DIR"
            || n == "CARGO_PRIMARY_PACKAGE"
            || [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|p| n.starts_with(p));
        if set_by_cargo_test {
            cargo.env_remove(&name);
        }
    }
    cargo
        .args(["build", "--offline", "--example", name, "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
        None => panic!("no profile folder in {}", bin_dir.display()),
    }
    let out = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?}: {e}"));
    assert!(
        out.status.success(),
        "{cargo:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin_dir.join("examples").join(format!(
        "{}{}.{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_EXTENSION
    ))
}

/// The apps built for the tests (`wc`, `grep`, `vertex-degree`, `sort`,
/// `chaos`), gathered into one plugin folder under the target directory:
/// `cargo test` builds their libraries (dev-dependencies of the root
/// package) but leaves them in `deps/`, among libraries that are not apps.
pub fn plugins_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_mr"))
            .parent()
            .expect("the mr binary has a parent folder");
        let dir = bin_dir.join("test-plugins");
        std::fs::create_dir_all(&dir).expect("create the test plugin folder");
        for stem in [
            "mr_app_wc",
            "mr_app_grep",
            "mr_app_vertex_degree",
            "mr_app_sort",
            "mr_app_chaos",
        ] {
            let src = built_library(stem);
            let name = src.file_name().expect("a file name").to_owned();
            let dst = dir.join(&name);
            let same = |a: &Path, b: &Path| {
                std::fs::read(a)
                    .ok()
                    .zip(std::fs::read(b).ok())
                    .is_some_and(|(x, y)| x == y)
            };
            if dst.is_file() && same(&src, &dst) {
                continue;
            }
            // Copied under a unique name, then renamed: test binaries may run
            // at the same time and must never load a half-written file.
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                std::process::id()
            ));
            std::fs::copy(&src, &tmp).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            std::fs::rename(&tmp, &dst).expect("rename the copied plugin");
        }
        dir
    })
    .clone()
}

/// Polls `probe` until it returns `Some`, at most `timeout`; panics with
/// `what` when the deadline passes.
pub fn poll_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ PRNG

/// SplitMix64: a tiny deterministic generator for test inputs.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A random element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ------------------------------------------------------------------ inputs

/// Writes `files` (relative name, contents) under `dir`, creating
/// subfolders; returns the absolute paths in the same order.
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, contents)| {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, contents).unwrap();
            path
        })
        .collect()
}

/// A path as a `String` (test paths are UTF-8).
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_string()
}

// ------------------------------------------------------------------ output files

/// The documented partition hash (64-bit FNV-1a from state 0, low 31 bits),
/// written here independently of the engine.
pub fn fnv_partition(key: &[u8], n_reduce: u32) -> u32 {
    let mut h: u64 = 0;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    ((h & 0x7fff_ffff) as u32) % n_reduce
}

/// Splits `buf` into frames (4-byte big-endian length, then the bytes).
pub fn parse_frames(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        assert!(pos + 4 <= buf.len(), "truncated frame length at byte {pos}");
        let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4;
        assert!(pos + len <= buf.len(), "truncated frame body at byte {pos}");
        frames.push(buf[pos..pos + len].to_vec());
        pos += len;
    }
    frames
}

/// Checks that `dir` holds exactly `mr-out-0..n_reduce` and the `_SUCCESS`
/// manifest (no temporary files left behind), that each is well-formed alternating key/value frames with
/// keys in strictly ascending byte order, each in its hash partition; returns
/// every record.
pub fn read_output_dir(dir: &Path, n_reduce: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..n_reduce).map(|r| format!("mr-out-{r}")).collect();
    want.push("_SUCCESS".to_string());
    want.sort();
    assert_eq!(names, want, "the files of output folder {}", dir.display());
    let mut records = Vec::new();
    for r in 0..n_reduce {
        let path = dir.join(format!("mr-out-{r}"));
        let frames = parse_frames(&std::fs::read(&path).unwrap());
        assert_eq!(
            frames.len() % 2,
            0,
            "{}: a key without a value",
            path.display()
        );
        let mut prev: Option<&Vec<u8>> = None;
        for pair in frames.chunks(2) {
            let key = &pair[0];
            if let Some(p) = prev {
                assert!(
                    p < key,
                    "{}: key {:?} is not after {:?}",
                    path.display(),
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(p)
                );
            }
            assert_eq!(
                fnv_partition(key, n_reduce),
                r,
                "{}: key {:?} is in the wrong partition",
                path.display(),
                String::from_utf8_lossy(key)
            );
            prev = Some(key);
            records.push((pair[0].clone(), pair[1].clone()));
        }
    }
    records
}

/// Decodes an 8-byte big-endian number.
pub fn be_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("an 8-byte big-endian value"))
}

/// `grep` records as `(path, file line number, line)`, sorted: each match
/// record's key is the path, a 0 byte, its split's 8-byte offset and its
/// 8-byte line number within the split; the record with line number
/// `u64::MAX` holds the split's line count, which numbers the lines of
/// later splits.
pub fn grep_matches(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, u64, Vec<u8>)> {
    let mut decoded: Vec<(Vec<u8>, u64, u64, &Vec<u8>)> = records
        .iter()
        .map(|(k, v)| {
            let (path, rest) = k.split_at(k.len() - 17);
            assert_eq!(rest[0], 0, "a 0 byte ends the path");
            (path.to_vec(), be_u64(&rest[1..9]), be_u64(&rest[9..]), v)
        })
        .collect();
    decoded.sort();
    let mut matches = Vec::new();
    let (mut path, mut before) = (Vec::new(), 0u64);
    for (p, _, local, value) in decoded {
        if p != path {
            (path, before) = (p.clone(), 0);
        }
        if local == u64::MAX {
            before += be_u64(value);
        } else {
            matches.push((String::from_utf8(p).unwrap(), before + local, value.clone()));
        }
    }
    matches
}

/// `wc` records (word bytes -> 8-byte count) as a map.
pub fn wc_records(records: &[(Vec<u8>, Vec<u8>)]) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for (k, v) in records {
        let word = String::from_utf8(k.clone()).expect("wc keys are UTF-8");
        assert!(
            map.insert(word, be_u64(v)).is_none(),
            "a word in two records"
        );
    }
    map
}

/// Counts how often each `(key)` occurs; used to spot duplicates.
pub fn key_counts(records: &[(Vec<u8>, Vec<u8>)]) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    for (k, _) in records {
        *m.entry(k.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn helpers_agree_with_the_documented_vectors() {
    // The published partition hash vectors (before `% n`).
    assert_eq!(fnv_partition(b"", u32::MAX), 0);
    assert_eq!(fnv_partition(b"a", u32::MAX), 42195);
    assert_eq!(fnv_partition(b"the", u32::MAX), 975051163);
    assert_eq!(fnv_partition(b"hello world", u32::MAX), 684268156);
    // Whole-word lowercasing: a final capital sigma becomes ς.
    let counts = word_counts(&["ΣΊΣΥΦΟΣ don't 123abc Straße"]);
    assert_eq!(counts.get("σίσυφος"), Some(&1));
    assert_eq!(counts.get("don"), Some(&1));
    assert_eq!(counts.get("t"), Some(&1));
    assert_eq!(counts.get("abc"), Some(&1));
    assert_eq!(expected_wc(&["b a B"]), "1\ta\n2\tb\n");
    let grep = expected_grep(
        &[
            ("/x/b/f".into(), "the\nno\nthem\n".into()),
            ("/x/a/g".into(), "no".into()),
        ],
        "the",
    );
    assert_eq!(grep, "f:\n\t1: the\n\t3: them\n");
    assert_eq!(
        expected_vertex_degree(&["# c\n1 2\n\n2 2\n"]),
        "1\t1\n2\t3\n"
    );
}

// ------------------------------------------------------------------ real processes

mod apps;
mod jobs;
pub mod procs;
mod tls;
mod words;

pub use apps::*;
pub use jobs::submission;
pub use tls::make_certs;
pub use words::check_word_count_output;
