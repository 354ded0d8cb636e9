//! Our binaries against the CS 162 course's binaries, in every direction,
//! each against a minimal legacy peer built from the original protocol
//! (`tests/legacy/proto/`, compiled for these tests only): our `mr worker`
//! under the course's coordinator (the legacy port rule), reading map output
//! from a course worker (`ReadMap` when `ReadMapStream` is unimplemented),
//! and our client on the course's coordinator; and course workers beside
//! ours on our coordinator ([`fleet`]; a course worker alone is in
//! `e2e_errors`).

mod client;
mod coordinator;
mod course_worker;
mod directions;
mod fleet;
mod peer_worker;
mod proto;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use crate::common::procs::Server;
use crate::common::{parse_frames, path_str, plugins_dir, Prng};

/// A base port such that `base + 1 ..= base + n` can all be bound now
/// (below the kernel's ephemeral range, where port-0 servers land), for the
/// legacy rule `127.0.0.1:(base + worker id)` with worker ids from 1.
pub fn legacy_port_base(n: u16) -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let mut rng = Prng::new(seed);
    for _ in 0..200 {
        let base = 20_000 + rng.below(10_000) as u16;
        let free = (1..=n)
            .all(|i| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], base + i))).is_ok());
        if free {
            return base;
        }
    }
    panic!("no run of {n} free ports below 30000");
}

/// Starts `mr worker` for the coordinator at `url`, with the legacy port
/// rule moved to `base`, logging under `dir/logs`.
pub fn start_worker(dir: &Path, name: &str, url: &str, base: u16) -> Server {
    let args: Vec<OsString> = vec![
        "worker".into(),
        "--coordinator".into(),
        url.into(),
        "--plugins".into(),
        plugins_dir().into_os_string(),
        "--heartbeat-interval-ms".into(),
        "200".into(),
        "--legacy-port-base".into(),
        base.to_string().into(),
    ];
    let mut worker = Server::spawn(&dir.join("logs"), name, &args);
    worker.listening("");
    worker
}

/// The `wc` counts in `out`'s `mr-out-0..n_reduce` (a legacy coordinator
/// writes no `_SUCCESS`).
pub fn wc_output(out: &Path, n_reduce: u32) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in 0..n_reduce {
        let path = out.join(format!("mr-out-{r}"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for pair in parse_frames(&bytes).chunks(2) {
            let word = String::from_utf8(pair[0].clone()).expect("wc words are UTF-8");
            let count = u64::from_be_bytes(pair[1].as_slice().try_into().expect("8 bytes"));
            assert!(counts.insert(word, count).is_none(), "a word twice");
        }
    }
    counts
}

/// A legacy job request for `app` over `files`, into `out`.
pub fn job(
    app: &str,
    files: &[impl AsRef<Path>],
    out: &Path,
    n_reduce: u32,
) -> proto::coordinator::SubmitJobRequest {
    proto::coordinator::SubmitJobRequest {
        files: files.iter().map(|f| path_str(f.as_ref())).collect(),
        output_dir: path_str(out),
        app: app.to_string(),
        n_reduce,
        args: Vec::new(),
    }
}
