//! Attacks by someone holding one role's token at most, against real `mr`
//! processes: impersonating another worker (heartbeats for a dead one,
//! forged failures of another's task, registering a live worker's address),
//! downgrading a TLS cluster to plaintext with an `http://` address or URL,
//! inflated counters, a planted library in the plugin cache of the
//! coordinator and of a worker, unsafe plugin and cache folders, and the
//! smaller holes (one token for both roles, control characters in remote
//! text, a closed pipe, the worker service's answer to a client token).
//! The plugin cache attacks are in `adversary/cache.rs`, the smaller holes
//! in `adversary/holes.rs`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mapreduce::client::{Client, Submission};
use mapreduce::proto::coordinator as pb;
use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
use mapreduce::security::{AuthChannel, TlsFiles, Token, Transport};
use tonic::Code;

use common::plugins_dir;
use common::procs::{coordinator_cmd, mr, Server, STEP};

mod cache;
mod holes;

const CLIENT: &str = "client-token-adversary";
const WORKER: &str = "worker-token-adversary";

/// A CA and a certificate for 127.0.0.1 (used by every process).
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    fn new(dir: &Path) -> Tls {
        let (ca, cert, key) = crate::common::make_certs(dir);
        Tls { ca, cert, key }
    }

    fn args(&self, cmd: &mut Command) {
        cmd.arg("--tls-ca")
            .arg(&self.ca)
            .arg("--tls-cert")
            .arg(&self.cert)
            .arg("--tls-key")
            .arg(&self.key);
    }

    fn files(&self) -> TlsFiles {
        TlsFiles::load(Some(&self.cert), Some(&self.key), Some(&self.ca), false)
            .unwrap()
            .expect("TLS files")
    }
}

/// Token files for both roles in `dir`.
fn token_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (c, w) = (dir.join("client.token"), dir.join("worker.token"));
    std::fs::write(&c, CLIENT).unwrap();
    std::fs::write(&w, WORKER).unwrap();
    (c, w)
}

/// A coordinator process with both tokens, a 1 s worker timeout and
/// `extra` arguments; its address.
fn coordinator(dir: &Path, extra: &[&str], tls: Option<&Tls>) -> (Server, String) {
    let (client_tok, worker_tok) = token_files(dir);
    let mut cmd = coordinator_cmd(&plugins_dir());
    cmd.args([
        "--worker-timeout-ms",
        "1000",
        "--heartbeat-interval-ms",
        "100",
    ])
    .arg("--client-token-file")
    .arg(&client_tok)
    .arg("--worker-token-file")
    .arg(&worker_tok)
    .args(extra);
    if let Some(tls) = tls {
        tls.args(&mut cmd);
        cmd.arg("--tls-client-auth");
    }
    let mut server = Server::start("coordinator", dir.join("coordinator.log"), cmd);
    let addr = server.listening("");
    let scheme = if tls.is_some() { "https" } else { "http" };
    (server, format!("{scheme}://{addr}"))
}

/// A raw coordinator client with `token`.
async fn raw(url: &str, token: &str, tls: Option<&Tls>) -> CoordinatorClient<AuthChannel> {
    let files = tls.map(Tls::files);
    let transport = Transport::new(files, Some(&Token::new(token).unwrap()));
    CoordinatorClient::new(transport.lazy(url, Duration::from_secs(5)).unwrap())
}

/// A worker session opened with a raw `Register`.
struct Session {
    id: u32,
    secret: Vec<u8>,
}

async fn register(c: &mut CoordinatorClient<AuthChannel>, address: &str) -> Session {
    let r = c
        .register(pb::RegisterRequest {
            address: address.to_string(),
            held: Vec::new(),
        })
        .await
        .expect("registers")
        .into_inner();
    assert_eq!(r.session_secret.len(), 16, "a 128-bit session secret");
    Session {
        id: r.worker_id,
        secret: r.session_secret,
    }
}

