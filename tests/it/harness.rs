//! Tests of the process harness itself (`common::procs`): children never
//! see the `MR_*` settings of the environment the tests run in, and
//! servers started on port 0 announce the addresses they bound in the
//! documented format.

use crate::common;

use std::ffi::OsString;
use std::net::TcpStream;
use std::time::Duration;

use common::plugins_dir;
use common::procs::{clean_command, coordinator_cmd, mr, plugin_cache, run_mr, Server};

/// Sets environment variables for the rest of one test and unsets them
/// when dropped. Only `MR_*` names that nothing in this test process reads
/// (the library reads `MR_PLUGINS` and `MR_PLUGIN_CACHE`; these it does
/// not), so tests running at the same time are unaffected unless they
/// start children without the harness.
struct EnvGuard(Vec<&'static str>);

impl EnvGuard {
    fn set(vars: &[(&'static str, &str)]) -> EnvGuard {
        for (name, value) in vars {
            std::env::set_var(name, value);
        }
        EnvGuard(vars.iter().map(|(n, _)| *n).collect())
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for name in &self.0 {
            std::env::remove_var(name);
        }
    }
}

#[test]
fn children_see_no_mr_variable_of_the_test_environment() {
    let _env = EnvGuard::set(&[
        ("MR_CLIENT_TOKEN", "a-client-token-from-the-environment"),
        ("MR_WORKER_TOKEN", "a-worker-token-from-the-environment"),
        (
            "MR_NOT_YET_INVENTED",
            "any MR_ setting the binary may read later",
        ),
    ]);

    // What a child's environment holds, through the same builder as mr().
    let out = clean_command("env").output().expect("run env(1)");
    assert!(out.status.success(), "{out:?}");
    let mr_vars: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("MR_"))
        .map(str::to_string)
        .collect();
    let cache = format!("MR_PLUGIN_CACHE={}", plugin_cache().display());
    assert_eq!(mr_vars, [cache], "the only MR_ variable a child gets");

    // The real binary: with both tokens in its environment, listening
    // beyond loopback would be allowed (and the coordinator would run
    // until killed); without them it is refused at once.
    let out = run_mr([
        OsString::from("coordinator"),
        "--listen".into(),
        "0.0.0.0:0".into(),
        "--plugins".into(),
        plugins_dir().into_os_string(),
    ]);
    assert!(!out.status.success(), "{out:#?}");
    assert!(
        out.stderr.contains("refusing to listen on 0.0.0.0"),
        "{out:#?}"
    );
}

#[test]
fn servers_on_port_0_announce_the_addresses_they_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = coordinator_cmd(&plugins_dir());
    cmd.args(["--http", "127.0.0.1:0"]);
    let mut coordinator = Server::start("coordinator", dir.path().join("coordinator.log"), cmd);
    let grpc = coordinator.listening("");
    let http = coordinator.listening("http ");
    assert_ne!(grpc, http);
    for addr in [grpc, http] {
        assert!(addr.ip().is_loopback(), "{addr}");
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to the announced {addr}: {e}"));
    }

    let mut cmd = mr();
    cmd.args(["worker", "--coordinator", &format!("http://{grpc}")])
        .arg("--plugins")
        .arg(plugins_dir());
    let mut worker = Server::start("worker", dir.path().join("worker.log"), cmd);
    let served = worker.listening("");
    assert!(served.ip().is_loopback() && served.port() != 0, "{served}");
    TcpStream::connect_timeout(&served, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to the announced {served}: {e}"));
    // The worker registers with the address it announced.
    let url = format!("http://{grpc}");
    let listed = common::poll_until("the worker to register", Duration::from_secs(30), || {
        let workers = run_mr(["workers", "--json", "--coordinator", &url])
            .ok()
            .json();
        Some(
            workers.as_array()?.first()?["address"]
                .as_str()?
                .to_string(),
        )
    });
    assert_eq!(listed, served.to_string());
}
