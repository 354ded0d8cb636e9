//! Inputs end to end, on in-process clusters ([`LocalCluster`]) running the
//! built plugins: splits of every size give the output of one task per file
//! for all four apps, small files are packed into few map tasks, folders and
//! glob patterns are expanded at submission (hidden names skipped,
//! `recursive` descending), and bad inputs are refused naming the path.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mapreduce::client::{Client, ClientError, Submission, Submitted};
use mapreduce::cluster::LocalCluster;
use mapreduce::output::OutputRecords;
use mapreduce::plugin::Registry;
use tonic::Code;

use common::{path_str, plugins_dir, write_files};

const DEADLINE: Duration = Duration::from_secs(60);

fn registry() -> Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Arc::new(Registry::load_dirs(&[plugins_dir()]).expect("the plugins")))
        .clone()
}

fn job(inputs: &[String], out: &Path, app: &str, args: &[&str], split_size: u64) -> Submission {
    Submission {
        files: inputs.to_vec(),
        output_dir: path_str(out),
        app: app.into(),
        n_reduce: 2,
        args: args.iter().map(|s| s.to_string()).collect(),
        overwrite: true,
        split_size,
        recursive: false,
        speculation: None,
    }
}

/// Runs `job` to success and returns what it became and its formatted
/// output (as `mr process` prints it).
async fn run(client: &Client, job: Submission) -> (Submitted, String) {
    let (app, dir) = (job.app.clone(), PathBuf::from(&job.output_dir));
    let submitted = client.submit_job(job).await.expect("accepted");
    let view = tokio::time::timeout(DEADLINE, client.wait(submitted.job_id, |_| {}))
        .await
        .expect("the job ends in time")
        .expect("watching the job");
    assert!(!view.failed, "{:?}", view.errors);
    let registry = registry();
    let entry = registry.get(&app).expect("a built app");
    let mut records = OutputRecords::new(&dir, view.n_reduce);
    let mut text = Vec::new();
    entry.app.format(&mut records, &mut text).expect("format");
    assert!(records.take_error().is_none());
    (submitted, String::from_utf8(text).expect("text output"))
}

