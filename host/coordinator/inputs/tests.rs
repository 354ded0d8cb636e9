//! Expansion of folders and patterns, and the split plan.

use std::fs;

use plugin_api::InputFormat;

use super::{expand, pattern_base, plan_splits, InputError};
use crate::core::InputRange;

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("in/sub/deeper")).unwrap();
    fs::create_dir_all(d.join("in/.hidden_dir")).unwrap();
    fs::create_dir_all(d.join("empty/sub")).unwrap();
    for f in [
        "in/b.txt",
        "in/a.txt",
        "in/.dot.txt",
        "in/_SUCCESS",
        "in/sub/c.txt",
        "in/sub/deeper/d.log",
        "in/.hidden_dir/e.txt",
        "empty/sub/x.txt",
    ] {
        fs::write(d.join(f), f).unwrap();
    }
    dir
}

fn rel(dir: &tempfile::TempDir, files: Vec<String>) -> Vec<String> {
    let base = format!("{}/", dir.path().display());
    files
        .into_iter()
        .map(|f| f.strip_prefix(&base).unwrap().to_string())
        .collect()
}

fn path(dir: &tempfile::TempDir, p: &str) -> String {
    dir.path().join(p).display().to_string()
}

#[test]
fn a_folder_is_its_visible_files_in_name_order() {
    let dir = tree();
    let got = expand(&[path(&dir, "in")], false).unwrap();
    assert_eq!(rel(&dir, got), ["in/a.txt", "in/b.txt"]);
    let got = expand(&[path(&dir, "in")], true).unwrap();
    assert_eq!(
        rel(&dir, got),
        [
            "in/a.txt",
            "in/b.txt",
            "in/sub/c.txt",
            "in/sub/deeper/d.log"
        ]
    );
}

#[test]
fn patterns_match_files_and_skip_hidden_names() {
    let dir = tree();
    let got = expand(&[path(&dir, "in/*")], false).unwrap();
    assert_eq!(rel(&dir, got), ["in/a.txt", "in/b.txt"]);
    let got = expand(&[path(&dir, "in/**/*.txt")], false).unwrap();
    assert_eq!(rel(&dir, got), ["in/a.txt", "in/b.txt", "in/sub/c.txt"]);
    // A hidden folder named literally is read; a name given is always used.
    let got = expand(&[path(&dir, "in/.hidden_dir/*.txt")], false).unwrap();
    assert_eq!(rel(&dir, got), ["in/.hidden_dir/e.txt"]);
    let got = expand(&[path(&dir, "in/_SUCCESS")], false).unwrap();
    assert_eq!(rel(&dir, got), ["in/_SUCCESS"]);
    assert_eq!(
        pattern_base("/data/in/*/x[0-9].txt"),
        std::path::PathBuf::from("/data/in")
    );
}

#[test]
fn errors_name_the_path() {
    let dir = tree();
    let pattern = path(&dir, "in/*.csv");
    assert_eq!(
        expand(std::slice::from_ref(&pattern), false),
        Err(InputError::NoMatch(pattern.clone()))
    );
    assert_eq!(
        expand(&[path(&dir, "in/*")], false)
            .and_then(|_| expand(std::slice::from_ref(&pattern), false))
            .unwrap_err()
            .to_string(),
        format!("input pattern {pattern} matches no files")
    );
    let empty = path(&dir, "empty");
    let err = expand(std::slice::from_ref(&empty), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("input folder {empty} has no files directly in it (--recursive reads subfolders)")
    );
    assert_eq!(
        rel(&dir, expand(&[empty], true).unwrap()),
        ["empty/sub/x.txt"]
    );
    let bad = path(&dir, "in/[");
    assert!(matches!(
        expand(&[bad], false),
        Err(InputError::BadPattern { .. })
    ));
}

fn files(sizes: &[u64]) -> Vec<(String, u64)> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| (format!("f{i}"), s))
        .collect()
}

#[test]
fn small_files_are_packed_up_to_the_split_size() {
    let plan = plan_splits(&files(&[3, 3, 4, 0, 9, 2]), InputFormat::Lines, 10);
    let names: Vec<Vec<String>> = plan
        .iter()
        .map(|s| s.inputs.iter().map(InputRange::describe).collect())
        .collect();
    assert_eq!(
        names,
        [vec!["f0", "f1", "f2", "f3"], vec!["f4"], vec!["f5"]]
    );
    // 20,000 files of 4 KiB at 64 MiB: 2 tasks, not 20,000.
    let many: Vec<u64> = vec![4096; 20_000];
    assert_eq!(
        plan_splits(&files(&many), InputFormat::WholeFiles, 64 << 20).len(),
        2
    );
}

#[test]
fn large_line_files_are_cut_and_whole_file_apps_are_not() {
    let plan = plan_splits(&files(&[2, 25, 1]), InputFormat::Lines, 10);
    let names: Vec<Vec<String>> = plan
        .iter()
        .map(|s| s.inputs.iter().map(InputRange::describe).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec!["f1[0..10]"],
            vec!["f1[10..20]"],
            vec!["f1[20..25]"],
            vec!["f0", "f2"]
        ]
    );
    let whole = plan_splits(&files(&[2, 25, 1]), InputFormat::WholeFiles, 10);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[1].whole_file(), Some("f1"));
}
