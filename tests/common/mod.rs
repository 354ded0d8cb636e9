//! Shared helpers for the end-to-end tests: where the plugins are, input
//! generators, independent sequential implementations of the bundled apps
//! (the expected output of a job, computed without the engine's or the apps'
//! code), a reader for `mr-out-<r>` files, and polling with a deadline.

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

const PARAGRAPH_1: &str = "\
It was late in the afternoon when the ferry finally left the harbour. The
passengers, tired of waiting, crowded to the rail and watched the town
shrink behind them: the church, the market, the long grey wall of the
warehouse where the fishermen mended their nets. Nobody spoke. The sea was
calm, the sky was the colour of old pewter, and the gulls followed the boat
as if they, too, had somewhere better to be.
";

const PARAGRAPH_2: &str = "\
\"Are you certain?\" asked the captain. \"Certain,\" said the engineer, and
wiped his hands on a rag that was dirtier than they were. They had argued
about the boiler for three days; the boiler, indifferent, had kept on
working. On the fourth day it stopped. The silence afterwards was the
loudest thing either of them had ever heard -- louder than the storm of
'98, louder than the captain's temper, louder than the rain.
";

/// Inputs for `wc`: non-ASCII text (sharp s, Greek with final sigma, accents,
/// an apostrophe, digits glued to letters, CJK, Hangul, titlecase and
/// combining marks), mixed case and separators, two prose paragraphs, an
/// empty file and a generated file with many repeated words (so counts tie
/// and the word order decides).
pub fn wc_inputs() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "unicode.txt".into(),
            "Straße STRASSE Ωμέγα ΣΊΣΥΦΟΣ naïve café don't 123abc\n\
             ΣΊΣΥΦΟΣ σίσυφος ὈΔΥΣΣΕΎΣ ΑΣ İstanbul ǅemal Ǆ ǆ Ꭰꭰ\n\
             cafe\u{301} CAFÉ Naïve NAÏVE ﬁne ＦＵＬＬ\u{3000}ｗｉｄｔｈ x²y ½ ⅫⅪ\n"
                .into(),
        ),
        (
            "cjk.txt".into(),
            "日本語のテキスト、中文字符。한국어 텍스트! 日本語\n東京タワー 東京 とうきょう 中文字符\n".into(),
        ),
        (
            "mixed.txt".into(),
            "Hello hello HELLO hElLo world, WORLD! foo_bar foo-bar x1y2z3 \t tabs\ttabs\r\n\
             CRLF line\r\nend-of-file-without-newline"
                .into(),
        ),
        ("paragraph-1.txt".into(), PARAGRAPH_1.into()),
        ("paragraph-2.txt".into(), PARAGRAPH_2.into()),
        ("empty.txt".into(), Vec::new()),
    ];
    let vocabulary = [
        "alpha",
        "Beta",
        "GAMMA",
        "delta",
        "Ωμέγα",
        "straße",
        "the",
        "The",
        "a",
        "zebra",
        "Über",
        "über",
        "日本",
    ];
    let separators = [" ", "  ", "\n", ", ", ". ", "\t", "--", "'", "7"];
    let mut rng = Prng::new(0x5eed_0001);
    let mut generated = String::new();
    for _ in 0..3000 {
        let word: &&str = rng.pick(&vocabulary);
        let separator: &&str = rng.pick(&separators);
        generated.push_str(word);
        generated.push_str(separator);
    }
    files.push(("generated/words.txt".into(), generated.into_bytes()));
    files
}

/// Inputs for `grep -- --term the`: files in several folders (so the
/// full-path order differs from the base-name order, and two files share a
/// base name), a file without matches, CRLF line ends, case and substring
/// matches, empty lines and a last line without a newline.
pub fn grep_inputs() -> Vec<(String, Vec<u8>)> {
    vec![
        ("b/alpha.txt".into(), PARAGRAPH_1.into()),
        ("a/zeta.txt".into(), PARAGRAPH_2.into()),
        (
            "a/nomatch.txt".into(),
            "nothing to see here\nTHE upper case does not count\nThe neither\n".into(),
        ),
        (
            "c/crlf.txt".into(),
            "first line\r\nthere is the term\r\n\r\nnot here\r\nother things\r\nthe end".into(),
        ),
        (
            "a/notes.txt".into(),
            "the first notes\n\nsecond line\n  indented the\n".into(),
        ),
        (
            "b/notes.txt".into(),
            "no match\nbreathe: ünïcödé the ∑ line\n".into(),
        ),
        ("c/empty.txt".into(), Vec::new()),
    ]
}

