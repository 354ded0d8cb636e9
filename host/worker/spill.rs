//! Local disk and memory accounting for data that outgrows memory.
//!
//! - [`WorkDir`]: the worker's private scratch folder, created on first use
//!   and removed (with everything in it) when the worker drops it.
//! - [`RunFile`]: one scratch file, kept open and removed when the last
//!   handle drops, so a job's spilled data disappears with its map output.
//! - [`Run`]: a sorted run of key/value frames, in memory or a byte range
//!   of a [`RunFile`]; what map tasks store, the store serves and reduce
//!   tasks merge.
//! - [`MemoryBudget`] and [`Charge`]: a byte counter that decides what may
//!   stay in memory.
//! - [`MemoryLimits`]: how a worker's `--memory-limit` is divided.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use plugin_api::frame::write_frame;

/// The fallback memory limit when the machine's memory is unknown.
const FALLBACK_MEMORY_LIMIT: u64 = 1 << 30;

/// The default `--memory-limit`: a quarter of `MemTotal` in
/// `/proc/meminfo`, or 1 GiB when that cannot be read.
pub fn default_memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_total(&text))
        .map(|total| total / 4)
        .unwrap_or(FALLBACK_MEMORY_LIMIT)
}

/// `MemTotal` in bytes from the text of `/proc/meminfo`.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Why a byte size does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    /// No number leads the text.
    #[error("{0:?} is not a byte size (like 268435456 or 256MiB)")]
    NotANumber(String),
    /// The suffix is not one of the known units.
    #[error("unknown size suffix {suffix:?} in {text:?}")]
    UnknownSuffix {
        /// The suffix.
        suffix: String,
        /// The whole text.
        text: String,
    },
    /// The size does not fit 64 bits.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses a byte size: a number with an optional suffix `K`, `KB`, `KiB`,
/// `M`, `MB`, `MiB`, `G`, `GB`, `GiB`, `T`... (all powers of 1024; case
/// insensitive), e.g. `256MiB` or `1g`.
pub fn parse_byte_size(text: &str) -> Result<u64, ByteSizeError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| ByteSizeError::NotANumber(text.to_string()))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(ByteSizeError::UnknownSuffix {
                suffix: other.to_string(),
                text: text.to_string(),
            })
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| ByteSizeError::TooLarge(text.to_string()))
}

/// Makes glibc's allocator hand large buffers straight back to the system:
/// buffers of 1 MiB and more are mapped and unmapped on their own (glibc
/// would otherwise raise that threshold after the first large free and
/// then keep freed multi-megabyte buffers in its heap), and at most two
/// arenas are kept for all threads. Without it a worker's peak RSS is
/// about twice its memory limit (see docs/PERFORMANCE.md). Call it early
/// in a worker process (it is process-wide; embedded workers in `mr run`
/// and tests leave the allocator alone); a no-op elsewhere than glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: `mallopt` only changes allocator tunables; both are valid
        // parameters with in-range values, and glibc serialises the call.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

/// How a worker divides its memory limit between the places that hold data.
/// The map input file itself (handed whole to the app) is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Map output buffered before it is sorted and spilled to disk.
    pub map_buffer: usize,
    /// Finished map output kept in memory (the rest lives on disk).
    pub store: usize,
    /// Map output a reduce task holds in memory while fetching (the rest is
    /// written to disk).
    pub reduce_fetch: usize,
    /// Read buffers of one k-way merge, shared by its runs.
    pub merge_buffers: usize,
}

impl MemoryLimits {
    /// The split of `limit` bytes: a quarter each for the map buffer, the
    /// store and reduce fetches, an eighth for merge buffers.
    pub fn from_limit(limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        MemoryLimits {
            map_buffer: (limit / 4).max(64 << 10),
            store: limit / 4,
            reduce_fetch: limit / 4,
            merge_buffers: (limit / 8).max(1 << 20),
        }
    }

