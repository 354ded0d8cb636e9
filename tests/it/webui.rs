//! The coordinator's `--http` side with real processes: the exposure rule
//! (no `--http 0.0.0.0` without tokens), the client token as a bearer token
//! (401 without, 403 with the worker token, 200 with), HTTPS with the
//! coordinator's certificate, the JSON API against `mr ... --json`, and the
//! pages in a real headless Chromium (no console messages, task rows of a
//! finished job, the error of a failed one), with screenshots.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::common::procs::{
    chaos_plugins, coordinator_cmd, job_id_of, mr, run_mr, submit_args, Server,
};
use crate::common::{make_certs, plugins_dir, poll_until};

const CLIENT: &str = "webui-client-token";
const WORKER: &str = "webui-worker-token";

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn request(path: &str, authorization: Option<&str>) -> String {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
}

/// `GET path` over plain HTTP.
fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request(path, authorization).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// `GET path` over HTTPS, trusting `ca` only.
fn get_tls(addr: SocketAddr, ca: &Path, path: &str, authorization: Option<&str>) -> Reply {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request(path, authorization).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    // A server may close without close_notify after `Connection: close`.
    if let Err(e) = tls.read_to_end(&mut raw) {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    parse(&raw)
}

fn coordinator(dir: &Path, http: &str, extra: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = coordinator_cmd(&plugins_dir());
    cmd.args(["--http", http])
        .args(extra)
        .env("MR_PLUGIN_CACHE", dir.join("cache"));
    cmd
}

fn tokens(dir: &Path) -> (PathBuf, PathBuf) {
    let (c, w) = (dir.join("client.token"), dir.join("worker.token"));
    std::fs::write(&c, CLIENT).unwrap();
    std::fs::write(&w, WORKER).unwrap();
    (c, w)
}

#[test]
fn http_beyond_loopback_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = coordinator(dir.path(), "0.0.0.0:0", &[]).output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--http") && err.contains("refusing to listen on 0.0.0.0"),
        "{err}"
    );
    // --insecure is the operator's explicit choice.
    let insecure = std::ffi::OsStr::new("--insecure");
    let cmd = coordinator(dir.path(), "0.0.0.0:0", &[insecure]);
    let mut server = Server::start("coordinator", dir.path().join("insecure.log"), cmd);
    let port = server.listening("http ").port();
    let reply = get(SocketAddr::from(([127, 0, 0, 1], port)), "/", None);
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// A flood from one address is paced (`--http-rate`): a burst passes, the
/// next requests wait their turn, the rest are refused with 429 naming the
/// flag, while the gRPC side goes on serving; a rate of 0 paces nothing.
#[test]
fn a_flood_from_one_address_is_paced_and_the_rest_refused() {
    let dir = tempfile::tempdir().unwrap();
    let flood = |rate: &str, log: &str| {
        let args = [
            std::ffi::OsStr::new("--http-rate"),
            std::ffi::OsStr::new(rate),
        ];
        let cmd = coordinator(dir.path(), "127.0.0.1:0", &args);
        let mut server = Server::start("coordinator", dir.path().join(log), cmd);
        let http = SocketAddr::from(([127, 0, 0, 1], server.listening("http ").port()));
        let grpc = format!("http://{}", server.listening(""));
        let started = std::time::Instant::now();
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..60)
                .map(|_| s.spawn(move || get(http, "/metrics", None)))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let elapsed = started.elapsed();
        let apps = run_mr(["apps", "--coordinator", &grpc]);
        assert!(apps.status.success(), "the gRPC side stopped serving");
        (replies, elapsed, server)
    };
    // 10 a second, bursts of 20: 20 at once, 20 more over 2 s, 20 refused.
    let (replies, elapsed, _server) = flood("10", "paced.log");
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + refused.len(), 60, "{replies:?}");
    assert!((38..=45).contains(&ok), "{ok} served of 60");
    assert!(
        elapsed >= Duration::from_millis(1500),
        "not paced: {elapsed:?}"
    );
    let r = refused[0];
    assert!(r.body.contains("--http-rate"), "{r:?}");
    assert!(
        r.head.to_ascii_lowercase().contains("retry-after:"),
        "{r:?}"
    );
    // Unpaced: all 60 served.
    let (replies, _, _server) = flood("0", "unpaced.log");
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
}

