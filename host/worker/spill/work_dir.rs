//! Scratch space on local disk: [`WorkDir`], the worker's private folder
//! (created on first use, removed with everything in it on drop, and
//! locked while its process lives so that [`sweep`] can remove the folders
//! of killed processes), and [`RunFile`], one scratch file removed when its
//! last handle drops.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::{flock, FlockOperation};

/// The `n` of the next scratch folder of this process.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// How many taken names [`WorkDir::path`] skips before it gives up.
const MAX_TRIES: u32 = 1000;

/// The worker's scratch folder: `<parent>/mr-worker-<pid>-<n>`, created on
/// first use and removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    parent: PathBuf,
    /// The folder and its lock file, held (locked) while this lives.
    path: OnceLock<(PathBuf, File)>,
    next_file: AtomicU64,
}

/// The file in each scratch folder that its owner keeps locked.
const LOCK_FILE: &str = ".lock";

/// The prefix of every scratch folder's name.
const PREFIX: &str = "mr-worker-";

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
        if let Some((p, _)) = self.path.get() {
            return Ok(p);
        }
        std::fs::create_dir_all(&self.parent)?;
        let candidate = self.create_unique()?;
        let lock = match lock_new(&candidate) {
            Ok(lock) => lock,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&candidate);
                return Err(e);
            }
        };
        if let Err((unused, _)) = self.path.set((candidate, lock)) {
            // Another thread won the race; drop ours.
            let _ = std::fs::remove_dir_all(unused);
        }
        Ok(&self.path.get().expect("set above").0)
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
                .join(format!("{PREFIX}{}-{n}", std::process::id()));
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
        self.path.get().map(|(p, _)| p.as_path())
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
        Ok(Arc::new(RunFile {
            path,
            file,
            owned: true,
        }))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some((p, _)) = self.path.get() {
            if let Err(e) = std::fs::remove_dir_all(p) {
                tracing::warn!(path = %p.display(), "cannot remove work dir: {e}");
            }
        }
    }
}

/// Creates and locks `dir`'s lock file. The lock lasts as long as the
/// returned file stays open: until the process ends, however it ends.
/// The file is locked under a temporary name and then renamed, so that a
/// [`sweep`] never finds it unlocked.
fn lock_new(dir: &Path) -> io::Result<File> {
    let staged = dir.join(".lock.new");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&staged)?;
    try_lock(&file)?;
    std::fs::rename(&staged, dir.join(LOCK_FILE))?;
    Ok(file)
}

/// Removes the scratch folders in `parent` that no living process owns:
/// those whose lock file can be locked (its owner is gone, however it
/// died), and those of older versions without a lock file whose process no
/// longer exists. Returns how many were removed. Folders of live workers,
/// of other users and anything else are left alone.
pub fn sweep(parent: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(parent)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        // `symlink_metadata`: never follow a link out of the parent.
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if !meta.is_dir()
            || std::os::unix::fs::MetadataExt::uid(&meta) != rustix::process::geteuid().as_raw()
        {
            continue;
        }
        if !owner_is_gone(&dir, pid) {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::debug!(path = %dir.display(), "cannot remove a stale scratch folder: {e}")
            }
        }
    }
    Ok(removed)
}

/// Takes `file`'s exclusive `flock` without waiting.
fn try_lock(file: &File) -> io::Result<()> {
    flock(file, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)
}

/// Whether the process that made scratch folder `dir` (named after `pid`)
/// has ended.
fn owner_is_gone(dir: &Path, pid: i32) -> bool {
    match OpenOptions::new().write(true).open(dir.join(LOCK_FILE)) {
        // Locked by its owner while it lives.
        Ok(file) => try_lock(&file).is_ok(),
        // No lock file: a folder being created right now, or one of an
        // older version. Only a pid that no longer exists says it is stale.
        Err(e) if e.kind() == io::ErrorKind::NotFound => rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)),
        Err(_) => false,
    }
}

/// One scratch file, open for reading and writing, removed on drop.
#[derive(Debug)]
pub struct RunFile {
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Whether the file goes with this handle (not for one borrowed from
    /// another process, which removes it itself).
    owned: bool,
}

impl RunFile {
    /// An existing file, taken over: read and written by offset, removed on
    /// drop like a scratch file.
    pub fn adopt(path: PathBuf) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(RunFile {
            path,
            file,
            owned: true,
        })
    }

    /// A file another process (the worker, for its executor) holds, opened
    /// to read; left in place on drop.
    pub fn borrow(path: PathBuf) -> io::Result<Self> {
        let file = File::open(&path)?;
        Ok(RunFile {
            path,
            file,
            owned: false,
        })
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
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
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

    #[test]
    fn sweeping_removes_the_folders_of_dead_processes_only() {
        let parent = tempfile::tempdir().unwrap();
        // A live folder: ours, locked.
        let live = WorkDir::new(parent.path());
        let live_path = live.path().unwrap().to_path_buf();
        // A killed worker's: its lock file is there but nobody holds it.
        let killed = parent.path().join("mr-worker-4000000-0");
        std::fs::create_dir(&killed).unwrap();
        std::fs::write(killed.join(LOCK_FILE), b"").unwrap();
        std::fs::write(killed.join("map-output-0"), b"spilled").unwrap();
        // An older version's, without a lock file: ours if the pid is gone
        // (pids never reach 4,000,000 + 1 on Linux: at most 2^22).
        let old = parent.path().join("mr-worker-4194305-3");
        std::fs::create_dir(&old).unwrap();
        // Without a lock file and with a live pid (ours): kept.
        let unlocked_live = parent
            .path()
            .join(format!("mr-worker-{}-999999", std::process::id()));
        std::fs::create_dir(&unlocked_live).unwrap();
        // Not ours to judge.
        let other = parent.path().join("mr-held");
        std::fs::create_dir(&other).unwrap();

        assert_eq!(sweep(parent.path()).unwrap(), 2);
        assert!(!killed.exists() && !old.exists());
        assert!(live_path.is_dir() && unlocked_live.is_dir() && other.is_dir());
        // The live folder's lock is still held: a second sweep keeps it.
        assert_eq!(sweep(parent.path()).unwrap(), 0);
        drop(live);
        assert!(!live_path.exists());
    }
}
