//! Object storage end to end, against a real S3-compatible server process
//! (moto's `moto_server`, started here on a free port; `.ci/run` installs
//! it): `s3://` inputs (prefixes, patterns, split objects read with ranged
//! GETs), alone or beside local files, give the output of the same job
//! over local files; `--allow-input` confines buckets and prefixes; AWS
//! named profiles configure the client; outputs are in [`outputs`].
//!
//! Without `moto_server` on the PATH these tests say so loudly and pass
//! without running (CI installs it).

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mapreduce::client::{Client, ClientError, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::coordinator::CoordinatorConfig;
use mapreduce::output::OutputRecords;
use mapreduce::plugin::Registry;
use mapreduce::storage::{self, ObjectUrl};
use tonic::Code;

use common::{path_str, plugins_dir, poll_until, write_files};

mod outputs;

const DEADLINE: Duration = Duration::from_secs(60);

/// The smallest multipart part the test server accepts.
const MIN_PART: usize = 1024;

fn registry() -> Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Arc::new(Registry::load_dirs(&[plugins_dir()]).expect("the plugins")))
        .clone()
}

/// The moto server every test here shares (killed when the test binary
/// exits, since it dies with its stdin).
struct Moto {
    endpoint: String,
    _child: Child,
}

/// The shared server, started on first use with the `AWS_*` variables of
/// this process pointing at it; `None` (after a loud message) when
/// `moto_server` is not installed.
fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Multipart parts of 1 KiB (S3's are at least 5 MiB), so that
            // small test outputs span several parts.
            .env("S3_UPLOAD_PART_MIN_SIZE", MIN_PART.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "\n!!!!! SKIPPING the object storage tests: cannot start moto_server ({e}); \
                     install it with `python3 -m pip install 'moto[server]'` !!!!!\n"
                );
                return None;
            }
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        poll_until("moto_server listening", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        // SAFETY-free in edition 2021: set once, before any client is built.
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        Some(Moto {
            endpoint,
            _child: child,
        })
    })
    .as_ref()
}

/// Creates `bucket` with the S3 API's `CreateBucket` (`PUT /bucket`).
fn create_bucket(moto: &Moto, bucket: &str) {
    let addr = moto.endpoint.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("moto");
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "CreateBucket: {reply}");
}

/// Uploads `files` beneath `prefix` (an `s3://bucket/dir/` URL).
async fn upload(prefix: &str, files: &[(String, Vec<u8>)]) {
    let prefix = ObjectUrl::parse(prefix).unwrap();
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || {
        for (name, bytes) in files {
            storage::put(&prefix.join(&name), bytes, false).expect("upload");
        }
    })
    .await
    .unwrap();
}

fn job(inputs: &[&str], out: &Path, split_size: u64) -> Submission {
    Submission {
        files: inputs.iter().map(|s| s.to_string()).collect(),
        output_dir: path_str(out),
        app: "wc".into(),
        n_reduce: 2,
        args: Vec::new(),
        overwrite: true,
        split_size,
        ..Submission::default()
    }
}

/// Runs `job` to success; its map task count and its output as `mr
/// process` prints it (an `s3://` output downloaded first).
async fn run(client: &Client, job: Submission) -> (u32, String) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = if storage::is_object(&job.output_dir) {
        scratch.path().to_path_buf()
    } else {
        PathBuf::from(&job.output_dir)
    };
    let output = job.output_dir.clone();
    let submitted = client.submit_job(job).await.expect("accepted");
    let view = tokio::time::timeout(DEADLINE, client.wait(submitted.job_id, |_| {}))
        .await
        .expect("the job ends in time")
        .expect("watching the job");
    assert!(!view.failed, "{:?}", view.errors);
    if storage::is_object(&output) {
        download(&output, &dir).await;
    }
    let registry = registry();
    let entry = registry.get("wc").expect("a built app");
    let mut records = OutputRecords::new(&dir, view.n_reduce);
    let mut text = Vec::new();
    entry.app.format(&mut records, &mut text).expect("format");
    assert!(records.take_error().is_none());
    (
        submitted.n_map,
        String::from_utf8(text).expect("text output"),
    )
}

