//! The `mr` command line as a person at a terminal meets it, with real `mr`
//! processes: the progress display in a pseudo-terminal (fits its width,
//! redraws in place), Ctrl-C during `--wait` and `mr wait` re-attaching,
//! job listings, the configuration file, and error messages.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::procs::{
    clean_command, job_id_of, run_mr, send_signal, spawn_mr, submit_args, Cluster, ClusterConfig,
    HEARTBEAT_MS,
};
use common::{plugins_dir, poll_until, wc_inputs, write_files};

/// A cluster whose servers load every bundled app.
fn cluster(dir: &Path, workers: usize) -> Cluster {
    let config = ClusterConfig {
        plugins: plugins_dir(),
        heartbeat_ms: HEARTBEAT_MS,
        worker_timeout_ms: Some(common::procs::WORKER_TIMEOUT_MS),
        state_dir: None,
    };
    Cluster::start_with(dir, workers, config)
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    write_files(&dir.join("in"), &wc_inputs())
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn progress_in_a_terminal_fits_its_width_and_redraws_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let c = cluster(dir.path(), 2);
    let files = inputs(dir.path());
    let out = dir.path().join("out");
    let args = submit_args(&c.url, &files, &out, "wc", 3, true, &[]);
    let mr_line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_mr").to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .map(|a| format!("'{a}'"))
        .collect();
    // `script` runs the command in a pseudo-terminal of 80 columns.
    let inner = format!("stty cols 80 rows 24; exec {}", mr_line.join(" "));
    let result = clean_command("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(result.status.success(), "{result:?}\n{text}");
    assert!(text.contains("succeeded"), "{text}");
    assert!(text.contains("\u{1b}[2K"), "no in-place redraw: {text:?}");
    let plain = strip_ansi(&text);
    for row in plain.split(['\r', '\n']) {
        assert!(
            row.chars().count() <= 80,
            "a row wider than the terminal ({} columns): {row:?}",
            row.chars().count()
        );
    }
    // One row at the end (the finished bar), not one per update.
    let bars = plain.lines().filter(|l| l.contains("] job ")).count();
    assert!(bars <= 1, "{bars} bar rows left behind:\n{plain}");
}

#[test]
fn interrupted_wait_says_the_job_goes_on_and_mr_wait_reattaches() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 0);
    let files = inputs(dir.path());
    let out = dir.path().join("out");
    let waiting = spawn_mr(submit_args(&c.url, &files, &out, "wc", 2, true, &[]));
    let job = poll_until("the job to be submitted", Duration::from_secs(30), || {
        c.jobs_json().first().map(|j| j["job_id"].as_u64().unwrap())
    });
    // Let the client start following (and install its Ctrl-C handler).
    std::thread::sleep(Duration::from_secs(2));
    send_signal(waiting.pid(), "INT");
    let interrupted = waiting.finish();
    assert_eq!(interrupted.status.code(), Some(130), "{interrupted:#?}");
    assert_eq!(job_id_of(&interrupted), job as u32);
    assert!(
        interrupted.stderr.contains("goes on")
            && interrupted.stderr.contains(&format!("mr wait {job}")),
        "{interrupted:#?}"
    );
    // The job was not cancelled: a worker arrives and `mr wait` sees it end.
    c.add_worker();
    let waited = run_mr(["wait", &job.to_string(), "--coordinator", &c.url]).ok();
    assert!(waited.stderr.contains("succeeded"), "{waited:#?}");
    assert_eq!(c.poll(job as u32)["state"], "succeeded");
}

/// `mr run -a wc EXTRA FILES -o OUT` with the bundled apps, its output.
fn mr_run_wc(files: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "-a".into(), "wc".into()];
    args.extend(extra.iter().map(|a| a.into()));
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    args.extend(["-o".into(), out.as_os_str().to_owned()]);
    common::procs::mr()
        .args(&args)
        .env("MR_PLUGINS", plugins_dir())
        .output()
        .unwrap()
}

