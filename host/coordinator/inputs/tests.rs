//! Expansion of folders and patterns, and the split plan.

use std::collections::HashMap;
use std::fs;

use plugin_api::InputFormat;

use super::{expand, pattern_base, plan_splits, InputError};
use crate::core::{InputRange, Split};

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
    let plan = plan_splits(&files(&[3, 3, 4, 0, 9, 2]), InputFormat::Lines, 10, 1);
    let names: Vec<Vec<String>> = plan
        .iter()
        .map(|s| s.inputs.iter().map(InputRange::describe).collect())
        .collect();
    assert_eq!(
        names,
        [vec!["f0", "f1", "f2"], vec!["f3", "f4"], vec!["f5"]]
    );
    // 20,000 files of 4 KiB at 64 MiB: 2 tasks, not 20,000.
    let many: Vec<u64> = vec![4096; 20_000];
    assert_eq!(
        plan_splits(&files(&many), InputFormat::WholeFiles, 64 << 20, 2).len(),
        2
    );
}

#[test]
fn large_line_files_are_cut_and_whole_file_apps_are_not() {
    let plan = plan_splits(&files(&[2, 25, 1]), InputFormat::Lines, 10, 0);
    let names: Vec<Vec<String>> = plan
        .iter()
        .map(|s| s.inputs.iter().map(InputRange::describe).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec!["f1[0..9]"],
            vec!["f1[9..18]"],
            vec!["f1[18..25]"],
            vec!["f0", "f2"]
        ]
    );
    let whole = plan_splits(&files(&[2, 25, 1]), InputFormat::WholeFiles, 10, 0);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[1].whole_file(), Some("f1"));
}

const MIB: u64 = 1 << 20;

/// Bytes per task of a plan, given the sizes it was planned from.
fn task_bytes(plan: &[Split], sizes: &[(String, u64)]) -> Vec<u64> {
    let size_of: HashMap<&str, u64> = sizes.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    plan.iter()
        .map(|s| {
            s.inputs
                .iter()
                .map(|r| r.len.unwrap_or(size_of[r.path.as_str()]))
                .sum()
        })
        .collect()
}

/// Every byte of every file is in exactly one task, in the files' order.
fn assert_covers(plan: &[Split], sizes: &[(String, u64)]) {
    let size_of: HashMap<&str, u64> = sizes.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    let mut read: Vec<(&str, u64)> = Vec::new();
    for r in plan.iter().flat_map(|s| &s.inputs) {
        let len = r.len.unwrap_or(size_of[r.path.as_str()]);
        match read.last_mut() {
            Some((p, at)) if *p == r.path => {
                assert_eq!(r.offset, *at, "{p} continues where it stopped");
                *at += len;
            }
            _ => {
                assert_eq!(r.offset, 0, "{} starts at 0", r.path);
                read.push((r.path.as_str(), len));
            }
        }
    }
    let mut named: Vec<&str> = read.iter().map(|(p, _)| *p).collect();
    named.sort_unstable();
    named.dedup();
    assert_eq!(named.len(), sizes.len(), "every file in one place");
    for (p, at) in read {
        assert_eq!(at, size_of[p], "{p} read whole");
    }
}

#[test]
fn tasks_are_evened_out_and_their_number_fills_every_worker() {
    // 100,000 files of 1 KiB at 64 MiB: two equal packs, not 64 + 34 MiB.
    let tiny = files(&vec![1024; 100_000]);
    let plan = plan_splits(&tiny, InputFormat::Lines, 64 * MIB, 2);
    assert_eq!(task_bytes(&plan, &tiny), [50_000 * 1024, 50_000 * 1024]);
    assert_covers(&plan, &tiny);
    // 32 files of a little over 8 MiB, 2 workers: 6 tasks of 5 or 6 files
    // (three full rounds), not 4 of 7 and a lone fifth.
    let wc: Vec<(String, u64)> = files(&vec![8 * MIB + 100_000; 32]);
    let plan = plan_splits(&wc, InputFormat::Lines, 64 * MIB, 2);
    let counts: Vec<usize> = plan.iter().map(|s| s.inputs.len()).collect();
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.iter().all(|n| (5..=6).contains(n)), "{counts:?}");
    assert_covers(&plan, &wc);
    // With no worker known yet: the fewest tasks, still even.
    assert_eq!(plan_splits(&wc, InputFormat::Lines, 64 * MIB, 0).len(), 5);
    // One 100 MiB file of lines, 2 workers: two halves; with 3 workers,
    // three thirds; as whole files, one task.
    let one = files(&[100 * MIB]);
    for (workers, tasks) in [(1, 2), (2, 2), (3, 3)] {
        let plan = plan_splits(&one, InputFormat::Lines, 64 * MIB, workers);
        let bytes = task_bytes(&plan, &one);
        assert_eq!(bytes.len(), tasks, "{workers} workers");
        assert!(bytes.iter().max().unwrap() - bytes.iter().min().unwrap() < tasks as u64);
        assert_covers(&plan, &one);
    }
    assert_eq!(
        plan_splits(&one, InputFormat::WholeFiles, 64 * MIB, 2).len(),
        1
    );
    // Never below 4 MiB a task: a small input on many workers stays whole.
    let small = files(&[MIB, MIB]);
    assert_eq!(
        plan_splits(&small, InputFormat::Lines, 64 * MIB, 8).len(),
        1
    );
    // And never above the split size, whatever the evening out.
    let mixed = files(&[60 * MIB, 60 * MIB, 3 * MIB, 70 * MIB, 1, 0, 64 * MIB]);
    for workers in 0..5 {
        for format in [InputFormat::Lines, InputFormat::WholeFiles] {
            let plan = plan_splits(&mixed, format, 64 * MIB, workers);
            assert_covers(&plan, &mixed);
            for (s, b) in plan.iter().zip(task_bytes(&plan, &mixed)) {
                assert!(b <= 64 * MIB || s.inputs.len() == 1, "{workers}: {b}");
            }
        }
    }
}

#[test]
fn a_pack_closed_at_the_split_size_leaves_no_sliver_behind() {
    // 200 files of 13 bytes at 1 KiB: 78 files fill a pack before the middle
    // of the 79th passes 1024; the next pack must not hold that file alone.
    let many = files(&[13; 200]);
    let plan = plan_splits(&many, InputFormat::Lines, 1024, 2);
    let counts: Vec<usize> = plan.iter().map(|s| s.inputs.len()).collect();
    assert_eq!(counts, [78, 78, 44]);
    assert_covers(&plan, &many);
}
