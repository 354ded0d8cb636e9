//! The output-folder rules, the `_SUCCESS` manifest, inputs checked at
//! submission and `mr submit --wait` on a cluster without a live worker:
//! in-process clusters ([`LocalCluster`]) for the coordinator's rules, real
//! `mr` processes for the command line.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mapreduce::client::{Client, ClientError, JobState, JobView, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::output::manifest::Manifest;
use mapreduce::plugin::Registry;
use tonic::Code;

use common::procs::{mr, run_mr, Cluster};
use common::{expected_wc, path_str, plugins_dir, texts, wc_inputs, write_files};

const DEADLINE: Duration = Duration::from_secs(30);

fn registry() -> Arc<Registry> {
    Arc::new(Registry::load_dirs(&[plugins_dir()]).expect("loading the plugins"))
}

fn wc_job(files: &[std::path::PathBuf], out: &Path, overwrite: bool) -> Submission {
    Submission {
        files: files.iter().map(|p| path_str(p)).collect(),
        output_dir: path_str(out),
        app: "wc".into(),
        n_reduce: 3,
        args: Vec::new(),
        overwrite,
        split_size: 0,
        recursive: false,
        speculation: None,
    }
}

async fn run(client: &Client, job: Submission) -> Result<JobView, ClientError> {
    let id = client.submit(job).await?;
    tokio::time::timeout(DEADLINE, client.wait(id, |_| {}))
        .await
        .expect("the job ends in time")
}

