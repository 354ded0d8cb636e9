//! Tests of the k-way merge: key order, values across runs, pieces and
//! disk runs, corrupt input.

use super::*;
use crate::worker::spill::{DiskRange, WorkDir};
use plugin_api::frame::encode_frames;

fn bytes(pairs: &[(&str, &str)]) -> Vec<u8> {
    encode_frames(pairs.iter().flat_map(|(k, v)| [*k, *v])).unwrap()
}

fn run(pairs: &[(&str, &str)]) -> Run {
    Run::memory(bytes(pairs))
}

/// The same run cut into pieces of `n` bytes (frames straddle them).
fn chunked(pairs: &[(&str, &str)], n: usize) -> Run {
    Run::Memory(bytes(pairs).chunks(n).map(Bytes::copy_from_slice).collect())
}

fn disk(dir: &WorkDir, pairs: &[(&str, &str)]) -> Run {
    let file = dir.create_file("run").unwrap();
    let data = bytes(pairs);
    // Put it after some junk, to check offsets are honoured.
    file.write_all_at(b"junk", 0).unwrap();
    file.write_all_at(&data, 4).unwrap();
    Run::Disk(DiskRange {
        file,
        offset: 4,
        len: data.len() as u64,
    })
}

fn collect(runs: Vec<Run>) -> Vec<(String, Vec<String>)> {
    let mut m = Merger::new(runs, 16).unwrap();
    let mut out = Vec::new();
    let mut key = Vec::new();
    while m.next_key(&mut key).unwrap() {
        let mut vals = Vec::new();
        let mut g = m.values();
        while let Some(v) = g.next_value() {
            vals.push(String::from_utf8(v.to_vec()).unwrap());
        }
        assert!(m.take_error().is_none());
        out.push((String::from_utf8(key.clone()).unwrap(), vals));
    }
    out
}

fn expected() -> Vec<(String, Vec<String>)> {
    vec![
        ("a".into(), vec!["1".into(), "3".into()]),
        ("b".into(), vec!["4".into()]),
        ("c".into(), vec!["2".into(), "5".into(), "6".into()]),
    ]
}

#[test]
fn merges_and_groups_in_key_then_run_order() {
    let got = collect(vec![
        run(&[("a", "1"), ("c", "2")]),
        run(&[]),
        run(&[("a", "3"), ("b", "4"), ("c", "5"), ("c", "6")]),
    ]);
    assert_eq!(got, expected());
}

#[test]
fn runs_in_pieces_and_on_disk_merge_the_same() {
    let dir = WorkDir::new(tempfile::tempdir().unwrap().path());
    let got = collect(vec![
        chunked(&[("a", "1"), ("c", "2")], 3),
        disk(&dir, &[]),
        disk(&dir, &[("a", "3"), ("b", "4"), ("c", "5"), ("c", "6")]),
    ]);
    assert_eq!(got, expected());
}

#[test]
fn unread_values_are_skipped() {
    let mut m = Merger::new(vec![run(&[("a", "1"), ("a", "2"), ("b", "3")])], 16).unwrap();
    let mut key = Vec::new();
    assert!(m.next_key(&mut key).unwrap());
    assert_eq!(key, b"a");
    assert_eq!(m.values().next_value(), Some(&b"1"[..]));
    assert!(m.next_key(&mut key).unwrap());
    assert_eq!(key, b"b");
    assert_eq!(m.values().next_value(), Some(&b"3"[..]));
    assert!(!m.next_key(&mut key).unwrap());
}

#[test]
fn corrupt_runs_are_errors() {
    let mut b = bytes(&[("a", "1")]);
    b.pop();
    assert!(matches!(
        Merger::new(vec![Run::memory(b.clone())], 16).err(),
        Some(MergeError::Corrupt { run: 0, offset: 5 })
    ));
    let dir = WorkDir::new(tempfile::tempdir().unwrap().path());
    let file = dir.create_file("bad").unwrap();
    file.write_all_at(&b, 0).unwrap();
    let run = Run::Disk(DiskRange {
        file,
        offset: 0,
        len: b.len() as u64,
    });
    assert!(matches!(
        Merger::new(vec![run], 16).err(),
        Some(MergeError::Corrupt { run: 0, offset: 5 })
    ));
}

#[test]
fn corruption_after_the_first_record_surfaces_while_streaming() {
    let mut b = bytes(&[("a", "1"), ("a", "2")]);
    b.pop();
    let mut m = Merger::new(vec![Run::memory(b)], 16).unwrap();
    let mut key = Vec::new();
    assert!(m.next_key(&mut key).unwrap());
    let mut g = m.values();
    assert_eq!(g.next_value(), Some(&b"1"[..]));
    assert_eq!(g.next_value(), None);
    assert!(matches!(
        m.take_error(),
        Some(MergeError::Corrupt { run: 0, offset: 15 })
    ));
}

#[test]
fn many_runs_merge_in_order() {
    // 50 runs of interleaved keys: the heap must keep global order.
    let runs: Vec<Run> = (0..50)
        .map(|r| {
            let pairs: Vec<(String, String)> = (0..20)
                .map(|i| (format!("k{:04}", i * 50 + r), format!("{r}")))
                .collect();
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            run(&refs)
        })
        .collect();
    let got = collect(runs);
    assert_eq!(got.len(), 1000);
    for (i, (k, v)) in got.iter().enumerate() {
        assert_eq!(k, &format!("k{i:04}"));
        assert_eq!(v, &vec![format!("{}", i % 50)]);
    }
}
