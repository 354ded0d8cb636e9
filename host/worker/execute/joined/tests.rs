use super::*;

/// Writes `files` into a new folder; their inputs, in order.
fn inputs(dir: &std::path::Path, files: &[(&str, &[u8])]) -> Vec<InputRange> {
    files
        .iter()
        .map(|(name, contents)| {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            InputRange::whole(path.display().to_string())
        })
        .collect()
}

/// Each call's text and the file names of its joined parts, or the error.
fn calls(inputs: Vec<InputRange>, target: usize) -> Vec<Result<(String, Vec<String>), String>> {
    let c = Confinement::default();
    JoinedCalls::new(&c, inputs.into_iter(), 64, target)
        .map(|call| {
            call.map(|s| {
                let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
                let parts = s.joined.iter().map(|p| name(&p.path)).collect();
                (String::from_utf8(s.contents.to_vec()).unwrap(), parts)
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

fn joined(text: &str, parts: &[&str]) -> Result<(String, Vec<String>), String> {
    Ok((
        text.to_string(),
        parts.iter().map(|p| p.to_string()).collect(),
    ))
}

#[test]
fn small_files_are_joined_in_order_each_ended_with_a_newline_within_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(
        dir.path(),
        &[
            ("a", b"one\n"),
            ("b", b"two"),
            ("empty", b""),
            ("c", b"three\r\n"),
            ("big", b"0123456789abcdef\n"),
            ("d", b"x"),
            ("e", b"y\n"),
        ],
    );
    assert_eq!(
        calls(files, 16),
        vec![
            joined("one\ntwo\nthree\r\n", &["a", "b", "empty", "c"]),
            // Larger than a call: alone, as map_calls gives it.
            joined("0123456789abcdef\n", &[]),
            joined("x\ny\n", &["d", "e"]),
        ]
    );
}

#[test]
fn each_part_is_its_files_bytes_and_the_call_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path(), &[("a", b"one"), ("b", b"two\n")]);
    let first = files[0].path.clone();
    let c = Confinement::default();
    let call = JoinedCalls::new(&c, files.into_iter(), 64, 64)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!((call.path.as_str(), call.offset), (first.as_str(), 0));
    let parts: Vec<_> = call
        .joined
        .iter()
        .map(|p| (p.offset, &call.contents[p.range.clone()]))
        .collect();
    assert_eq!(parts, [(0, &b"one"[..]), (0, &b"two\n"[..])]);
}

#[test]
fn ranges_go_alone_between_joined_calls_and_a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = inputs(
        dir.path(),
        &[("a", b"a\n"), ("r", b"skip\nmine\nnext\n"), ("b", b"b\n")],
    );
    // The middle file as a range owning the line that starts at byte 5.
    files[1].offset = 5;
    files[1].len = Some(2);
    files.push(InputRange::whole(
        dir.path().join("gone").display().to_string(),
    ));
    files.push(files[0].clone());
    let got = calls(files, 64);
    assert_eq!(
        got[..3],
        [
            joined("a\n", &["a"]),
            joined("mine\n", &[]),
            joined("b\n", &["b"])
        ]
    );
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got[3].as_ref().is_err_and(|e| e.contains("gone")),
        "{got:?}"
    );
    assert_eq!(got[4], joined("a\n", &["a"]));
}
