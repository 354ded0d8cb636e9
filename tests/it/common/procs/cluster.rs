//! A coordinator and workers as separate `mr` processes ([`Cluster`]):
//! the coordinator starts on port 0 and the cluster reads the address it
//! announces; workers come and go; the coordinator can go away and come
//! back on the address it had.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    chaos_plugins, job_id_of, run_mr, submit_args, Server, HEARTBEAT_MS, STEP, WORKER_TIMEOUT_MS,
};
use crate::common::poll_until;

/// How a [`Cluster`]'s servers are started.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The plugin folder of every server.
    pub plugins: PathBuf,
    /// The workers' (and the coordinator's) `--heartbeat-interval-ms`.
    pub heartbeat_ms: u64,
    /// The coordinator's `--worker-timeout-ms` (`None`: its default).
    pub worker_timeout_ms: Option<u64>,
    /// The coordinator's `--state-dir` (`None`: jobs in memory), kept by a
    /// restarted coordinator.
    pub state_dir: Option<PathBuf>,
}

impl ClusterConfig {
    /// The fault-test setup: the `chaos` app alone ([`chaos_plugins`],
    /// made under `dir`), heartbeats every [`HEARTBEAT_MS`] and a worker
    /// timeout of [`WORKER_TIMEOUT_MS`].
    pub fn chaos(dir: &Path) -> ClusterConfig {
        ClusterConfig {
            plugins: chaos_plugins(&dir.join("plugins")),
            heartbeat_ms: HEARTBEAT_MS,
            worker_timeout_ms: Some(WORKER_TIMEOUT_MS),
            state_dir: None,
        }
    }
}

/// A coordinator and workers as separate processes. Workers are never
/// removed from [`Cluster::workers`] (killed ones stay, exited), so an
/// index names one process for the whole test.
pub struct Cluster {
    /// Where the logs go.
    pub logs: PathBuf,
    /// The plugin folder of every server.
    pub plugins: PathBuf,
    /// How the servers are started.
    pub config: ClusterConfig,
    /// The coordinator's address.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub url: String,
    /// The coordinator (`None` while it is down).
    pub coordinator: Option<Server>,
    /// Coordinators that were stopped, kept for their logs.
    pub old_coordinators: Vec<Server>,
    /// Every worker started, in order.
    pub workers: Vec<Server>,
}

impl Cluster {
    /// [`Cluster::start_with`] the [`ClusterConfig::chaos`] setup.
    pub fn start(dir: &Path, workers: usize) -> Cluster {
        Cluster::start_with(dir, workers, ClusterConfig::chaos(dir))
    }

    /// Starts a coordinator on port 0 and `workers` workers, and waits
    /// until they are all registered and alive.
    pub fn start_with(dir: &Path, workers: usize, config: ClusterConfig) -> Cluster {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Self::spawn_coordinator(&logs, &config, 0, listen);
        let addr = server.listening("");
        let mut cluster = Cluster {
            logs,
            plugins: config.plugins.clone(),
            config,
            addr,
            url: format!("http://{addr}"),
            coordinator: Some(server),
            old_coordinators: Vec::new(),
            workers: Vec::new(),
        };
        for _ in 0..workers {
            cluster.add_worker();
        }
        if workers > 0 {
            poll_until(&format!("{workers} workers to register"), STEP, || {
                for w in &mut cluster.workers {
                    if let Some(status) = w.exit_status() {
                        panic!("{} exited with {status}:\n{}", w.name, w.log_tail(30));
                    }
                }
                (cluster.alive_workers().len() >= workers).then_some(())
            });
        }
        cluster
    }

    fn spawn_coordinator(
        logs: &Path,
        config: &ClusterConfig,
        n: usize,
        listen: SocketAddr,
    ) -> Server {
        let mut args: Vec<OsString> = vec![
            "coordinator".into(),
            "--listen".into(),
            listen.to_string().into(),
            "--plugins".into(),
            config.plugins.as_os_str().to_owned(),
            "--heartbeat-interval-ms".into(),
            config.heartbeat_ms.to_string().into(),
            // Fault tests count attempts exactly; backup attempts would add
            // some whenever a worker idles. Jobs that test backups ask for
            // them (`mr submit --speculation on`).
            "--speculation".into(),
            "off".into(),
        ];
        if let Some(ms) = config.worker_timeout_ms {
            args.extend(["--worker-timeout-ms".into(), ms.to_string().into()]);
        }
        if let Some(dir) = &config.state_dir {
            args.extend(["--state-dir".into(), dir.as_os_str().to_owned()]);
        }
        Server::spawn(logs, &format!("coordinator-{n}"), &args)
    }

    /// Starts a new coordinator on the address the first one announced
    /// (the previous one must be down).
    pub fn restart_coordinator(&mut self) {
        assert!(self.coordinator.is_none(), "the coordinator is still up");
        let n = self.old_coordinators.len();
        let mut server = Self::spawn_coordinator(&self.logs, &self.config, 100 + n, self.addr);
        match server.wait_listening("") {
            Ok(addr) => assert_eq!(addr, self.addr, "the restarted coordinator's address"),
            Err(log) => panic!("cannot restart the coordinator on {}:\n{log}", self.addr),
        }
        self.coordinator = Some(server);
    }