#[test]
fn run_without_any_app_plugin_says_how_to_get_them() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-plugins");
    std::fs::create_dir(&empty).unwrap();
    let files = inputs(dir.path());
    let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "-a".into(), "wc".into()];
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    args.extend([
        "-o".into(),
        dir.path().join("out").into_os_string(),
        "--plugins".into(),
        empty.into_os_string(),
    ]);
    let out = run_mr(&args);
    assert!(!out.status.success(), "{out:#?}");
    assert!(
        out.stderr.contains("no app plugins in")
            && out.stderr.contains("cargo build --release")
            && out.stderr.contains("--plugins DIR"),
        "{out:#?}"
    );
}

#[test]
fn long_run_output_shows_both_ends_and_a_hint_that_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    // 300 distinct words seen once, and "frequent" seen 50 times.
    let letter = |i: usize| char::from(b'a' + (i % 26) as u8);
    let mut text: String = (0..300)
        .map(|i| format!("w{}{} ", letter(i / 26), letter(i)))
        .collect();
    text.push_str(&"frequent ".repeat(50));
    let files = write_files(
        &dir.path().join("in"),
        &[("a.txt".into(), text.into_bytes())],
    );
    let out_dir = dir.path().join("my out");
    let run = mr_run_wc(&files, &out_dir, &[]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 21, "{stdout}");
    assert_eq!(lines[20], "50\tfrequent", "the most frequent word ends it");
    assert!(
        stderr.contains(" KiB in") || stderr.contains(" B in"),
        "{stderr}"
    );
    let hint = lines[10];
    let command = hint
        .split_once("(all of them: ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no hint in {hint:?}"));
    assert!(
        command.contains("'"),
        "the folder with a space is quoted: {command}"
    );
    let again = clean_command("sh")
        .args(["-c", command])
        .env("MR_PLUGINS", plugins_dir())
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    let full = String::from_utf8_lossy(&again.stdout);
    assert_eq!(full.lines().count(), 301);
    assert!(full.ends_with("50\tfrequent\n"));
}

#[test]
fn jobs_carry_a_name_and_submitter_filter_by_state_and_app_and_cancel_speaks_json() {
    let dir = tempfile::tempdir().unwrap();
    let c = cluster(dir.path(), 0);
    let files = inputs(dir.path());
    let submit = |app: &str, out: &str, name: Option<&str>| {
        let mut args = submit_args(&c.url, &files, &dir.path().join(out), app, 1, false, &[]);
        if let Some(n) = name {
            args.extend(["--name".into(), n.into()]);
        }
        let mut cmd = common::procs::mr();
        cmd.args(&args).env("USER", "ada");
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout)
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let a = submit("wc", "a", Some("nightly counts"));
    let b = submit("grep", "b", None);
    let d = submit("wc", "d", None);

    let cancelled = run_mr(["cancel", &b.to_string(), "--json", "--coordinator", &c.url]).ok();
    let v = cancelled.json();
    assert_eq!(v["job_id"], b);
    assert_eq!(v["state"], "cancelled");

    let polled = c.poll(a);
    assert_eq!(polled["name"], "nightly counts");
    assert_eq!(polled["submitted_by"], "ada");
    let text = run_mr(["poll", &a.to_string(), "--coordinator", &c.url]).ok();
    assert!(text.stdout.contains("name: nightly counts"), "{text:#?}");
    assert!(text.stdout.contains("submitted by: ada"), "{text:#?}");

    let ids = |extra: &[&str]| -> Vec<u64> {
        let mut args = vec!["jobs", "--json", "--coordinator", &c.url];
        args.extend_from_slice(extra);
        let out = run_mr(&args).ok();
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_id"].as_u64().unwrap())
            .collect()
    };
    let (a, b, d) = (u64::from(a), u64::from(b), u64::from(d));
    assert_eq!(ids(&[]), vec![a, b, d]);
    assert_eq!(ids(&["--state", "cancelled"]), vec![b]);
    assert_eq!(ids(&["--state", "queued"]), vec![a, d]);
    assert_eq!(
        ids(&["--state", "active", "--state", "cancelled"]),
        vec![a, b, d]
    );
    assert_eq!(ids(&["--app", "wc"]), vec![a, d]);
    assert_eq!(ids(&["--limit", "2"]), vec![b, d]);
    assert_eq!(ids(&["--app", "wc", "--limit", "1"]), vec![d]);
    let table = run_mr(["jobs", "--coordinator", &c.url]).ok();
    let row = table.stdout.lines().find(|l| l.contains("nightly counts"));
    assert!(row.is_some_and(|r| r.contains("ada")), "{table:#?}");
}

