//! The line-record rule over every split size of tricky files: the splits'
//! lines, in order, are the file's bytes exactly once, each split's bytes
//! are whole lines starting where the split says, and no line is owned by a
//! split it does not start in.

use super::{cut, line_split_of, read_line_split, LineSplit};

/// Files with CRLF ends, no final newline, empty lines, long lines, a lone
/// newline, and nothing at all.
fn tricky_files() -> Vec<Vec<u8>> {
    let long = "x".repeat(300);
    vec![
        Vec::new(),
        b"\n".to_vec(),
        b"\n\n\n".to_vec(),
        b"a".to_vec(),
        b"ab\ncd".to_vec(),
        b"one\ntwo\nthree\n".to_vec(),
        b"first\r\nsecond\r\n\r\nlast without newline".to_vec(),
        b"\r\n\r\nx\r\n".to_vec(),
        format!("short\n{long}\nmid\n{long}").into_bytes(),
        format!("{long}\n\n{long}\r\nend\n").into_bytes(),
    ]
}

/// Where lines start in `file`.
fn line_starts(file: &[u8]) -> Vec<u64> {
    let mut starts = Vec::new();
    if !file.is_empty() {
        starts.push(0);
    }
    for (i, &b) in file.iter().enumerate() {
        if b == b'\n' && i + 1 < file.len() {
            starts.push(i as u64 + 1);
        }
    }
    starts
}

#[test]
fn every_split_size_reads_every_line_exactly_once() {
    for file in tricky_files() {
        let starts = line_starts(&file);
        for size in 1..=file.len() as u64 + 2 {
            let mut joined = Vec::new();
            for (offset, len) in cut(file.len() as u64, size) {
                let split = line_split_of(&file, offset, len);
                if split.bytes.is_empty() {
                    // Owns nothing: no line starts in its range.
                    assert!(
                        !starts.iter().any(|&s| s >= offset && s < offset + len),
                        "split {offset}+{len} of size {size} lost a line of {file:?}"
                    );
                    continue;
                }
                assert!(split.offset >= offset && split.offset < offset + len);
                assert!(starts.contains(&split.offset), "starts mid-line");
                assert_eq!(joined.len() as u64, split.offset, "gap or overlap");
                let end = split.offset as usize + split.bytes.len();
                assert_eq!(&file[split.offset as usize..end], &split.bytes[..]);
                assert!(end == file.len() || file[end - 1] == b'\n', "ends mid-line");
                joined.extend_from_slice(&split.bytes);
            }
            assert_eq!(joined, file, "split size {size}");
        }
    }
}

#[test]
fn a_whole_file_range_is_the_whole_file() {
    for file in tricky_files() {
        let split = line_split_of(&file, 0, file.len() as u64);
        assert_eq!(split.bytes, file);
    }
}

#[test]
fn ranges_past_the_end_and_empty_ranges_own_nothing() {
    assert_eq!(line_split_of(b"ab\n", 3, 10), LineSplit::default());
    assert_eq!(line_split_of(b"ab\n", 50, 10), LineSplit::default());
    assert_eq!(line_split_of(b"ab\n", 0, 0), LineSplit::default());
    assert_eq!(cut(0, 64), vec![(0, 0)]);
    assert_eq!(cut(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
}

#[test]
fn reads_only_the_range_and_the_last_lines_tail() {
    // A 1 MiB file of 100-byte lines; a 1 KiB split in the middle reads
    // about 1 KiB plus one tail chunk, never the file.
    let file: Vec<u8> = (0..10_000)
        .flat_map(|i| format!("{i:099}\n").into_bytes())
        .collect();
    let mut read = 0usize;
    let read_at = |buf: &mut [u8], pos: u64| -> std::io::Result<usize> {
        let start = (pos as usize).min(file.len());
        let n = buf.len().min(file.len() - start);
        buf[..n].copy_from_slice(&file[start..start + n]);
        read += n;
        Ok(n)
    };
    let split = read_line_split(read_at, 500_050, 1024).unwrap();
    assert_eq!(split.offset, 500_100);
    assert_eq!(split.bytes.len(), 1000);
    assert!(read <= 1025 + super::TAIL_CHUNK, "read {read} bytes");
}

#[test]
fn input_formats_cross_the_abi_as_numbers_and_unknown_ones_read_as_whole_files() {
    use crate::InputFormat;
    for format in [
        InputFormat::WholeFiles,
        InputFormat::Lines,
        InputFormat::JoinedLines,
    ] {
        assert_eq!(InputFormat::from_code(format.to_code()), format);
    }
    // The numbers are the ABI: an app built today must read the same on
    // every later host.
    assert_eq!(
        [
            InputFormat::WholeFiles,
            InputFormat::Lines,
            InputFormat::JoinedLines
        ]
        .map(|f| f.to_code()),
        [0, 1, 2]
    );
    // A format newer than the host: never cut, never joined.
    assert_eq!(InputFormat::from_code(3), InputFormat::WholeFiles);
    assert!(InputFormat::Lines.is_lines() && InputFormat::JoinedLines.is_lines());
    assert!(!InputFormat::WholeFiles.is_lines());
}
