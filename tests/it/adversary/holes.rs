//! The smaller holes: one token for both roles, control characters in
//! remote text, a closed pipe, the worker service's answer to a client
//! token, and an oversize request.

use super::*;

/// One token file for both roles would let any client act as a worker:
/// the coordinator refuses to start.
#[test]
fn one_token_for_both_roles_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (client_tok, _) = token_files(dir.path());
    let mut cmd = coordinator_cmd(&plugins_dir());
    cmd.arg("--client-token-file")
        .arg(&client_tok)
        .arg("--worker-token-file")
        .arg(&client_tok);
    let mut server = Server::start("coordinator", dir.path().join("coordinator.log"), cmd);
    let status = server.wait_exit(STEP);
    assert!(!status.success());
    let log = server.log_text();
    assert!(
        log.contains("client and worker tokens are the same"),
        "{log}"
    );
}

/// Text from the network reaches the terminal with its control characters
/// escaped; a worker address with one is refused at registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_text_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, url) = coordinator(dir.path(), &[], None);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x\n").unwrap();
    let client = client(&url, None).await;
    let mut job = wc_job(dir.path(), std::slice::from_ref(&input));
    job.output_dir = dir.path().join("out\u{1b}[2J").display().to_string();
    let id = client.submit(job).await.unwrap();
    let client_tok = dir.path().join("client.token");
    let mr_client = |args: &[&str]| {
        let mut cmd = mr();
        cmd.args(args)
            .args(["--coordinator", &url, "--token-file"])
            .arg(&client_tok);
        cmd.output().unwrap()
    };
    let out = mr_client(&["poll", &id.0.to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(stdout.contains("out\\u{1b}[2J"), "{stdout:?}");

    // A coordinator's error naming a file.
    let missing = dir.path().join("gone\u{1b}]0;owned\u{7}.txt");
    let mut cmd = mr();
    cmd.arg("submit")
        .arg(&missing)
        .arg("-o")
        .arg(dir.path().join("out2"))
        .args(["-a", "wc", "--coordinator", &url, "--token-file"])
        .arg(&client_tok);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("gone\\u{1b}]0;owned\\u{7}.txt"),
        "{stderr:?}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );

    let mut c = raw(&url, WORKER, None).await;
    let e = c
        .register(pb::RegisterRequest {
            address: "evil\u{1b}[31m:7000".into(),
            held: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
}

/// `mr poll | head`: a reader that went away ends `mr` quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, url) = coordinator(dir.path(), &[], None);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x\n").unwrap();
    let id = client(&url, None)
        .await
        .submit(wc_job(dir.path(), &[input]))
        .await
        .unwrap();
    let mut cmd = mr();
    cmd.args([
        "poll",
        &id.0.to_string(),
        "--coordinator",
        &url,
        "--token-file",
    ])
    .arg(dir.path().join("client.token"))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// A worker's service tells a client token (wrong role) from an unknown
/// one, as the coordinator does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_service_refuses_a_client_token_by_role() {
    use mapreduce::proto::worker::worker_client::WorkerClient;
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, url) = coordinator(dir.path(), &[], None);
    let mut cmd = mr();
    cmd.args(["worker", "--coordinator", &url, "--plugins"])
        .arg(plugins_dir())
        .arg("--token-file")
        .arg(dir.path().join("worker.token"));
    let mut worker = Server::start("worker", dir.path().join("worker.log"), cmd);
    let addr = worker.listening("");
    let client = client(&url, None).await;
    wait_for_a_worker(&client, "the worker").await;
    let call = |token: &str| {
        let transport = Transport::new(None, Some(&Token::new(token).unwrap()));
        let channel = transport
            .lazy(&addr.to_string(), Duration::from_secs(5))
            .unwrap();
        async move {
            WorkerClient::new(channel)
                .remove_job(mapreduce::proto::worker::RemoveJobRequest { job_id: 1 })
                .await
        }
    };
    // The worker learns the client token's hash from the register reply,
    // which it may read a moment after the coordinator lists it.
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let e = call(CLIENT).await.unwrap_err();
        if e.code() == Code::PermissionDenied {
            break;
        }
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
        assert!(std::time::Instant::now() < deadline, "still {e:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = call("not-a-token").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    call(WORKER).await.expect("the worker token may");
}

/// A request over the coordinator's size limit is refused naming the
/// setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_request_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, url) = coordinator(dir.path(), &["--max-request-bytes", "4096"], None);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x\n").unwrap();
    let mut job = wc_job(dir.path(), &[input]);
    job.args = vec!["a".repeat(10_000)];
    let e = client(&url, None).await.submit(job).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("--max-request-bytes (4096 bytes)"), "{text}");
}
