//! Attacks on the file rules with real processes (`mr coordinator` and
//! `mr worker`): symlinks whose resolution runs past `PATH_MAX`, a symlink
//! swapped in and out of an allowed folder while jobs run, and inputs that
//! are not regular files (a FIFO, `/dev/zero`). Each must leave the
//! secret unread, nothing written outside `--allow-output`, and the worker
//! free for its next task.

use crate::common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::poll_until;
use common::procs::{Server, STEP};
use mapreduce::client::{Client, JobView};
use mapreduce::core::JobId;

/// The secret's words: they must never appear in any output.
const SECRET: &str = "topsecretword";

/// How long a job with a bad input may take to fail.
const FAIL_FAST: Duration = Duration::from_secs(15);

/// A coordinator (optionally confined to `data` and `out`) and workers,
/// serving only the `wc` app.
struct Confined {
    url: String,
    logs: PathBuf,
    plugins: PathBuf,
    _coordinator: Server,
    workers: Vec<Server>,
}

fn wc_plugins(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let lib = format!(
        "{}mr_app_wc.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    std::os::unix::fs::symlink(common::plugins_dir().join(&lib), dir.join(&lib)).unwrap();
    dir.to_path_buf()
}

impl Confined {
    /// Starts the coordinator, confined when `roots` is `Some((data, out))`,
    /// and `workers` workers.
    fn start(base: &Path, roots: Option<(&Path, &Path)>, workers: usize) -> Confined {
        let logs = base.join("logs");
        let plugins = wc_plugins(&base.join("plugins"));
        let mut args: Vec<OsString> = vec![
            "coordinator".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--plugins".into(),
            plugins.clone().into(),
            "--worker-timeout-ms".into(),
            "1000".into(),
            "--heartbeat-interval-ms".into(),
            "100".into(),
        ];
        if let Some((data, out)) = roots {
            args.extend([
                "--allow-input".into(),
                data.into(),
                "--allow-output".into(),
                out.into(),
            ]);
        }
        let mut coordinator = Server::spawn(&logs, "coordinator", &args);
        let addr = coordinator.listening("");
        let mut cluster = Confined {
            url: format!("http://{addr}"),
            logs,
            plugins,
            _coordinator: coordinator,
            workers: Vec::new(),
        };
        for _ in 0..workers {
            cluster.add_worker();
        }
        cluster
    }

    fn add_worker(&mut self) {
        let i = self.workers.len();
        let args: Vec<OsString> = vec![
            "worker".into(),
            "--coordinator".into(),
            self.url.clone().into(),
            "--plugins".into(),
            self.plugins.clone().into(),
            "--heartbeat-interval-ms".into(),
            "100".into(),
        ];
        let worker = Server::spawn(&self.logs, &format!("worker-{i}"), &args);
        poll_until("the worker to register", STEP, || {
            (!worker
                .log_events("registered with the coordinator")
                .is_empty())
            .then_some(())
        });
        self.workers.push(worker);
    }

    /// Submits a `wc` job as given (no client-side resolution, unlike
    /// `mr submit`); `Err(message)` when the submission is refused.
    fn submit(&self, input: &Path, out: &Path) -> Result<JobId, String> {
        let job = crate::common::submission("wc", &[input], out, 1);
        block_on(async {
            let client = Client::connect(&self.url)
                .await
                .map_err(|e| e.to_string())?;
            client.submit(job).await.map_err(|e| e.to_string())
        })
    }

    /// Waits (at most `timeout`) for job `id` to end; returns its status.
    fn wait(&self, id: JobId, timeout: Duration) -> JobView {
        poll_until(&format!("job {id} to end"), timeout, || {
            let view = block_on(async {
                let client = Client::connect(&self.url).await.ok()?;
                client.poll(id).await.ok()
            })?;
            view.done.then_some(view)
        })
    }

    fn worker_logs(&self) -> String {
        self.workers.iter().map(|w| w.log_tail(30)).collect()
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `data`, `out`, `secret` (holding `s.txt` with [`SECRET`]) and
/// `secret-out`, an empty folder outside `--allow-output`.
struct Folders {
    base: tempfile::TempDir,
    data: PathBuf,
    out: PathBuf,
    secret: PathBuf,
    secret_out: PathBuf,
}

fn folders() -> Folders {
    let base = tempfile::tempdir().unwrap();
    let p = |n: &str| base.path().join(n);
    let (data, out, secret, secret_out) = (p("data"), p("out"), p("secret"), p("secret-out"));
    for d in [&data, &out, &secret, &secret_out] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(data.join("ok.txt"), "fine words fine").unwrap();
    std::fs::write(secret.join("s.txt"), format!("{SECRET} {SECRET}")).unwrap();
    Folders {
        base,
        data,
        out,
        secret,
        secret_out,
    }
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        let ty = std::fs::symlink_metadata(&path).unwrap().file_type();
        if ty.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Whether any file below `dir` holds the secret's words.
fn leaked(dir: &Path) -> bool {
    files_below(dir).iter().any(|f| {
        std::fs::read(f)
            .map(|b| b.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()))
            .unwrap_or(false)
    })
}

/// Makes `link` lead to `up` (a path relative to `link`'s folder, like
/// `../secret/s.txt`) by way of a folder chain whose absolute path is
/// longer than `PATH_MAX` (4096): each link and each step is short enough
/// for the kernel, but `realpath(3)` fails with `ENAMETOOLONG`.
fn long_symlink(link: &Path, up: &str) {
    use rustix::fs::{mkdirat, openat, Mode, OFlags, CWD};
    const DEPTH: usize = 17;
    let dir = link.parent().unwrap();
    let deep = dir.join(".deep");
    let step = "d".repeat(250);
    if !deep.exists() {
        std::fs::create_dir(&deep).unwrap();
        let mut fd = openat(CWD, &deep, OFlags::DIRECTORY, Mode::empty()).unwrap();
        for _ in 0..DEPTH {
            mkdirat(&fd, step.as_str(), Mode::from_raw_mode(0o700)).unwrap();
            fd = openat(&fd, step.as_str(), OFlags::DIRECTORY, Mode::empty()).unwrap();
        }
    }
    let hop = dir.join(".deep-hop");
    if !hop.exists() {
        let body = format!(".deep/{}", [step.as_str(); 8].join("/"));
        std::os::unix::fs::symlink(body, &hop).unwrap();
    }
    let body = format!(
        ".deep-hop/{}/{}{up}",
        [step.as_str(); DEPTH - 8].join("/"),
        "../".repeat(DEPTH + 1)
    );
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(body, link).unwrap();
    assert!(
        link.canonicalize().is_err(),
        "the link must be too long for realpath"
    );
}

fn swap(a: &Path, b: &Path) {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .unwrap();
}

#[test]
fn a_symlink_past_path_max_cannot_read_outside_the_allowed_folder() {
    let f = folders();
    // No worker yet: the first job waits after the coordinator's check.
    let mut cluster = Confined::start(f.base.path(), Some((&f.data, &f.out)), 0);
    let link = f.data.join("link.txt");
    long_symlink(&link, "../secret/s.txt");
    match cluster.submit(&link, &f.out.join("direct")) {
        Ok(id) => {
            cluster.add_worker();
            let v = cluster.wait(id, FAIL_FAST);
            assert!(v.failed, "{v:?}");
        }
        Err(stderr) => assert!(stderr.contains(&*link.to_string_lossy()), "{stderr}"),
    }
    // The worker's own open: the link was harmless at submission.
    let late = f.data.join("late.txt");
    std::os::unix::fs::symlink("ok.txt", &late).unwrap();
    let id = cluster.submit(&late, &f.out.join("late")).unwrap();
    long_symlink(&late, "../secret/s.txt");
    if cluster.workers.is_empty() {
        cluster.add_worker();
    }
    let v = cluster.wait(id, FAIL_FAST);
    assert!(v.failed, "{v:?}");
    assert!(!leaked(&f.out), "the secret was read");
}

#[test]
fn a_symlink_past_path_max_cannot_write_outside_the_allowed_folder() {
    let f = folders();
    let mut cluster = Confined::start(f.base.path(), Some((&f.data, &f.out)), 0);
    let link = f.out.join("link");
    long_symlink(&link, "../secret-out");
    let input = f.data.join("ok.txt");
    for target in [link.clone(), link.join("below")] {
        if let Ok(id) = cluster.submit(&input, &target) {
            if cluster.workers.is_empty() {
                cluster.add_worker();
            }
            let v = cluster.wait(id, FAIL_FAST);
            assert!(v.failed, "{v:?}");
        }
    }
    // The worker's own open: the folder was harmless at submission.
    let late = f.out.join("late");
    std::fs::create_dir_all(f.out.join("real")).unwrap();
    std::os::unix::fs::symlink("real", &late).unwrap();
    let id = cluster.submit(&input, &late.join("o")).unwrap();
    long_symlink(&late, "../secret-out");
    if cluster.workers.is_empty() {
        cluster.add_worker();
    }
    let v = cluster.wait(id, FAIL_FAST);
    assert!(v.failed, "{v:?}");
    assert_eq!(files_below(&f.secret_out), Vec::<PathBuf>::new());
}

/// Runs [`RACE_JOBS`] accepted jobs (`job(i)` gives the input and output
/// of the `i`th submission) while a thread keeps exchanging `a` and `b`;
/// returns how many submissions it took.
fn race(
    cluster: &Confined,
    a: &Path,
    b: &Path,
    job: impl Fn(usize) -> (PathBuf, PathBuf),
) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, a, b) = (Arc::clone(&stop), a.to_path_buf(), b.to_path_buf());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                swap(&a, &b);
            }
        })
    };
    let mut ids = Vec::new();
    let mut submitted = 0;
    while ids.len() < RACE_JOBS && submitted < 20 * RACE_JOBS {
        let (input, out) = job(submitted);
        submitted += 1;
        ids.extend(cluster.submit(&input, &out).ok());
    }
    for id in &ids {
        cluster.wait(*id, Duration::from_secs(60));
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert_eq!(ids.len(), RACE_JOBS, "too few jobs were accepted");
    submitted
}

