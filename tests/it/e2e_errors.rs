//! In-process end-to-end tests of the coordinator's API and of failing jobs:
//! each test starts its own [`LocalCluster`] (coordinator and workers on
//! loopback ports of this process) with the real plugins from the folder of
//! the `mr` binary, and talks to it with the typed [`Client`] or, to check
//! exact gRPC codes and the worker protocol, the generated
//! `CoordinatorClient`. Covers refused submissions, unknown jobs, job id
//! numbering, bad inputs refused at submission, jobs failing on malformed input, the legacy
//! worker protocol, `WatchJob` ending, and a whole `wc` job compared with a
//! sequential word count (`common`).

use crate::common;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mapreduce::client::{Client, ClientError, JobState, JobView, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::core::JobId;
use mapreduce::output::OutputRecords;
use mapreduce::plugin::Registry;
use mapreduce::proto::coordinator as pb;
use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
use tonic::transport::Channel;
use tonic::Code;

use common::{
    expected_wc, path_str, plugins_dir, read_output_dir, texts, wc_inputs, wc_records, word_counts,
    write_files,
};

/// The longest any single step may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// The plugins next to the `mr` binary, loaded once per test binary.
fn registry() -> Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let dir = plugins_dir();
            let registry =
                Registry::load_dirs(std::slice::from_ref(&dir)).expect("loading the plugins");
            for app in ["grep", "vertex-degree", "wc"] {
                assert!(
                    registry.get(app).is_some(),
                    "no {app} plugin in {}: {:?}",
                    dir.display(),
                    registry.problems()
                );
            }
            Arc::new(registry)
        })
        .clone()
}

/// `fut`, failing the test if it takes longer than [`DEADLINE`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?}: {what}"))
}

async fn start(workers: usize) -> LocalCluster {
    within(
        "starting the cluster",
        LocalCluster::start(registry(), workers),
    )
    .await
    .expect("starting the cluster")
}

async fn stop(cluster: LocalCluster) {
    within("stopping the cluster", cluster.shutdown()).await;
}

async fn raw(cluster: &LocalCluster) -> CoordinatorClient<Channel> {
    within(
        "connecting",
        CoordinatorClient::connect(cluster.url().to_string()),
    )
    .await
    .expect("connecting to the coordinator")
}

async fn client(cluster: &LocalCluster) -> Client {
    within("connecting", Client::connect(cluster.url()))
        .await
        .expect("connecting to the coordinator")
}

/// A submission of `app` over `files` into `out` with 3 reduce tasks.
fn submission(
    files: &[std::path::PathBuf],
    out: &std::path::Path,
    app: &str,
    args: &[&str],
) -> Submission {
    Submission {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..crate::common::submission(app, files, out, 3)
    }
}

/// Waits for job `id` to end.
async fn wait(client: &Client, id: JobId) -> JobView {
    within(&format!("job {id} to end"), client.wait(id, |_| {}))
        .await
        .expect("following the job")
}

/// Submits `app` over `files` and waits until it ends.
async fn run_job(
    client: &Client,
    files: &[std::path::PathBuf],
    out: &std::path::Path,
    app: &str,
) -> JobView {
    let id = client
        .submit(submission(files, out, app, &[]))
        .await
        .expect("submitting");
    wait(client, id).await
}

/// Asserts the job failed with an error containing every one of `needles`.
fn assert_failed_with(view: &JobView, needles: &[&str]) {
    assert_eq!(view.state, JobState::Failed, "{view:#?}");
    assert!(view.done && view.failed, "{view:#?}");
    assert!(
        view.errors
            .iter()
            .any(|e| needles.iter().all(|n| e.contains(n))),
        "no error contains all of {needles:?}: {view:#?}"
    );
}

