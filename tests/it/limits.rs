//! Resources before and after authentication, with real processes: idle
//! tokenless sockets beyond the connection cap and beyond a lowered
//! open-file limit (`prlimit`) cannot lock a client out, are closed at the
//! handshake deadline, and cost the coordinator bounded CPU and log; ended
//! jobs leave the coordinator's memory after `--retain-jobs`.

use crate::common;

use std::ffi::OsString;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::plugins_dir;
use common::procs::{clean_command, run_mr, submit_args, Server};

/// A coordinator under `prlimit --nofile=NOFILE` with extra `args`.
fn limited_coordinator(logs: &Path, nofile: u32, args: &[&str]) -> (Server, SocketAddr) {
    std::fs::create_dir_all(logs).unwrap();
    let mut cmd = clean_command("prlimit");
    cmd.arg(format!("--nofile={nofile}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mr"))
        .args([
            "--log-format",
            "json",
            "coordinator",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--plugins")
        .arg(plugins_dir())
        .args(args)
        .env("MR_PLUGIN_CACHE", logs.join("plugin-cache"));
    let mut server = Server::start("coordinator", logs.join("coordinator.log"), cmd);
    let addr = server.listening("");
    (server, addr)
}

/// `n` idle TCP connections that never send a byte.
fn idle_sockets(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect()
}

/// `mr apps` against `addr`: whether it succeeded, and how long it took.
fn list_apps(addr: SocketAddr) -> (bool, Duration) {
    let start = Instant::now();
    let out = run_mr(["apps", "--json", "--coordinator", &format!("http://{addr}")]);
    (out.status.success(), start.elapsed())
}

/// CPU time (user + system) the process has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with ')'): utime and stime
    // are the 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Whether the server closed `s` within `within` (end of stream or reset).
fn closed_within(mut s: &TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within.max(Duration::from_millis(100))))
        .unwrap();
    let mut buf = [0; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn log_size(server: &Server) -> u64 {
    std::fs::metadata(&server.log).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn idle_sockets_beyond_the_cap_cannot_lock_a_client_out() {
    let dir = tempfile::tempdir().unwrap();
    // 256 descriptors: the default cap is 128 connections.
    let (server, addr) = limited_coordinator(
        &dir.path().join("logs"),
        256,
        &["--handshake-timeout", "4s"],
    );
    let cpu_before = cpu_time(server.pid());
    let start = Instant::now();
    let idle = idle_sockets(addr, 600);
    std::thread::sleep(Duration::from_millis(300));

    // The client is served at once: the oldest sockets that never sent a
    // handshake made room, well before their 4 s deadline.
    let (ok, took) = list_apps(addr);
    assert!(ok, "a client was locked out:\n{}", server.log_tail(20));
    assert!(took < Duration::from_secs(3), "the client waited {took:?}");

    // Every idle socket is closed by the handshake deadline (or earlier,
    // to make room).
    let still_open = idle
        .iter()
        .filter(|s| !closed_within(s, Duration::from_secs(8).saturating_sub(start.elapsed())))
        .count();
    assert_eq!(
        still_open, 0,
        "idle sockets left open after the handshake timeout"
    );

    // And it cost little: no spinning, a short log.
    let cpu = cpu_time(server.pid()) - cpu_before;
    assert!(
        cpu < Duration::from_secs(2),
        "the coordinator used {cpu:?} of CPU"
    );
    assert!(
        log_size(&server) < 64 * 1024,
        "log grew to {} B",
        log_size(&server)
    );
    let (ok, _) = list_apps(addr);
    assert!(ok);
}

#[test]
fn accept_errors_back_off_when_descriptors_run_out() {
    let dir = tempfile::tempdir().unwrap();
    // A cap above the descriptors left: accepting fails with EMFILE.
    let (server, addr) = limited_coordinator(
        &dir.path().join("logs"),
        64,
        &["--max-connections", "1000", "--handshake-timeout", "2s"],
    );
    let cpu_before = cpu_time(server.pid());
    let idle = idle_sockets(addr, 150);
    std::thread::sleep(Duration::from_secs(6));
    let cpu = cpu_time(server.pid()) - cpu_before;
    assert!(
        cpu < Duration::from_secs(2),
        "the coordinator used {cpu:?} of CPU in 6 s"
    );
    let errors = server.log_count_containing("cannot accept a connection");
    assert!(
        (1..=3).contains(&errors),
        "{errors} accept error lines in 6 s:\n{}",
        server.log_tail(10)
    );
    assert!(
        log_size(&server) < 64 * 1024,
        "log grew to {} B",
        log_size(&server)
    );
    // The idle sockets stay open on this side; the coordinator closes
    // them at their handshake deadline and serves clients again.
    let start = Instant::now();
    while !list_apps(addr).0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never served:\n{}",
            server.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(idle);
}

#[test]
fn ended_jobs_beyond_retain_jobs_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (_coordinator, addr) = limited_coordinator(&logs, 4096, &["--retain-jobs", "2"]);
    let url = format!("http://{addr}");
    let worker_args: Vec<OsString> = vec![
        "worker".into(),
        "--coordinator".into(),
        url.clone().into(),
        "--plugins".into(),
        plugins_dir().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let mut worker = Server::spawn(&logs, "worker", &worker_args);
    worker.listening("");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a b a\n").unwrap();
    for i in 0..3 {
        let out = dir.path().join(format!("out{i}"));
        run_mr(submit_args(
            &url,
            std::slice::from_ref(&input),
            &out,
            "wc",
            1,
            true,
            &[],
        ))
        .ok();
    }
    let listed = run_mr(["jobs", "--json", "--coordinator", &url])
        .ok()
        .json();
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap_or_else(|| listed["jobs"].as_array().expect("a list of jobs"))
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "only the last two ended jobs are kept");
    let poll = run_mr(["poll", "0", "--coordinator", &url]);
    assert!(!poll.status.success());
    assert!(
        poll.stderr.contains("forgotten") && poll.stderr.contains("--retain-jobs"),
        "{poll:#?}"
    );
    // Ids are not reused.
    let out = dir.path().join("out3");
    let next = run_mr(submit_args(&url, &[input], &out, "wc", 1, true, &[])).ok();
    assert!(
        next.stdout.contains('3') || next.stderr.contains('3'),
        "{next:#?}"
    );
}

/// `WatchJob` streams beyond the per-connection and total caps are refused
/// with `ResourceExhausted`; closing one frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_beyond_the_caps_are_refused() {
    use mapreduce::cluster::LocalCluster;
    use mapreduce::coordinator::{CoordinatorConfig, Limits};
    use mapreduce::plugin::Registry;
    use mapreduce::proto::coordinator as pb;
    use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x\n").unwrap();
    let registry = Arc::new(Registry::load_dirs(&[plugins_dir()]).expect("plugins load"));
    let mut config = CoordinatorConfig::new(registry);
    config.limits = Limits {
        max_watch_streams: 3,
        max_watch_streams_per_connection: 2,
        ..Limits::default()
    };
    // No workers: the job stays queued and its watchers stay open.
    let cluster = LocalCluster::start_with(config, 0, |w| w).await.unwrap();
    let connect = || async {
        CoordinatorClient::connect(cluster.url().to_string())
            .await
            .unwrap()
    };
    let mut one = connect().await;
    let job = one
        .submit_job(pb::SubmitJobRequest {
            files: vec![input.display().to_string()],
            output_dir: dir.path().join("out").display().to_string(),
            app: "wc".into(),
            n_reduce: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job_id;
    let watch = |c: &mut CoordinatorClient<tonic::transport::Channel>| {
        let mut c = c.clone();
        async move {
            c.watch_job(pb::PollJobRequest { job_id: job })
                .await
                .map(|r| r.into_inner())
        }
    };
    let a = watch(&mut one).await.unwrap();
    let _b = watch(&mut one).await.unwrap();
    let e = watch(&mut one).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("per-connection"), "{e:?}");
    let mut two = connect().await;
    let _c = watch(&mut two).await.unwrap();
    let e = watch(&mut two).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message().contains("too many open WatchJob streams"),
        "{e:?}"
    );
    drop(a);
    // The server notices the closed stream when it next sends; until then
    // the place is held, so wait for it.
    let start = Instant::now();
    loop {
        match watch(&mut two).await {
            Ok(_) => break,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                assert_eq!(e.code(), tonic::Code::ResourceExhausted);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("a closed stream never freed its place: {e:?}"),
        }
    }
    drop((one, two));
    cluster.shutdown().await;
}

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A minimal HTTP/2 peer that opens no stream and sends nothing of its own:
/// it acknowledges the server's SETTINGS and answers its PINGs, as a live
/// idle client does. Returns a flag that turns true when the server closes
/// the connection, and how many pings it answered.
fn answering_peer(
    addr: SocketAddr,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::atomic::AtomicU32>,
) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let closed = std::sync::Arc::new(AtomicBool::new(false));
    let pongs = std::sync::Arc::new(AtomicU32::new(0));
    let (c, p) = (closed.clone(), pongs.clone());
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(H2_PREFACE).unwrap();
    std::thread::spawn(move || {
        let mut header = [0u8; 9];
        loop {
            if s.read_exact(&mut header).is_err() {
                break;
            }
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let (kind, flags) = (header[3], header[4]);
            let mut payload = vec![0; len];
            if s.read_exact(&mut payload).is_err() {
                break;
            }
            let reply: Option<Vec<u8>> = match (kind, flags & 1) {
                // SETTINGS: acknowledge.
                (4, 0) => Some(vec![0, 0, 0, 4, 1, 0, 0, 0, 0]),
                // PING: the same 8 bytes back, with ACK.
                (6, 0) => {
                    p.fetch_add(1, Ordering::SeqCst);
                    let mut f = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                    f.extend_from_slice(&payload);
                    Some(f)
                }
                _ => None,
            };
            if let Some(frame) = reply {
                if s.write_all(&frame).is_err() {
                    break;
                }
            }
        }
        c.store(true, Ordering::SeqCst);
    });
    (closed, pongs)
}

