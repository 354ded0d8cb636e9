//! Object storage outputs end to end, against the shared moto server of
//! [`super`]: `mr-out-*` objects committed whole (one conditional PUT, or a
//! multipart upload published by a conditional copy above the part size)
//! with the manifest last, `--overwrite`, and a killed reduce leaving no
//! partial object.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mapreduce::client::{Client, Submission};
use mapreduce::cluster::LocalCluster;
use mapreduce::coordinator::CoordinatorConfig;
use mapreduce::storage::{self, ObjectUrl, StorageError};

use super::{create_bucket, download, inputs, job, moto, names, registry, run, upload, MIN_PART};
use crate::common::{self, path_str, poll_until, write_files};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outputs_are_committed_whole_with_the_manifest_last() {
    let Some(moto) = moto() else { return };
    create_bucket(moto, "wc-out");
    upload("s3://wc-out/in/", &inputs()).await;
    let local = tempfile::tempdir().unwrap();
    let paths = write_files(&local.path().join("in"), &inputs());
    let local_inputs: Vec<String> = paths.iter().map(|p| path_str(p)).collect();
    let local_inputs: Vec<&str> = local_inputs.iter().map(String::as_str).collect();
    let cluster = LocalCluster::start(registry(), 2).await.unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let (_, want) = run(&client, job(&local_inputs, &local.path().join("out"), 4096)).await;

    let mut to_s3 = job(&["s3://wc-out/in/"], Path::new("s3://wc-out/out/"), 4096);
    to_s3.output_dir = "s3://wc-out/out/".into();
    let (_, got) = run(&client, to_s3.clone()).await;
    assert_eq!(got, want);
    assert_eq!(
        names("s3://wc-out/out/").await,
        ["_SUCCESS", "mr-out-0", "mr-out-1"]
    );
    let manifest = storage_get("s3://wc-out/out/_SUCCESS").await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["n_reduce"], 2, "{manifest}");
    assert_eq!(
        manifest["files"].as_array().map(Vec::len),
        Some(2),
        "{manifest}"
    );

    // An earlier job's output is not replaced without --overwrite.
    let e = client
        .submit_job(Submission {
            overwrite: false,
            ..to_s3.clone()
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--overwrite"), "{e}");
    // With it, the same job commits again.
    let (_, again) = run(&client, to_s3).await;
    assert_eq!(again, want);

    // Commits are conditional (If-None-Match): a second create of a
    // committed object fails rather than replacing it.
    let url = ObjectUrl::parse("s3://wc-out/out/mr-out-0").unwrap();
    let refused = tokio::task::spawn_blocking(move || storage::put(&url, b"other".to_vec(), true))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(storage::StorageError::Exists(_))),
        "{refused:?}"
    );
    cluster.shutdown().await;
}

async fn storage_get(url: &str) -> Vec<u8> {
    let url = ObjectUrl::parse(url).unwrap();
    tokio::task::spawn_blocking(move || storage::get(&url).unwrap().to_vec())
        .await
        .unwrap()
}

