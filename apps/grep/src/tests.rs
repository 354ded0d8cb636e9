//! Tests of the grep app, calling its [`App`] methods directly.

use plugin_api::{encode_u64, App};

use crate::test_support::{self, args};
use crate::{match_key, split_key, Grep, COUNT};

/// The match records of `list` in `path` (one split at offset 0).
fn matches(path: &str, list: &[(u64, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.iter()
        .map(|&(n, line)| (match_key(path.as_bytes(), 0, n), line.as_bytes().to_vec()))
        .collect()
}

/// What map emits for a whole file: its matches, then its line count.
fn mapped(path: &str, list: &[(u64, &str)], lines: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs = matches(path, list);
    pairs.push((
        match_key(path.as_bytes(), 0, COUNT),
        encode_u64(lines).to_vec(),
    ));
    pairs
}

fn map_err(contents: &[u8], argv: &[&str]) -> String {
    test_support::map::<Grep>("dir/f.txt", contents, &args(argv))
        .unwrap_err()
        .into_message()
}

#[test]
fn metadata() {
    assert_eq!(Grep::NAME, "grep");
    assert_eq!(
        Grep::DESCRIPTION,
        "Prints the lines containing a term (-t/--term TERM)"
    );
    const { assert!(Grep::COMBINE.is_none()) };
}

#[test]
fn map_emits_one_pair_per_matching_line() {
    let text = "a fox\nno match\r\nFox is not fox\n\nthe fox\r\n";
    let got =
        test_support::map::<Grep>("dir/f.txt", text.as_bytes(), &args(&["--term", "fox"])).unwrap();
    assert_eq!(
        got,
        mapped(
            "dir/f.txt",
            &[(1, "a fox"), (3, "Fox is not fox"), (5, "the fox")],
            5
        )
    );
}

#[test]
fn map_without_a_match_emits_only_the_line_count() {
    let got = test_support::map::<Grep>("f", b"Fox\nFOX\n", &args(&["-t", "fox"])).unwrap();
    assert_eq!(got, mapped("f", &[], 2));
}

#[test]
fn a_split_numbers_lines_from_its_start_and_format_from_the_file_start() {
    let argv = args(&["-t", "x"]);
    let input = plugin_api::MapInput {
        path: "f",
        contents: b"x1\nno\nx3\n",
        args: plugin_api::Args::new(&argv),
        offset: 40,
    };
    let mut out = test_support::VecEmit::default();
    Grep.map(&input, &mut out).unwrap();
    assert_eq!(out.0[0].0, match_key(b"f", 40, 1));
    assert_eq!(
        out.0[2],
        (match_key(b"f", 40, COUNT), encode_u64(3).to_vec())
    );
    // Splits at 0 (4 lines, one match) and 40: file lines 2, 5 and 7.
    let mut records = out.0;
    records.push((match_key(b"f", 0, 2), b"x0".to_vec()));
    records.push((match_key(b"f", 0, COUNT), encode_u64(4).to_vec()));
    let got = test_support::format::<Grep>(&records).unwrap();
    assert_eq!(got, "f:\n\t2: x0\n\t5: x1\n\t7: x3\n");
}

#[test]
fn every_term_form_is_accepted() {
    for argv in [
        &["-t", "b c"][..],
        &["--term", "b c"],
        &["--term=b c"],
        &["-t=b c"],
    ] {
        let got = test_support::map::<Grep>("f", b"a b c d\nb\n", &args(argv)).unwrap();
        assert_eq!(got, mapped("f", &[(1, "a b c d")], 2), "{argv:?}");
    }
    // A value after `=` may itself contain `=`.
    let got = test_support::map::<Grep>("f", b"x=1\nx\n", &args(&["--term=x=1"])).unwrap();
    assert_eq!(got, mapped("f", &[(1, "x=1")], 2));
}

#[test]
fn bad_arguments_are_errors_in_map_and_reduce() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[],
            "grep needs a search term: pass -- --term TERM (or -t TERM)",
        ),
        (&["--term", ""], "grep's search term must not be empty"),
        (&["--term="], "grep's search term must not be empty"),
        (
            &["--term", "x", "-i"],
            "grep: unknown argument \"-i\"; usage: -- --term TERM",
        ),
        (&["--term"], "option --term needs a value"),
    ];
    for (argv, want) in cases {
        assert_eq!(map_err(b"x\n", argv), want, "map {argv:?}");
        let err = test_support::reduce::<Grep>(
            &match_key(b"f", 0, 1),
            &[b"x".to_vec()],
            &args(argv),
            false,
        )
        .unwrap_err();
        assert_eq!(err.message(), want, "reduce {argv:?}");
    }
    assert_eq!(
        map_err(b"x\n", &["x"]),
        "grep: unknown argument \"x\"; usage: -- --term TERM"
    );
}

