//! Scratch space on local disk: [`WorkDir`], the worker's private folder
//! (created on first use, removed with everything in it on drop), and
//! [`RunFile`], one scratch file removed when its last handle drops.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The `n` of the next scratch folder of this process.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// How many taken names [`WorkDir::path`] skips before it gives up.
const MAX_TRIES: u32 = 1000;

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
        std::fs::create_dir_all(&self.parent)?;
        let candidate = self.create_unique()?;
        if let Err(unused) = self.path.set(candidate) {
            // Another thread won the race; drop ours.
            let _ = std::fs::remove_dir(unused);
        }
        Ok(self.path.get().expect("set above"))
    }

    /// Creates a new folder `mr-worker-<pid>-<n>` in the parent. A folder
    /// of that name may be left by a killed process whose pid has come
    /// around again: the next `n` is tried.
    fn create_unique(&self) -> io::Result<PathBuf> {
        let mut tries = 0;
        loop {
            let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
            let candidate = self
                .parent
                .join(format!("mr-worker-{}-{n}", std::process::id()));
            match std::fs::create_dir(&candidate) {
                Ok(()) => return Ok(candidate),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < MAX_TRIES => {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
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
    pub(super) path: PathBuf,
    pub(super) file: File,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_left_by_an_earlier_process_with_our_pid_is_skipped() {
        let parent = tempfile::tempdir().unwrap();
        let next = NEXT_DIR.load(Ordering::Relaxed);
        let pid = std::process::id();
        let stale: Vec<PathBuf> = (next..next + 50)
            .map(|n| parent.path().join(format!("mr-worker-{pid}-{n}")))
            .collect();
        for dir in &stale {
            std::fs::create_dir(dir).unwrap();
        }
        let work = WorkDir::new(parent.path());
        let path = work.path().unwrap().to_path_buf();
        assert!(!stale.contains(&path), "{}", path.display());
        assert!(path.is_dir());
        let file = work.create_file("run").unwrap();
        assert!(file.path().starts_with(&path));
    }
}