/// Copies the objects directly beneath `prefix` into `dir`.
async fn download(prefix: &str, dir: &Path) {
    let prefix = ObjectUrl::parse(prefix).unwrap();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        for l in storage::list(&prefix).unwrap() {
            let name = &l.url.key[prefix.key.len()..];
            std::fs::write(dir.join(name), storage::get(&l.url).unwrap()).unwrap();
        }
    })
    .await
    .unwrap();
}

/// The names of the objects directly beneath `prefix`.
async fn names(prefix: &str) -> Vec<String> {
    let prefix = ObjectUrl::parse(prefix).unwrap();
    tokio::task::spawn_blocking(move || {
        storage::list(&prefix)
            .unwrap()
            .into_iter()
            .map(|l| l.url.key[prefix.key.len()..].to_string())
            .collect()
    })
    .await
    .unwrap()
}

/// Several objects, one large enough to be cut into splits, and hidden
/// names a prefix skips.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = common::wc_inputs()
        .into_iter()
        .map(|(name, bytes)| (name.replace('/', "-"), bytes))
        .collect();
    let big: String = (0..3000)
        .map(|i| format!("line {i} word{} common\r\n", i % 17))
        .collect();
    files.push(("big.txt".into(), big.into_bytes()));
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_s3_inputs_gives_the_local_output() {
    let Some(moto) = moto() else { return };
    create_bucket(moto, "wc-in");
    upload("s3://wc-in/data/", &inputs()).await;
    upload(
        "s3://wc-in/data/",
        &[("_SUCCESS".into(), b"skip me".to_vec())],
    )
    .await;
    upload(
        "s3://wc-in/data/",
        &[(".hidden".into(), b"skip me".to_vec())],
    )
    .await;
    upload(
        "s3://wc-in/data/sub/",
        &[("deeper.txt".into(), b"skip me".to_vec())],
    )
    .await;
    let local = tempfile::tempdir().unwrap();
    let paths = write_files(&local.path().join("in"), &inputs());
    let local_inputs: Vec<String> = paths.iter().map(|p| path_str(p)).collect();
    let local_inputs: Vec<&str> = local_inputs.iter().map(String::as_str).collect();

    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let out = local.path().join("out");
    let split = 4096;
    let (local_maps, want) = run(&client, job(&local_inputs, &out, split)).await;
    assert!(want.contains("\tcommon\n"), "{want}");
    let (maps, got) = run(&client, job(&["s3://wc-in/data/"], &out, split)).await;
    assert_eq!(got, want, "a prefix");
    assert_eq!(maps, local_maps, "the same splits as over local files");
    assert!(
        maps > 3,
        "big.txt is cut into ranged reads: {maps} map tasks"
    );
    let (_, got) = run(&client, job(&["s3://wc-in/data/*.txt"], &out, split)).await;
    assert_eq!(got, want, "a pattern");
    let (_, got) = run(&client, job(&["s3://wc-in/data"], &out, 0)).await;
    assert_eq!(got, want, "a prefix without its slash, whole objects");

    let e = client
        .submit_job(job(&["s3://wc-in/nothing/*.txt"], &out, split))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("matches no files"), "{e}");
    // Local files and objects in one job: big.txt (cut into ranged reads)
    // from the bucket, the rest from local files.
    let mut mixed: Vec<&str> = local_inputs
        .iter()
        .copied()
        .filter(|p| !p.ends_with("big.txt"))
        .collect();
    mixed.push("s3://wc-in/data/big.txt");
    let (mixed_maps, got) = run(&client, job(&mixed, &out, split)).await;
    assert_eq!(got, want, "local files and an object");
    assert_eq!(mixed_maps, local_maps, "the same splits");
    let (_, got) = run(&client, job(&mixed, &out, 0)).await;
    assert_eq!(got, want, "local files and an object, whole");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_input_prefixes_confine_buckets_and_prefixes() {
    let Some(moto) = moto() else { return };
    create_bucket(moto, "confined");
    let files = vec![("a.txt".to_string(), b"x y\n".to_vec())];
    upload("s3://confined/open/", &files).await;
    upload("s3://confined/secret/", &files).await;
    upload("s3://confined/opener/", &files).await;
    let out = tempfile::tempdir().unwrap();
    let confinement =
        mapreduce::security::Confinement::new(&[PathBuf::from("s3://confined/open")], &[]).unwrap();
    let mut config = CoordinatorConfig::new(registry());
    config.confinement = confinement;
    let cluster = LocalCluster::start_with(config, 1, |c| c).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let (_, got) = run(&client, job(&["s3://confined/open/"], out.path(), 0)).await;
    assert_eq!(got, "1\tx\n1\ty\n");
    for refused in [
        "s3://confined/secret/",
        "s3://confined/opener/a.txt",
        "s3://confined/open/../secret/a.txt",
        "s3://other/open/a.txt",
    ] {
        let e = client
            .submit_job(job(&[refused], out.path(), 0))
            .await
            .unwrap_err();
        let denied = matches!(&e, ClientError::Rpc(s) if s.code() == Code::PermissionDenied);
        assert!(denied, "{refused}: {e}");
    }
    // A local file beside an allowed object is confined too.
    let local = tempfile::tempdir().unwrap();
    let local_file = path_str(&write_files(local.path(), &files)[0]);
    let e = client
        .submit_job(job(&["s3://confined/open/", &local_file], out.path(), 0))
        .await
        .unwrap_err();
    let denied = matches!(&e, ClientError::Rpc(s) if s.code() == Code::PermissionDenied);
    assert!(denied, "{local_file}: {e}");
    cluster.shutdown().await;
}