#[test]
fn non_utf8_input_is_an_error_with_the_offset() {
    assert_eq!(
        map_err(b"ok\n\xc3(", &["-t", "ok"]),
        "input is not valid UTF-8: invalid byte at offset 3"
    );
}

#[test]
fn reduce_keeps_one_copy_of_a_line() {
    let key = match_key(b"f", 0, 3);
    let values = [b"three".to_vec(), b"three".to_vec()];
    let got = test_support::reduce::<Grep>(&key, &values, &args(&["-t", "t"]), false).unwrap();
    assert_eq!(got, b"three");
}

#[test]
fn keys_sort_by_path_then_line_number_and_round_trip() {
    let mut keys = [
        match_key(b"a/b", 0, 2),
        match_key(b"a", 0, 10),
        match_key(b"a", 7, 1),
        match_key(b"a", 0, 9),
        match_key("é".as_bytes(), 0, 1),
    ];
    keys.sort();
    let split: Vec<(&[u8], u64, u64)> = keys.iter().map(|k| split_key(k).unwrap()).collect();
    assert_eq!(
        split,
        vec![
            (&b"a"[..], 0, 9),
            (&b"a"[..], 0, 10),
            (&b"a"[..], 7, 1),
            (&b"a/b"[..], 0, 2),
            ("é".as_bytes(), 0, 1)
        ]
    );
    for bad in [
        &b"short"[..],
        b"path\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x01",
    ] {
        let err = split_key(bad).unwrap_err();
        assert!(err.message().starts_with("malformed grep key"), "{err}");
    }
}

#[test]
fn format_prints_base_names_in_path_order() {
    let mut records = matches("/data/b.txt", &[(12, "twelve"), (4, "four")]);
    records.extend(matches("a.txt", &[(1, "one")]));
    records.extend(matches("/data/", &[(2, "dir")]));
    let got = test_support::format::<Grep>(&records).unwrap();
    assert_eq!(
        got,
        "data:\n\t2: dir\n\
         b.txt:\n\t4: four\n\t12: twelve\n\
         a.txt:\n\t1: one\n"
    );
    // A path with no last component prints whole.
    let records = matches("..", &[(1, "x")]);
    assert_eq!(
        test_support::format::<Grep>(&records).unwrap(),
        "..:\n\t1: x\n"
    );
}

#[test]
fn whole_job_output() {
    let inputs: [(&str, &[u8]); 3] = [
        ("in/z.txt", b"needle\nhay\nneedles\n"),
        ("in/a.txt", b"hay\nhay needle hay"),
        ("in/z.txt", b"needle\nhay\nneedles\n"),
    ];
    let got = test_support::run_job::<Grep>(&inputs, &args(&["--term", "needle"])).unwrap();
    assert_eq!(
        got,
        "a.txt:\n\t2: hay needle hay\nz.txt:\n\t1: needle\n\t3: needles\n"
    );
}

#[test]
fn every_split_size_prints_what_one_split_prints() {
    let long = "the ".repeat(40);
    let inputs: [(&str, &[u8]); 4] = [
        ("in/crlf.txt", b"the one\r\nnot\r\n\r\nthe two\r\nlast the"),
        ("in/long.txt", long.as_bytes()),
        ("in/empty.txt", b""),
        ("in/nl.txt", b"\n\nthe\n\n"),
    ];
    let argv = args(&["--term", "the"]);
    let whole = test_support::run_job::<Grep>(&inputs, &argv).unwrap();
    assert!(whole.contains("crlf.txt:\n\t1: the one\n\t4: the two\n\t5: last the\n"));
    for size in 1..=long.len() as u64 + 1 {
        let split = test_support::run_job_split::<Grep>(&inputs, &argv, size).unwrap();
        assert_eq!(split, whole, "split size {size}");
    }
}
