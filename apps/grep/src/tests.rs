//! Tests of the grep app, calling its [`App`] methods directly.

use plugin_api::App;

use crate::test_support::{self, args};
use crate::{match_key, split_key, Grep};

/// The pairs map emits for `matches` of `path`.
fn matches(path: &str, list: &[(u64, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.iter()
        .map(|&(n, line)| (match_key(path.as_bytes(), n), line.as_bytes().to_vec()))
        .collect()
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
        matches(
            "dir/f.txt",
            &[(1, "a fox"), (3, "Fox is not fox"), (5, "the fox")]
        )
    );
}

#[test]
fn map_without_a_match_emits_nothing() {
    let got = test_support::map::<Grep>("f", b"Fox\nFOX\n", &args(&["-t", "fox"])).unwrap();
    assert!(got.is_empty());
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
        assert_eq!(got, matches("f", &[(1, "a b c d")]), "{argv:?}");
    }
    // A value after `=` may itself contain `=`.
    let got = test_support::map::<Grep>("f", b"x=1\nx\n", &args(&["--term=x=1"])).unwrap();
    assert_eq!(got, matches("f", &[(1, "x=1")]));
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
        let err =
            test_support::reduce::<Grep>(&match_key(b"f", 1), &[b"x".to_vec()], &args(argv), false)
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
    let key = match_key(b"f", 3);
    let values = [b"three".to_vec(), b"three".to_vec()];
    let got = test_support::reduce::<Grep>(&key, &values, &args(&["-t", "t"]), false).unwrap();
    assert_eq!(got, b"three");
}

#[test]
fn keys_sort_by_path_then_line_number_and_round_trip() {
    let mut keys = [
        match_key(b"a/b", 2),
        match_key(b"a", 10),
        match_key(b"a", 9),
        match_key("é".as_bytes(), 1),
    ];
    keys.sort();
    let split: Vec<(&[u8], u64)> = keys.iter().map(|k| split_key(k).unwrap()).collect();
    assert_eq!(
        split,
        vec![
            (&b"a"[..], 9),
            (&b"a"[..], 10),
            (&b"a/b"[..], 2),
            ("é".as_bytes(), 1)
        ]
    );
    for bad in [&b"short"[..], b"path\x01\0\0\0\0\0\0\0\x01"] {
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