#[test]
fn the_pages_need_the_client_token() {
    let dir = tempfile::tempdir().unwrap();
    let (client, worker) = tokens(dir.path());
    let args = [
        std::ffi::OsStr::new("--client-token-file"),
        client.as_os_str(),
        std::ffi::OsStr::new("--worker-token-file"),
        worker.as_os_str(),
    ];
    // With both tokens, any address is allowed.
    let cmd = coordinator(dir.path(), "0.0.0.0:0", &args);
    let mut server = Server::start("coordinator", dir.path().join("coordinator.log"), cmd);
    let http = SocketAddr::from(([127, 0, 0, 1], server.listening("http ").port()));
    for path in ["/", "/metrics", "/api/jobs", "/jobs/0", "/nope"] {
        let reply = get(http, path, None);
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
        assert!(
            reply
                .head
                .to_lowercase()
                .contains("www-authenticate: basic"),
            "{reply:?}"
        );
        let reply = get(http, path, Some("Bearer wrong"));
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
        // The worker token is a credential, but not for this.
        let reply = get(http, path, Some(&format!("Bearer {WORKER}")));
        assert_eq!(reply.status, 403, "{path}: {reply:?}");
    }
    let bearer = format!("Bearer {CLIENT}");
    let reply = get(http, "/", Some(&bearer));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("mapreduce coordinator"), "{reply:?}");
    assert_eq!(get(http, "/api/jobs", Some(&bearer)).body, "[]");
    assert_eq!(get(http, "/nope", Some(&bearer)).status, 404);
    // A browser sends it as the Basic password (any user name).
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{CLIENT}"));
    let reply = get(http, "/metrics", Some(&format!("Basic {basic}")));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.contains("mr_jobs{state=\"queued\"} 0"),
        "{reply:?}"
    );
}

#[test]
fn https_when_the_coordinator_has_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let args = [
        std::ffi::OsStr::new("--tls-cert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--tls-key"),
        key.as_os_str(),
    ];
    let cmd = coordinator(dir.path(), "127.0.0.1:0", &args);
    let mut server = Server::start("coordinator", dir.path().join("coordinator.log"), cmd);
    let http = server.listening("http ");
    let reply = get_tls(http, &ca, "/", None);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("mapreduce coordinator"));
    // Plain HTTP gets no page: the port speaks TLS only.
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request("/", None).as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        !String::from_utf8_lossy(&raw).contains("mapreduce coordinator"),
        "plain HTTP was served"
    );
}

/// `chromium` (installing Debian's package when missing and possible), or
/// `None` with a loud message.
fn chromium() -> Option<PathBuf> {
    let find = || {
        ["chromium", "chromium-browser"].iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
    };
    if let Some(found) = find() {
        return Some(found);
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        if let Some(found) = find() {
            return Some(found);
        }
    }
    eprintln!(
        "\n{}\nSKIPPING the headless browser test: chromium is not installed and \
         `apt-get install -y chromium` failed. .ci/run installs it.\n{}\n",
        "!".repeat(78),
        "!".repeat(78)
    );
    None
}

/// Loads `url` in headless Chromium: its DOM, and the console messages it
/// logged. With `screenshot`, also saves a PNG there.
fn browse(chromium: &Path, url: &str, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => cmd.arg(format!("--screenshot={}", png.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).output().unwrap();
    assert!(out.status.success(), "chromium failed on {url}: {out:?}");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).to_string(), console)
}

