//! The bundled apps' test inputs and their expected outputs, computed by
//! independent sequential implementations (neither the engine's nor the
//! apps' code).

use std::collections::BTreeMap;

use super::Prng;

const PARAGRAPH_1: &str = "\
It was late in the afternoon when the ferry finally left the harbour. The
passengers, tired of waiting, crowded to the rail and watched the town
shrink behind them: the church, the market, the long grey wall of the
warehouse where the fishermen mended their nets. Nobody spoke. The sea was
calm, the sky was the colour of old pewter, and the gulls followed the boat
as if they, too, had somewhere better to be.
";

const PARAGRAPH_2: &str = "\
\"Are you certain?\" asked the captain. \"Certain,\" said the engineer, and
wiped his hands on a rag that was dirtier than they were. They had argued
about the boiler for three days; the boiler, indifferent, had kept on
working. On the fourth day it stopped. The silence afterwards was the
loudest thing either of them had ever heard -- louder than the storm of
'98, louder than the captain's temper, louder than the rain.
";

/// Inputs for `wc`: non-ASCII text (sharp s, Greek with final sigma, accents,
/// an apostrophe, digits glued to letters, CJK, Hangul, titlecase and
/// combining marks), mixed case and separators, two prose paragraphs, an
/// empty file and a generated file with many repeated words (so counts tie
/// and the word order decides).
pub fn wc_inputs() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "unicode.txt".into(),
            "Straße STRASSE Ωμέγα ΣΊΣΥΦΟΣ naïve café don't 123abc\n\
             ΣΊΣΥΦΟΣ σίσυφος ὈΔΥΣΣΕΎΣ ΑΣ İstanbul ǅemal Ǆ ǆ Ꭰꭰ\n\
             cafe\u{301} CAFÉ Naïve NAÏVE ﬁne ＦＵＬＬ\u{3000}ｗｉｄｔｈ x²y ½ ⅫⅪ\n"
                .into(),
        ),
        (
            "cjk.txt".into(),
            "日本語のテキスト、中文字符。한국어 텍스트! 日本語\n東京タワー 東京 とうきょう 中文字符\n".into(),
        ),
        (
            "mixed.txt".into(),
            "Hello hello HELLO hElLo world, WORLD! foo_bar foo-bar x1y2z3 \t tabs\ttabs\r\n\
             CRLF line\r\nend-of-file-without-newline"
                .into(),
        ),
        ("paragraph-1.txt".into(), PARAGRAPH_1.into()),
        ("paragraph-2.txt".into(), PARAGRAPH_2.into()),
        ("empty.txt".into(), Vec::new()),
    ];
    let vocabulary = [
        "alpha",
        "Beta",
        "GAMMA",
        "delta",
        "Ωμέγα",
        "straße",
        "the",
        "The",
        "a",
        "zebra",
        "Über",
        "über",
        "日本",
    ];
    let separators = [" ", "  ", "\n", ", ", ". ", "\t", "--", "'", "7"];
    let mut rng = Prng::new(0x5eed_0001);
    let mut generated = String::new();
    for _ in 0..3000 {
        let word: &&str = rng.pick(&vocabulary);
        let separator: &&str = rng.pick(&separators);
        generated.push_str(word);
        generated.push_str(separator);
    }
    files.push(("generated/words.txt".into(), generated.into_bytes()));
    files
}

/// Inputs for `grep -- --term the`: files in several folders (so the
/// full-path order differs from the base-name order, and two files share a
/// base name), a file without matches, CRLF line ends, case and substring
/// matches, empty lines and a last line without a newline.
pub fn grep_inputs() -> Vec<(String, Vec<u8>)> {
    vec![
        ("b/alpha.txt".into(), PARAGRAPH_1.into()),
        ("a/zeta.txt".into(), PARAGRAPH_2.into()),
        (
            "a/nomatch.txt".into(),
            "nothing to see here\nTHE upper case does not count\nThe neither\n".into(),
        ),
        (
            "c/crlf.txt".into(),
            "first line\r\nthere is the term\r\n\r\nnot here\r\nother things\r\nthe end".into(),
        ),
        (
            "a/notes.txt".into(),
            "the first notes\n\nsecond line\n  indented the\n".into(),
        ),
        (
            "b/notes.txt".into(),
            "no match\nbreathe: ünïcödé the ∑ line\n".into(),
        ),
        ("c/empty.txt".into(), Vec::new()),
    ]
}