/// Accepted jobs per race (the old check-then-open lost ~40% of them).
const RACE_JOBS: usize = 60;

#[test]
fn swapping_a_symlink_in_reads_no_secret() {
    let f = folders();
    let cluster = Confined::start(f.base.path(), Some((&f.data, &f.out)), 2);
    let (cur, evil) = (f.data.join("cur.txt"), f.data.join("evil.txt"));
    std::fs::write(&cur, "fine words").unwrap();
    std::os::unix::fs::symlink(f.secret.join("s.txt"), &evil).unwrap();
    let job = |i: usize| (cur.clone(), f.out.join(format!("j{i}")));
    let started = race(&cluster, &cur, &evil, job);
    assert!(
        !leaked(&f.out),
        "a job read the secret ({started} submissions)"
    );
}

#[test]
fn swapping_a_symlink_in_writes_nothing_outside() {
    let f = folders();
    let cluster = Confined::start(f.base.path(), Some((&f.data, &f.out)), 2);
    let (cur, evil) = (f.out.join("cur"), f.out.join("evil"));
    std::fs::create_dir_all(&cur).unwrap();
    std::os::unix::fs::symlink(&f.secret_out, &evil).unwrap();
    let input = f.data.join("ok.txt");
    let job = |i: usize| (input.clone(), cur.join(format!("j{i}")));
    let started = race(&cluster, &cur, &evil, job);
    assert_eq!(
        files_below(&f.secret_out),
        Vec::<PathBuf>::new(),
        "{started} submissions"
    );
}