/// Files with CRLF ends, no final newline, empty lines, a line longer than
/// most split sizes, an empty file; text every app reads (edges for
/// `vertex-degree` are lines of two numbers; `sort` reads them as lines).
fn tricky_inputs() -> Vec<(String, Vec<u8>)> {
    let comment = format!("# {}\n1 9\n", "word7 ".repeat(10));
    vec![
        ("crlf.txt".into(), b"1 2\r\n3 4\r\n\r\n1 3\r\n".to_vec()),
        ("nofinal.txt".into(), b"5 6\n6 7\n7 5".to_vec()),
        ("long.txt".into(), comment.into_bytes()),
        ("empty.txt".into(), Vec::new()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_split_size_gives_the_unsplit_output_for_all_four_apps() {
    let data = tempfile::tempdir().unwrap();
    let paths = write_files(&data.path().join("in"), &tricky_inputs());
    let inputs: Vec<String> = paths.iter().map(|p| path_str(p)).collect();
    let largest = tricky_inputs().iter().map(|(_, b)| b.len()).max().unwrap() as u64;
    let total: u64 = tricky_inputs().iter().map(|(_, b)| b.len() as u64).sum();
    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let apps: [(&str, &[&str]); 4] = [
        ("wc", &[]),
        ("grep", &["--term", "7"]),
        ("vertex-degree", &[]),
        ("sort", &["--format", "lines"]),
    ];
    for (app, args) in apps {
        let out = data.path().join(format!("out-{app}"));
        let (one, want) = run(&client, job(&inputs, &out, app, args, 0)).await;
        assert_eq!(one.n_map, 4, "{app}: one map task per file");
        assert!(!want.is_empty(), "{app}");
        for size in 1..=largest + 1 {
            let (split, got) = run(&client, job(&inputs, &out, app, args, size)).await;
            assert_eq!(got, want, "{app} at split size {size}");
            if size == 1 {
                // A task per byte of each file (the empty one packed).
                assert_eq!(u64::from(split.n_map), total + 1, "{app}");
            }
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_files_are_packed_into_few_map_tasks() {
    let data = tempfile::tempdir().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("f{i:03}.txt"),
                format!("word{} common\n", i % 7).into_bytes(),
            )
        })
        .collect();
    let paths = write_files(&data.path().join("in"), &files);
    let inputs: Vec<String> = paths.iter().map(|p| path_str(p)).collect();
    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let out = data.path().join("out");
    let (whole, want) = run(&client, job(&inputs, &out, "wc", &[], 0)).await;
    assert_eq!(whole.n_map, 200);
    // Every file is 13 or 14 bytes: 1 KiB holds about 75 of them.
    let (packed, got) = run(&client, job(&inputs, &out, "wc", &[], 1024)).await;
    assert_eq!(packed.n_map, 3);
    assert_eq!(packed.n_files, 200);
    assert_eq!(got, want);
    assert!(got.contains("200\tcommon\n"), "{got}");
    let (default, got) = run(&client, job(&inputs, &out, "wc", &[], 64 << 20)).await;
    assert_eq!(default.n_map, 1);
    assert_eq!(got, want);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_patterns_are_expanded_skipping_hidden_names() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("in");
    let files: Vec<(String, Vec<u8>)> = [
        ("a.txt", "apple"),
        ("b.log", "banana"),
        (".hidden.txt", "hidden"),
        ("_SUCCESS", "marker"),
        ("sub/c.txt", "cherry"),
        ("sub/.git/d.txt", "secret"),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), format!("{t}\n").into_bytes()))
    .collect();
    write_files(&root, &files);
    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let out = data.path().join("out");
    let words = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split('\t').nth(1).unwrap().to_string())
            .collect()
    };
    let folder = vec![path_str(&root)];
    let (s, text) = run(&client, job(&folder, &out, "wc", &[], 0)).await;
    assert_eq!(
        (s.n_files, words(&text)),
        (2, vec!["apple".into(), "banana".into()])
    );
    let mut recursive = job(&folder, &out, "wc", &[], 0);
    recursive.recursive = true;
    let (s, text) = run(&client, recursive).await;
    assert_eq!(s.n_files, 3);
    assert_eq!(words(&text), ["apple", "banana", "cherry"]);
    let pattern = vec![format!("{}/**/*.txt", path_str(&root))];
    let (s, text) = run(&client, job(&pattern, &out, "wc", &[], 0)).await;
    assert_eq!(
        (s.n_files, words(&text)),
        (2, vec!["apple".into(), "cherry".into()])
    );
    // A name given explicitly is read, hidden or not.
    let named = vec![path_str(&root.join(".hidden.txt"))];
    let (_, text) = run(&client, job(&named, &out, "wc", &[], 0)).await;
    assert_eq!(words(&text), ["hidden"]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_naming_the_path() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("in");
    write_files(&root, &[("only/.hidden".into(), b"x".to_vec())]);
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let unreadable = root.join("locked.txt");
    std::fs::write(&unreadable, "x").unwrap();
    let cluster = LocalCluster::start(registry(), 1).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let out = data.path().join("out");
    let refused = |e: ClientError| match e {
        ClientError::Rpc(s) => (s.code(), s.message().to_string()),
        other => panic!("expected an RPC error, got {other}"),
    };
    let pattern = format!("{}/*.csv", path_str(&root));
    let e = client
        .submit(job(std::slice::from_ref(&pattern), &out, "wc", &[], 0))
        .await
        .unwrap_err();
    assert_eq!(
        refused(e),
        (
            Code::InvalidArgument,
            format!("input pattern {pattern} matches no files")
        )
    );
    for folder in ["empty", "only"] {
        let dir = path_str(&root.join(folder));
        let e = client
            .submit(job(std::slice::from_ref(&dir), &out, "wc", &[], 0))
            .await
            .unwrap_err();
        let (code, msg) = refused(e);
        assert_eq!(code, Code::InvalidArgument);
        assert!(
            msg.starts_with(&format!("input folder {dir} has no files")),
            "{msg}"
        );
    }
    // Unreadable (skipped when running as root, who reads anything).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&unreadable).is_err() {
        let e = client
            .submit(job(&[path_str(&unreadable)], &out, "wc", &[], 1024))
            .await
            .unwrap_err();
        let (code, msg) = refused(e);
        assert_eq!(code, Code::InvalidArgument);
        assert!(msg.contains(&path_str(&unreadable)), "{msg}");
    }
    assert!(!out.exists(), "a refused job creates nothing");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_predates_splits_never_runs_a_split_task() {
    use mapreduce::proto::coordinator as pb;
    use pb::coordinator_client::CoordinatorClient;
    let data = tempfile::tempdir().unwrap();
    let paths = write_files(
        &data.path().join("in"),
        &[("big.txt".into(), b"one line\nanother line\n".to_vec())],
    );
    let inputs = vec![path_str(&paths[0])];
    let cluster = LocalCluster::start(registry(), 0).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let mut old = CoordinatorClient::connect(cluster.url().to_string())
        .await
        .unwrap();
    let worker_id = old
        .register(pb::RegisterRequest::default())
        .await
        .unwrap()
        .into_inner()
        .worker_id;
    let out = data.path().join("out");
    // A whole file: the older worker gets it, with `file` set.
    let whole = client
        .submit_job(job(&inputs, &out, "wc", &[], 0))
        .await
        .unwrap();
    let task = old
        .get_task(pb::GetTaskRequest {
            worker_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (task.job_id, task.file.as_str()),
        (whole.job_id.0, inputs[0].as_str())
    );
    client.cancel(whole.job_id).await.unwrap();
    // Cut into two ranges: refused to that worker, and the job fails saying why.
    let split = client
        .submit_job(job(&inputs, &out, "wc", &[], 10))
        .await
        .unwrap();
    assert_eq!(split.n_map, 3);
    let task = old
        .get_task(pb::GetTaskRequest {
            worker_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(task.wait, "{task:?}");
    let view = client.poll(split.job_id).await.unwrap();
    assert!(view.failed, "{view:?}");
    assert!(
        view.errors
            .iter()
            .any(|e| e.contains("cannot run map tasks over input splits")),
        "{:?}",
        view.errors
    );
    cluster.shutdown().await;
}