#[test]
fn keepalive_keeps_a_live_idle_peer_past_the_idle_timeout_and_a_silent_one_is_closed() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = limited_coordinator(
        &dir.path().join("logs"),
        1024,
        &["--idle-timeout", "2s", "--keepalive-interval", "300ms"],
    );
    // Speaks HTTP/2, then nothing: it never acknowledges a ping.
    let mut silent = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut silent, H2_PREFACE).unwrap();
    // Speaks HTTP/2 and answers pings, sending nothing else.
    let (live_closed, pongs) = answering_peer(addr);
    let from = Instant::now();

    assert!(
        closed_within(&silent, Duration::from_secs(6)),
        "a peer that never answers pings is still connected"
    );
    while from.elapsed() < Duration::from_secs(5) {
        assert!(
            !live_closed.load(Ordering::SeqCst),
            "a live peer was closed after {:?} ({} pings answered):\n{}",
            from.elapsed(),
            pongs.load(Ordering::SeqCst),
            server.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pongs.load(Ordering::SeqCst) >= 2, "the server never pinged");

    // And a real client over real TCP with the same limits: `mr submit
    // --wait` on a queued job holds its stream until a worker comes.
    let url = format!("http://{addr}");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "alpha beta alpha\n").unwrap();
    let out = dir.path().join("out");
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_mr"));
    cmd.args(submit_args(&url, &[input], &out, "wc", 1, true, &[]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let watcher = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut worker_cmd = clean_command(env!("CARGO_BIN_EXE_mr"));
    worker_cmd
        .args(["worker", "--coordinator", &url])
        .arg("--plugins")
        .arg(plugins_dir())
        .env("MR_PLUGIN_CACHE", dir.path().join("worker-cache"));
    let _worker = Server::start("worker", dir.path().join("worker.log"), worker_cmd);
    let output = watcher.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("lost the coordinator"), "{stderr}");
}