#[test]
fn the_pages_work_in_a_headless_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plugins = chaos_plugins(&d.join("plugins"));
    let mut cmd = coordinator_cmd(&plugins);
    cmd.args(["--http", "127.0.0.1:0"]);
    let mut coord = Server::start("coordinator", d.join("coordinator.log"), cmd);
    let url = format!("http://{}", coord.listening(""));
    let http = coord.listening("http ");
    let mut cmd = mr();
    cmd.args([
        "worker",
        "--coordinator",
        &url,
        "--heartbeat-interval-ms",
        "200",
    ])
    .arg("--plugins")
    .arg(&plugins);
    let _worker = Server::start("worker", d.join("worker.log"), cmd);
    let inputs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = d.join(format!("in{i}<b>.txt"));
            std::fs::write(&p, format!("alpha beta {i}\n")).unwrap();
            p
        })
        .collect();
    let ok = run_mr(submit_args(
        &url,
        &inputs,
        &d.join("out0"),
        "chaos",
        2,
        true,
        &[],
    ));
    assert_eq!(job_id_of(&ok), 0);
    let failed = run_mr(submit_args(
        &url,
        &inputs,
        &d.join("out1"),
        "chaos",
        1,
        true,
        &["--fail-on", "in1"],
    ));
    assert_eq!(job_id_of(&failed), 1);
    poll_until("both jobs to end", Duration::from_secs(30), || {
        let jobs = get(http, "/api/jobs", None).body;
        (jobs.matches("\"done\":true").count() == 2).then_some(())
    });

    // The JSON API carries what `mr ... --json` prints.
    let cli = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--json", "--coordinator", &url]);
        run_mr(all).json()
    };
    let api = |path: &str| -> serde_json::Value {
        serde_json::from_str(&get(http, path, None).body).unwrap()
    };
    assert_eq!(api("/api/jobs"), cli(&["jobs"]));
    assert_eq!(api("/api/jobs/1"), cli(&["poll", "1"]));
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v[0].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&api("/api/workers")), keys(&cli(&["workers"])));
    let tasks = api("/api/jobs/1/tasks");
    let map1 = &tasks[1];
    assert_eq!(map1["phase"], "map");
    assert_eq!(map1["attempts"][0]["outcome"], "failed", "{map1}");
    assert!(
        map1["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("in1"),
        "{map1}"
    );

    let Some(chromium) = chromium() else { return };
    let page = |path: &str| {
        let (dom, console) = browse(&chromium, &format!("http://{http}{path}"), None);
        assert!(
            console.is_empty(),
            "{path} logged to the console: {console:#?}"
        );
        dom
    };
    let overview = page("/");
    for needle in [
        "href=\"/jobs/0\"",
        "href=\"/jobs/1\"",
        "href=\"/workers/0\"",
        "succeeded",
        "failed",
    ] {
        assert!(overview.contains(needle), "{needle} not on /:\n{overview}");
    }
    // The finished job shows a row per task; remote text stays text.
    let done = page("/jobs/0");
    let rows = |dom: &str, phase: &str| dom.matches(&format!("<tr><td>{phase}</td>")).count();
    assert_eq!(
        (rows(&done, "map"), rows(&done, "reduce")),
        (3, 2),
        "{done}"
    );
    assert!(
        done.contains("in0&lt;b&gt;.txt") && !done.contains("in0<b>"),
        "{done}"
    );
    assert!(done.contains("class=\"tl\""), "no timeline:\n{done}");
    // The failed job shows its error, in the error box and the task row.
    let failed = page("/jobs/1");
    assert!(failed.contains("class=\"errors\""), "{failed}");
    assert!(failed.contains("in1&lt;b&gt;.txt"), "{failed}");
    assert!(failed.matches("class=\"failed\"").count() >= 2, "{failed}");
    let worker = page("/workers/0");
    assert!(
        worker.contains("What it ran") && worker.contains("href=\"/jobs/1\""),
        "{worker}"
    );

    // Screenshots: to docs/screenshots/ when MR_WRITE_SCREENSHOTS is set.
    let shots = match std::env::var_os("MR_WRITE_SCREENSHOTS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
        None => d.join("screenshots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    for (path, name) in [
        ("/", "overview"),
        ("/jobs/0", "job-succeeded"),
        ("/jobs/1", "job-failed"),
        ("/workers/0", "worker"),
    ] {
        let png = shots.join(format!("{name}.png"));
        let (_, console) = browse(&chromium, &format!("http://{http}{path}"), Some(&png));
        assert!(console.is_empty(), "{path}: {console:#?}");
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{name}.png is not a PNG");
    }
}