/// Submits `input`; it must be refused naming it, or fail fast naming it
/// and `kind`; then a job reading `ok` on the same worker succeeds.
fn fails_fast(cluster: &Confined, input: &Path, ok: &Path, out: &Path, kind: &str) {
    let shown = input.display().to_string();
    let started = Instant::now();
    match cluster.submit(input, &out.join("bad")) {
        Ok(id) => {
            let v = cluster.wait(id, FAIL_FAST);
            assert!(v.failed, "{v:?}");
            let errors = v.errors.join("\n");
            assert!(
                errors.contains(&shown) && errors.contains(kind),
                "{errors}\n{}",
                cluster.worker_logs()
            );
        }
        Err(stderr) => assert!(stderr.contains(&shown), "{stderr}"),
    }
    assert!(started.elapsed() < FAIL_FAST);
    let id = cluster.submit(ok, &out.join("good")).unwrap();
    let v = cluster.wait(id, FAIL_FAST);
    assert!(!v.failed, "{v:?}\n{}", cluster.worker_logs());
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

#[test]
fn a_fifo_input_fails_fast_and_frees_the_worker() {
    let f = folders();
    let fifo = f.data.join("pipe");
    mkfifo(&fifo);
    let open = Confined::start(&f.base.path().join("open"), None, 1);
    let ok = f.data.join("ok.txt");
    fails_fast(&open, &fifo, &ok, &f.out.join("open"), "FIFO");
    let confined = Confined::start(&f.base.path().join("conf"), Some((&f.data, &f.out)), 1);
    fails_fast(&confined, &fifo, &ok, &f.out.join("conf"), "FIFO");
}

#[test]
fn dev_zero_fails_fast_and_frees_the_worker() {
    let f = folders();
    let zero = f.data.join("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let open = Confined::start(&f.base.path().join("open"), None, 1);
    let ok = f.data.join("ok.txt");
    let dev_zero = Path::new("/dev/zero");
    for (i, input) in [dev_zero, &zero].into_iter().enumerate() {
        let out = f.out.join(format!("open{i}"));
        fails_fast(&open, input, &ok, &out, "character device");
    }
    let confined = Confined::start(&f.base.path().join("conf"), Some((&f.data, &f.out)), 1);
    fails_fast(&confined, &zero, &ok, &f.out.join("conf"), "outside");
}