/// Inputs for `vertex-degree`: a deterministic random graph over a few
/// hundred vertices plus some huge ids, split into files, with SNAP-style
/// comments, blank lines, tabs, leading/trailing spaces and self-loops.
pub fn vertex_degree_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = Prng::new(0xdead_beef);
    let huge = [u64::MAX, u64::MAX - 1, 1 << 40, 4_294_967_296, 256];
    let mut files = Vec::new();
    for f in 0..4 {
        let mut text = format!("# Directed graph: part {f}\n# FromNodeId\tToNodeId\n");
        for i in 0..400 {
            let vertex = |rng: &mut Prng| {
                if rng.below(50) == 0 {
                    *rng.pick(&huge)
                } else {
                    rng.below(300)
                }
            };
            let from = vertex(&mut rng);
            let to = if rng.below(40) == 0 {
                from
            } else {
                vertex(&mut rng)
            };
            let line = match i % 7 {
                0 => format!("{from}\t{to}\n"),
                1 => format!("  {from}   {to}  \n"),
                2 => format!("{from} {to}\n\n"),
                3 => format!("{from} {to}\n   # an indented comment\n"),
                _ => format!("{from} {to}\n"),
            };
            text.push_str(&line);
        }
        files.push((format!("graph-{f}.txt"), text.into_bytes()));
    }
    files.push(("single-edge-no-newline.txt".into(), "7 7".into()));
    files
}

// ------------------------------------------------------------------ expectations

/// Word counts: words are maximal runs of alphabetic chars, each lowercased
/// as a whole.
pub fn word_counts(texts: &[&str]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for text in texts {
        let mut word = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_alphabetic() {
                word.push(c);
            } else if !word.is_empty() {
                *counts.entry(word.to_lowercase()).or_insert(0) += 1;
                word.clear();
            }
        }
    }
    counts
}

/// `wc`'s formatted output: `count\tword` lines by count, then word bytes.
pub fn expected_wc(texts: &[&str]) -> String {
    let mut rows: Vec<(u64, String)> = word_counts(texts)
        .into_iter()
        .map(|(w, c)| (c, w))
        .collect();
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    rows.iter().map(|(c, w)| format!("{c}\t{w}\n")).collect()
}

/// `grep`'s formatted output for `term` over `files` (path as submitted,
/// contents): by path, the base name then each matching line.
pub fn expected_grep(files: &[(String, String)], term: &str) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (path, text) in sorted {
        let hits: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(term))
            .map(|(i, l)| (i + 1, l))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let base = path.rsplit('/').next().unwrap();
        out.push_str(&format!("{base}:\n"));
        for (n, line) in hits {
            out.push_str(&format!("\t{n}: {line}\n"));
        }
    }
    out
}

/// Vertex degrees of the edge lists in `texts` (blank and `#` lines skipped).
pub fn degrees(texts: &[&str]) -> BTreeMap<u64, u64> {
    let mut deg = BTreeMap::new();
    for text in texts {
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let ends: Vec<u64> = t.split_whitespace().map(|f| f.parse().unwrap()).collect();
            assert_eq!(ends.len(), 2, "bad test input line {line:?}");
            for v in ends {
                *deg.entry(v).or_insert(0) += 1;
            }
        }
    }
    deg
}

/// `vertex-degree`'s formatted output: `vertex\tdegree` lines by vertex.
pub fn expected_vertex_degree(texts: &[&str]) -> String {
    degrees(texts)
        .iter()
        .map(|(v, d)| format!("{v}\t{d}\n"))
        .collect()
}

/// The contents of `files` as text.
pub fn texts(files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(_, c)| String::from_utf8(c.clone()).expect("test inputs are UTF-8"))
        .collect()
}
