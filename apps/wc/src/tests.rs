//! Tests of the word-count app, calling its [`App`] methods directly.

use plugin_api::App;

use crate::test_support::{self, args};
use crate::WordCount;

fn map(contents: &[u8]) -> Result<Vec<(String, u64)>, plugin_api::AppError> {
    let mut pairs: Vec<(String, u64)> = test_support::map::<WordCount>("in.txt", contents, &[])?
        .into_iter()
        .map(|(k, v)| {
            let word = String::from_utf8(k).expect("keys are UTF-8");
            let count = u64::from_be_bytes(v.try_into().expect("values are 8 bytes"));
            (word, count)
        })
        .collect();
    pairs.sort();
    Ok(pairs)
}

fn counts(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|&(w, n)| (w.to_owned(), n)).collect()
}

fn be(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

#[test]
fn metadata() {
    assert_eq!(WordCount::NAME, "wc");
    assert_eq!(
        WordCount::DESCRIPTION,
        "Counts words (Unicode alphabetic runs, lowercased)"
    );
    const { assert!(WordCount::COMBINE.is_some()) };
}

#[test]
fn map_emits_each_distinct_word_once_with_its_count() {
    let got = map(b"the cat, The dog; THE end").unwrap();
    assert_eq!(
        got,
        counts(&[("cat", 1), ("dog", 1), ("end", 1), ("the", 3)])
    );
    // A word met lowercased from the text after a copy of it was made
    // (and the other way round) is still one key.
    let got = map(b"THE cat, the dog; The end the").unwrap();
    assert_eq!(
        got,
        counts(&[("cat", 1), ("dog", 1), ("end", 1), ("the", 4)])
    );
}

#[test]
fn map_of_empty_or_wordless_input_emits_nothing() {
    assert_eq!(map(b"").unwrap(), vec![]);
    assert_eq!(map(b" 123 -- 4.5\n\t!").unwrap(), vec![]);
}

#[test]
fn digits_and_punctuation_split_words() {
    let got = map(b"don't x2y state-of-the-art").unwrap();
    assert_eq!(
        got,
        counts(&[
            ("art", 1),
            ("don", 1),
            ("of", 1),
            ("state", 1),
            ("t", 1),
            ("the", 1),
            ("x", 1),
            ("y", 1),
        ])
    );
}

#[test]
fn non_ascii_words_are_lowercased_as_whole_words() {
    let got = map("Straße STRASSE ΣΊΣΥΦΟΣ σίσυφος Ωμέγα".as_bytes()).unwrap();
    assert_eq!(
        got,
        counts(&[
            ("strasse", 1),
            ("straße", 1),
            // The final capital sigma lowercases to ς, the others to σ, so
            // both spellings meet in one word.
            ("σίσυφος", 2),
            ("ωμέγα", 1),
        ])
    );
}

#[test]
fn non_utf8_input_is_an_error_with_the_offset() {
    let err = map(b"abc\xffdef").unwrap_err();
    assert_eq!(
        err.message(),
        "input is not valid UTF-8: invalid byte at offset 3"
    );
}

#[test]
fn reduce_and_combine_sum_the_counts() {
    let values = [be(2), be(40), be(0)];
    for combine in [false, true] {
        let got = test_support::reduce::<WordCount>(b"w", &values, &[], combine).unwrap();
        assert_eq!(got, be(42));
    }
    assert_eq!(
        test_support::reduce::<WordCount>(b"w", &[], &[], false).unwrap(),
        be(0)
    );
}

#[test]
fn reduce_rejects_overflow_and_malformed_values() {
    let err =
        test_support::reduce::<WordCount>(b"w", &[be(u64::MAX), be(1)], &[], false).unwrap_err();
    assert_eq!(err.message(), "the count of \"w\" overflows a u64");
    let err = test_support::reduce::<WordCount>(b"w", &[vec![1, 2, 3]], &[], true).unwrap_err();
    assert_eq!(
        err.message(),
        "expected an 8-byte big-endian count, got 3 bytes"
    );
}

#[test]
fn format_sorts_by_count_then_word() {
    let records = vec![
        (b"b".to_vec(), be(2)),
        (b"c".to_vec(), be(10)),
        (b"a".to_vec(), be(2)),
        (b"z".to_vec(), be(1)),
    ];
    let got = test_support::format::<WordCount>(&records).unwrap();
    assert_eq!(got, "1\tz\n2\ta\n2\tb\n10\tc\n");
    // Words sharing their first 8 bytes, longer and shorter than 8, in
    // bytewise order; counts of every width.
    let words = [
        "abcdefghij",
        "abcdefgh",
        "abcdefghi",
        "abcdefgha",
        "abcdefg",
        "abcdefghij\u{e9}",
        "b",
        "abcdefgz",
        "\u{e9}t\u{e9}",
    ];
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = words
        .iter()
        .map(|w| (w.as_bytes().to_vec(), be(7)))
        .collect();
    records.push((b"zero".to_vec(), be(0)));
    records.push((b"max".to_vec(), be(u64::MAX)));
    let got = test_support::format::<WordCount>(&records).unwrap();
    let mut sorted: Vec<&str> = words.to_vec();
    sorted.sort_unstable();
    let mut want = String::from("0\tzero\n");
    for w in sorted {
        want.push_str(&format!("7\t{w}\n"));
    }
    want.push_str(&format!("{}\tmax\n", u64::MAX));
    assert_eq!(got, want);
}

#[test]
fn format_rejects_malformed_counts() {
    let records = vec![(b"a".to_vec(), vec![0; 4])];
    assert!(test_support::format::<WordCount>(&records).is_err());
}

#[test]
fn whole_job_output() {
    let inputs: [(&str, &[u8]); 2] = [
        (
            "a.txt",
            b"It was the best of times, it was the worst of times.",
        ),
        ("b.txt", "Times change. Straße!".as_bytes()),
    ];
    let got = test_support::run_job::<WordCount>(&inputs, &args(&[])).unwrap();
    assert_eq!(
        got,
        "1\tbest\n1\tchange\n1\tstraße\n1\tworst\n\
         2\tit\n2\tof\n2\tthe\n2\twas\n3\ttimes\n"
    );
}

#[test]
fn the_fast_counter_agrees_with_a_plain_char_split() {
    let text = "Ünïcödé WORDS, ascii words; MiXeD ΣΊΣΥΦΟΣ\u{2014}dash ǅemal \
                straße\u{301}x 42abc déjà-vu İstanbul ΑΣ. end";
    let plain = |text: &str| {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for w in text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(w.to_lowercase()).or_default() += 1;
        }
        counts
    };
    let mut fast = crate::WordCounts::default();
    crate::count_words(text, &mut fast);
    let fast: std::collections::BTreeMap<String, u64> = fast.into_iter().collect();
    assert_eq!(fast, plain(text));
    // The small-input path of `map` (keys borrowed from the text where it
    // is lowercase already, `straße` and `ǆ` among them), over the text and
    // its lowercase copy, so that lowered words meet their lowercase forms
    // in both orders.
    let twice = format!("{} {text} {}", text.to_lowercase(), text.to_lowercase());
    let mapped: std::collections::BTreeMap<String, u64> =
        map(twice.as_bytes()).unwrap().into_iter().collect();
    assert_eq!(mapped, plain(&twice));
}

