//! Opening files beneath an allowed folder once, by descriptor: the kernel
//! resolves the path from a descriptor of the folder and refuses any step
//! outside it (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`),
//! or, where the kernel lacks `openat2`, a walk that opens one component at
//! a time with `O_NOFOLLOW` and resolves symlinks by hand within the
//! folder. What was opened is then checked (`fstat`) and used; no path is
//! ever checked first and opened by name later, so swapping a symlink in
//! between cannot redirect the open.
//!
//! [`OutputDir`] is an opened output folder: files are created, renamed and
//! removed inside it by descriptor (`openat`, `renameat`, `unlinkat`).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use plugin_api::split::{read_line_split, LineSplit};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Symlinks followed in one resolution at most (the kernel's own limit).
const MAX_HOPS: usize = 40;

/// Tries of `openat2` that the kernel asked to repeat (`EAGAIN`: a rename
/// raced with a `..` step) before giving up.
const MAX_RETRIES: usize = 16;

/// Set once `openat2` turned out to be missing (`ENOSYS`).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `flags` and what every open gets: no inheritance by children, no
/// controlling terminal (`openat2` refuses `O_NOCTTY` beside `O_PATH`).
fn with_base(flags: OFlags) -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if flags.contains(OFlags::PATH) {
        return flags | OFlags::CLOEXEC;
    }
    flags | OFlags::CLOEXEC | OFlags::NOCTTY
}

/// Flags that open a folder only to resolve beneath it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn dir_search_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY
}

/// Flags that open a folder only to resolve beneath it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn dir_search_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY
}

/// Flags that open an input to read it: never blocking (a FIFO without a
/// writer or a device must not hang the open).
pub(crate) fn input_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NONBLOCK
}

/// Flags that open an input only to look at it (the coordinator's check).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn probe_flags() -> OFlags {
    OFlags::PATH
}

/// Flags that open an input only to look at it (the coordinator's check).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn probe_flags() -> OFlags {
    input_flags()
}

/// Flags that open an output folder to create files in it and sync it.
pub(crate) fn output_dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY
}

/// Opens an allowed folder itself (configured by the operator, so trusted
/// by name).
pub(crate) fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        root,
        with_base(dir_search_flags()),
        Mode::empty(),
    )?)
}

/// Opens `path` with `flags` following symlinks (no allowed folder).
pub(crate) fn open_anywhere(path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        with_base(flags),
        Mode::empty(),
    )?)
}

/// Opens `rel` beneath `root` with `flags`: no step, `..` or symlink
/// (relative or absolute) may leave `root` (`EXDEV`), and `/proc` magic
/// links are refused.
pub(crate) fn open_beneath(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2_beneath(root, rel, flags) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            other => return Ok(other?),
        }
    }
    walk_beneath(root, rel, flags)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn openat2_beneath(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, rel, with_base(flags), Mode::empty(), resolve) {
            Err(Errno::AGAIN) if tries < MAX_RETRIES => tries += 1,
            other => return other,
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn openat2_beneath(_: BorrowedFd<'_>, _: &Path, _: OFlags) -> Result<OwnedFd, Errno> {
    Err(Errno::NOSYS)
}

fn escape() -> io::Error {
    io::Error::from(Errno::XDEV)
}

/// The components of a relative path, `.` dropped; a root or prefix (an
/// absolute path) escapes.
fn parts(path: &Path) -> io::Result<Vec<OsString>> {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(n) => Ok(n.to_os_string()),
            Component::ParentDir => Ok(OsString::from("..")),
            _ => Err(escape()),
        })
        .collect()
}

