//! Tests of [`Confinement`]: neither `..` nor a symlink escapes an allowed
//! folder, and an input range is read by position beneath it only.

use super::*;

#[test]
fn dot_dot_and_symlinks_cannot_escape() {
    let base = tempfile::tempdir().unwrap();
    let allowed = base.path().join("data");
    let secret = base.path().join("secret");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(allowed.join("ok.txt"), "x").unwrap();
    std::fs::write(secret.join("s.txt"), "x").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, allowed.join("link")).unwrap();
    let c = Confinement::new(
        std::slice::from_ref(&allowed),
        std::slice::from_ref(&allowed),
    )
    .unwrap();
    let p = |p: PathBuf| p.display().to_string();
    c.check_input(&p(allowed.join("ok.txt"))).unwrap();
    let e = c
        .check_input(&p(allowed.join("../secret/s.txt")))
        .unwrap_err();
    assert!(
        e.to_string().contains("outside the allowed input folders"),
        "{e}"
    );
    #[cfg(unix)]
    {
        let e = c.check_input(&p(allowed.join("link/s.txt"))).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = c
            .check_output(&p(allowed.join("link/new-out")))
            .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
    }
    c.check_output(&p(allowed.join("new/deeper"))).unwrap();
    // Only missing last folders are created, and beneath the root.
    let opened = c.open_output(&p(allowed.join("new/deeper"))).unwrap();
    assert_eq!(opened.path(), allowed.join("new/deeper"));
    assert!(allowed.join("new/deeper").is_dir());
    assert_eq!(c.read_input(&p(allowed.join("ok.txt"))).unwrap(), b"x");
    let e = c.read_input(&p(allowed.join("new"))).unwrap_err();
    assert!(
        e.to_string().contains("a directory, not a regular file"),
        "{e}"
    );
    let e = c.check_input(&p(allowed.join("missing.txt"))).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(c
        .check_output(&p(allowed.join("missing/../../secret")))
        .is_err());
    assert!(c.check_input("relative.txt").is_err());
    Confinement::default().check_input("/etc/passwd").unwrap();
}

#[test]
fn a_range_is_read_by_position_beneath_the_root_and_only_there() {
    let base = tempfile::tempdir().unwrap();
    let allowed = base.path().join("data");
    std::fs::create_dir_all(&allowed).unwrap();
    let file = allowed.join("lines.txt");
    std::fs::write(&file, "one\r\ntwo\nthree").unwrap();
    std::fs::write(base.path().join("secret.txt"), "a\nb\n").unwrap();
    let c = Confinement::new(std::slice::from_ref(&allowed), &[]).unwrap();
    let path = file.display().to_string();
    // [3, 8) starts mid-line: it owns "two\n", which starts at 5.
    let split = c.read_input_lines(&path, 3, 5).unwrap();
    assert_eq!((split.offset, split.bytes.as_slice()), (5, &b"two\n"[..]));
    // The last range owns the line without a final newline.
    let split = c.read_input_lines(&path, 9, 4).unwrap();
    assert_eq!((split.offset, split.bytes.as_slice()), (9, &b"three"[..]));
    assert_eq!(c.read_input_lines(&path, 0, 2).unwrap().bytes, b"one\r\n");
    let outside = base.path().join("secret.txt").display().to_string();
    let e = c.read_input_lines(&outside, 0, 2).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    let dir = allowed.display().to_string();
    let e = c.read_input_lines(&dir, 0, 2).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}
