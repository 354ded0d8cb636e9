//! docs/deploying.md, run as written on loopback: every block marked
//! `<!-- deploy-test: NAME -->` runs with `bash` on one of four simulated
//! machines (folders of one temporary folder: `coord`, `worker-a`,
//! `worker-b`, `admin`), with the guide's absolute folders rooted in the
//! machine's folder, `scp HOST:` copying into the machine's home, host
//! names turned into `localhost` and the servers on their wildcard
//! address (the coordinator on port 0, the workers on a port picked just
//! before, since they advertise it), and `mr` finding no app beside itself.
//! The systemd units run as systemd would run them (`Environment=`,
//! `EnvironmentFile=`, `ExecStart=`, `ExecReload=`). A wc job then must
//! succeed with the right counts (the workers fetch the app from the
//! coordinator), `mr workers` must show both workers, `/metrics` both alive,
//! and `mr apps reload` and the unit's reload must rescan; a renamed flag,
//! a missing token, key or step in the guide fails here.
//!
//! Without `openssl` the certificates come from `rcgen` instead (same
//! files, same names), and only that block is skipped, with a message; a
//! second test always runs that fallback. `deploy_guide/app_crate.rs` does
//! the same for docs/writing-apps.md's app crate (opt-in).

mod app_crate;
mod guide;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use guide::{env_assignment, substitute, Guide, Unit};

use crate::common::procs::{clean_command, Server, STEP};
use crate::common::{
    built_library, path_str, poll_until, read_output_dir, texts, wc_inputs, wc_records, word_counts,
};

/// The simulated machines: the folder name is the host name without
/// `.example`.
const MACHINES: [&str; 4] = ["admin", "coord", "worker-a", "worker-b"];

/// `scp FILES... [USER@]HOST:` copies into `$MACHINES/<host without
/// .example>/home/`; `set -euo pipefail` makes any failing command fail
/// the block.
const PRELUDE: &str = r#"set -euo pipefail
scp() {
  local dest="${!#}" host
  host="${dest#*@}"; host="${host%%:*}"
  [ -d "$MACHINES/${host%.example}/home" ] || { echo "scp: unknown host $host" >&2; return 1; }
  cp -L -- "${@:1:$#-1}" "$MACHINES/${host%.example}/home/"
}
"#;

/// The temporary cluster and what it learned so far (ports).
struct Lab {
    dir: tempfile::TempDir,
    user: String,
    group: String,
    /// Text replacements known so far, beyond the per-machine paths.
    ports: Vec<(String, String)>,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("mr-deploy")
            .tempdir()
            .unwrap();
        for m in MACHINES {
            std::fs::create_dir_all(dir.path().join(m).join("home")).unwrap();
        }
        let id = |flag: &str| {
            let out = Command::new("id").arg(flag).output().unwrap();
            assert!(out.status.success(), "id {flag}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        Lab {
            user: id("-un"),
            group: id("-gn"),
            ports: Vec::new(),
            dir,
        }
    }

    fn root(&self, machine: &str) -> PathBuf {
        self.dir.path().join(machine)
    }

    fn home(&self, machine: &str) -> PathBuf {
        self.root(machine).join("home")
    }

    fn shared(&self) -> PathBuf {
        self.dir.path().join("shared")
    }

