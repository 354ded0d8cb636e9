//! Tests of the sort app, calling its [`App`] methods directly and running
//! whole jobs in process with its range partitioner.

use std::collections::BTreeMap;

use plugin_api::App;

use crate::test_support::{self, args, Pairs};
use crate::{detect_format, range_partition, Format, Keys, Sort};

/// A deterministic record generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn printable(&mut self) -> u8 {
        b' ' + (self.next() % 95) as u8
    }
}

/// `n` ASCII records of 100 bytes (98 printable bytes and `\r\n`), with
/// some duplicate keys.
fn ascii_records(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut last_key = Vec::new();
    for i in 0..n {
        let key: Vec<u8> = if i % 7 == 3 && !last_key.is_empty() {
            last_key.clone()
        } else {
            (0..10).map(|_| rng.printable()).collect()
        };
        out.extend_from_slice(&key);
        out.extend((0..88).map(|_| rng.printable()));
        out.extend_from_slice(b"\r\n");
        last_key = key;
    }
    out
}

/// `n` binary 100-byte records: any byte, `\n` included.
fn binary_records(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..n * 100).map(|_| rng.next() as u8).collect()
}

/// Runs a job in process: maps, partitions with the app's partitioner,
/// reduces each partition in key order and formats the partitions in order
/// `0..n_reduce`, as `mr process` would.
fn run_job(inputs: &[&[u8]], raw_args: &[u8], n_reduce: u32) -> Vec<u8> {
    let mut parts: Vec<BTreeMap<Vec<u8>, Vec<Vec<u8>>>> = vec![BTreeMap::new(); n_reduce as usize];
    for (i, contents) in inputs.iter().enumerate() {
        let pairs = test_support::map::<Sort>(&format!("in-{i}"), contents, raw_args).unwrap();
        for (key, value) in pairs {
            let p = test_support::partition::<Sort>(&key, n_reduce, raw_args);
            assert!(p < n_reduce);
            parts[p as usize].entry(key).or_default().push(value);
        }
    }
    let mut records: Pairs = Vec::new();
    for part in parts {
        for (key, values) in part {
            let value = test_support::reduce::<Sort>(&key, &values, raw_args, false).unwrap();
            records.push((key, value));
        }
    }
    let mut out = Vec::new();
    Sort.format(&mut test_support::SliceRecords::new(&records), &mut out)
        .unwrap();
    out
}

/// The records of `data` (in `format`) sorted, as `LC_ALL=C sort` would.
fn sorted_records(data: &[u8], format: Format) -> Vec<u8> {
    let mut records: Vec<Vec<u8>> = match format {
        Format::Fixed => data.chunks(100).map(<[u8]>::to_vec).collect(),
        Format::Lines => data
            .split_inclusive(|&b| b == b'\n')
            .map(|l| {
                let mut l = l.to_vec();
                if !l.ends_with(b"\n") {
                    l.push(b'\n');
                }
                l
            })
            .collect(),
    };
    records.sort();
    records.concat()
}

#[test]
fn metadata() {
    assert_eq!(Sort::NAME, "sort");
    const { assert!(Sort::PARTITION.is_some()) };
    const { assert!(Sort::COMBINE.is_none()) };
}

#[test]
fn map_splits_fixed_records_into_key_and_rest() {
    let data = ascii_records(3, 1);
    let pairs = test_support::map::<Sort>("in", &data, &[]).unwrap();
    assert_eq!(pairs.len(), 3);
    for (i, (k, v)) in pairs.iter().enumerate() {
        assert_eq!(k.len(), 10);
        assert_eq!(v.len(), 90);
        assert_eq!([&k[..], &v[..]].concat(), data[i * 100..(i + 1) * 100]);
    }
}

#[test]
fn map_splits_lines_keeping_the_newline_and_adding_a_missing_one() {
    let pairs = test_support::map::<Sort>("in", b"0123456789abc\nshort\n\nlast", &[]).unwrap();
    let want: Vec<(&[u8], &[u8])> = vec![
        (b"0123456789", b"abc\n"),
        (b"short", b"\n"),
        (b"", b"\n"),
        (b"last", b"\n"),
    ];
    let got: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_eq!(got, want);
}

#[test]
fn auto_format_detection() {
    assert_eq!(detect_format(&ascii_records(5, 2)), Format::Fixed);
    assert_eq!(detect_format(&binary_records(5, 3)), Format::Fixed);
    assert_eq!(detect_format(b"b\na\n"), Format::Lines);
    // 100 bytes of text lines that are not 100-byte records.
    let mut lines = b"x\n".repeat(50);
    assert_eq!(detect_format(&lines), Format::Lines);
    lines.truncate(99);
    assert_eq!(detect_format(&lines), Format::Lines);
    assert_eq!(detect_format(&[b'a'; 200]), Format::Fixed);
}

