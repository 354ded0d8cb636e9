//! Operating a real multi-process cluster from the command line: `mr jobs`,
//! `mr workers`, `mr apps` (and `reload`), `mr cancel`, `mr poll`, progress
//! lines of `mr submit --wait`, app distribution to a worker with an empty
//! plugin folder, `/metrics` parsed as Prometheus text, and the status page.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::procs::{coordinator_cmd, mr, Server};
use common::{plugins_dir, poll_until};
use mapreduce::plugin::sha256_hex;
use serde_json::Value;

fn plugin(stem: &str) -> PathBuf {
    plugins_dir().join(format!(
        "libmr_app_{stem}.{}",
        std::env::consts::DLL_EXTENSION
    ))
}

fn run(c: &mut Command) -> Output {
    let out = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(c: &mut Command) -> Value {
    serde_json::from_slice(&run(c).stdout).expect("valid JSON")
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// Checks the Prometheus text format line by line; returns `(series, value)`.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let kind = rest.split_whitespace().next().unwrap_or("");
            assert!(
                kind == "HELP" || kind == "TYPE" || kind == "UNIT" || kind == "EOF",
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
            for label in series[name_end + 1..series.len() - 1].split("\",") {
                let (k, v) = label
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label in {line:?}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line:?}"
                );
                assert!(!v.contains('\n'));
            }
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.push((series.to_string(), v));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series} in {samples:?}"))
        .1
}