/// Inputs for `vertex-degree`: a deterministic random graph over a few
/// hundred vertices plus some huge ids, split into files, with SNAP-style
/// comments, blank lines, tabs, leading/trailing spaces and self-loops.
pub fn vertex_degree_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = Prng::new(0xdead_beef);
    let huge = [u64::MAX, u64::MAX - 1, 1 << 40, 4_294_967_296, 256];
    let mut files = Vec::new();
    for f in 0..4 {
        let mut text = format!("# Directed graph: part {f}\n# FromNodeId\tToNodeId\n");
        for i in 0..400 {
            let vertex = |rng: &mut Prng| {
                if rng.below(50) == 0 {
                    *rng.pick(&huge)
                } else {
                    rng.below(300)
                }
            };
            let from = vertex(&mut rng);
            let to = if rng.below(40) == 0 {
                from
            } else {
                vertex(&mut rng)
            };
            let line = match i % 7 {
                0 => format!("{from}\t{to}\n"),
                1 => format!("  {from}   {to}  \n"),
                2 => format!("{from} {to}\n\n"),
                3 => format!("{from} {to}\n   # an indented comment\n"),
                _ => format!("{from} {to}\n"),
            };
            text.push_str(&line);
        }
        files.push((format!("graph-{f}.txt"), text.into_bytes()));
    }
    files.push(("single-edge-no-newline.txt".into(), "7 7".into()));
    files
}

// ------------------------------------------------------------------ expectations

/// Word counts: words are maximal runs of alphabetic chars, each lowercased
/// as a whole.
pub fn word_counts(texts: &[&str]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for text in texts {
        let mut word = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_alphabetic() {
                word.push(c);
            } else if !word.is_empty() {
                *counts.entry(word.to_lowercase()).or_insert(0) += 1;
                word.clear();
            }
        }
    }
    counts
}

/// `wc`'s formatted output: `count\tword` lines by count, then word bytes.
pub fn expected_wc(texts: &[&str]) -> String {
    let mut rows: Vec<(u64, String)> = word_counts(texts)
        .into_iter()
        .map(|(w, c)| (c, w))
        .collect();
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    rows.iter().map(|(c, w)| format!("{c}\t{w}\n")).collect()
}

/// `grep`'s formatted output for `term` over `files` (path as submitted,
/// contents): by path, the base name then each matching line.
pub fn expected_grep(files: &[(String, String)], term: &str) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (path, text) in sorted {
        let hits: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(term))
            .map(|(i, l)| (i + 1, l))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let base = path.rsplit('/').next().unwrap();
        out.push_str(&format!("{base}:\n"));
        for (n, line) in hits {
            out.push_str(&format!("\t{n}: {line}\n"));
        }
    }
    out
}

/// Vertex degrees of the edge lists in `texts` (blank and `#` lines skipped).
pub fn degrees(texts: &[&str]) -> BTreeMap<u64, u64> {
    let mut deg = BTreeMap::new();
    for text in texts {
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let ends: Vec<u64> = t.split_whitespace().map(|f| f.parse().unwrap()).collect();
            assert_eq!(ends.len(), 2, "bad test input line {line:?}");
            for v in ends {
                *deg.entry(v).or_insert(0) += 1;
            }
        }
    }
    deg
}

/// `vertex-degree`'s formatted output: `vertex\tdegree` lines by vertex.
pub fn expected_vertex_degree(texts: &[&str]) -> String {
    degrees(texts)
        .iter()
        .map(|(v, d)| format!("{v}\t{d}\n"))
        .collect()
}

/// The contents of `files` as text.
pub fn texts(files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(_, c)| String::from_utf8(c.clone()).expect("test inputs are UTF-8"))
        .collect()
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

/// Checks that `dir` holds exactly `mr-out-0..n_reduce` (no temporary files
/// left behind), that each is well-formed alternating key/value frames with
/// keys in strictly ascending byte order, each in its hash partition; returns
/// every record.
pub fn read_output_dir(dir: &Path, n_reduce: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..n_reduce).map(|r| format!("mr-out-{r}")).collect();
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