#[test]
fn logs_to_a_file_have_no_colour_and_the_coordinator_logs_job_start_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("coordinator.log");
    let mut cmd = common::procs::mr();
    cmd.args(["coordinator", "--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins_dir());
    let mut coordinator = common::procs::Server::start("coordinator", log.clone(), cmd);
    let addr = coordinator.listening("");
    let url = format!("http://{addr}");
    let mut worker = common::procs::mr();
    worker
        .args(["worker", "--coordinator", &url, "--plugins"])
        .arg(plugins_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut worker = worker.spawn().unwrap();
    let files = inputs(dir.path());
    let out = dir.path().join("out");
    run_mr(submit_args(&url, &files, &out, "wc", 2, true, &[])).ok();
    let _ = worker.kill();
    let _ = worker.wait();
    let ended = poll_until("the job's end in the log", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap();
        text.contains("job ended").then_some(text)
    });
    coordinator.kill();
    assert!(
        !ended.contains('\u{1b}'),
        "colour codes in a log file:\n{ended}"
    );
    assert!(ended.contains("job started"), "{ended}");
    let end = ended.lines().find(|l| l.contains("job ended")).unwrap();
    assert!(
        end.contains("outcome=succeeded") && end.contains("duration_ms="),
        "{end}"
    );
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn connection_errors_say_which_address_and_which_side_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let refused = run_mr(["jobs", "--coordinator", &format!("http://127.0.0.1:{port}")]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains(&format!("127.0.0.1:{port}"))
            && refused.stderr.contains("nothing listens")
            && refused.stderr.contains("mr coordinator"),
        "{refused:#?}"
    );

    let (ca, cert, key) = crate::common::make_certs(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (other_ca, _, _) = crate::common::make_certs(&other);
    let mut cmd = common::procs::mr();
    cmd.args([
        "coordinator",
        "--listen",
        "127.0.0.1:0",
        "--tls-client-auth",
    ])
    .arg("--plugins")
    .arg(plugins_dir())
    .arg("--tls-ca")
    .arg(&ca)
    .arg("--tls-cert")
    .arg(&cert)
    .arg("--tls-key")
    .arg(&key);
    let mut coordinator =
        common::procs::Server::start("coordinator", dir.path().join("c.log"), cmd);
    let addr = coordinator.listening("");
    let jobs = |url: String, ca: Option<&Path>, with_cert: bool| {
        let mut c = common::procs::mr();
        c.args(["jobs", "--coordinator", &url]);
        if let Some(ca) = ca {
            c.arg("--tls-ca").arg(ca);
        }
        if with_cert {
            c.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
        }
        let o = c.output().unwrap();
        assert!(!o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let plain = jobs(format!("http://{addr}"), None, false);
    assert!(
        plain.contains(&addr.to_string()) && plain.contains("dial https://"),
        "{plain}"
    );
    let wrong_ca = jobs(format!("https://{addr}"), Some(&other_ca), true);
    assert!(
        wrong_ca.contains("not signed by the CA given with --tls-ca"),
        "{wrong_ca}"
    );
    let no_cert = jobs(format!("https://{addr}"), Some(&ca), false);
    assert!(
        no_cert.contains("requires a client certificate") && no_cert.contains("--tls-cert"),
        "{no_cert}"
    );
    coordinator.kill();
}

#[test]
fn a_coordinator_that_accepts_and_never_answers_ends_the_call_with_advice() {
    // A listener that takes connections and reads them, answering nothing:
    // a stopped or wedged coordinator as the network sees it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            });
        }
    });
    let mut child = common::procs::mr()
        .args(["jobs", "--coordinator", &format!("http://{addr}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The keepalive gives up after about 10 s; a hang is a failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        panic!("mr jobs still waits for a coordinator that never answers");
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&addr.to_string()) && stderr.contains("no answer"),
        "{stderr}"
    );
}

#[test]
fn the_configuration_file_names_the_coordinator_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = cluster(dir.path(), 0);
    let config = dir.path().join("mr.toml");
    std::fs::write(&config, format!("coordinator = \"{}\"\n", c.url)).unwrap();
    let jobs = |env_url: Option<&str>, flag_url: Option<&str>| {
        let mut cmd = common::procs::mr();
        cmd.args(["jobs", "--json"]).env("MR_CONFIG", &config);
        if let Some(u) = env_url {
            cmd.env("MR_COORDINATOR", u);
        }
        if let Some(u) = flag_url {
            cmd.args(["--coordinator", u]);
        }
        cmd.output().unwrap()
    };
    let from_file = jobs(None, None);
    assert!(from_file.status.success(), "{from_file:?}");
    let elsewhere = format!("http://127.0.0.1:{}", free_port());
    let from_env = jobs(Some(&elsewhere), None);
    assert!(!from_env.status.success());
    assert!(String::from_utf8_lossy(&from_env.stderr).contains(&elsewhere));
    let from_flag = jobs(Some(&elsewhere), Some(&c.url));
    assert!(from_flag.status.success(), "{from_flag:?}");
    std::fs::write(&config, "coordinater = 1\n").unwrap();
    let bad = jobs(None, None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad configuration file"));
}

#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, marker) in [
        ("bash", "_mr()"),
        ("zsh", "#compdef mr"),
        ("fish", "complete -c mr"),
    ] {
        let out = run_mr(["completions", shell]).ok();
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..200.min(out.stdout.len())]
        );
        assert!(
            out.stdout.contains("submit") && out.stdout.contains("wait"),
            "{shell}"
        );
    }
    let page = run_mr(["man"]).ok();
    assert!(
        page.stdout.starts_with(".ie") || page.stdout.contains(".TH mr"),
        "{}",
        page.stdout
    );
    let submit = run_mr(["man", "submit"]).ok();
    assert!(
        submit.stdout.contains("mr submit") && submit.stdout.contains("name"),
        "{}",
        submit.stdout
    );
    assert!(!run_mr(["man", "nosuch"]).status.success());
}