/// `mr run` reads and writes `s3://` URLs, and `mr process -o s3://...`
/// reads the output back (checked against its manifest).
#[test]
fn mr_run_and_mr_process_take_s3_urls() {
    use common::procs::run_mr;
    let Some(moto) = moto() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    create_bucket(moto, "cli");
    let files = vec![("a.txt".to_string(), b"to be or not to be\n".to_vec())];
    rt.block_on(upload("s3://cli/in/", &files));
    let plugins = path_str(&plugins_dir());
    let run = run_mr([
        "run",
        "s3://cli/in/",
        "-o",
        "s3://cli/out",
        "-a",
        "wc",
        "-n",
        "2",
        "--workers",
        "2",
        "--plugins",
        &plugins,
    ])
    .ok();
    let want = "1\tnot\n1\tor\n2\tbe\n2\tto\n";
    assert_eq!(run.stdout, want);
    let process = run_mr(["process", "-o", "s3://cli/out/", "--plugins", &plugins]).ok();
    assert_eq!(process.stdout, want);
}

/// `mr run` with no AWS key, region or endpoint in its environment, only a
/// named profile (`AWS_PROFILE`) in the files `AWS_SHARED_CREDENTIALS_FILE`
/// and `AWS_CONFIG_FILE` name: the job reads and writes through the
/// profile's endpoint. A profile that is in neither file is an error naming
/// it.
#[test]
fn credentials_region_and_endpoint_come_from_a_named_profile() {
    use common::procs::{mr, spawn_command};
    let Some(moto) = moto() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    create_bucket(moto, "profiled");
    let files = vec![("a.txt".to_string(), b"to be or not to be\n".to_vec())];
    rt.block_on(upload("s3://profiled/in/", &files));
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = (dir.path().join("credentials"), dir.path().join("config"));
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = unused\naws_secret_access_key = unused\n\
         [ci]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[profile ci]\nregion = us-east-1\nendpoint_url = {}\n",
            moto.endpoint
        ),
    )
    .unwrap();
    let plugins = path_str(&plugins_dir());
    let run = |profile: &str| {
        let mut cmd = mr();
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
        ] {
            cmd.env_remove(name);
        }
        cmd.env("AWS_PROFILE", profile)
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
            .env("AWS_CONFIG_FILE", &config)
            .env("HOME", dir.path())
            .args(["run", "s3://profiled/in/", "-o", "s3://profiled/out/"])
            .args([
                "-a",
                "wc",
                "-n",
                "2",
                "--workers",
                "2",
                "--plugins",
                &plugins,
            ]);
        spawn_command(cmd).finish()
    };
    let ok = run("ci").ok();
    assert_eq!(ok.stdout, "1\tnot\n1\tor\n2\tbe\n2\tto\n");
    assert_eq!(
        rt.block_on(names("s3://profiled/out/")),
        ["_SUCCESS", "mr-out-0", "mr-out-1"]
    );
    let missing = run("nope");
    assert!(!missing.status.success(), "{missing:#?}");
    assert!(
        missing.stderr.contains("AWS profile \"nope\""),
        "{missing:#?}"
    );
}
