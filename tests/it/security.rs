//! Security end to end: role tokens (missing, wrong, wrong role), the
//! worker service's token check, confinement escapes through `..` and
//! symlinks, request and queue limits, plugin folder hygiene, refusing to
//! listen openly beyond loopback, and a whole job over mutual TLS with
//! tokens between separate processes, with certificates made in the test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mapreduce::client::{Client, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::coordinator::{CoordinatorConfig, Limits};
use mapreduce::plugin::{Registry, RegistryError};
use mapreduce::proto::coordinator as pb;
use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
use mapreduce::proto::worker::worker_client::WorkerClient;
use mapreduce::security::{Auth, Confinement, Token, Transport};
use tonic::Code;

use common::make_certs;
use common::plugins_dir;
use common::procs::{coordinator_cmd, mr, Server};

const CLIENT: &str = "client-token-123";
const WORKER: &str = "worker-token-456";

fn registry() -> Arc<Registry> {
    Arc::new(Registry::load_dirs(&[plugins_dir()]).expect("plugins load"))
}

fn token(t: &str) -> Token {
    Token::new(t).unwrap()
}

fn auth() -> Auth {
    Auth {
        client: Some(token(CLIENT)),
        worker: Some(token(WORKER)),
    }
}

/// A cluster whose coordinator checks both tokens, and whose workers use
/// the worker token.
async fn secured_cluster(
    config: impl FnOnce(&mut CoordinatorConfig),
    workers: usize,
) -> LocalCluster {
    let mut c = CoordinatorConfig::new(registry());
    c.auth = auth();
    c.transport = Transport::new(None, Some(&token(WORKER)));
    config(&mut c);
    LocalCluster::start_with(c, workers, |mut w| {
        w.transport = Transport::new(None, Some(&token(WORKER)));
        w.auth = Auth {
            client: None,
            worker: Some(token(WORKER)),
        };
        w
    })
    .await
    .expect("cluster starts")
}

async fn client(url: &str, t: Option<&str>) -> Client {
    let t = t.map(token);
    Client::connect_with(url, &Transport::new(None, t.as_ref()))
        .await
        .expect("connects")
}

fn wc_job(dir: &Path, files: Vec<String>) -> Submission {
    crate::common::submission("wc", &files, &dir.join("out"), 2)
}