/// A raw submit request.
fn raw_request(files: &[&str], output_dir: &str, app: &str, n_reduce: u32) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        files: files.iter().map(|s| s.to_string()).collect(),
        output_dir: output_dir.to_string(),
        app: app.to_string(),
        n_reduce,
        args: Vec::new(),
        overwrite: false,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submissions_are_invalid_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_files(tmp.path(), &[("in.txt".to_string(), b"words".to_vec())]);
    let input = path_str(&input[0]);
    let out = path_str(&tmp.path().join("out"));
    let cluster = start(0).await;
    let mut coordinator = raw(&cluster).await;

    let available = registry().names().join(", ");
    let cases: Vec<(&str, pb::SubmitJobRequest, String)> = vec![
        (
            "unknown app",
            raw_request(&[&input], &out, "nope", 3),
            format!("unknown app \"nope\"; available apps: {available}"),
        ),
        (
            "empty file list",
            raw_request(&[], &out, "wc", 3),
            "a job needs at least one input file".to_string(),
        ),
        (
            "n_reduce 0",
            raw_request(&[&input], &out, "wc", 0),
            "n_reduce must be at least 1".to_string(),
        ),
        (
            "relative output_dir",
            raw_request(&[&input], "relative/out", "wc", 3),
            "output_dir must be an absolute path, got \"relative/out\"".to_string(),
        ),
        (
            "no output_dir",
            raw_request(&[&input], "", "wc", 3),
            "output_dir must be given".to_string(),
        ),
        (
            "no app",
            raw_request(&[&input], &out, "", 3),
            "app must be given".to_string(),
        ),
        (
            "an empty input path",
            raw_request(&[&input, ""], &out, "wc", 3),
            "input file 1 is an empty path".to_string(),
        ),
    ];
    for (case, request, message) in cases {
        let status = coordinator
            .submit_job(request)
            .await
            .expect_err(&format!("{case}: the submission should be refused"));
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert_eq!(status.message(), message, "{case}");
    }
    for app in ["grep", "vertex-degree", "wc"] {
        assert!(available.contains(app), "{available}");
    }

    // The typed client reports the same refusal with its code spelled out.
    let typed = client(&cluster).await;
    let err = typed
        .submit(crate::common::submission(
            "nope",
            &[&input],
            std::path::Path::new(&out),
            1,
        ))
        .await
        .expect_err("unknown app");
    assert!(
        matches!(&err, ClientError::Rpc(s) if s.code() == Code::InvalidArgument),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("invalid argument: unknown app \"nope\"; available apps: {available}")
    );

    // Nothing was created by the refused submissions.
    let jobs = coordinator
        .list_jobs(pb::ListJobsRequest {})
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert!(jobs.is_empty(), "{jobs:?}");
    drop((coordinator, typed));
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_job_is_not_found() {
    let cluster = start(0).await;
    let mut coordinator = raw(&cluster).await;
    let status = coordinator
        .poll_job(pb::PollJobRequest { job_id: 999 })
        .await
        .expect_err("job 999 does not exist");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "no job with id 999");

    let status = coordinator
        .watch_job(pb::PollJobRequest { job_id: 999 })
        .await
        .expect_err("job 999 cannot be watched");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let typed = client(&cluster).await;
    let err = typed
        .poll(JobId(999))
        .await
        .expect_err("job 999 does not exist");
    assert!(
        matches!(&err, ClientError::Rpc(s) if s.code() == Code::NotFound),
        "{err:?}"
    );
    drop((coordinator, typed));
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_ids_start_at_zero_and_increase() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(
        &tmp.path().join("in"),
        &[
            ("a.txt".to_string(), b"one two two".to_vec()),
            ("b.txt".to_string(), b"three".to_vec()),
        ],
    );
    let cluster = start(2).await;
    let client = client(&cluster).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let out = tmp.path().join(format!("out-{i}"));
        ids.push(
            client
                .submit(submission(&files, &out, "wc", &[]))
                .await
                .expect("submitting"),
        );
    }
    assert_eq!(ids, [JobId(0), JobId(1), JobId(2)]);
    for &id in &ids {
        let view = wait(&client, id).await;
        assert_eq!(view.job_id, id);
        assert_eq!(view.state, JobState::Succeeded, "{view:#?}");
        assert!(view.errors.is_empty(), "{view:#?}");
        assert!(view.finished_at_ms >= view.submitted_at_ms, "{view:#?}");
    }
    let listed: Vec<JobId> = client
        .jobs()
        .await
        .unwrap()
        .iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(
        listed,
        [JobId(0), JobId(1), JobId(2)],
        "ListJobs is oldest first"
    );
    drop(client);
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_input_file_or_an_empty_folder_is_refused_at_submission() {
    // (Workers check again before opening; tests/outputs.rs covers the
    // other kinds of bad input.)
    let tmp = tempfile::tempdir().unwrap();
    let mut files = write_files(
        &tmp.path().join("in"),
        &[("present.txt".to_string(), b"here".to_vec())],
    );
    let missing = tmp.path().join("in").join("missing.txt");
    let dir = tmp.path().join("a-folder");
    std::fs::create_dir(&dir).unwrap();
    files.push(missing.clone());
    let cluster = start(2).await;
    let client = client(&cluster).await;
    let out = tmp.path().join("out");
    let e = client
        .submit(submission(&files, &out, "wc", &[]))
        .await
        .expect_err("bad inputs");
    let ClientError::Rpc(status) = e else {
        panic!("expected an RPC error, got {e}")
    };
    let (code, msg) = (status.code(), status.message().to_string());
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    let missing_why = format!("{} does not exist", path_str(&missing));
    assert!(msg.contains(&missing_why), "{msg}");
    // A folder is read as its files; one without any is refused by name.
    let e = client
        .submit(submission(std::slice::from_ref(&dir), &out, "wc", &[]))
        .await
        .expect_err("an empty folder");
    let ClientError::Rpc(status) = e else {
        panic!("expected an RPC error, got {e}")
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    let dir_why = format!("input folder {} has no files", path_str(&dir));
    assert!(
        status.message().starts_with(&dir_why),
        "{}",
        status.message()
    );
    assert!(!out.exists(), "a refused job creates nothing");
    assert!(client.jobs().await.unwrap().is_empty());
    drop(client);
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_edge_list_fails_naming_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(
        &tmp.path().join("in"),
        &[
            ("good.txt".to_string(), b"1 2\n2 3\n".to_vec()),
            ("bad.txt".to_string(), b"1 2\n1 two\n3 4\n".to_vec()),
        ],
    );
    let cluster = start(2).await;
    let client = client(&cluster).await;
    let view = run_job(&client, &files, &tmp.path().join("out"), "vertex-degree").await;
    assert_failed_with(&view, &[&path_str(&files[1]), "line 2"]);
    drop(client);
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_worker_without_long_poll_is_told_to_wait_at_once() {
    let cluster = start(0).await;
    let mut coordinator = raw(&cluster).await;
    let reply = coordinator
        .register(pb::RegisterRequest {
            address: String::new(),
            ..Default::default()
        })
        .await
        .expect("registering")
        .into_inner();
    assert!(reply.heartbeat_interval_ms > 0, "{reply:?}");
    let worker_id = reply.worker_id;

    let started = Instant::now();
    let task = tokio::time::timeout(
        Duration::from_secs(2),
        coordinator.get_task(pb::GetTaskRequest {
            worker_id,
            long_poll_ms: 0,
            ..Default::default()
        }),
    )
    .await
    .expect("GetTask with long_poll_ms 0 answers at once")
    .expect("GetTask")
    .into_inner();
    assert!(task.wait, "no job: the worker must wait: {task:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // An empty address means the legacy port.
    let workers = coordinator
        .list_workers(pb::ListWorkersRequest {})
        .await
        .unwrap()
        .into_inner()
        .workers;
    let me = workers
        .iter()
        .find(|w| w.worker_id == worker_id)
        .expect("the worker is listed");
    assert_eq!(
        me.address,
        format!("127.0.0.1:{}", 10163 + worker_id),
        "{me:?}"
    );
    assert_eq!(me.state, pb::WorkerState::Alive as i32, "{me:?}");

    // A worker that never registered is told to.
    let status = coordinator
        .get_task(pb::GetTaskRequest {
            worker_id: worker_id + 100,
            long_poll_ms: 0,
            ..Default::default()
        })
        .await
        .expect_err("unknown worker");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    drop(coordinator);
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_job_ends_after_the_done_status() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(
        &tmp.path().join("in"),
        &[
            ("a.txt".to_string(), b"a b c a".to_vec()),
            ("b.txt".to_string(), b"c d".to_vec()),
        ],
    );
    let cluster = start(2).await;
    let client = client(&cluster).await;
    let id = client
        .submit(submission(&files, &tmp.path().join("out"), "wc", &[]))
        .await
        .unwrap();

    let mut coordinator = raw(&cluster).await;
    let collect = |mut coordinator: CoordinatorClient<Channel>| async move {
        let mut stream = coordinator
            .watch_job(pb::PollJobRequest { job_id: id.0 })
            .await
            .expect("watching")
            .into_inner();
        let mut statuses = Vec::new();
        while let Some(s) = stream.next().await {
            statuses.push(s.expect("a status"));
        }
        statuses
    };
    let statuses = within("the watch stream to end", collect(coordinator.clone())).await;
    let (last, earlier) = statuses.split_last().expect("at least one status");
    assert!(last.done && !last.failed, "{last:?}");
    assert_eq!(last.state, pb::JobState::Succeeded as i32, "{last:?}");
    assert_eq!(last.job_id, id.0);
    assert!(
        earlier.iter().all(|s| !s.done),
        "only the last status is done: {statuses:?}"
    );
    assert!(
        statuses.windows(2).all(|w| w[0] != w[1]),
        "no status repeats: {statuses:?}"
    );

    // Watching a finished job: one done status, then the end.
    let again = within(
        "the second watch stream to end",
        collect(coordinator.clone()),
    )
    .await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].done);
    let polled = coordinator
        .poll_job(pb::PollJobRequest { job_id: id.0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(polled.state, pb::JobState::Succeeded as i32);
    drop((coordinator, client));
    stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wc_job_matches_a_sequential_word_count() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = wc_inputs();
    let files = write_files(&tmp.path().join("in"), &inputs);
    let texts = texts(&inputs);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let out = tmp.path().join("out");
    let cluster = start(3).await;
    let client = client(&cluster).await;
    let view = run_job(&client, &files, &out, "wc").await;
    assert_eq!(view.state, JobState::Succeeded, "{view:#?}");
    assert_eq!(view.app, "wc");
    assert_eq!(view.n_reduce, 3);
    assert_eq!(view.output_dir, path_str(&out));
    assert_eq!(
        (view.maps.total, view.maps.done),
        (files.len() as u32, files.len() as u32),
        "{view:#?}"
    );
    assert_eq!((view.reduces.total, view.reduces.done), (3, 3), "{view:#?}");

    let want = word_counts(&texts);
    let records = read_output_dir(&out, 3);
    assert_eq!(wc_records(&records), want);
    assert_eq!(view.counters.input_records, files.len() as u64, "{view:#?}");
    assert_eq!(
        view.counters.reduce_output_records,
        want.len() as u64,
        "{view:#?}"
    );
    let input_bytes: u64 = inputs.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(view.counters.input_bytes, input_bytes, "{view:#?}");

    // The plugin's formatter over the output files prints the expected text.
    let registry = registry();
    let wc = &registry.get("wc").unwrap().app;
    let mut formatted = Vec::new();
    let mut records = OutputRecords::new(&out, 3);
    wc.format(&mut records, &mut formatted).expect("formatting");
    assert!(records.take_error().is_none());
    assert_eq!(String::from_utf8(formatted).unwrap(), expected_wc(&texts));
    drop(client);
    stop(cluster).await;
}
