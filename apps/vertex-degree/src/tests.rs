//! Tests of the vertex-degree app, calling its [`App`] methods directly.

use plugin_api::App;

use crate::test_support::{self, args};
use crate::VertexDegree;

fn be(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// Map output as sorted `(vertex, degree)` pairs.
fn map(contents: &str) -> Result<Vec<(u64, u64)>, String> {
    let pairs = test_support::map::<VertexDegree>("g.txt", contents.as_bytes(), &[])
        .map_err(|e| e.into_message())?;
    let mut got: Vec<(u64, u64)> = pairs
        .into_iter()
        .map(|(k, v)| {
            let vertex = u64::from_be_bytes(k.try_into().expect("keys are 8 bytes"));
            let degree = u64::from_be_bytes(v.try_into().expect("values are 8 bytes"));
            (vertex, degree)
        })
        .collect();
    got.sort_unstable();
    Ok(got)
}

#[test]
fn metadata() {
    assert_eq!(VertexDegree::NAME, "vertex-degree");
    assert_eq!(
        VertexDegree::DESCRIPTION,
        "Counts each vertex's degree in an edge list"
    );
    const { assert!(VertexDegree::COMBINE.is_some()) };
}

#[test]
fn map_counts_both_ends_and_self_loops_twice() {
    let got = map("1 2\n2\t3\n5 5\n  1   3  \r\n").unwrap();
    assert_eq!(got, vec![(1, 2), (2, 2), (3, 2), (5, 2)]);
}

#[test]
fn comments_and_blank_lines_are_skipped() {
    let text = "# Directed graph\n#FromNodeId\tToNodeId\n\n   \n\t# indented comment\n7 8\n";
    assert_eq!(map(text).unwrap(), vec![(7, 1), (8, 1)]);
    assert_eq!(map("").unwrap(), vec![]);
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    let cases = [
        (
            "1 2\n3\n",
            "line 2: expected two unsigned integers separated by whitespace, got \"3\"",
        ),
        (
            "# c\n1 2 3\n",
            "line 2: expected two unsigned integers separated by whitespace, got \"1 2 3\"",
        ),
        (
            "1 -2\n",
            "line 1: expected two unsigned integers separated by whitespace, got \"1 -2\"",
        ),
        (
            "+1 2\n",
            "line 1: expected two unsigned integers separated by whitespace, got \"+1 2\"",
        ),
        (
            "1 a # x\n",
            "line 1: expected two unsigned integers separated by whitespace, got \"1 a # x\"",
        ),
        (
            "1 18446744073709551616\n",
            "line 1: expected two unsigned integers separated by whitespace, \
             got \"1 18446744073709551616\"",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(map(text).unwrap_err(), want, "{text:?}");
    }
    assert_eq!(
        map("18446744073709551615 0").unwrap(),
        vec![(0, 1), (u64::MAX, 1)]
    );
}

#[test]
fn non_utf8_input_is_an_error_with_the_offset() {
    let err = test_support::map::<VertexDegree>("g", b"1 2\n\x80", &[]).unwrap_err();
    assert_eq!(
        err.message(),
        "input is not valid UTF-8: invalid byte at offset 4"
    );
}

#[test]
fn reduce_and_combine_sum_the_degrees() {
    for combine in [false, true] {
        let got =
            test_support::reduce::<VertexDegree>(&be(9), &[be(1), be(2), be(3)], &[], combine)
                .unwrap();
        assert_eq!(got, be(6));
    }
}

#[test]
fn reduce_rejects_overflow_and_malformed_input() {
    let err = test_support::reduce::<VertexDegree>(&be(9), &[be(u64::MAX), be(1)], &[], false)
        .unwrap_err();
    assert_eq!(err.message(), "the degree of vertex 9 overflows a u64");
    let err = test_support::reduce::<VertexDegree>(&be(9), &[vec![0; 9]], &[], true).unwrap_err();
    assert_eq!(
        err.message(),
        "expected an 8-byte big-endian count, got 9 bytes"
    );
    let err = test_support::reduce::<VertexDegree>(b"9", &[be(1)], &[], false).unwrap_err();
    assert_eq!(
        err.message(),
        "expected an 8-byte big-endian vertex id as key, got 1 bytes"
    );
}

#[test]
fn format_orders_vertices_numerically() {
    let records = vec![
        (be(10), be(1)),
        (be(2), be(7)),
        (be(256), be(3)),
        (be(0), be(4)),
    ];
    let got = test_support::format::<VertexDegree>(&records).unwrap();
    assert_eq!(got, "0\t4\n2\t7\n10\t1\n256\t3\n");
}

#[test]
fn format_rejects_malformed_records() {
    let err = test_support::format::<VertexDegree>(&[(b"10".to_vec(), be(1))]).unwrap_err();
    assert_eq!(
        err.message(),
        "expected an 8-byte big-endian vertex id as key, got 2 bytes"
    );
    assert!(test_support::format::<VertexDegree>(&[(be(1), vec![1])]).is_err());
}

#[test]
fn whole_job_output() {
    let inputs: [(&str, &[u8]); 2] = [
        ("part-1.txt", b"# FromNodeId\tToNodeId\n1 2\n2 10\n"),
        ("part-2.txt", b"10 10\n\n3 1\n"),
    ];
    let got = test_support::run_job::<VertexDegree>(&inputs, &args(&[])).unwrap();
    assert_eq!(got, "1\t2\n2\t2\n3\t1\n10\t3\n");
}

#[test]
fn every_split_size_counts_what_one_split_counts() {
    let long = format!("# {}\n", "comment ".repeat(20));
    let inputs: [(&str, &[u8]); 4] = [
        ("crlf.txt", b"1 2\r\n2 3\r\n\r\n3 1"),
        ("long.txt", long.as_bytes()),
        ("empty.txt", b""),
        ("edges.txt", b"10 20\n20 30\n\n30 10\n10 10"),
    ];
    let whole = test_support::run_job::<VertexDegree>(&inputs, &args(&[])).unwrap();
    assert_eq!(whole, "1\t2\n2\t2\n3\t2\n10\t4\n20\t2\n30\t2\n");
    for size in 1..=long.len() as u64 + 1 {
        let split = test_support::run_job_split::<VertexDegree>(&inputs, &args(&[]), size).unwrap();
        assert_eq!(split, whole, "split size {size}");
    }
}

#[test]
fn a_bad_line_in_a_later_split_names_the_split() {
    let input = plugin_api::MapInput {
        path: "f",
        contents: b"1 2\nx\n",
        args: plugin_api::Args::new(&[]),
        offset: 96,
    };
    let mut out = test_support::VecEmit::default();
    let err = VertexDegree.map(&input, &mut out).unwrap_err();
    assert!(
        err.message()
            .starts_with("in the split starting at byte 96: line 2:"),
        "{err}"
    );
}