/// A reduce worker killed (SIGKILL) in the middle of its reduce leaves no
/// object for its partition (the output is one PUT of finished bytes), and
/// the job still ends with the right output and its manifest.
#[test]
fn a_killed_reduce_leaves_no_partial_object_and_the_job_succeeds() {
    use common::procs::{run_mr, Cluster};
    let Some(moto) = moto() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    create_bucket(moto, "killed");
    // 120 distinct words: about 60 keys per reduce, 40 ms each.
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|f| {
            let text: String = (0..120).map(|w| format!("w{w:03} common\n")).collect();
            (format!("f{f}.txt"), text.into_bytes())
        })
        .collect();
    rt.block_on(upload("s3://killed/in/", &files));
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 2);
    let args = cluster.submit_args(
        &[PathBuf::from("s3://killed/in/")],
        Path::new("s3://killed/out/"),
        "chaos",
        2,
        false,
        &["--reduce-sleep-ms", "40"],
    );
    let out = run_mr(args).ok();
    let job = common::procs::job_id_of(&out);
    let reducing = poll_until("a worker running a reduce", Duration::from_secs(30), || {
        cluster.workers_json().into_iter().find_map(|w| {
            let running = w["running"].as_str()?;
            running.contains("reduce").then(|| w["address"].clone())
        })
    });
    let i = (0..cluster.workers.len())
        .find(|&i| reducing == cluster.worker_address(i).as_str())
        .unwrap_or_else(|| panic!("no worker at {reducing}:\n{}", cluster.dump_logs()));
    cluster.workers[i].kill();
    let after_kill = rt.block_on(names("s3://killed/out/"));
    assert!(
        after_kill.len() < 2,
        "the killed reduce's partition has no object: {after_kill:?}"
    );
    cluster.add_worker();
    let status = cluster.wait_job(job, Duration::from_secs(90));
    assert_eq!(
        status["state"],
        "succeeded",
        "{status}\n{}",
        cluster.dump_logs()
    );
    assert_eq!(
        rt.block_on(names("s3://killed/out/")),
        ["_SUCCESS", "mr-out-0", "mr-out-1"]
    );
    let local = tempfile::tempdir().unwrap();
    rt.block_on(download("s3://killed/out/", local.path()));
    let records = common::read_output_dir(local.path(), 2);
    let counts = common::key_counts(&records);
    assert_eq!(counts.len(), 121, "every word once");
    for (k, v) in &records {
        let want = if k == b"common" { 480 } else { 4 };
        assert_eq!(common::be_u64(v), want, "{}", String::from_utf8_lossy(k));
    }
}

/// A file streamed as a multipart upload: the object has its bytes and a
/// multipart entity tag (`-<parts>`); a part the server refuses aborts the
/// upload, leaving no object; a conditional copy publishes an object only
/// where none is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_up_in_parts_and_publish_conditionally() {
    use mapreduce::storage::upload;
    let Some(moto) = moto() else { return };
    create_bucket(moto, "parts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    let bytes: Vec<u8> = (0..10 * MIN_PART + 100).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let url = |key: &str| ObjectUrl::parse(&format!("s3://parts/{key}")).unwrap();
    let (staged, published) = (url("tmp/big"), url("out/big"));
    let etag = tokio::task::spawn_blocking(move || {
        upload::upload_file(&file, &staged, MIN_PART).expect("uploaded in parts");
        let etag = upload::etag(&staged).unwrap().expect("an object");
        upload::copy_create(&staged, &published).expect("published");
        let again = upload::copy_create(&staged, &published);
        assert!(matches!(again, Err(StorageError::Exists(_))), "{again:?}");
        // Parts below the server's minimum: the upload fails and is
        // aborted, leaving no object.
        let refused = upload::upload_file(&file, &url("tmp/small-parts"), MIN_PART / 2);
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(storage::size(&url("tmp/small-parts")).unwrap(), None);
        etag
    })
    .await
    .unwrap();
    assert!(etag.trim_matches('"').ends_with("-11"), "11 parts: {etag}");
    assert_eq!(storage_get("s3://parts/tmp/big").await, bytes);
    assert_eq!(storage_get("s3://parts/out/big").await, bytes);
}