    /// The replacements for a block run on `machine`: `extra` first, then
    /// the ports learned, then hosts (unless `hosts` is false), paths and
    /// the service user.
    fn pairs(&self, machine: &str, extra: &[(&str, String)], hosts: bool) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = extra
            .iter()
            .map(|(a, b)| (a.to_string(), b.clone()))
            .collect();
        p.extend(self.ports.iter().cloned());
        if hosts {
            p.push(("10.0.0.1".into(), "127.0.0.1".into()));
            for h in ["coord", "worker-a", "worker-b", "admin"] {
                p.push((format!("{h}.example"), "localhost".into()));
            }
        }
        let root = path_str(&self.root(machine));
        p.push(("/usr/local/bin/mr".into(), env!("CARGO_BIN_EXE_mr").into()));
        for d in [
            "/etc/mapreduce",
            "/opt/mapreduce",
            "/var/lib/mapreduce",
            "/var/cache/mapreduce",
        ] {
            p.push((d.into(), format!("{root}{d}")));
        }
        p.push(("/shared".into(), path_str(&self.shared())));
        p.push((
            "-o mapreduce -g mapreduce".into(),
            format!("-o {} -g {}", self.user, self.group),
        ));
        p
    }

    /// A command with the clean environment of `machine`: `mr` on the
    /// path, its home as `HOME`, no XDG variables, and of the `MR_*`
    /// variables only `MR_PLUGINS`, naming the machine's empty
    /// `/usr/local/bin`: the built `mr` has the bundled apps beside it,
    /// an installed one has not.
    fn command(&self, machine: &str, program: &str) -> Command {
        let mut c = clean_command(program);
        let bin = Path::new(env!("CARGO_BIN_EXE_mr")).parent().unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        let beside_mr = self.root(machine).join("usr/local/bin");
        std::fs::create_dir_all(&beside_mr).unwrap();
        c.env("PATH", format!("{}:{path}", path_str(bin)))
            .env("MR_PLUGINS", beside_mr)
            .env("HOME", self.home(machine))
            .env("MACHINES", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .current_dir(self.home(machine));
        c
    }

    /// Runs `code` with bash on `machine` (at most [`STEP`]); its stdout.
    fn sh(&self, machine: &str, name: &str, code: &str) -> String {
        let script = self.root(machine).join(format!("{name}.sh"));
        std::fs::write(&script, format!("{PRELUDE}{code}")).unwrap();
        let (out, err) = (script.with_extension("out"), script.with_extension("err"));
        let mut child = self
            .command(machine, "bash")
            .arg(&script)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("block {name:?} on {machine} ran longer than {STEP:?}:\n{code}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let stdout = read(&out);
        assert!(
            status.success(),
            "the guide's block {name:?} failed on {machine} ({status}):\n{code}\n\
             --- stdout:\n{stdout}\n--- stderr:\n{}",
            read(&err)
        );
        stdout
    }

    /// Runs the guide's block `name` on `machine` after substitution.
    fn run(&self, g: &mut Guide, name: &str, machine: &str, extra: &[(&str, String)]) -> String {
        let code = substitute(&g.take(name, "sh"), &self.pairs(machine, extra, true));
        self.sh(machine, name, &code)
    }

    /// Starts the guide's unit `name` on `machine` as systemd would.
    fn start_unit(
        &self,
        g: &mut Guide,
        name: &str,
        machine: &str,
        extra: &[(&str, String)],
    ) -> (Server, Unit) {
        let text = substitute(&g.take(name, "ini"), &self.pairs(machine, extra, true));
        let unit = Unit::parse(&text);
        let mut cmd = self.command(machine, "bash");
        for file in &unit.env_files {
            let vars = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("EnvironmentFile={file} of {name}: {e}"));
            for line in vars.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    let (k, v) = env_assignment(line);
                    cmd.env(k, v);
                }
            }
        }
        for (k, v) in &unit.env {
            cmd.env(k, v);
        }
        // `exec`: the unit's main process is `mr` itself, as under systemd.
        cmd.arg("-c").arg(format!("exec {}", unit.exec_start));
        let server = Server::start(
            &format!("{machine}-{name}"),
            self.root(machine).join(format!("{name}.log")),
            cmd,
        );
        (server, unit)
    }
}