fn refusal(e: ClientError) -> (Code, String) {
    match e {
        ClientError::Rpc(s) => (s.code(), s.message().to_string()),
        other => panic!("expected an RPC error, got {other}"),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_output_folder_is_refused_unless_overwrite_and_a_manifest_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = wc_inputs();
    let files = write_files(&tmp.path().join("in"), &inputs);
    let out = tmp.path().join("out");
    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();

    let first = run(&client, wc_job(&files, &out, false)).await.unwrap();
    assert_eq!(first.state, JobState::Succeeded, "{first:#?}");
    // The manifest is there as soon as the job reads as succeeded.
    let m = Manifest::read(&out).expect("a manifest");
    assert_eq!(
        (m.job_id, m.app.as_str(), m.n_reduce),
        (first.job_id.0, "wc", 3)
    );
    assert_eq!(m.plugin_sha256.len(), 64, "{m:?}");
    assert_eq!(m.files.len(), 3);
    assert_eq!(m.counters["input_records"], inputs.len() as u64);
    assert!(m.finished_at_ms >= m.submitted_at_ms && m.finished_at_ms > 0);
    m.verify(&out).unwrap();

    // Again into the same folder: refused, naming the files and --overwrite.
    let before = names(&out);
    let (code, msg) = refusal(run(&client, wc_job(&files, &out, false)).await.unwrap_err());
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    assert!(
        msg.contains("not empty") && msg.contains("mr-out-0") && msg.contains("--overwrite"),
        "{msg}"
    );
    assert_eq!(names(&out), before, "a refusal changes nothing");

    // With --overwrite: a new job, a new manifest.
    let second = run(&client, wc_job(&files[..1], &out, true)).await.unwrap();
    assert_eq!(second.state, JobState::Succeeded, "{second:#?}");
    let m2 = Manifest::read(&out).unwrap();
    assert_eq!(m2.job_id, second.job_id.0);
    assert_eq!(m2.counters["input_records"], 1);

    // A file that is not ours is never deleted, even with --overwrite.
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let (code, msg) = refusal(run(&client, wc_job(&files, &out, true)).await.unwrap_err());
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    assert!(
        msg.contains("notes.txt") && msg.contains("not mapreduce output"),
        "{msg}"
    );
    assert!(out.join("notes.txt").is_file() && out.join("_SUCCESS").is_file());
    assert_eq!(
        client.jobs().await.unwrap().len(),
        2,
        "refusals submit nothing"
    );
    drop(client);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_unfinished_jobs_never_share_a_folder_and_refusals_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(&tmp.path().join("in"), &wc_inputs());
    // No workers: the first job stays queued.
    let cluster = LocalCluster::start(registry(), 0).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let out = tmp.path().join("shared");
    let first = client.submit(wc_job(&files, &out, false)).await.unwrap();
    assert!(out.is_dir(), "an accepted job's folder is created");
    for overwrite in [false, true] {
        let e = client
            .submit(wc_job(&files, &out, overwrite))
            .await
            .unwrap_err();
        let (code, msg) = refusal(e);
        assert_eq!(code, Code::AlreadyExists, "{msg}");
        assert!(
            msg.contains(&format!("output of job {first} (queued)")),
            "{msg}"
        );
    }
    // The same folder by another spelling is the same folder.
    let other_spelling = tmp.path().join("in").join("..").join("shared");
    assert!(client
        .submit(wc_job(&files, &other_spelling, true))
        .await
        .is_err());

    // Bad inputs: every one listed with its reason; nothing created.
    let fresh = tmp.path().join("never-created");
    let missing = tmp.path().join("missing.txt");
    let fifo = tmp.path().join("a-fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut bad = files.clone();
    // (A folder is an input too: its files; tests/it/inputs.rs.)
    bad.extend([missing.clone(), fifo.clone(), "/dev/null".into()]);
    let e = tokio::time::timeout(DEADLINE, client.submit(wc_job(&bad, &fresh, false)))
        .await
        .expect("a FIFO does not block the submission")
        .unwrap_err();
    let (code, msg) = refusal(e);
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    assert!(msg.starts_with("3 of the "), "{msg}");
    for why in [
        format!("{} does not exist", path_str(&missing)),
        format!("{} is a FIFO", path_str(&fifo)),
        "/dev/null is a device".to_string(),
    ] {
        assert!(msg.contains(&why), "{why:?} not in {msg}");
    }
    assert!(!fresh.exists(), "a refused submission creates no folder");

    // Once the first job ends, the folder is free again (it is empty).
    client.cancel(first).await.unwrap();
    let again = client.submit(wc_job(&files, &out, false)).await.unwrap();
    assert!(again > first);
    drop(client);
    cluster.shutdown().await;
}

#[test]
fn mr_process_reads_n_from_the_manifest_and_refuses_unfinished_or_wrong_n() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = wc_inputs();
    let files = write_files(&tmp.path().join("in"), &inputs);
    let out = tmp.path().join("out");
    let plugins = plugins_dir();
    let mut run_cmd = mr();
    run_cmd
        .args(["run", "-q", "-a", "wc", "-n", "4", "--plugins"])
        .arg(&plugins)
        .arg("-o")
        .arg(&out)
        .args(&files);
    let ran = run_cmd.output().unwrap();
    assert!(ran.status.success(), "{ran:?}");
    let texts = texts(&inputs);
    let want = expected_wc(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    let process = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec!["process".into(), "-o".into()];
        args.push(out.clone().into());
        args.push("--plugins".into());
        args.push(plugins.clone().into());
        args.extend(extra.iter().map(Into::into));
        run_mr(args)
    };
    // No -a, no -n: both from the manifest.
    assert_eq!(process(&[]).ok().stdout, want);
    let wrong = process(&["-n", "3"]);
    assert!(!wrong.status.success());
    assert!(
        wrong.stderr.contains("with 4 reduce partitions, not 3"),
        "{wrong:?}"
    );
    // A second `mr run` into the used folder is refused, then overwrites.
    let mut again = mr();
    again
        .args(["run", "-q", "-a", "wc", "-n", "2", "--plugins"])
        .arg(&plugins)
        .arg("-o")
        .arg(&out)
        .args(&files[..1]);
    let refused = again.output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--overwrite"));
    assert_eq!(process(&[]).ok().stdout, want, "the old output is intact");

    // Without a manifest: refused, unless --no-manifest with -n.
    std::fs::remove_file(out.join("_SUCCESS")).unwrap();
    let unfinished = process(&["-a", "wc"]);
    assert!(!unfinished.status.success());
    assert!(
        unfinished.stderr.contains("holds no finished job")
            && unfinished.stderr.contains("--no-manifest"),
        "{unfinished:?}"
    );
    let forced = process(&["-a", "wc", "-n", "4", "--no-manifest"]);
    assert_eq!(forced.ok().stdout, want);
}

#[test]
fn submit_wait_without_a_live_worker_says_so_and_the_clock_ticks() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(&tmp.path().join("in"), &wc_inputs());
    let mut cluster = Cluster::start(tmp.path(), 0);
    let out = tmp.path().join("out");
    let mut submit = mr();
    submit
        .args(cluster.submit_args(&files, &out, "chaos", 1, true, &[]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = submit.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    cluster.add_worker();
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(
        stderr.contains("no live worker; the job waits for one"),
        "{stderr}"
    );
}
