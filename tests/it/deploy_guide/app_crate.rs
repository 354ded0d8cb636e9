//! docs/writing-apps.md, run as written: an app crate outside this
//! repository, made of the guide's `Cargo.toml` (its `path` dependency
//! pointed at this checkout's `plugin-api`), `src/lib.rs` and unit tests
//! (the blocks marked `<!-- app-test: NAME -->`), tested with `cargo test`,
//! built and run with the guide's `mr run ... --plugins target/release`.
//!
//! What differs from the guide, to stay quick and offline: the build is
//! `--offline` with this workspace's `Cargo.lock` (so the same versions),
//! in the debug profile with this workspace's debug-info settings, into
//! `target/out-of-tree-app` (a folder of its own, so the `words` library
//! never lands beside `mr`, which loads every plugin there). The first run
//! compiles `abi_stable` and its dependencies there (77 s on two busy
//! cores, 130 MB), later runs take 3 s; so the test is opt-in:
//! `cargo test --test it -- --ignored deploy_guide::app_crate`.

use std::path::{Path, PathBuf};

use super::guide::{substitute, Guide};
use crate::common::path_str;
use crate::common::procs::clean_command;

/// The workspace's debug-info settings (see the root `Cargo.toml`), so the
/// out-of-tree build is as small as the workspace's.
const PROFILE: &str = "
[profile.dev]
debug = \"line-tables-only\"

[profile.dev.package.\"*\"]
debug = false
";

/// The folder `cargo` builds the out-of-tree app into.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_mr"));
    bin.parent()
        .and_then(Path::parent)
        .expect("the mr binary is in target/<profile>/")
        .join("out-of-tree-app")
}

/// Runs `code` with bash in `dir`, with `cargo` and `mr` on the path and
/// none of the variables `cargo test` sets for this test process (they
/// would make the inner cargo rebuild this package's dependencies).
fn sh(dir: &Path, name: &str, code: &str) -> String {
    let mut cmd = clean_command("bash");
    for (var, _) in std::env::vars_os() {
        let v = var.to_string_lossy();
        let set_by_cargo_test = v == "OUT_DIR"
            || v == "CARGO_PRIMARY_PACKAGE"
            || v == "CARGO_TARGET_DIR"
            || [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|p| v.starts_with(p));
        if set_by_cargo_test {
            cmd.env_remove(&var);
        }
    }
    let mr_dir = Path::new(env!("CARGO_BIN_EXE_mr")).parent().unwrap();
    let cargo_dir = Path::new(env!("CARGO")).parent().unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let out = cmd
        .env(
            "PATH",
            format!("{}:{}:{path}", path_str(mr_dir), path_str(cargo_dir)),
        )
        .env("CARGO_TARGET_DIR", target_dir())
        .arg("-c")
        .arg(format!("set -euo pipefail\n{code}"))
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the guide's block {name:?} failed ({}):\n{code}\n--- stdout:\n{stdout}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
#[ignore = "builds abi_stable out of tree (about a minute the first time): \
            cargo test --test it -- --ignored deploy_guide::app_crate"]
fn an_app_crate_outside_the_repository_builds_tests_and_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("docs/writing-apps.md")).unwrap();
    let mut g = Guide::parse(&text, "app-test");
    let tmp = tempfile::tempdir().unwrap();
    let krate = tmp.path().join("words");
    std::fs::create_dir_all(krate.join("src")).unwrap();

    let plugin_api = path_str(&repo.join("plugin-api"));
    let manifest = substitute(
        &g.take("Cargo.toml", "toml"),
        &[("/path/to/mapreduce/plugin-api".into(), plugin_api)],
    );
    std::fs::write(krate.join("Cargo.toml"), format!("{manifest}{PROFILE}")).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let lib = format!(
        "{}\n{}",
        g.take("src/lib.rs", "rust"),
        g.take("unit-tests", "rust")
    );
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();

    // `cargo test`, then the guide's build and run, on a folder of notes.
    let tested = sh(&krate, "cargo test", "cargo test --offline --quiet");
    assert!(tested.contains("1 passed"), "the unit test ran:\n{tested}");
    let notes = krate.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("a.txt"), "to be or not to be\n").unwrap();
    std::fs::write(notes.join("b.txt"), "be quick\n").unwrap();
    // A library left by an earlier run must not stand in for this build.
    let built = target_dir().join("debug");
    let lib = built.join(format!(
        "{}words.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ));
    if let Err(e) = std::fs::remove_file(&lib) {
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{}", lib.display());
    }
    let built = path_str(&built);
    let run = substitute(
        &g.take("build-and-run", "sh"),
        &[
            (
                "cargo build --release".into(),
                "cargo build --offline --quiet".into(),
            ),
            ("target/release".into(), built),
            ("/tmp/words".into(), path_str(&tmp.path().join("out"))),
        ],
    );
    let printed = sh(&krate, "build-and-run", &run);
    for line in ["be\t3", "to\t2", "or\t1", "not\t1", "quick\t1"] {
        assert!(
            printed.lines().any(|l| l == line),
            "`mr run` prints {line:?}:\n{printed}"
        );
    }
    assert!(
        g.untaken().is_empty(),
        "marked blocks this test does not run: {:?}",
        g.untaken()
    );
}