/// `open_beneath` without `openat2`: one component at a time, never
/// following a symlink in the kernel (`O_NOFOLLOW`); a symlink's target is
/// read and resolved here, from the folder holding it, within `root`. A
/// symlink swapped in at any moment is either read here or refused by
/// `O_NOFOLLOW`, so it cannot lead outside.
fn walk_beneath(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let mut todo: VecDeque<OsString> = parts(rel)?.into();
    // The folders entered below `root`; `..` leaves the last one.
    let mut entered: Vec<OwnedFd> = Vec::new();
    let mut hops = 0;
    while let Some(name) = todo.pop_front() {
        let here = entered.last().map_or(root, |fd| fd.as_fd());
        if name == ".." {
            entered.pop().ok_or_else(escape)?;
            continue;
        }
        let target = match rustix::fs::readlinkat(here, name.as_os_str(), Vec::new()) {
            Ok(target) => target,
            Err(Errno::INVAL) => {
                let last = todo.is_empty();
                let step = if last { flags } else { dir_search_flags() };
                let step = with_base(step | OFlags::NOFOLLOW);
                match rustix::fs::openat(here, name.as_os_str(), step, Mode::empty()) {
                    Ok(fd) if last => return Ok(fd),
                    Ok(fd) => entered.push(fd),
                    // Became a symlink since: look again.
                    Err(Errno::LOOP | Errno::NOTDIR) if hops < MAX_HOPS => {
                        hops += 1;
                        todo.push_front(name);
                    }
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        hops += 1;
        if hops > MAX_HOPS {
            return Err(Errno::LOOP.into());
        }
        let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
        if target.is_absolute() {
            return Err(escape());
        }
        for part in parts(&target)?.into_iter().rev() {
            todo.push_front(part);
        }
    }
    // The path ended in a folder reached by `..` or a symlink to `.`.
    let here = entered.last().map_or(root, |fd| fd.as_fd());
    Ok(rustix::fs::openat(
        here,
        ".",
        with_base(flags),
        Mode::empty(),
    )?)
}

/// What kind of file `fd` is, in words (`None`: a regular file), and its
/// size.
pub(crate) fn kind_and_size(fd: BorrowedFd<'_>) -> io::Result<(Option<&'static str>, u64)> {
    let stat = rustix::fs::fstat(fd)?;
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("directory"),
        FileType::Symlink => Some("symbolic link"),
        FileType::Fifo => Some("FIFO"),
        FileType::Socket => Some("socket"),
        FileType::CharacterDevice => Some("character device"),
        FileType::BlockDevice => Some("block device"),
        FileType::Unknown => Some("file of unknown type"),
    };
    Ok((kind, u64::try_from(stat.st_size).unwrap_or(0)))
}

/// Reads a regular file opened non-blocking, from its descriptor only;
/// `size` (from the check that it is regular) sizes the buffer, and the
/// file is read to its end even if it grew. `O_NONBLOCK` does not apply to
/// regular files, so it stays set; reading by hand spares the `statx` and
/// `lseek` that `read_to_end` spends on a size hint (two of the few system
/// calls a 1 KiB input costs).
pub(crate) fn read_opened(fd: OwnedFd, size: u64) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    read_opened_into(fd, &mut buf)?;
    Ok(buf)
}

/// [`read_opened`] appending to `buf` (which grows if the file is larger
/// than its spare capacity): the number of bytes appended.
pub(crate) fn read_opened_into(fd: impl AsFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(8192));
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut *buf)) {
            Ok(0) => return Ok(buf.len() - start),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads the line records of `[offset, offset + len)` from an opened input
/// (see [`plugin_api::split`]) with positioned reads on that descriptor:
/// the range, one byte before it and the tail of its last line, never the
/// whole file.
pub(crate) fn read_opened_lines(fd: OwnedFd, offset: u64, len: u64) -> io::Result<LineSplit> {
    use std::os::unix::fs::FileExt;
    // `O_NONBLOCK` does not apply to regular files: it stays set.
    let file = File::from(fd);
    read_line_split(|buf, pos| file.read_at(buf, pos), offset, len)
}

/// Opens the existing folder `name` inside `dir`, creating it first if
/// missing; a symlink there is refused (`ELOOP`), not followed.
pub(crate) fn make_dir_in(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o777)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(rustix::fs::openat(
        dir,
        name,
        with_base(output_dir_flags() | OFlags::NOFOLLOW),
        Mode::empty(),
    )?)
}