/// Helpers for fault-tolerance tests with real processes (`tests/chaos.rs`,
/// `tests/faults_processes.rs`): `mr coordinator` / `mr worker` processes
/// logging JSON lines into files, killed and reaped on drop; `mr` client
/// commands run to their end with a deadline; a [`procs::Cluster`] whose
/// workers come and go.
pub mod procs {
    use std::ffi::OsString;
    use std::fs::File;
    use std::io::Read;
    use std::net::{SocketAddr, TcpListener};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::{path_str, plugins_dir, poll_until};

    /// The longest a single step (a command, a server start, a registration)
    /// may take.
    pub const STEP: Duration = Duration::from_secs(20);

    /// The coordinator's `--worker-timeout-ms`.
    pub const WORKER_TIMEOUT_MS: u64 = 1000;

    /// The workers' (and the coordinator's) `--heartbeat-interval-ms`.
    pub const HEARTBEAT_MS: u64 = 100;

    /// An `mr` command with a clean environment (no ambient coordinator,
    /// plugin, token, log or backtrace settings).
    pub fn mr() -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mr"));
        c.env_remove("MR_COORDINATOR")
            .env_remove("MR_PLUGINS")
            .env_remove("MR_PLUGIN_CACHE")
            .env_remove("MR_CLIENT_TOKEN")
            .env_remove("MR_WORKER_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    /// A child process killed and reaped when dropped.
    pub struct Kill(pub Child);

    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A port that was free a moment ago.
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, ...) to `pid` with `kill(1)`.
    pub fn send_signal(pid: u32, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill -{signal} {pid}: {e}"));
        assert!(
            status.success(),
            "kill -{signal} {pid} exited with {status}"
        );
    }

    /// A temporary folder whose path contains none of `avoid` (the chaos
    /// app matches its `--*-on SUBSTR` options against whole input paths).
    pub fn tempdir_without(avoid: &[&str]) -> tempfile::TempDir {
        loop {
            let dir = tempfile::Builder::new()
                .prefix("mr-faults")
                .tempdir()
                .unwrap();
            let p = path_str(dir.path());
            if !avoid.iter().any(|a| p.contains(a)) {
                return dir;
            }
        }
    }

    /// Makes `dir` a plugin folder holding only the `chaos` app (a link to
    /// the built library): servers hash every plugin they load, so one
    /// library starts them faster than all of them.
    pub fn chaos_plugins(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let lib = format!(
            "{}mr_app_chaos.{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_EXTENSION
        );
        let target = plugins_dir().join(&lib);
        assert!(target.is_file(), "no chaos plugin at {}", target.display());
        let link = dir.join(&lib);
        if !link.exists() {
            std::os::unix::fs::symlink(&target, &link).unwrap();
        }
        dir.to_path_buf()
    }

    // -------------------------------------------------------------- servers

    /// A server process logging JSON lines into `log`; killed (SIGKILL) and
    /// reaped on drop unless it already exited.
    pub struct Server {
        /// A short name (`coordinator-0`, `worker-3`).
        pub name: String,
        /// The process.
        pub child: Child,
        /// Its log file (stdout and stderr).
        pub log: PathBuf,
        exit: Option<ExitStatus>,
    }

    impl Server {
        /// Starts `mr --log-format json ARGS`, logging into `logs/NAME.log`
        /// and caching plugin copies in `logs/../plugin-cache`.
        pub fn spawn(logs: &Path, name: &str, args: &[OsString]) -> Server {
            std::fs::create_dir_all(logs).unwrap();
            let log = logs.join(format!("{name}.log"));
            let file = File::create(&log).unwrap();
            let cache = logs.parent().unwrap_or(logs).join("plugin-cache");
            let mut cmd = mr();
            cmd.env("MR_PLUGIN_CACHE", cache)
                .args(["--log-format", "json"])
                .args(args)
                .stdout(Stdio::from(file.try_clone().unwrap()))
                .stderr(Stdio::from(file));
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
            Server {
                name: name.to_string(),
                child,
                log,
                exit: None,
            }
        }

        /// The process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The exit status, once it exited (reaps it).
        pub fn exit_status(&mut self) -> Option<ExitStatus> {
            if self.exit.is_none() {
                self.exit = self.child.try_wait().unwrap();
            }
            self.exit
        }