#[test]
fn every_split_size_counts_what_one_split_counts() {
    let long = "word ".repeat(30);
    let inputs: [(&str, &[u8]); 4] = [
        ("crlf.txt", b"One two\r\ntwo\r\n\r\nthree three three"),
        ("long.txt", long.as_bytes()),
        ("empty.txt", b""),
        ("nl.txt", b"\n\nend\n"),
    ];
    assert_eq!(WordCount::INPUT, plugin_api::InputFormat::JoinedLines);
    let whole = test_support::run_job::<WordCount>(&inputs, &args(&[])).unwrap();
    assert!(whole.contains("30\tword\n"), "{whole}");
    // Joined into one call, the last word of a file without a final
    // newline and the first of the next stay two words.
    let joined = test_support::run_job_joined::<WordCount>(&inputs, &args(&[])).unwrap();
    assert_eq!(joined, whole, "all inputs in one map call");
    for size in 1..=long.len() as u64 + 1 {
        let split = test_support::run_job_split::<WordCount>(&inputs, &args(&[]), size).unwrap();
        assert_eq!(split, whole, "split size {size}");
    }
}

/// Inputs past the small-input size are counted with copied keys, smaller
/// ones with borrowed keys: the same words and counts either way.
#[test]
fn small_and_large_inputs_count_alike() {
    let unit = "The the THE a Straße STRASSE ΣΊΣΥΦΟΣ σίσυφος x2y don't ";
    let small = map(unit.as_bytes()).unwrap();
    let times = crate::SMALL_INPUT / unit.len() + 10;
    let large = map(unit.repeat(times).as_bytes()).unwrap();
    assert!(unit.len() * times > crate::SMALL_INPUT);
    let scaled: Vec<(String, u64)> = small
        .into_iter()
        .map(|(w, n)| (w, n * times as u64))
        .collect();
    assert_eq!(large, scaled);
}