#[test]
fn operating_a_cluster_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The coordinator's plugin folder holds wc and chaos; grep is deployed later.
    let coord_plugins = d.join("coord-plugins");
    let empty = d.join("empty");
    std::fs::create_dir_all(&coord_plugins).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    for stem in ["wc", "chaos"] {
        std::fs::copy(plugin(stem), coord_plugins.join(format!("lib{stem}.so"))).unwrap();
    }
    let mut cmd = coordinator_cmd(&coord_plugins);
    cmd.args(["--http", "127.0.0.1:0"])
        .env("MR_PLUGIN_CACHE", d.join("coord-cache"));
    let mut coordinator = Server::start("coordinator", d.join("coordinator.log"), cmd);
    let url = format!("http://{}", coordinator.listening(""));
    let http = coordinator.listening("http ").port();
    // A worker with an empty plugin folder: it must fetch every app.
    let mut cmd = mr();
    cmd.args([
        "worker",
        "--coordinator",
        &url,
        "--heartbeat-interval-ms",
        "200",
        "--plugins",
    ])
    .arg(&empty)
    .env("MR_PLUGIN_CACHE", d.join("worker-cache"));
    let worker = Server::start("worker", d.join("worker.log"), cmd);
    poll_until("one alive worker", Duration::from_secs(20), || {
        let w = json(mr().args(["workers", "--json", "--coordinator", &url]));
        (w.as_array()?
            .iter()
            .filter(|w| w["state"] == "alive")
            .count()
            == 1)
            .then_some(())
    });

    let inputs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = d.join(format!("in{i}.txt"));
            std::fs::write(&p, format!("alpha beta {}\n", "gamma ".repeat(i + 1))).unwrap();
            p
        })
        .collect();
    // `mr submit --wait` off a terminal: plain progress lines, then the outcome.
    let out = run(mr()
        .arg("submit")
        .args(["--split-size", "0"])
        .args(&inputs)
        .arg("-o")
        .arg(d.join("out-wc"))
        .args(["-a", "wc", "-n", "2", "--wait", "--coordinator", &url]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    let err = String::from_utf8_lossy(&out.stderr);
    // One map task per file (--split-size 0), said first.
    assert!(
        err.starts_with("job 0: 3 map tasks over 3 input files\n")
            && err.contains("maps 3/3")
            && err.contains("reduces 2/2"),
        "{err}"
    );
    assert!(
        err.contains("job 0 succeeded in ") && err.contains("s; output in "),
        "{err}"
    );
    let wlog = std::fs::read_to_string(d.join("worker.log")).unwrap();
    assert!(
        wlog.contains("fetched plugin from the coordinator"),
        "{wlog}"
    );
    let text = run(mr()
        .args(["process", "-a", "wc", "-o"])
        .arg(d.join("out-wc"))
        .arg("--plugins")
        .arg(plugin("wc").parent().unwrap()));
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "3\talpha\n3\tbeta\n6\tgamma\n"
    );

    // mr apps: names, versions, hashes of the files.
    let apps = json(mr().args(["apps", "--json", "--coordinator", &url]));
    let wc = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "wc")
        .expect("wc listed");
    assert_eq!(
        wc["sha256"],
        sha256_hex(&std::fs::read(plugin("wc")).unwrap())
    );
    assert_eq!(wc["version"], env!("CARGO_PKG_VERSION"));
    assert!(wc["file"].as_str().unwrap().ends_with("libwc.so"));
    let table = String::from_utf8(run(mr().args(["apps", "--coordinator", &url])).stdout).unwrap();
    assert!(
        table.starts_with("APP") && table.contains("chaos"),
        "{table}"
    );

    // Deploy grep by dropping it in the folder and reloading.
    std::fs::copy(plugin("grep"), coord_plugins.join("libgrep.so")).unwrap();
    let reloaded = json(mr().args(["apps", "reload", "--json", "--coordinator", &url]));
    assert!(
        reloaded
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "grep"),
        "{reloaded}"
    );
    let out = run(mr()
        .arg("submit")
        .args(["--split-size", "0"])
        .args(&inputs)
        .arg("-o")
        .arg(d.join("out-grep"))
        .args([
            "-a",
            "grep",
            "-n",
            "1",
            "--wait",
            "--coordinator",
            &url,
            "--",
            "--term",
            "gamma gamma",
        ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");

    // mr cancel: a slow job is cancelled; its state says so.
    let out = run(mr()
        .arg("submit")
        .args(["--split-size", "0"])
        .arg(&inputs[0])
        .arg("-o")
        .arg(d.join("out-slow"))
        .args([
            "-a",
            "chaos",
            "--coordinator",
            &url,
            "--",
            "--sleep-ms",
            "20000",
        ]));
    let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(job, "2");
    let out = run(mr().args(["cancel", &job, "--coordinator", &url]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "job 2 cancelled\n");
    let poll = json(mr().args(["poll", &job, "--json", "--coordinator", &url]));
    assert_eq!(
        (
            poll["state"].as_str(),
            poll["done"].as_bool(),
            poll["failed"].as_bool()
        ),
        (Some("cancelled"), Some(true), Some(true))
    );
    let again = mr()
        .args(["cancel", &job, "--coordinator", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ended"));

    // mr jobs: every job with its state and progress; counters kept.
    let jobs = json(mr().args(["jobs", "--json", "--coordinator", &url]));
    let states: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["succeeded", "succeeded", "cancelled"]);
    assert_eq!(jobs[0]["maps"]["done"], 3);
    assert_eq!(jobs[0]["counters"]["input_records"], 3);
    assert!(jobs[0]["counters"]["shuffle_bytes"].as_u64().unwrap() > 0);
    assert!(
        jobs[0]["finished_at_ms"].as_u64().unwrap() >= jobs[0]["submitted_at_ms"].as_u64().unwrap()
    );
    let table = String::from_utf8(run(mr().args(["jobs", "--coordinator", &url])).stdout).unwrap();
    assert!(
        table.lines().count() == 4 && table.contains("cancelled") && table.contains("3/0/3"),
        "{table}"
    );
    let poll =
        String::from_utf8(run(mr().args(["poll", "0", "--coordinator", &url])).stdout).unwrap();
    assert!(
        poll.starts_with("job 0 (wc): succeeded") && poll.contains("counters:"),
        "{poll}"
    );

    // mr workers: the worker, alive, with its completed tasks.
    let workers = json(mr().args(["workers", "--json", "--coordinator", &url]));
    assert_eq!(workers[0]["state"], "alive");
    assert_eq!(workers[0]["tasks_completed"], 3 + 2 + 3 + 1);

    // /metrics parses as Prometheus text and agrees with the CLI.
    let response = http_get(http, "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("application/openmetrics-text"),
        "{head}"
    );
    let samples = parse_prometheus(body);
    assert_eq!(sample(&samples, "mr_jobs{state=\"succeeded\"}"), 2.0);
    assert_eq!(sample(&samples, "mr_jobs{state=\"cancelled\"}"), 1.0);
    assert_eq!(sample(&samples, "mr_workers{state=\"alive\"}"), 1.0);
    assert_eq!(
        sample(&samples, "mr_task_duration_seconds_count{phase=\"map\"}"),
        6.0
    );
    assert!(sample(&samples, "mr_rpc_requests_total{method=\"SubmitJob\"}") >= 3.0);

    // The status page lists jobs and workers.
    let page = http_get(http, "/");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("text/html"),
        "{page}"
    );
    for needle in [
        "<table",
        "<td>wc</td>",
        "succeeded",
        "cancelled",
        "alive",
        "Workers",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from the status page"
        );
    }
    assert!(http_get(http, "/nope").starts_with("HTTP/1.1 404"));
    drop(worker);
    drop(coordinator);
}