    /// The read buffer of each of `k` merged runs.
    pub fn merge_buffer_per_run(&self, k: usize) -> usize {
        (self.merge_buffers / k.max(1)).clamp(16 << 10, 1 << 20)
    }
}

/// A byte counter with a limit. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `n` bytes if they fit.
    pub fn try_reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= self.limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whether or not they fit.
    pub fn force_reserve(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives back `n` bytes.
    pub fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes taken.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Bytes taken from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Charge {
    /// Wraps `bytes` already reserved in `budget`.
    pub fn reserved(budget: Arc<MemoryBudget>, bytes: usize) -> Self {
        Charge { budget, bytes }
    }

    /// Changes the charge to `bytes` (reserving or releasing the difference).
    pub fn resize(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget.force_reserve(bytes - self.bytes);
        } else {
            self.budget.release(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// The worker's scratch folder: `<parent>/mr-worker-<pid>-<n>`, created on
/// first use and removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    parent: PathBuf,
    path: OnceLock<PathBuf>,
    next_file: AtomicU64,
}

impl WorkDir {
    /// A scratch folder to be created inside `parent`.
    pub fn new(parent: impl Into<PathBuf>) -> Self {
        WorkDir {
            parent: parent.into(),
            path: OnceLock::new(),
            next_file: AtomicU64::new(0),
        }
    }

    /// The folder, creating it if needed.
    pub fn path(&self) -> io::Result<&Path> {
        if let Some(p) = self.path.get() {
            return Ok(p);
        }
        static NEXT_DIR: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(&self.parent)?;
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let candidate = self
            .parent
            .join(format!("mr-worker-{}-{n}", std::process::id()));
        std::fs::create_dir(&candidate)?;
        if let Err(unused) = self.path.set(candidate) {
            // Another thread won the race; drop ours.
            let _ = std::fs::remove_dir(unused);
        }
        Ok(self.path.get().expect("set above"))
    }

    /// The folder if it was created.
    pub fn created(&self) -> Option<&Path> {
        self.path.get().map(PathBuf::as_path)
    }

    /// A new empty scratch file named after `what`.
    pub fn create_file(&self, what: &str) -> io::Result<Arc<RunFile>> {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        let path = self.path()?.join(format!("{what}-{n}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Arc::new(RunFile { path, file }))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.get() {
            if let Err(e) = std::fs::remove_dir_all(p) {
                tracing::warn!(path = %p.display(), "cannot remove work dir: {e}");
            }
        }
    }
}

/// One scratch file, open for reading and writing, removed on drop.
#[derive(Debug)]
pub struct RunFile {
    path: PathBuf,
    file: File,
}

impl RunFile {
    /// An existing file, taken over: read and written by offset, removed on
    /// drop like a scratch file.
    pub fn adopt(path: PathBuf) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(RunFile { path, file })
    }

    /// Its size in bytes.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Writes `buf` at `offset`.
    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Appends to a [`RunFile`] from its start, counting the bytes written.
#[derive(Debug)]
pub struct RunWriter {
    file: Arc<RunFile>,
    pos: u64,
}

impl RunWriter {
    /// A writer at the start of `file`.
    pub fn new(file: Arc<RunFile>) -> Self {
        RunWriter { file, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The file written.
    pub fn file(&self) -> &Arc<RunFile> {
        &self.file
    }
}

impl Write for RunWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A byte range of a [`RunFile`].
#[derive(Debug, Clone)]
pub struct DiskRange {
    /// The file.
    pub file: Arc<RunFile>,
    /// Where the range starts.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

impl DiskRange {
    /// A reader over the range.
    pub fn reader(&self) -> RangeReader {
        RangeReader {
            range: self.clone(),
            pos: 0,
        }
    }
}

/// Reads a [`DiskRange`] front to back.
#[derive(Debug)]
pub struct RangeReader {
    range: DiskRange,
    pos: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.range.len - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self
            .range
            .file
            .file
            .read_at(&mut buf[..n], self.range.offset + self.pos)?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} is shorter than expected",
                    self.range.file.path.display()
                ),
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

/// A sorted run of alternating key and value frames.
#[derive(Debug, Clone)]
pub enum Run {
    /// In memory, possibly in several pieces (frames may straddle them).
    Memory(Vec<Bytes>),
    /// On local disk.
    Disk(DiskRange),
}

impl Run {
    /// A run held in one buffer.
    pub fn memory(bytes: impl Into<Bytes>) -> Self {
        Run::Memory(vec![bytes.into()])
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Run::Memory(chunks) => chunks.iter().map(|c| c.len() as u64).sum(),
            Run::Disk(d) => d.len,
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of it held in memory.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Run::Memory(chunks) => chunks.iter().map(Bytes::len).sum(),
            Run::Disk(_) => 0,
        }
    }

    /// The whole run in one buffer (reads a disk run into memory).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Run::Memory(chunks) if chunks.len() == 1 => Ok(chunks[0].clone()),
            Run::Memory(chunks) => Ok(Bytes::from(chunks.concat())),
            Run::Disk(d) => {
                let mut buf = vec![0; d.len as usize];
                d.file.read_exact_at(&mut buf, d.offset)?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

/// Writes alternating key and value frames, counting bytes.
#[derive(Debug)]
pub struct FrameWriter<W: Write> {
    out: W,
    bytes: u64,
    records: u64,
}

impl<W: Write> FrameWriter<W> {
    /// Frames to `out`.
    pub fn new(out: W) -> Self {
        FrameWriter {
            out,
            bytes: 0,
            records: 0,
        }
    }

    /// Writes one key/value record. Keys and values longer than 4 GiB are
    /// refused earlier (when emitted).
    pub fn pair(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        for frame in [key, value] {
            write_frame(&mut self.out, frame)?;
        }
        self.bytes += 8 + key.len() as u64 + value.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Bytes written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The sink.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The sink back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_byte_size("1234"), Ok(1234));
        assert_eq!(parse_byte_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_byte_size("256M"), Ok(256 << 20));
        assert_eq!(parse_byte_size("2g"), Ok(2 << 30));
        assert_eq!(parse_byte_size("64 KiB"), Ok(64 << 10));
        assert!(parse_byte_size("12XB").is_err());
        assert!(parse_byte_size("MiB").is_err());
        assert!(parse_byte_size("99999999999T").is_err());
    }

    #[test]
    fn mem_total_is_read_from_meminfo() {
        let text = "MemTotal:       24684096 kB\nMemFree: 1 kB\n";
        assert_eq!(parse_mem_total(text), Some(24684096 * 1024));
        assert_eq!(parse_mem_total("nothing"), None);
        assert!(default_memory_limit() > 0);
    }

    #[test]
    fn budgets_refuse_what_does_not_fit_and_charges_give_back() {
        let b = Arc::new(MemoryBudget::new(100));
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(50));
        let mut c = Charge::reserved(b.clone(), 60);
        c.resize(30);
        assert_eq!(b.used(), 30);
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn run_files_vanish_with_their_last_handle_and_work_dirs_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let dir = WorkDir::new(parent.path());
        assert!(dir.created().is_none());
        let file = dir.create_file("spill").unwrap();
        let mut w = RunWriter::new(file.clone());
        w.write_all(b"hello world").unwrap();
        let range = DiskRange {
            file: file.clone(),
            offset: 6,
            len: 5,
        };
        let mut got = String::new();
        range.reader().read_to_string(&mut got).unwrap();
        assert_eq!(got, "world");
        assert_eq!(&Run::Disk(range).to_bytes().unwrap()[..], b"world");
        let path = file.path().to_path_buf();
        drop((w, file));
        assert!(!path.exists());
        let root = dir.created().unwrap().to_path_buf();
        assert!(root.exists());
        drop(dir);
        assert!(!root.exists());
    }
}
