//! [`HeldDir`]: map output kept in files under the worker's `--work-dir`,
//! so that a worker started again on the same machine and folder adopts
//! what a killed predecessor finished (YARN's work-preserving NodeManager
//! restart), reports it when it registers, and the coordinator need not run
//! those maps again.
//!
//! Layout: `<work-dir>/mr-held/.lock`, held (`flock`) by the one worker
//! using the folder (the kernel releases it when that process dies, however
//! it dies), and one file per map output, `j<job>-m<map>-a<attempt>`:
//! `MRH1`, the partition count (u32), each partition's length (u64), then
//! the partitions' sorted runs, all big-endian. A file is written under a
//! temporary name and renamed whole; on adoption its lengths are checked
//! against its size, and a file that does not add up is removed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{flock, FlockOperation};

use super::spill::{DiskRange, Run, RunFile};
use crate::core::{Attempt, JobId};

const MAGIC: &[u8; 4] = b"MRH1";

/// The folder of held map output, locked for this worker.
#[derive(Debug)]
pub struct HeldDir {
    dir: PathBuf,
    /// Holds the lock while open.
    _lock: File,
}

/// One adopted map output.
#[derive(Debug)]
pub struct Adopted {
    /// The job.
    pub job: JobId,
    /// The coordinator state (`RegisterReply.state_id`) it was made under.
    pub state: u64,
    /// The map task.
    pub map_task: u32,
    /// The attempt that produced it.
    pub attempt: Attempt,
    /// One run per partition.
    pub partitions: Vec<Run>,
}

impl HeldDir {
    /// Opens and locks `<work_dir>/mr-held`; `None` when another live
    /// worker holds it.
    pub fn open(work_dir: &Path) -> io::Result<Option<HeldDir>> {
        let dir = work_dir.join("mr-held");
        std::fs::create_dir_all(&dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))?;
        match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(HeldDir { dir, _lock: lock })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes one map output to its file and returns runs reading it back.
    pub fn persist(
        &self,
        state: u64,
        job: JobId,
        map_task: u32,
        attempt: Attempt,
        partitions: &[Run],
    ) -> io::Result<Vec<Run>> {
        let name = file_name(state, job, map_task, attempt);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut header = Vec::with_capacity(8 + 8 * partitions.len());
        header.extend_from_slice(MAGIC);
        let n = u32::try_from(partitions.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many partitions"))?;
        header.extend_from_slice(&n.to_be_bytes());
        for p in partitions {
            header.extend_from_slice(&p.len().to_be_bytes());
        }
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        out.write_all(&header)?;
        for p in partitions {
            out.write_all(&p.to_bytes()?)?;
        }
        out.into_inner().map_err(|e| e.into_error())?;
        let path = self.dir.join(&name);
        std::fs::rename(&tmp, &path)?;
        runs_of(path)
    }

    /// Takes over every complete map output file in the folder, removing
    /// temporaries and files that do not add up.
    pub fn adopt(&self) -> io::Result<Vec<Adopted>> {
        let mut adopted = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".lock" {
                continue;
            }
            let path = entry.path();
            let Some((state, job, map_task, attempt)) = parse_name(&name) else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            match runs_of(path.clone()) {
                Ok(partitions) => adopted.push(Adopted {
                    state,
                    job,
                    map_task,
                    attempt,
                    partitions,
                }),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "dropping held map output: {e}");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(adopted)
    }
}

/// `s<state>-j<job>-m<map>-a<attempt>`: the coordinator state the output
/// was made under is part of its name, since job ids of another state name
/// other jobs.
fn file_name(state: u64, job: JobId, map_task: u32, attempt: Attempt) -> String {
    format!("s{state}-j{}-m{map_task}-a{}", job.0, attempt.0)
}

fn parse_name(name: &str) -> Option<(u64, JobId, u32, Attempt)> {
    let rest = name.strip_prefix('s')?;
    let (state, rest) = rest.split_once("-j")?;
    let (job, rest) = rest.split_once("-m")?;
    let (map, attempt) = rest.split_once("-a")?;
    Some((
        state.parse().ok()?,
        JobId(job.parse().ok()?),
        map.parse().ok()?,
        Attempt(attempt.parse().ok()?),
    ))
}

/// Reads a held file's header and returns one disk run per partition.
fn runs_of(path: PathBuf) -> io::Result<Vec<Run>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let file = Arc::new(RunFile::adopt(path)?);
    let size = file.size()?;
    let mut head = [0u8; 8];
    if size < 8 {
        return Err(bad("shorter than its header"));
    }
    file.read_exact_at(&mut head, 0)?;
    if &head[..4] != MAGIC {
        return Err(bad("not a held map output"));
    }
    let n = u64::from(u32::from_be_bytes([head[4], head[5], head[6], head[7]]));
    let header_len = 8 + 8 * n;
    if size < header_len {
        return Err(bad("shorter than its header"));
    }
    let mut lens = vec![0u8; 8 * n as usize];
    file.read_exact_at(&mut lens, 8)?;
    let mut offset = header_len;
    let mut runs = Vec::with_capacity(n as usize);
    for chunk in lens.chunks_exact(8) {
        let mut len = [0u8; 8];
        len.copy_from_slice(chunk);
        let len = u64::from_be_bytes(len);
        runs.push(Run::Disk(DiskRange {
            file: Arc::clone(&file),
            offset,
            len,
        }));
        offset = offset
            .checked_add(len)
            .ok_or_else(|| bad("lengths overflow"))?;
    }
    if offset != size {
        return Err(bad("its lengths do not add up to its size"));
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_output_survives_its_writer_and_is_adopted_once() {
        let dir = tempfile::tempdir().unwrap();
        let held = HeldDir::open(dir.path()).unwrap().unwrap();
        // A second worker on the same folder is refused while it is held.
        assert!(HeldDir::open(dir.path()).unwrap().is_none());
        let parts = vec![
            Run::memory(&b"abc"[..]),
            Run::memory(&b""[..]),
            Run::memory(&b"xy"[..]),
        ];
        let runs = held.persist(11, JobId(3), 5, Attempt(2), &parts).unwrap();
        assert_eq!(runs[2].to_bytes().unwrap(), &b"xy"[..]);
        // A broken file and a temporary are dropped on adoption.
        std::fs::write(held.path().join("s11-j3-m6-a1"), b"MRH1\0\0\0\x09").unwrap();
        std::fs::write(held.path().join(".s11-j3-m7-a1.tmp"), b"junk").unwrap();
        // The writer dies (its runs stay open here: files are removed only
        // when a reader drops them, so keep them for the check below).
        drop(held);
        let next = HeldDir::open(dir.path()).unwrap().unwrap();
        let adopted = next.adopt().unwrap();
        assert_eq!(adopted.len(), 1, "{adopted:?}");
        let a = &adopted[0];
        assert_eq!(
            (a.state, a.job, a.map_task, a.attempt),
            (11, JobId(3), 5, Attempt(2))
        );
        let got: Vec<_> = a.partitions.iter().map(|r| r.to_bytes().unwrap()).collect();
        assert_eq!(got, [&b"abc"[..], &b""[..], &b"xy"[..]]);
        let mut names: Vec<_> = std::fs::read_dir(next.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", "s11-j3-m5-a2"]);
        drop(runs);
    }
}
