//! Tests of the grep app, calling its [`App`] methods directly.

use plugin_api::frame::{encode_frames, push_frame};
use plugin_api::App;

use crate::test_support::{self, args};
use crate::{decode_matches, Grep};

/// A match list holding `matches`, in the order given.
fn matches(list: &[(u64, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(n, line) in list {
        push_frame(&mut out, &n.to_be_bytes());
        push_frame(&mut out, line.as_bytes());
    }
    out
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
    const { assert!(!Grep::HAS_COMBINER) };
}

#[test]
fn map_emits_one_pair_with_every_matching_line() {
    let text = "a fox\nno match\r\nFox is not fox\n\nthe fox\r\n";
    let got =
        test_support::map::<Grep>("dir/f.txt", text.as_bytes(), &args(&["--term", "fox"])).unwrap();
    assert_eq!(
        got,
        vec![(
            b"dir/f.txt".to_vec(),
            matches(&[(1, "a fox"), (3, "Fox is not fox"), (5, "the fox")])
        )]
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
        assert_eq!(
            got,
            vec![(b"f".to_vec(), matches(&[(1, "a b c d")]))],
            "{argv:?}"
        );
    }
    // A value after `=` may itself contain `=`.
    let got = test_support::map::<Grep>("f", b"x=1\nx\n", &args(&["--term=x=1"])).unwrap();
    assert_eq!(got, vec![(b"f".to_vec(), matches(&[(1, "x=1")]))]);
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
        let err = test_support::reduce::<Grep>(b"f", &[matches(&[(1, "x")])], &args(argv), false)
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
fn reduce_merges_sorts_and_dedups_match_lists() {
    let values = [
        matches(&[(3, "three"), (10, "ten")]),
        matches(&[(2, "two"), (3, "three")]),
        matches(&[(3, "three"), (10, "ten")]),
    ];
    let got = test_support::reduce::<Grep>(b"f", &values, &args(&["-t", "t"]), false).unwrap();
    assert_eq!(got, matches(&[(2, "two"), (3, "three"), (10, "ten")]));
}

#[test]
fn reduce_rejects_malformed_match_lists() {
    let argv = args(&["-t", "x"]);
    let bad: [(Vec<u8>, &str); 3] = [
        (
            encode_frames([&b"abc"[..], b"line"]),
            "malformed grep match list: a line number is 3 bytes, expected 8",
        ),
        (
            encode_frames([1u64.to_be_bytes()]),
            "malformed grep match list: a line number has no line after it",
        ),
        (
            vec![0, 0, 0, 8, 1],
            "malformed grep match list: truncated frame at byte 0",
        ),
    ];
    for (value, want) in bad {
        let err = test_support::reduce::<Grep>(b"f", &[value], &argv, false).unwrap_err();
        assert_eq!(err.message(), want);
    }
}

#[test]
fn match_lists_round_trip() {
    let list = matches(&[(1, ""), (7, "héllo")]);
    assert_eq!(
        decode_matches(&list).unwrap(),
        vec![(1, &b""[..]), (7, "héllo".as_bytes())]
    );
}

#[test]
fn format_prints_base_names_in_path_order() {
    let records = vec![
        (
            b"/data/b.txt".to_vec(),
            matches(&[(4, "four"), (12, "twelve")]),
        ),
        (b"a.txt".to_vec(), matches(&[(1, "one")])),
        (b"/data/".to_vec(), matches(&[(2, "dir")])),
    ];
    let got = test_support::format::<Grep>(&records).unwrap();
    assert_eq!(
        got,
        "data:\n\t2: dir\n\
         b.txt:\n\t4: four\n\t12: twelve\n\
         a.txt:\n\t1: one\n"
    );
    // A path with no last component prints whole.
    let records = vec![(b"..".to_vec(), matches(&[(1, "x")]))];
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