/// Heartbeats for `s` every 100 ms until aborted (a worker that is slow
/// under load must not be declared dead in the middle of a test).
fn keep_alive(c: &CoordinatorClient<AuthChannel>, s: &Session) -> tokio::task::JoinHandle<()> {
    let (mut c, id, secret) = (c.clone(), s.id, s.secret.clone());
    tokio::spawn(async move {
        loop {
            let _ = c
                .heartbeat(pb::HeartbeatRequest {
                    worker_id: id,
                    session_secret: secret.clone(),
                    ..Default::default()
                })
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn get_task(c: &mut CoordinatorClient<AuthChannel>, s: &Session) -> pb::GetTaskReply {
    c.get_task(pb::GetTaskRequest {
        worker_id: s.id,
        session_secret: s.secret.clone(),
        long_poll_ms: 2000,
        ..Default::default()
    })
    .await
    .expect("get task")
    .into_inner()
}

async fn client(url: &str, tls: Option<&Tls>) -> Client {
    let files = tls.map(Tls::files);
    Client::connect_with(
        url,
        &Transport::new(files, Some(&Token::new(CLIENT).unwrap())),
    )
    .await
    .expect("client connects")
}

fn wc_job(dir: &Path, files: &[PathBuf]) -> Submission {
    crate::common::submission("wc", files, &dir.join("out"), 1)
}

async fn worker_state(c: &Client, id: u32) -> String {
    c.workers()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.worker_id.0 == id)
        .map(|w| w.state)
        .unwrap_or_default()
}

/// Waits (up to [`STEP`]) until the coordinator knows some worker alive;
/// panics saying `what` did not register.
async fn wait_for_a_worker(client: &Client, what: &str) {
    let deadline = std::time::Instant::now() + STEP;
    while !client
        .workers()
        .await
        .unwrap()
        .iter()
        .any(|w| w.state == "alive")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not register"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// With the worker token but not a worker's session secret, an attacker
/// can neither keep a dead worker alive, nor fail another worker's task
/// with a forged error, nor take a live worker's address; and a worker's
/// inflated input counter is clamped to what its input holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_token_holder_cannot_act_as_another_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, url) = coordinator(dir.path(), &[], None);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one two two\n").unwrap();
    let client = client(&url, None).await;
    let mut c = raw(&url, WORKER, None).await;

    // The victim takes the map task and goes silent.
    let victim = register(&mut c, "127.0.0.1:1").await;
    let job = client.submit(wc_job(dir.path(), &[input])).await.unwrap();
    let task = get_task(&mut c, &victim).await;
    assert!(!task.wait && !task.reduce, "the victim holds the map task");

    // The attacker heartbeats for it: without a secret, and with its own.
    let attacker = register(&mut c, "127.0.0.1:2").await;
    let _attacker_alive = AbortOnDrop(keep_alive(&c, &attacker));
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    while std::time::Instant::now() < deadline {
        for secret in [Vec::new(), attacker.secret.clone(), vec![0; 16]] {
            let e = c
                .heartbeat(pb::HeartbeatRequest {
                    worker_id: victim.id,
                    session_secret: secret,
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        worker_state(&client, victim.id).await,
        "dead",
        "forged heartbeats kept the victim alive"
    );

    // An honest worker takes the task again.
    let honest = register(&mut c, "127.0.0.1:3").await;
    let _honest_alive = AbortOnDrop(keep_alive(&c, &honest));
    let task = get_task(&mut c, &honest).await;
    assert!(!task.wait, "the map task is handed out again");
    assert_eq!(task.attempt, 2);

    // The attacker fails it with a forged error: as the honest worker
    // (without its secret) and under its own id (it does not hold it).
    let forged = |worker_id: u32, secret: Vec<u8>| pb::FailTaskRequest {
        worker_id,
        session_secret: secret,
        job_id: task.job_id,
        task: task.task,
        reduce: false,
        retry: false,
        error: "forged failure".into(),
        attempt: task.attempt,
        ..Default::default()
    };
    let e = c
        .fail_task(forged(honest.id, attacker.secret.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = c
        .fail_task(forged(honest.id, Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    c.fail_task(forged(attacker.id, attacker.secret.clone()))
        .await
        .expect("a report for a task the session does not hold is ignored");
    let view = client.poll(job).await.unwrap();
    assert!(!view.failed && view.errors.is_empty(), "{view:?}");

    // Nor may anyone take the honest worker's live address; the dead
    // victim's is free again.
    let e = c
        .register(pb::RegisterRequest {
            address: "127.0.0.1:3".into(),
            held: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("127.0.0.1:3"), "{e:?}");
    register(&mut c, "127.0.0.1:1").await;

    // The honest worker finishes, claiming far more input than there is.
    c.finish_task(pb::FinishTaskRequest {
        worker_id: honest.id,
        session_secret: honest.secret.clone(),
        job_id: task.job_id,
        task: task.task,
        attempt: task.attempt,
        counters: Some(pb::TaskCounters {
            input_bytes: 1_000_000_000_000_000,
            input_records: 1_000_000_000_000_000,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let view = client.poll(job).await.unwrap();
    assert_eq!(view.maps.done, 1);
    assert_eq!(view.counters.input_bytes, 12, "clamped to the input's size");
    assert!(view.counters.input_records <= 12, "{:?}", view.counters);
}

/// On a TLS + mTLS cluster nothing dials plaintext: a worker or client
/// given TLS files and an `http://` URL refuses to start naming the
/// mismatch, a worker refuses to advertise `http://`, and the coordinator
/// refuses to register such an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_never_dials_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::new(dir.path());
    let (_coordinator, url) = coordinator(dir.path(), &[], Some(&tls));
    let plain_url = url.replace("https://", "http://");
    let worker_tok = dir.path().join("worker.token");

    let worker = |name: &str, coordinator: &str, extra: &[&str]| {
        let mut cmd = mr();
        cmd.args(["worker", "--coordinator", coordinator, "--tls-client-auth"])
            .args(extra)
            .arg("--plugins")
            .arg(plugins_dir())
            .arg("--token-file")
            .arg(&worker_tok);
        tls.args(&mut cmd);
        Server::start(name, dir.path().join(format!("{name}.log")), cmd)
    };
    // A worker pointed at http:// with TLS files.
    let mut w = worker("downgraded", &plain_url, &[]);
    let status = w.wait_exit(STEP);
    assert!(!status.success());
    let log = w.log_text();
    assert!(log.contains("http://") && log.contains("TLS"), "{log}");

    // A worker advertising an http:// address.
    let mut w = worker(
        "plaintext-advertiser",
        &url,
        &["--advertise", "http://127.0.0.1:9"],
    );
    let status = w.wait_exit(STEP);
    assert!(!status.success());
    let log = w.log_text();
    assert!(log.contains("http://127.0.0.1:9"), "{log}");

    // A raw registration of one.
    let mut c = raw(&url, WORKER, Some(&tls)).await;
    let e = c
        .register(pb::RegisterRequest {
            address: "http://127.0.0.1:9".into(),
            held: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("https://"), "{e:?}");

    // A client given TLS files and an http:// URL.
    let mut cmd = mr();
    cmd.args(["jobs", "--coordinator", &plain_url, "--token-file"])
        .arg(dir.path().join("client.token"));
    tls.args(&mut cmd);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("http://") && err.contains("TLS"), "{err}");

    // Everything right: a worker registers over TLS.
    let _good = worker("good", &url, &[]);
    let client = client(&url, Some(&tls)).await;
    wait_for_a_worker(&client, "the TLS worker").await;
}
