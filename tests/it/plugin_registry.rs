//! The plugin registry against real plugin files: the bundled apps load by
//! path with their metadata, a duplicate app name is an error naming both
//! files, and files that are not valid plugins are skipped with a reason.

use std::path::PathBuf;

use mapreduce::plugin::{Registry, RegistryError};
use plugin_api::abi::AppCallError;

use crate::common;

use common::{built_library, example_library, plugins_dir as plugin_dir};

/// Where the test plugin folder holds `stem`'s library (or, if it is not
/// there, straight from the build).
fn plugin_file(stem: &str) -> PathBuf {
    let in_folder = plugin_dir().join(built_library(stem).file_name().expect("a file name"));
    if in_folder.is_file() {
        in_folder
    } else {
        built_library(stem)
    }
}

#[test]
fn bundled_apps_load_with_metadata() {
    let registry = Registry::load_dirs(&[plugin_dir()]).expect("registry loads");
    for (name, stem) in [
        ("wc", "mr_app_wc"),
        ("grep", "mr_app_grep"),
        ("vertex-degree", "mr_app_vertex_degree"),
    ] {
        let entry = registry
            .get(name)
            .unwrap_or_else(|| panic!("{name} is registered"));
        assert_eq!(entry.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(entry.file.as_deref(), Some(plugin_file(stem).as_path()));
        assert!(!entry.description.is_empty());
        assert_eq!(entry.app.name(), name);
    }
}

#[test]
fn each_file_is_its_own_app() {
    // Loading by path must not hand back the first module for every file.
    let dir = tempfile::tempdir().unwrap();
    for stem in ["mr_app_wc", "mr_app_grep"] {
        let src = plugin_file(stem);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    let registry = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(registry.names(), vec!["grep".to_string(), "wc".to_string()]);
    let mut seen = Vec::new();
    registry
        .get("wc")
        .unwrap()
        .app
        .map("f", 0, b"Hello hello", &[], &mut |k, _| {
            seen.push(k.to_vec())
        })
        .unwrap();
    assert_eq!(seen, vec![b"hello".to_vec()]);
}

#[test]
fn a_duplicate_name_is_an_error_naming_both_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let src = plugin_file("mr_app_wc");
    let first = a.path().join("libfirst.so");
    let second = b.path().join("libsecond.so");
    std::fs::copy(&src, &first).unwrap();
    std::fs::copy(&src, &second).unwrap();
    let err = Registry::load_dirs(&[a.path().to_path_buf(), b.path().to_path_buf()]).unwrap_err();
    assert!(matches!(err, RegistryError::Duplicate { ref name, .. } if name == "wc"));
    let msg = err.to_string();
    assert!(msg.contains(&first.display().to_string()), "{msg}");
    assert!(msg.contains(&second.display().to_string()), "{msg}");
}

#[test]
fn invalid_files_are_skipped_with_their_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("libcorrupt.so");
    std::fs::write(&corrupt, b"this is not an ELF file").unwrap();
    std::fs::write(
        dir.path().join("notes.txt"),
        b"ignored: not a plugin file name",
    )
    .unwrap();
    let src = plugin_file("mr_app_wc");
    std::fs::copy(&src, dir.path().join("libwc.so")).unwrap();
    let registry = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(registry.names(), vec!["wc".to_string()]);
    let problems = registry.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, corrupt);
    assert!(!problems[0].reason.is_empty());
}

#[test]
fn a_library_that_exports_no_app_is_skipped() {
    // Build a real shared library without the app symbol, if a C compiler is
    // around (CI has gcc).
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("empty.c");
    std::fs::write(&c, "int not_an_app(void) { return 1; }\n").unwrap();
    let so = dir.path().join("libempty.so");
    let Ok(status) = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
    else {
        eprintln!("no C compiler: skipping");
        return;
    };
    assert!(status.success());
    std::fs::remove_file(&c).unwrap();
    let registry = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert!(registry.names().is_empty());
    assert_eq!(registry.problems().len(), 1);
    assert_eq!(registry.problems()[0].path, so);
    let reason = &registry.problems()[0].reason;
    assert!(
        reason.contains("symbol") || reason.contains("undefined"),
        "{reason}"
    );
}

#[test]
fn a_missing_plugin_folder_is_an_error() {
    let err = Registry::load_dirs(&[PathBuf::from("/definitely/not/here")]).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn app_panics_become_errors() {
    let registry = Registry::load_dirs(&[plugin_dir()]).unwrap();
    let chaos = &registry
        .get("chaos")
        .expect("the chaos test app is built for tests")
        .app;
    let args = plugin_api::frame::encode_frames(["--panic-on", "boom"]).unwrap();
    let err = chaos
        .map("/in/boom.txt", 0, b"a b", &args, &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(&err, AppCallError::Panicked(m) if m == "chaos: panicking on /in/boom.txt as asked"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "app panicked: chaos: panicking on /in/boom.txt as asked"
    );
    // The process is still fine and the app still works.
    let mut n = 0;
    chaos
        .map("/in/ok.txt", 0, b"a b", &args, &mut |_, _| n += 1)
        .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn a_plugin_built_against_an_incompatible_api_is_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let src = example_library("fixture-incompatible-plugin");
    let copy = dir.path().join("libold.so");
    std::fs::copy(&src, &copy).unwrap();
    std::fs::copy(plugin_file("mr_app_grep"), dir.path().join("libgrep.so")).unwrap();
    let registry = Registry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(registry.names(), vec!["grep".to_string()]);
    let problems = registry.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, copy);
    assert!(
        problems[0].reason.to_lowercase().contains("layout")
            || problems[0].reason.contains("incompatible"),
        "{}",
        problems[0].reason
    );
}
