//! The values example of docs/writing-apps.md ("Values other than `u64`"),
//! compiled and run: a value made of a count and a line (two frames, with
//! `encode_frames` and `Frames`), a reducer that is its own combiner, and a
//! `format` that decodes it. The doc's block must equal the example below
//! (checked here), so the guide never shows code that does not build.

use plugin_api::testing::{args, run_job};

// ---- the example, verbatim ------------------------------------------------
use std::io::Write;

use plugin_api::frame::{encode_frames, Frames};
use plugin_api::{
    decode_u64, encode_u64, export_app, App, AppError, Args, Emit, MapInput, Records, Reducer,
    Values,
};

/// For each file extension: how many lines its files have, and the longest.
#[derive(Default)]
pub struct Longest;

/// A value: two frames, the line count (`encode_u64`) and the longest line.
fn encode(lines: u64, longest: &[u8]) -> Result<Vec<u8>, AppError> {
    Ok(encode_frames([&encode_u64(lines)[..], longest])?)
}

/// The count and the line of a value made by `encode`.
fn decode(value: &[u8]) -> Result<(u64, &[u8]), AppError> {
    let mut frames = Frames::new(value);
    match (frames.next(), frames.next(), frames.next()) {
        (Some(lines), Some(longest), None) => Ok((decode_u64(lines?)?, longest?)),
        _ => Err(AppError::msg("a value is not two frames")),
    }
}

/// Whether `a` beats `b`: longer, or as long and greater (so the result
/// does not depend on the order values arrive in).
fn longer(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) > (b.len(), b)
}

impl App for Longest {
    const NAME: &'static str = "longest";
    const COMBINE: Option<Reducer<Self>> = Some(Self::reduce);

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let (mut lines, mut longest): (u64, &[u8]) = (0, b"");
        for line in input
            .contents
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            lines += 1;
            if longer(line, longest) {
                longest = line;
            }
        }
        let extension = input.path.rsplit_once('.').map_or("", |(_, e)| e);
        out.emit(extension.as_bytes(), &encode(lines, longest)?);
        Ok(())
    }

    fn reduce(&self, _: &[u8], values: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        let (mut lines, mut longest) = (0u64, Vec::new());
        while let Some(value) = values.next_value() {
            let (n, line) = decode(value)?;
            lines = lines
                .checked_add(n)
                .ok_or(AppError::msg("too many lines"))?;
            if longer(line, &longest) {
                longest = line.to_vec();
            }
        }
        encode(lines, &longest)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        while let Some((extension, value)) = records.next_record() {
            let (lines, longest) = decode(value)?;
            let extension = String::from_utf8_lossy(extension);
            let longest = String::from_utf8_lossy(longest);
            writeln!(out, "{extension}\t{lines}\t{longest}")?;
        }
        Ok(())
    }
}

export_app!(Longest);
// ---- end of the example ---------------------------------------------------

#[test]
fn the_values_example_counts_lines_and_keeps_the_longest() {
    let inputs: [(&str, &[u8]); 4] = [
        ("a.txt", b"one\nthree\n\ntwo"),
        ("b.txt", b"eleven\nseven"),
        ("c.md", b"# title\n"),
        ("Makefile", b"all:\n"),
    ];
    let out = run_job::<Longest>(&inputs, &args(&[])).unwrap();
    // `run_job` hands records to `format` in descending key order.
    assert_eq!(out, "txt\t5\televen\nmd\t1\t# title\n\t1\tall:\n");
}

#[test]
fn a_value_of_another_shape_fails_the_reduce() {
    let values = [b"not frames".to_vec()];
    let err =
        plugin_api::testing::reduce::<Longest>(b"txt", &values, &args(&[]), false).unwrap_err();
    assert!(err.message().contains("frame"), "{}", err.message());
}

#[test]
fn ties_go_to_the_greater_line_whatever_the_order() {
    let one = encode(1, b"abc").unwrap();
    let two = encode(2, b"abd").unwrap();
    for values in [[one.clone(), two.clone()], [two, one]] {
        let reduced =
            plugin_api::testing::reduce::<Longest>(b"k", &values, &args(&[]), false).unwrap();
        assert_eq!(decode(&reduced).unwrap(), (3, &b"abd"[..]));
    }
}

#[test]
fn the_guide_shows_this_example() {
    let guide = include_str!("../../docs/writing-apps.md");
    let this = include_str!("values_app.rs");
    let example = between(
        this,
        "// ---- the example, verbatim",
        "// ---- end of the example",
    );
    let block = between(
        guide,
        "<!-- example: plugin-api/tests/values_app.rs -->\n```rust\n",
        "```\n",
    );
    assert_eq!(
        block.trim(),
        example.trim(),
        "docs/writing-apps.md and this file differ"
    );
}

/// The text after the line holding `start` and before `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).expect("start marker") + start.len();
    let from = if start.ends_with('\n') {
        from
    } else {
        from + text[from..].find('\n').expect("a line end") + 1
    };
    let to = from + text[from..].find(end).expect("end marker");
    &text[from..to]
}