fn code_of(e: mapreduce::client::ClientError) -> (Code, String) {
    match e {
        mapreduce::client::ClientError::Rpc(s) => (s.code(), s.message().to_string()),
        other => panic!("expected an RPC error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_checks_the_callers_token_and_role() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "Hello hello world").unwrap();
    let cluster = secured_cluster(|_| {}, 2).await;
    let files = vec![input.display().to_string()];

    let (code, msg) = code_of(
        client(cluster.url(), None)
            .await
            .submit(wc_job(dir.path(), files.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, Code::Unauthenticated, "{msg}");
    assert_eq!(
        msg,
        "SubmitJob needs a client token (--token-file, or MR_CLIENT_TOKEN)"
    );
    let (code, msg) = code_of(
        client(cluster.url(), Some("wrong"))
            .await
            .poll(mapreduce::core::JobId(0))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, msg.as_str()),
        (Code::Unauthenticated, "PollJob: invalid token")
    );
    let (code, _) = code_of(
        client(cluster.url(), Some(WORKER))
            .await
            .jobs()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, Code::PermissionDenied);

    // A client token may not act as a worker.
    let channel = Transport::new(None, Some(&token(CLIENT)))
        .lazy(cluster.url(), Duration::from_secs(5))
        .unwrap();
    let status = CoordinatorClient::new(channel)
        .register(pb::RegisterRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // The right tokens run a whole job (so workers authenticated too).
    let c = client(cluster.url(), Some(CLIENT)).await;
    let job = c.submit(wc_job(dir.path(), files)).await.unwrap();
    let view = c.wait(job, |_| {}).await.unwrap();
    assert!(!view.failed, "{view:?}");
    assert_eq!(view.counters.reduce_output_records, 2);

    // A worker's own service wants the worker token.
    let workers = c.workers().await.unwrap();
    let address = &workers[0].address;
    let status = WorkerClient::new(
        Transport::plain()
            .lazy(address, Duration::from_secs(5))
            .unwrap(),
    )
    .remove_job(mapreduce::proto::worker::RemoveJobRequest { job_id: 0 })
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_allowed_folders_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    let out = base.path().join("out");
    let secret = base.path().join("secret");
    for d in [&data, &out, &secret] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(data.join("ok.txt"), "fine words").unwrap();
    std::fs::write(secret.join("s.txt"), "secret words").unwrap();
    std::os::unix::fs::symlink(&secret, data.join("link")).unwrap();
    let confinement =
        Confinement::new(std::slice::from_ref(&data), std::slice::from_ref(&out)).unwrap();
    let cluster = secured_cluster(|c| c.confinement = confinement, 1).await;
    let c = client(cluster.url(), Some(CLIENT)).await;
    let job = |file: PathBuf, output: PathBuf| crate::common::submission("wc", &[file], &output, 1);

    for escape in [data.join("../secret/s.txt"), data.join("link/s.txt")] {
        let (code, msg) = code_of(
            c.submit(job(escape.clone(), out.join("a")))
                .await
                .unwrap_err(),
        );
        assert_eq!(code, Code::PermissionDenied, "{msg}");
        assert!(msg.contains(&escape.display().to_string()), "{msg}");
        assert!(msg.contains("outside the allowed input folders"), "{msg}");
    }
    for escape in [out.join("../secret/o"), data.join("link")] {
        let (code, msg) = code_of(
            c.submit(job(data.join("ok.txt"), escape.clone()))
                .await
                .unwrap_err(),
        );
        assert_eq!(code, Code::PermissionDenied, "{msg}");
        assert!(msg.contains("outside the allowed output folders"), "{msg}");
    }
    let id = c
        .submit(job(data.join("ok.txt"), out.join("good")))
        .await
        .unwrap();
    assert!(!c.wait(id, |_| {}).await.unwrap().failed);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_requests_and_a_full_queue_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x").unwrap();
    let limits = Limits {
        max_request_bytes: 64 * 1024,
        max_files: 3,
        max_n_reduce: 8,
        max_args_bytes: 1024,
        max_queued_jobs: 2,
        ..Limits::default()
    };
    // No workers: submitted jobs stay queued.
    let cluster = secured_cluster(|c| c.limits = limits, 0).await;
    let c = client(cluster.url(), Some(CLIENT)).await;
    let f = input.display().to_string();

    let mut big = wc_job(dir.path(), vec![f.clone()]);
    big.args = vec!["a".repeat(100 * 1024)];
    let (code, _) = code_of(c.submit(big).await.unwrap_err());
    assert!(
        matches!(
            code,
            Code::OutOfRange | Code::ResourceExhausted | Code::Internal
        ),
        "{code:?}"
    );

    let mut args = wc_job(dir.path(), vec![f.clone()]);
    args.args = vec!["a".repeat(2000)];
    let (code, msg) = code_of(c.submit(args).await.unwrap_err());
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("--max-args-bytes"), "{msg}");

    let (code, msg) = code_of(
        c.submit(wc_job(dir.path(), vec![f.clone(); 4]))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("at most 3 input files"), "{msg}");

    let mut many = wc_job(dir.path(), vec![f.clone()]);
    many.n_reduce = 9;
    let (code, msg) = code_of(c.submit(many).await.unwrap_err());
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("n_reduce may be at most 8"), "{msg}");

    // Each job its own folder: two unfinished jobs may not share one.
    let job_in = |name: &str| wc_job(&dir.path().join(name), vec![f.clone()]);
    c.submit(job_in("q0")).await.unwrap();
    c.submit(job_in("q1")).await.unwrap();
    let (code, msg) = code_of(c.submit(job_in("q2")).await.unwrap_err());
    assert_eq!(code, Code::ResourceExhausted, "{msg}");
    assert!(msg.contains("--max-queued-jobs"), "{msg}");
    // Room again once a job ends.
    c.cancel(mapreduce::core::JobId(0)).await.unwrap();
    c.submit(job_in("q3")).await.unwrap();
    cluster.shutdown().await;
}

#[test]
fn plugin_folders_and_files_writable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let src = plugins_dir().join(format!("libmr_app_wc.{}", std::env::consts::DLL_EXTENSION));
    let file = dir.path().join("libwc.so");
    std::fs::copy(&src, &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let registry = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert!(registry.names().is_empty());
    assert!(
        registry.problems()[0]
            .reason
            .contains("writable by other users"),
        "{:?}",
        registry.problems()
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(matches!(err, RegistryError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("chmod go-w"), "{err}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(
        Registry::load_dirs(&[dir.path().to_path_buf()])
            .unwrap()
            .names(),
        vec!["wc".to_string()]
    );
}

// ------------------------------------------------------------ real processes

#[test]
fn listening_beyond_loopback_without_tokens_is_refused() {
    let out = mr()
        .args(["coordinator", "--listen", "0.0.0.0:0", "--plugins"])
        .arg(plugins_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
    assert!(err.contains("--insecure"), "{err}");
}

#[test]
fn a_whole_job_runs_over_mutual_tls_with_tokens_between_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let (client_tok, worker_tok) = (
        dir.path().join("client.token"),
        dir.path().join("worker.token"),
    );
    std::fs::write(&client_tok, CLIENT).unwrap();
    std::fs::write(&worker_tok, WORKER).unwrap();
    let tls = |c: &mut Command| {
        c.arg("--tls-ca")
            .arg(&ca)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key);
    };
    let mut cmd = coordinator_cmd(&plugins_dir());
    cmd.arg("--tls-client-auth")
        .arg("--client-token-file")
        .arg(&client_tok)
        .arg("--worker-token-file")
        .arg(&worker_tok);
    tls(&mut cmd);
    let mut coordinator = Server::start("coordinator", dir.path().join("coordinator.log"), cmd);
    let url = format!("https://{}", coordinator.listening(""));
    let mut workers = Vec::new();
    for i in 0..2 {
        let mut cmd = mr();
        cmd.args([
            "worker",
            "--coordinator",
            &url,
            "--tls-client-auth",
            "--heartbeat-interval-ms",
            "200",
        ])
        .arg("--plugins")
        .arg(plugins_dir())
        .arg("--token-file")
        .arg(&worker_tok);
        tls(&mut cmd);
        let log = dir.path().join(format!("worker{i}.log"));
        workers.push(Server::start(&format!("worker{i}"), log, cmd));
    }
    let inputs: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = dir.path().join(format!("in{i}.txt"));
            std::fs::write(&p, format!("secure words {i} over tls")).unwrap();
            p
        })
        .collect();
    let submit = |with_cert: bool, token: &Path| {
        let mut c = mr();
        c.arg("submit")
            .args(&inputs)
            .args(["-o"])
            .arg(dir.path().join("out"));
        c.args([
            "-a",
            "wc",
            "-n",
            "2",
            "--wait",
            "--coordinator",
            &url,
            "--token-file",
        ])
        .arg(token);
        if with_cert {
            tls(&mut c);
        } else {
            c.arg("--tls-ca").arg(&ca);
        }
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    // Without a client certificate the TLS handshake is refused.
    let out = submit(false, &client_tok);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With the worker token, a client is refused by role.
    let out = submit(true, &worker_tok);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With everything right, the job runs over TLS end to end.
    let out = submit(true, &client_tok);
    let logs: String = ["coordinator.log", "worker0.log", "worker1.log"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default())
        .collect();
    assert!(
        out.status.success(),
        "{}\n{logs}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut process = mr();
    process
        .args(["process", "-a", "wc", "-o"])
        .arg(dir.path().join("out"))
        .arg("--plugins")
        .arg(plugins_dir());
    let text = String::from_utf8(process.output().unwrap().stdout).unwrap();
    assert_eq!(text, "4\tover\n4\tsecure\n4\ttls\n4\twords\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_check_paths_again_before_opening() {
    let base = tempfile::tempdir().unwrap();
    let (data, out, secret) = (
        base.path().join("data"),
        base.path().join("out"),
        base.path().join("secret"),
    );
    for d in [data.join("real"), out.clone(), secret.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(data.join("real/f.txt"), "allowed words").unwrap();
    std::fs::write(secret.join("f.txt"), "secret words").unwrap();
    let link = data.join("link");
    // Relative: a symlink inside an allowed folder may not be absolute.
    std::os::unix::fs::symlink("real", &link).unwrap();
    let confinement =
        Confinement::new(std::slice::from_ref(&data), std::slice::from_ref(&out)).unwrap();
    // No workers yet: the job waits after the coordinator's check.
    let cluster = secured_cluster(|c| c.confinement = confinement, 0).await;
    let c = client(cluster.url(), Some(CLIENT)).await;
    let job = c
        .submit(crate::common::submission(
            "wc",
            &[link.join("f.txt")],
            &out.join("o"),
            1,
        ))
        .await
        .expect("inside the allowed folders at submission");
    // The file system changes before a worker opens the input.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let mut config = mapreduce::worker::WorkerConfig::new(cluster.url(), registry());
    config.transport = Transport::new(None, Some(&token(WORKER)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mapreduce::worker::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let view = c.wait(job, |_| {}).await.unwrap();
    assert!(view.failed, "{view:?}");
    let error = view.errors.join("\n");
    assert!(
        error.contains("permission denied") && error.contains("outside the allowed input folders"),
        "{error}"
    );
    assert!(!out.join("o").join("mr-out-0").exists());
    let _ = stop.send(());
    let _ = worker.await;
    cluster.shutdown().await;
}