    /// SIGKILLs the coordinator.
    pub fn kill_coordinator(&mut self) {
        let mut c = self.coordinator.take().expect("a coordinator");
        c.kill();
        self.old_coordinators.push(c);
    }

    /// Starts one more worker; returns its index.
    pub fn add_worker(&mut self) -> usize {
        self.add_worker_with(&[])
    }

    /// Starts one more worker with `extra` arguments; returns its index.
    pub fn add_worker_with(&mut self, extra: &[OsString]) -> usize {
        self.add_worker_with_env(extra, &[])
    }

    /// Starts one more worker with `extra` arguments and `env` variables
    /// set (say `MR_CHAOS_SLOW`, which slows the `chaos` app on it); returns
    /// its index.
    pub fn add_worker_with_env(&mut self, extra: &[OsString], env: &[(&str, &str)]) -> usize {
        let i = self.workers.len();
        let mut args: Vec<OsString> = vec![
            "worker".into(),
            "--coordinator".into(),
            self.url.clone().into(),
            "--plugins".into(),
            self.plugins.as_os_str().to_owned(),
            "--heartbeat-interval-ms".into(),
            self.config.heartbeat_ms.to_string().into(),
        ];
        args.extend_from_slice(extra);
        let name = format!("worker-{i}");
        self.workers
            .push(Server::spawn_with_env(&self.logs, &name, &args, env));
        i
    }

    /// The address worker `i` serves on (from its log).
    pub fn worker_address(&mut self, i: usize) -> String {
        let w = &mut self.workers[i];
        let what = format!("{} to log its address", w.name);
        poll_until(&what, STEP, || {
            if let Some(s) = w.exit_status() {
                panic!("{} exited with {s}:\n{}", w.name, w.log_tail(30));
            }
            w.log_field("worker serving map output", "advertise")
        })
    }

    /// Waits until worker `i` has logged `times` registrations with a
    /// coordinator (the coordinator lists a worker a moment before the
    /// worker logs that it registered).
    pub fn wait_registered(&self, i: usize, times: usize) {
        let w = &self.workers[i];
        let what = format!("{} to log {times} registrations", w.name);
        poll_until(&what, STEP, || {
            let n = w.log_events("registered with the coordinator").len();
            assert!(
                n <= times,
                "{} registered {n} times:\n{}",
                w.name,
                w.log_tail(30)
            );
            (n == times).then_some(())
        });
    }

    /// `mr workers --json`.
    pub fn workers_json(&self) -> Vec<serde_json::Value> {
        let out = run_mr(["workers", "--json", "--coordinator", &self.url]).ok();
        out.json().as_array().expect("a JSON array").clone()
    }

    /// The alive entries of `mr workers --json`.
    pub fn alive_workers(&self) -> Vec<serde_json::Value> {
        self.workers_json()
            .into_iter()
            .filter(|w| w["state"] == "alive")
            .collect()
    }

    /// `mr jobs --json`.
    pub fn jobs_json(&self) -> Vec<serde_json::Value> {
        let out = run_mr(["jobs", "--json", "--coordinator", &self.url]).ok();
        out.json().as_array().expect("a JSON array").clone()
    }

    /// Waits until at least `n` workers are alive; returns them.
    pub fn wait_alive(&self, n: usize) -> Vec<serde_json::Value> {
        poll_until(&format!("{n} alive workers"), STEP, || {
            let alive = self.alive_workers();
            (alive.len() >= n).then_some(alive)
        })
    }

    /// The arguments of `mr submit`.
    pub fn submit_args(
        &self,
        files: &[PathBuf],
        out: &Path,
        app: &str,
        n_reduce: u32,
        wait: bool,
        app_args: &[&str],
    ) -> Vec<OsString> {
        submit_args(&self.url, files, out, app, n_reduce, wait, app_args)
    }

    /// `mr submit` without waiting; returns the job id.
    pub fn submit(
        &self,
        files: &[PathBuf],
        out: &Path,
        app: &str,
        n_reduce: u32,
        app_args: &[&str],
    ) -> u32 {
        let out = run_mr(self.submit_args(files, out, app, n_reduce, false, app_args)).ok();
        job_id_of(&out)
    }

    /// `mr poll ID --json`.
    pub fn poll(&self, job: u32) -> serde_json::Value {
        let v = run_mr([
            "poll",
            &job.to_string(),
            "--json",
            "--coordinator",
            &self.url,
        ])
        .ok()
        .json();
        assert_eq!(v["job_id"], job, "{v}");
        v
    }

    /// Polls the job with `mr poll --json` until it is done (at most
    /// `timeout`); returns its last status.
    pub fn wait_job(&self, job: u32, timeout: Duration) -> serde_json::Value {
        poll_until(&format!("job {job} to end"), timeout, || {
            let v = self.poll(job);
            (v["done"] == true).then_some(v)
        })
    }

    /// The tail of every server's log.
    pub fn dump_logs(&self) -> String {
        let mut s = format!("----- cluster at {}\n", self.url);
        let servers = self
            .old_coordinators
            .iter()
            .chain(self.coordinator.iter())
            .chain(self.workers.iter());
        for server in servers {
            s.push_str(&format!("----- {} (pid {})\n", server.name, server.pid()));
            s.push_str(&server.log_tail(40));
            s.push('\n');
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump_logs());
        }
        // Workers first, then the coordinator.
        self.workers.clear();
        self.coordinator = None;
    }
}