        /// Whether the process is still running.
        pub fn is_running(&mut self) -> bool {
            self.exit_status().is_none()
        }

        /// SIGKILLs the process and reaps it.
        pub fn kill(&mut self) -> ExitStatus {
            if let Some(s) = self.exit_status() {
                return s;
            }
            let _ = self.child.kill();
            let status = self.child.wait().unwrap();
            self.exit = Some(status);
            status
        }

        /// Sends `signal` with `kill(1)`.
        pub fn signal(&self, signal: &str) {
            send_signal(self.pid(), signal);
        }

        /// Waits at most `timeout` for the process to exit.
        pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
            let what = format!("{} (pid {}) to exit", self.name, self.pid());
            poll_until(&what, timeout, || self.exit_status())
        }

        /// The whole log.
        pub fn log_text(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        /// The log's JSON lines whose message is `message` (lines that are
        /// not JSON, like a panic's backtrace, are skipped).
        pub fn log_events(&self, message: &str) -> Vec<serde_json::Value> {
            self.log_text()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["fields"]["message"] == message)
                .collect()
        }

        /// How many of the log's JSON lines have a message containing
        /// `part`.
        pub fn log_count_containing(&self, part: &str) -> usize {
            self.log_text()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| {
                    v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(part))
                })
                .count()
        }

        /// Field `field` of the first log line whose message is `message`.
        pub fn log_field(&self, message: &str, field: &str) -> Option<String> {
            self.log_events(message)
                .first()
                .map(|v| match &v["fields"][field] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        }

        /// The last `n` lines of the log.
        pub fn log_tail(&self, n: usize) -> String {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.kill();
        }
    }

    // -------------------------------------------------------------- commands

    /// What a finished client command printed.
    #[derive(Debug)]
    pub struct CmdOutput {
        /// The command line.
        pub what: String,
        /// Its exit status.
        pub status: ExitStatus,
        /// Its stdout.
        pub stdout: String,
        /// Its stderr.
        pub stderr: String,
    }

    impl CmdOutput {
        /// Panics, showing everything, unless the command exited with 0.
        pub fn ok(self) -> Self {
            assert!(self.status.success(), "{self:#?}");
            self
        }

        /// Stdout as JSON.
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.stdout)
                .unwrap_or_else(|e| panic!("{} printed no JSON ({e}): {self:#?}", self.what))
        }
    }

    fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    }

    /// Runs `mr ARGS` to its end (at most [`STEP`]; killed after that).
    pub fn run_mr<I, S>(args: I) -> CmdOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = mr();
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not exit within {STEP:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let text =
            |h: JoinHandle<Vec<u8>>| String::from_utf8_lossy(&h.join().unwrap()).into_owned();
        CmdOutput {
            what,
            status,
            stdout: text(stdout),
            stderr: text(stderr),
        }
    }

    // -------------------------------------------------------------- cluster

    /// A coordinator and workers as separate processes, with the `chaos`
    /// app only ([`chaos_plugins`]). Workers are never removed from
    /// [`Cluster::workers`] (killed ones stay, exited), so an index names
    /// one process for the whole test.
    pub struct Cluster {
        /// Where the logs go.
        pub logs: PathBuf,
        /// The plugin folder of every server.
        pub plugins: PathBuf,
        /// The coordinator's address.
        pub addr: SocketAddr,
        /// `http://ADDR`.
        pub url: String,
        /// The coordinator (`None` while it is down).
        pub coordinator: Option<Server>,
        /// Coordinators that were stopped, kept for their logs.
        pub old_coordinators: Vec<Server>,
        /// Every worker started, in order.
        pub workers: Vec<Server>,
    }

    impl Cluster {
        /// Starts a coordinator (worker timeout [`WORKER_TIMEOUT_MS`]) on a
        /// free port and `workers` workers heartbeating every
        /// [`HEARTBEAT_MS`], and waits until they are all registered.
        pub fn start(dir: &Path, workers: usize) -> Cluster {
            let logs = dir.join("logs");
            std::fs::create_dir_all(&logs).unwrap();
            let plugins = chaos_plugins(&dir.join("plugins"));
            let mut last = None;
            for attempt in 0..3 {
                let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
                let server = Self::spawn_coordinator(&logs, &plugins, attempt, addr);
                match Self::wait_listening(server) {
                    Ok(server) => {
                        let mut cluster = Cluster {
                            logs,
                            plugins,
                            addr,
                            url: format!("http://{addr}"),
                            coordinator: Some(server),
                            old_coordinators: Vec::new(),
                            workers: Vec::new(),
                        };
                        for _ in 0..workers {
                            cluster.add_worker();
                        }
                        if workers > 0 {
                            cluster.wait_alive(workers);
                        }
                        return cluster;
                    }
                    Err(log) => last = Some(log),
                }
            }
            panic!(
                "could not start a coordinator on a free port:\n{}",
                last.unwrap()
            );
        }

        fn spawn_coordinator(logs: &Path, plugins: &Path, n: usize, addr: SocketAddr) -> Server {
            let args: Vec<OsString> = vec![
                "coordinator".into(),
                "--listen".into(),
                addr.to_string().into(),
                "--plugins".into(),
                plugins.as_os_str().to_owned(),
                "--worker-timeout-ms".into(),
                WORKER_TIMEOUT_MS.to_string().into(),
                "--heartbeat-interval-ms".into(),
                HEARTBEAT_MS.to_string().into(),
            ];
            Server::spawn(logs, &format!("coordinator-{n}"), &args)
        }

        /// Waits until `server` logged that it listens; `Err(log)` if it
        /// exited because it could not bind.
        fn wait_listening(mut server: Server) -> Result<Server, String> {
            let what = format!("{} to listen", server.name);
            let up = poll_until(&what, STEP, || {
                if let Some(status) = server.exit_status() {
                    return Some(Err(status));
                }
                (!server.log_events("coordinator listening").is_empty()).then_some(Ok(()))
            });
            match up {
                Ok(()) => Ok(server),
                Err(status) => {
                    let log = server.log_text();
                    assert!(
                        log.contains("cannot listen"),
                        "{} exited with {status}:\n{log}",
                        server.name
                    );
                    Err(log)
                }
            }
        }

        /// Starts a new coordinator on the same address as before (the
        /// previous one must be down).
        pub fn restart_coordinator(&mut self) {
            assert!(self.coordinator.is_none(), "the coordinator is still up");
            let n = self.old_coordinators.len();
            let server = Self::spawn_coordinator(&self.logs, &self.plugins, 100 + n, self.addr);
            match Self::wait_listening(server) {
                Ok(s) => self.coordinator = Some(s),
                Err(log) => panic!("cannot restart the coordinator on {}:\n{log}", self.addr),
            }
        }

        /// SIGKILLs the coordinator.
        pub fn kill_coordinator(&mut self) {
            let mut c = self.coordinator.take().expect("a coordinator");
            c.kill();
            self.old_coordinators.push(c);
        }

        /// Starts one more worker; returns its index.
        pub fn add_worker(&mut self) -> usize {
            let i = self.workers.len();
            let args: Vec<OsString> = vec![
                "worker".into(),
                "--coordinator".into(),
                self.url.clone().into(),
                "--plugins".into(),
                self.plugins.as_os_str().to_owned(),
                "--heartbeat-interval-ms".into(),
                HEARTBEAT_MS.to_string().into(),
            ];
            self.workers
                .push(Server::spawn(&self.logs, &format!("worker-{i}"), &args));
            i
        }

        /// The address worker `i` serves on (from its log).
        pub fn worker_address(&mut self, i: usize) -> String {
            let w = &mut self.workers[i];
            let what = format!("{} to log its address", w.name);
            poll_until(&what, STEP, || {
                if let Some(s) = w.exit_status() {
                    panic!("{} exited with {s}:\n{}", w.name, w.log_tail(30));
                }
                w.log_field("worker serving map output", "advertise")
            })
        }

        /// Waits until worker `i` has logged `times` registrations with a
        /// coordinator (the coordinator lists a worker a moment before the
        /// worker logs that it registered).
        pub fn wait_registered(&self, i: usize, times: usize) {
            let w = &self.workers[i];
            let what = format!("{} to log {times} registrations", w.name);
            poll_until(&what, STEP, || {
                let n = w.log_events("registered with the coordinator").len();
                assert!(
                    n <= times,
                    "{} registered {n} times:\n{}",
                    w.name,
                    w.log_tail(30)
                );
                (n == times).then_some(())
            });
        }

        /// `mr workers --json`.
        pub fn workers_json(&self) -> Vec<serde_json::Value> {
            let out = run_mr(["workers", "--json", "--coordinator", &self.url]).ok();
            out.json().as_array().expect("a JSON array").clone()
        }

        /// The alive entries of `mr workers --json`.
        pub fn alive_workers(&self) -> Vec<serde_json::Value> {
            self.workers_json()
                .into_iter()
                .filter(|w| w["state"] == "alive")
                .collect()
        }

        /// `mr jobs --json`.
        pub fn jobs_json(&self) -> Vec<serde_json::Value> {
            let out = run_mr(["jobs", "--json", "--coordinator", &self.url]).ok();
            out.json().as_array().expect("a JSON array").clone()
        }

        /// Waits until at least `n` workers are alive; returns them.
        pub fn wait_alive(&self, n: usize) -> Vec<serde_json::Value> {
            poll_until(&format!("{n} alive workers"), STEP, || {
                let alive = self.alive_workers();
                (alive.len() >= n).then_some(alive)
            })
        }

        /// The arguments of `mr submit`.
        pub fn submit_args(
            &self,
            files: &[PathBuf],
            out: &Path,
            app: &str,
            n_reduce: u32,
            wait: bool,
            app_args: &[&str],
        ) -> Vec<OsString> {
            let mut args: Vec<OsString> = vec!["submit".into()];
            args.extend(files.iter().map(|f| f.clone().into_os_string()));
            args.extend([
                "-o".into(),
                out.as_os_str().to_owned(),
                "-a".into(),
                app.into(),
                "-n".into(),
                n_reduce.to_string().into(),
                "--coordinator".into(),
                self.url.clone().into(),
            ]);
            if wait {
                args.push("--wait".into());
            }
            if !app_args.is_empty() {
                args.push("--".into());
                args.extend(app_args.iter().map(OsString::from));
            }
            args
        }

        /// `mr submit` without waiting; returns the job id.
        pub fn submit(
            &self,
            files: &[PathBuf],
            out: &Path,
            app: &str,
            n_reduce: u32,
            app_args: &[&str],
        ) -> u32 {
            let out = run_mr(self.submit_args(files, out, app, n_reduce, false, app_args)).ok();
            job_id_of(&out)
        }

        /// `mr poll ID --json`.
        pub fn poll(&self, job: u32) -> serde_json::Value {
            let v = run_mr([
                "poll",
                &job.to_string(),
                "--json",
                "--coordinator",
                &self.url,
            ])
            .ok()
            .json();
            assert_eq!(v["job_id"], job, "{v}");
            v
        }

        /// Polls the job with `mr poll --json` until it is done (at most
        /// `timeout`); returns its last status.
        pub fn wait_job(&self, job: u32, timeout: Duration) -> serde_json::Value {
            poll_until(&format!("job {job} to end"), timeout, || {
                let v = self.poll(job);
                (v["done"] == true).then_some(v)
            })
        }

        /// The tail of every server's log.
        pub fn dump_logs(&self) -> String {
            let mut s = format!("----- cluster at {}\n", self.url);
            let servers = self
                .old_coordinators
                .iter()
                .chain(self.coordinator.iter())
                .chain(self.workers.iter());
            for server in servers {
                s.push_str(&format!("----- {} (pid {})\n", server.name, server.pid()));
                s.push_str(&server.log_tail(40));
                s.push('\n');
            }
            s
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("{}", self.dump_logs());
            }
            // Workers first, then the coordinator.
            self.workers.clear();
            self.coordinator = None;
        }
    }

    /// The job id `mr submit` printed: its stdout must be exactly `ID\n`.
    pub fn job_id_of(output: &CmdOutput) -> u32 {
        output
            .stdout
            .strip_suffix('\n')
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("stdout is not exactly a job id and a newline: {output:#?}"))
            .parse()
            .unwrap()
    }

    /// The names in `dir`, sorted.
    pub fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `mr-out-0..n`, sorted as [`dir_names`] sorts.
    pub fn output_names(n_reduce: u32) -> Vec<String> {
        let mut names: Vec<String> = (0..n_reduce).map(|r| format!("mr-out-{r}")).collect();
        names.sort();
        names
    }
}