#[test]
fn explicit_format_overrides_detection_and_bad_arguments_fail() {
    let data = b"x\n".repeat(50);
    let fixed = test_support::map::<Sort>("in", &data, &args(&["--format", "fixed"])).unwrap();
    assert_eq!(fixed.len(), 1);
    let err = test_support::map::<Sort>("in", b"abc", &args(&["--format", "fixed"])).unwrap_err();
    assert!(err
        .to_string()
        .contains("not a whole number of 100-byte records"));
    assert!(test_support::map::<Sort>("in", b"a\n", &args(&["--bogus"])).is_err());
    assert!(test_support::map::<Sort>("in", b"a\n", &args(&["--keys=hex"])).is_err());
}

#[test]
fn range_partitions_are_monotone_and_spread_printable_keys() {
    let mut rng = Rng(7);
    let mut keys: Vec<Vec<u8>> = (0..5000)
        .map(|_| (0..10).map(|_| rng.printable()).collect())
        .collect();
    keys.push(Vec::new());
    keys.push(vec![0]);
    keys.push(vec![0xff; 10]);
    keys.sort();
    for keys_kind in [Keys::Printable, Keys::Binary] {
        let parts: Vec<u32> = keys
            .iter()
            .map(|k| range_partition(k, 8, keys_kind))
            .collect();
        assert!(parts.windows(2).all(|w| w[0] <= w[1]), "monotone");
        assert!(parts.iter().all(|&p| p < 8));
    }
    let mut counts = [0usize; 8];
    for k in &keys {
        counts[range_partition(k, 8, Keys::Printable) as usize] += 1;
    }
    for c in counts {
        assert!((500..760).contains(&c), "uneven partitions: {counts:?}");
    }
    assert_eq!(range_partition(b"anything", 1, Keys::Binary), 0);
}

#[test]
fn reduce_keeps_duplicates_sorted_and_format_prints_every_record() {
    let values = vec![b"zz\n".to_vec(), b"aa\n".to_vec(), b"mm\n".to_vec()];
    let value = test_support::reduce::<Sort>(b"k", &values, &[], false).unwrap();
    let out = test_support::format::<Sort>(&[(b"k".to_vec(), value)]).unwrap();
    assert_eq!(out, "kaa\nkmm\nkzz\n");
}

#[test]
fn jobs_output_every_record_once_globally_sorted() {
    let a = ascii_records(700, 11);
    let b = ascii_records(500, 12);
    let all = [&a[..], &b[..]].concat();
    for n_reduce in [1, 3, 8] {
        let got = run_job(&[&a, &b], &[], n_reduce);
        assert_eq!(
            got,
            sorted_records(&all, Format::Fixed),
            "n_reduce {n_reduce}"
        );
    }
}

#[test]
fn binary_records_and_lines_sort_too() {
    let a = binary_records(300, 5);
    let raw = args(&["--keys", "binary"]);
    assert_eq!(run_job(&[&a], &raw, 4), sorted_records(&a, Format::Fixed));
    let lines = b"pear\napple\nbanana split with cream\napple\n\nzebra".to_vec();
    assert_eq!(
        run_job(&[&lines], &[], 3),
        sorted_records(&lines, Format::Lines)
    );
}

#[test]
fn lines_split_at_every_size_sort_like_whole_files_and_fixed_stays_whole() {
    let long = format!("{}\n", "k".repeat(150));
    let text = format!("zeta line\r\nalpha\n\n{long}beta no newline");
    let inputs: [(&str, &[u8]); 3] = [
        ("crlf.txt", text.as_bytes()),
        ("empty.txt", b""),
        ("more.txt", b"b\na\nc\n"),
    ];
    let raw = args(&["--format", "lines"]);
    let app = Sort;
    assert_eq!(
        app.input_format(&plugin_api::Args::new(&raw)),
        plugin_api::InputFormat::Lines
    );
    for other in [
        &[][..],
        &["--format", "fixed"],
        &["--format", "auto"],
        &["--bad"],
    ] {
        let raw = args(other);
        assert_eq!(
            app.input_format(&plugin_api::Args::new(&raw)),
            plugin_api::InputFormat::WholeFiles,
            "{other:?}"
        );
    }
    let whole = test_support::run_job::<Sort>(&inputs, &raw).unwrap();
    for size in 1..=text.len() as u64 + 1 {
        let split = test_support::run_job_split::<Sort>(&inputs, &raw, size).unwrap();
        assert_eq!(split, whole, "split size {size}");
    }
}