/// Reduce outputs larger than the workers' part size are uploaded in parts
/// and published by a conditional copy (a multipart entity tag), with the
/// same output as a local job; the job's commit removes what killed
/// reduces left under `_temporary/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reduce_outputs_are_uploaded_in_parts() {
    let Some(moto) = moto() else { return };
    create_bucket(moto, "big-out");
    // 3000 distinct words of letters (wc's words are letters only).
    let word = |i: usize| -> String {
        (0..3)
            .map(|d| char::from(b'a' + (i / 26usize.pow(d) % 26) as u8))
            .collect()
    };
    let text: String = (0..3000)
        .map(|i| format!("w{} common\n", word(i)))
        .collect();
    let files = vec![("words.txt".to_string(), text.into_bytes())];
    upload("s3://big-out/in/", &files).await;
    let local = tempfile::tempdir().unwrap();
    let paths = write_files(&local.path().join("in"), &files);
    let cluster = LocalCluster::start_with(CoordinatorConfig::new(registry()), 2, |mut c| {
        c.object_part_size = 2 * MIN_PART;
        c
    })
    .await
    .unwrap();
    let client = Client::connect(cluster.url()).await.unwrap();
    let (_, want) = run(
        &client,
        job(&[&path_str(&paths[0])], &local.path().join("out"), 0),
    )
    .await;
    // What a reduce killed between its upload and its publishing left.
    let stale = vec![("mr-out-0.j0-a0-p1-0".to_string(), b"stale".to_vec())];
    upload("s3://big-out/out/_temporary/", &stale).await;
    let mut to_s3 = job(&["s3://big-out/in/"], Path::new("unused"), 0);
    to_s3.output_dir = "s3://big-out/out/".into();
    let (_, got) = run(&client, to_s3).await;
    assert_eq!(got, want);
    assert_eq!(
        names("s3://big-out/out/").await,
        ["_SUCCESS", "mr-out-0", "mr-out-1"],
        "no temporary object left, a killed reduce's included"
    );
    for r in 0..2 {
        let url = ObjectUrl::parse(&format!("s3://big-out/out/mr-out-{r}")).unwrap();
        let (size, etag) = tokio::task::spawn_blocking(move || {
            (
                storage::size(&url).unwrap().unwrap(),
                storage::upload::etag(&url).unwrap().unwrap(),
            )
        })
        .await
        .unwrap();
        assert!(
            size > 2 * 2 * MIN_PART as u64,
            "several parts: {size} bytes"
        );
        assert!(
            etag.trim_matches('"').ends_with("-1"),
            "published by a multipart copy: {etag}"
        );
    }
    cluster.shutdown().await;
}

/// Publishing a file, small (one PUT) or large (parts, then a conditional
/// copy): created once; again with the same bytes accepted; with other
/// bytes refused, leaving the first; the temporary object removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_accepts_the_same_bytes_again_and_refuses_others() {
    use storage::upload::{publish_file, Published};
    let Some(moto) = moto() else { return };
    create_bucket(moto, "publish");
    tokio::task::spawn_blocking(|| {
        let dir = tempfile::tempdir().unwrap();
        let url = |key: &str| ObjectUrl::parse(&format!("s3://publish/{key}")).unwrap();
        for (name, len) in [("small", MIN_PART), ("large", 5 * MIN_PART + 7)] {
            let (file, other) = (dir.path().join(name), dir.path().join("other"));
            let bytes: Vec<u8> = (0..len).map(|i| (i % 13) as u8).collect();
            let mut changed = bytes.clone();
            changed[len - 1] ^= 1;
            std::fs::write(&file, &bytes).unwrap();
            std::fs::write(&other, &changed).unwrap();
            let (out, tmp) = (url(&format!("out/{name}")), url(&format!("tmp/{name}")));
            let publish = |f: &Path| publish_file(f, &out, &tmp, MIN_PART);
            assert_eq!(publish(&file).unwrap(), Published::Created, "{name}");
            assert_eq!(publish(&file).unwrap(), Published::AlreadySame, "{name}");
            let refused = publish(&other);
            assert!(
                matches!(&refused, Err(StorageError::Differs(_))),
                "{name}: {refused:?}"
            );
            assert_eq!(storage::get(&out).unwrap().to_vec(), bytes, "{name}");
            assert_eq!(storage::size(&tmp).unwrap(), None, "{name}: no temporary");
        }
    })
    .await
    .unwrap();
}