/// Whether `openssl` runs here.
fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The files the guide's `certificates` block makes, made with rcgen: the
/// CA and `coord`, `worker-a`, `worker-b`, `admin` for `localhost` (and
/// 127.0.0.1 for the coordinator), in `dir`.
fn rcgen_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    // Distinct subjects: OpenSSL (curl) takes a certificate whose subject
    // is its issuer's for a self-signed one, and rcgen's default is one
    // name for all.
    let named = |mut params: CertificateParams, name: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params
    };
    let mut ca_params = named(
        CertificateParams::new(Vec::<String>::new()).unwrap(),
        "mapreduce CA",
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(dir.join("ca.key"), ca_key.serialize_pem()).unwrap();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for name in ["coord", "worker-a", "worker-b", "admin"] {
        let mut sans = vec!["localhost".to_string()];
        if name == "coord" {
            sans.push("127.0.0.1".into());
        }
        let key = KeyPair::generate().unwrap();
        let cert = named(CertificateParams::new(sans).unwrap(), name)
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

#[test]
fn the_deploy_guide_runs_as_written() {
    if have_openssl() {
        run_guide(Certificates::Openssl);
    } else {
        eprintln!(
            "openssl is missing: the guide's certificates block is skipped, rcgen makes the same files"
        );
        run_guide(Certificates::Rcgen);
    }
}

/// The fallback where `openssl` is missing works too (so such a machine
/// runs the rest of the guide rather than failing on the certificates).
#[test]
fn the_deploy_guide_runs_with_rcgen_certificates() {
    run_guide(Certificates::Rcgen);
}

/// Who makes the certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certificates {
    /// The guide's `certificates` block.
    Openssl,
    /// [`rcgen_certificates`], in place of that block.
    Rcgen,
}

/// Runs every marked block of docs/deploying.md and checks the cluster it
/// made.
fn run_guide(certificates: Certificates) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deploying.md"))
            .unwrap();
    let mut g = Guide::parse(&text, "deploy-test");
    let mut lab = Lab::new();

    // What the guide assumes exists: the apps built in a checkout on
    // `admin`, and the shared folders with the inputs.
    let release = lab.home("admin").join("mapreduce/target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(built_library("mr_app_wc"), release.join("libmr_app_wc.so"))
        .unwrap();
    let books = lab.shared().join("in/books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::create_dir_all(lab.shared().join("out")).unwrap();
    // One folder of files (`mr submit FOLDER` reads the files directly in it).
    let inputs: Vec<(String, Vec<u8>)> = wc_inputs()
        .into_iter()
        .map(|(name, bytes)| (name.replace('/', "-"), bytes))
        .collect();
    crate::common::write_files(&books, &inputs);

    // 2. Tokens and certificates, then copies to each machine.
    lab.run(&mut g, "tokens", "admin", &[]);
    let pki = lab.home("admin").join("mr-pki");
    match certificates {
        Certificates::Openssl => {
            lab.run(&mut g, "certificates", "admin", &[]);
        }
        Certificates::Rcgen => {
            g.take("certificates", "sh");
            rcgen_certificates(&pki);
        }
    }
    let copy = substitute(&g.take("copy", "sh"), &lab.pairs("admin", &[], false));
    lab.sh("admin", "copy", &copy);

    // 3. The coordinator.
    lab.run(&mut g, "install-coordinator", "coord", &[]);
    // The servers keep the guide's wildcard address (port 0 aside), so the
    // rule that refuses it without tokens is checked too; TLS with client
    // certificates and both tokens guard the few seconds they listen.
    let listen = [
        ("0.0.0.0:10162", "0.0.0.0:0".to_string()),
        ("0.0.0.0:8080", "0.0.0.0:0".to_string()),
    ];
    let (mut coordinator, coordinator_unit) =
        lab.start_unit(&mut g, "coordinator-unit", "coord", &listen);
    let grpc = coordinator.listening("").port();
    let http = coordinator.listening("http ").port();
    lab.ports
        .push(("coord.example:10162".into(), format!("localhost:{grpc}")));
    lab.ports
        .push(("coord.example:8080".into(), format!("localhost:{http}")));

    // 4. The workers, each on a port of its own.
    let mut workers = Vec::new();
    let mut advertised = Vec::new();
    for machine in ["worker-a", "worker-b"] {
        // Port 0 for the guide's fixed port: the worker listens on a free
        // one and advertises `localhost:<the port bound>`.
        lab.ports
            .push((format!("{machine}.example:7000"), "localhost:0".to_string()));
        let rename = [("worker-a", machine.to_string())];
        let install = substitute(&g.take("install-worker", "sh"), &rename_pairs(&rename));
        let code = substitute(&install, &lab.pairs(machine, &[], true));
        lab.sh(machine, "install-worker", &code);
        let listen = [("0.0.0.0:7000", "0.0.0.0:0".to_string())];
        let (mut worker, _) = lab.start_unit(&mut g, "worker-unit", machine, &listen);
        let port = worker.listening("").port();
        workers.push(worker);
        advertised.push(format!("localhost:{port}"));
    }

    // 6. The client's configuration, then both workers registered.
    lab.run(&mut g, "client-config", "admin", &[]);
    poll_until("both workers in `mr workers`", STEP, || {
        let mut c = lab.command("admin", "mr");
        let out = c.arg("workers").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        advertised
            .iter()
            .all(|a| text.contains(a.as_str()))
            .then_some(())
    });

    // The first job: its output is the sequential word count.
    let printed = lab.run(&mut g, "submit", "admin", &[]);
    let records = read_output_dir(&lab.shared().join("out/wc"), 5);
    let all = texts(&inputs);
    let want = word_counts(&all.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(wc_records(&records), want);
    assert!(printed.contains("wc"), "`mr apps` lists wc:\n{printed}");
    let (top_word, top_count) = want.iter().max_by_key(|(_, c)| **c).unwrap();
    assert!(
        printed.contains(&format!("{top_count}\t{top_word}")),
        "`mr process` prints the counts:\n{printed}"
    );

    // 7. Health: both workers listed and alive in /metrics.
    let health = lab.run(&mut g, "health", "admin", &[]);
    for a in &advertised {
        assert!(
            health.contains(a.as_str()),
            "`mr workers` lists {a}:\n{health}"
        );
    }
    assert!(
        health.contains("mr_workers{state=\"alive\"} 2"),
        "/metrics counts both workers alive:\n{health}"
    );

    // 8. Upgrading an app: the new library put in place, then a reload.
    std::fs::copy(
        built_library("mr_app_wc"),
        lab.home("coord").join("libmr_app_wc.so"),
    )
    .unwrap();
    lab.run(&mut g, "upgrade-app", "coord", &[]);
    let reloaded = lab.run(&mut g, "reload", "admin", &[]);
    assert!(
        reloaded.contains("wc"),
        "`mr apps reload` lists wc:\n{reloaded}"
    );

    // `systemctl reload mr-coordinator`: the unit's ExecReload rescans and
    // leaves the coordinator running (SIGHUP ends a process that does not
    // handle it).
    let reloads = |s: &Server| s.log_text().matches("plugin registry reloaded").count();
    let before = reloads(&coordinator);
    let exec_reload = coordinator_unit
        .exec_reload
        .as_deref()
        .expect("the coordinator unit has ExecReload=")
        .replace("$MAINPID", &coordinator.pid().to_string());
    lab.sh("coord", "exec-reload", &exec_reload);
    poll_until("the coordinator to rescan on ExecReload", STEP, || {
        (reloads(&coordinator) > before).then_some(())
    });
    let apps = lab.sh("admin", "apps-after-reload", "mr apps");
    assert!(apps.contains("wc"), "`mr apps` after ExecReload:\n{apps}");

    for s in workers.iter_mut().chain(std::iter::once(&mut coordinator)) {
        assert!(s.is_running(), "{} stopped:\n{}", s.name, s.log_tail(40));
    }
    assert!(
        g.untaken().is_empty(),
        "marked blocks this test does not run: {:?}",
        g.untaken()
    );
}

fn rename_pairs(p: &[(&str, String)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| (a.to_string(), b.clone())).collect()
}