/// `mr run` waits for its workers before it submits, so the job's tasks
/// are planned for all of them: one 12 MiB file of lines on 3 workers is
/// 3 map tasks of 4 MiB (planned before the workers registered, it was
/// one task and two idle workers).
#[test]
fn run_plans_the_job_for_all_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    let line = "alpha beta gamma\n";
    let lines = (12 << 20) / line.len();
    let files = write_files(
        &dir.path().join("in"),
        &[("big.txt".into(), line.repeat(lines).into_bytes())],
    );
    let run = mr_run_wc(&files, &dir.path().join("out"), &["--workers", "3"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("job 0: 3 map tasks over 1 input file"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&run.stdout).contains(&format!("{lines}\tgamma")),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

/// `wc` reads a pack of small files in joined map calls; when one file
/// fails, the error names that file and the app's offset within it, not
/// the first file of the call or an offset into the joined bytes.
#[test]
fn a_bad_file_among_joined_small_files_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut named: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("f{i:03}.txt"),
                format!("word{i} common\n").into_bytes(),
            )
        })
        .collect();
    named[123].1 = b"ok ok \xff bad\n".to_vec();
    let files = write_files(&dir.path().join("in"), &named);
    let run = mr_run_wc(
        &[dir.path().join("in")],
        &dir.path().join("out"),
        &["--workers", "1"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    let bad = files[123].display().to_string();
    assert!(
        stderr.contains(&format!(
            "{bad}: input is not valid UTF-8: invalid byte at offset 6"
        )),
        "{stderr}"
    );
}