/// Whether `name` exists inside `dir` (a symlink counts, dangling or not).
pub(crate) fn exists_in(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An output folder, opened once; files inside it are created, renamed and
/// removed through its descriptor, so the folder cannot be swapped for a
/// symlink between those steps.
#[derive(Debug)]
pub struct OutputDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl OutputDir {
    pub(crate) fn new(fd: OwnedFd, path: PathBuf) -> Self {
        OutputDir { fd, path }
    }

    /// The folder's path as the job named it (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates `name`, which must not exist (no symlink is followed).
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(&self.fd, name, with_base(flags), Mode::from_raw_mode(0o666))?;
        Ok(File::from(fd))
    }

    /// Renames `from` to `to`, both inside this folder.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Removes the file `name`.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Makes the folder's entries (a rename) durable.
    pub fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }

    /// Whether `name` in this folder is a regular file (a symlink is not
    /// followed, so it is not one).
    pub fn is_regular_file(&self, name: &str) -> io::Result<bool> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
    }

    /// The size of the regular file `name` (a symlink is not followed);
    /// `Ok(None)` when `name` is something else.
    pub fn file_size(&self, name: &str) -> io::Result<Option<u64>> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(
            (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
                .then_some(st.st_size as u64),
        )
    }

    /// The names in the folder.
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// `data` (holding `f.txt`, a folder `sub`) beside `secret/s.txt`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let data = base.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::create_dir_all(base.path().join("secret")).unwrap();
        std::fs::write(data.join("f.txt"), "fine").unwrap();
        std::fs::write(base.path().join("secret/s.txt"), "secret").unwrap();
        symlink("../f.txt", data.join("sub/up")).unwrap();
        symlink("sub", data.join("to-sub")).unwrap();
        symlink("../secret/s.txt", data.join("rel-out")).unwrap();
        symlink(base.path().join("secret/s.txt"), data.join("abs-out")).unwrap();
        symlink("/proc/self/root/etc/hostname", data.join("magic")).unwrap();
        symlink("loop-b", data.join("loop-a")).unwrap();
        symlink("loop-a", data.join("loop-b")).unwrap();
        (base, data)
    }

    fn read(fd: io::Result<OwnedFd>) -> io::Result<String> {
        let fd = fd?;
        let (_, size) = kind_and_size(fd.as_fd())?;
        Ok(String::from_utf8(read_opened(fd, size)?).unwrap())
    }

    /// Both resolutions: `openat2` (when the kernel has it) and the walk.
    fn both(root: &Path, rel: &str) -> [io::Result<String>; 2] {
        let fd = open_root(root).unwrap();
        let kernel =
            openat2_beneath(fd.as_fd(), Path::new(rel), input_flags()).map_err(io::Error::from);
        let kernel = match kernel {
            Err(e) if e.raw_os_error() == Some(Errno::NOSYS.raw_os_error()) => {
                walk_beneath(fd.as_fd(), Path::new(rel), input_flags())
            }
            other => other,
        };
        [
            read(kernel),
            read(walk_beneath(fd.as_fd(), Path::new(rel), input_flags())),
        ]
    }

    fn errno(r: &io::Result<String>) -> Option<i32> {
        r.as_ref().err().and_then(io::Error::raw_os_error)
    }

    #[test]
    fn symlinks_that_stay_inside_resolve() {
        let (_base, data) = tree();
        for rel in [
            "f.txt",
            "sub/up",
            "to-sub/up",
            "sub/../f.txt",
            "./to-sub/../f.txt",
        ] {
            for r in both(&data, rel) {
                assert_eq!(r.unwrap(), "fine", "{rel}");
            }
        }
    }

    #[test]
    fn every_way_out_is_refused() {
        let (_base, data) = tree();
        let xdev = Some(Errno::XDEV.raw_os_error());
        for rel in [
            "rel-out",
            "abs-out",
            "../secret/s.txt",
            "sub/../../secret/s.txt",
        ] {
            for r in both(&data, rel) {
                assert_eq!(errno(&r), xdev, "{rel}: {r:?}");
            }
        }
        for r in both(&data, "loop-a") {
            assert_eq!(errno(&r), Some(Errno::LOOP.raw_os_error()), "{r:?}");
        }
        for r in both(&data, "magic") {
            assert!(r.is_err(), "{r:?}");
        }
    }

    #[test]
    fn a_resolution_past_path_max_is_refused_not_followed() {
        let (base, data) = tree();
        let step = "d".repeat(250);
        let mut fd = open_root(&data).unwrap();
        for _ in 0..17 {
            fd = make_dir_in(fd.as_fd(), OsStr::new(&step)).unwrap();
        }
        // Each link is under PATH_MAX; what they resolve through is not.
        symlink([step.as_str(); 8].join("/"), data.join("hop")).unwrap();
        let rest = [step.as_str(); 9].join("/");
        let body = format!("hop/{rest}/{}../secret/s.txt", "../".repeat(17));
        symlink(body, data.join("long")).unwrap();
        assert!(data.join("long").canonicalize().is_err());
        for r in both(&data, "long") {
            assert_eq!(errno(&r), Some(Errno::XDEV.raw_os_error()), "{r:?}");
        }
        drop(base);
    }

    #[test]
    fn irregular_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Opening a FIFO without a writer does not block.
        let fd = open_anywhere(&fifo, input_flags()).unwrap();
        assert_eq!(kind_and_size(fd.as_fd()).unwrap().0, Some("FIFO"));
        let fd = open_anywhere(Path::new("/dev/zero"), input_flags()).unwrap();
        assert_eq!(
            kind_and_size(fd.as_fd()).unwrap().0,
            Some("character device")
        );
        let fd = open_anywhere(dir.path(), input_flags()).unwrap();
        assert_eq!(kind_and_size(fd.as_fd()).unwrap().0, Some("directory"));
    }

    #[test]
    fn a_file_is_read_to_its_end_whatever_size_it_was_said_to_have() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let text: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        for hint in [0, 1, 8191, 100_000, 1 << 20] {
            let fd = open_anywhere(&path, input_flags()).unwrap();
            assert_eq!(read_opened(fd, hint).unwrap(), text, "size hint {hint}");
        }
        std::fs::write(&path, b"").unwrap();
        let fd = open_anywhere(&path, input_flags()).unwrap();
        assert_eq!(read_opened(fd, 0).unwrap(), b"");
    }

    #[test]
    fn output_files_are_created_renamed_and_listed_by_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let fd = open_anywhere(dir.path(), output_dir_flags()).unwrap();
        let out = OutputDir::new(fd, dir.path().to_path_buf());
        std::io::Write::write_all(&mut out.create_new(".t.tmp").unwrap(), b"x").unwrap();
        assert!(out.create_new(".t.tmp").is_err(), "O_EXCL");
        symlink("/etc/hostname", dir.path().join("planted")).unwrap();
        assert!(
            out.create_new("planted").is_err(),
            "never follows a symlink"
        );
        out.rename(".t.tmp", "mr-out-0").unwrap();
        out.sync().unwrap();
        let mut names = out.names().unwrap();
        names.sort();
        assert_eq!(names, ["mr-out-0", "planted"]);
        assert_eq!(std::fs::read(dir.path().join("mr-out-0")).unwrap(), b"x");
    }
}
