//! A job's output folder: reading a finished job's output (`mr-out-0`,
//! `mr-out-1`, ...) as a stream of records for the app's formatter
//! (`mr process`, `mr run`), the manifest a job writes when it commits
//! ([`manifest`]), and the rules for a folder a new job will write
//! ([`folder`]).

pub mod folder;
pub mod manifest;

use std::path::{Path, PathBuf};

use plugin_api::frame::{frame_len, Frames, HEADER_LEN};
use plugin_api::Records;

/// Why the output cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// An output file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An output file is not a sequence of key/value frames.
    #[error("{} is not mapreduce output: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No output files in the directory.
    #[error("no mr-out-* files in {}", .0.display())]
    Empty(PathBuf),
    /// The output path exists and is not a folder.
    #[error("output directory {} exists and is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// The folder holds earlier output and overwriting was not asked for.
    #[error(
        "output directory {} is not empty: it holds {files}; pass --overwrite to replace \
         that earlier output, or choose another folder",
        dir.display()
    )]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
        /// What it holds, listed.
        files: String,
    },
    /// The folder holds files this engine did not write, which
    /// `--overwrite` does not remove.
    #[error(
        "output directory {} holds files that are not mapreduce output: {files}; --overwrite \
         replaces only mr-out-* files and {manifest}, so remove these or choose another folder",
        dir.display(),
        manifest = manifest::MANIFEST
    )]
    Foreign {
        /// The folder.
        dir: PathBuf,
        /// The foreign files, listed.
        files: String,
    },
    /// Creating, listing or clearing the folder failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Folder {
        /// What was being done.
        action: &'static str,
        /// The folder or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The folder holds no manifest: its job has not finished.
    #[error(
        "{} holds no finished job: there is no {manifest} manifest (the job is still running, \
         failed, was cancelled, or the folder was written by an older mr). Check the job with \
         `mr poll ID`; to read the mr-out-* files anyway, pass --no-manifest with -n N",
        .0.display(),
        manifest = manifest::MANIFEST
    )]
    NoManifest(PathBuf),
    /// The manifest cannot be read or parsed.
    #[error("{} is not a valid manifest: {reason}", path.display())]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `-n` disagrees with the manifest.
    #[error(
        "{} was written by job {job} with {manifest} reduce partitions, not {given}; \
         leave out -n (it is read from the manifest) or pass -n {manifest}",
        dir.display()
    )]
    WrongReduceCount {
        /// The folder.
        dir: PathBuf,
        /// The job that wrote it.
        job: u32,
        /// `n_reduce` in the manifest.
        manifest: u32,
        /// `-n` as given.
        given: u32,
    },
    /// `-a` disagrees with the manifest.
    #[error(
        "{} was written by app {manifest:?} (job {job}), not {given:?}; \
         leave out -a (it is read from the manifest) or pass -a {manifest}",
        dir.display()
    )]
    WrongApp {
        /// The folder.
        dir: PathBuf,
        /// The job that wrote it.
        job: u32,
        /// The app in the manifest.
        manifest: String,
        /// `-a` as given.
        given: String,
    },
    /// An output file no longer matches the manifest.
    #[error(
        "{} changed after job {job} committed it: {reason}; run the job again (with --overwrite)",
        path.display()
    )]
    Changed {
        /// The output file.
        path: PathBuf,
        /// The job that wrote it.
        job: u32,
        /// What differs.
        reason: String,
    },
}

/// How many partitions the output in `dir` has: the number of consecutive
/// `mr-out-<r>` files from 0.
pub fn count_partitions(dir: &Path) -> Result<u32, OutputError> {
    let mut n = 0;
    while dir.join(format!("mr-out-{n}")).is_file() {
        n += 1;
    }
    if n == 0 {
        return Err(OutputError::Empty(dir.to_path_buf()));
    }
    Ok(n)
}

/// The records of `mr-out-0..n_reduce` in `dir`, one file in memory at a
/// time. Each file is checked whole before its records are handed out.
pub struct OutputRecords {
    dir: PathBuf,
    n_reduce: u32,
    next_file: u32,
    buf: Vec<u8>,
    pos: usize,
    error: Option<OutputError>,
}

impl OutputRecords {
    /// Records of `dir`'s first `n_reduce` output files.
    pub fn new(dir: &Path, n_reduce: u32) -> Self {
        OutputRecords {
            dir: dir.to_path_buf(),
            n_reduce,
            next_file: 0,
            buf: Vec::new(),
            pos: 0,
            error: None,
        }
    }

    /// The error that ended the stream early, if any.
    pub fn take_error(&mut self) -> Option<OutputError> {
        self.error.take()
    }

    fn load_next(&mut self) -> Result<bool, OutputError> {
        if self.next_file >= self.n_reduce {
            return Ok(false);
        }
        let path = self.dir.join(format!("mr-out-{}", self.next_file));
        self.next_file += 1;
        let buf = std::fs::read(&path).map_err(|source| OutputError::Read {
            path: path.clone(),
            source,
        })?;
        let mut frames = 0usize;
        for f in Frames::new(&buf) {
            f.map_err(|e| OutputError::Malformed {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            frames += 1;
        }
        if !frames.is_multiple_of(2) {
            return Err(OutputError::Malformed {
                path,
                reason: "a key without a value at the end".to_string(),
            });
        }
        self.buf = buf;
        self.pos = 0;
        Ok(true)
    }

    fn frame(&mut self) -> (usize, usize) {
        let header = [
            self.buf[self.pos],
            self.buf[self.pos + 1],
            self.buf[self.pos + 2],
            self.buf[self.pos + 3],
        ];
        let len = frame_len(header);
        let start = self.pos + HEADER_LEN;
        self.pos = start + len;
        (start, start + len)
    }
}

impl Records for OutputRecords {
    fn next_record(&mut self) -> Option<(&[u8], &[u8])> {
        while self.pos >= self.buf.len() {
            match self.load_next() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
        // The file was validated in `load_next`, so these frames are whole.
        let (ks, ke) = self.frame();
        let (vs, ve) = self.frame();
        Some((&self.buf[ks..ke], &self.buf[vs..ve]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::frame::encode_frames;

    #[test]
    fn reads_every_file_in_order_and_checks_frames() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mr-out-0"),
            encode_frames(["a", "1", "b", "2"]).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("mr-out-1"), b"").unwrap();
        std::fs::write(
            dir.path().join("mr-out-2"),
            encode_frames(["c", "3"]).unwrap(),
        )
        .unwrap();
        assert_eq!(count_partitions(dir.path()).unwrap(), 3);
        let mut r = OutputRecords::new(dir.path(), 3);
        let mut got = Vec::new();
        while let Some((k, v)) = r.next_record() {
            got.push((k.to_vec(), v.to_vec()));
        }
        assert!(r.take_error().is_none());
        let want: Vec<(Vec<u8>, Vec<u8>)> = [("a", "1"), ("b", "2"), ("c", "3")]
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);

        std::fs::write(
            dir.path().join("mr-out-1"),
            encode_frames(["dangling"]).unwrap(),
        )
        .unwrap();
        let mut r = OutputRecords::new(dir.path(), 3);
        while r.next_record().is_some() {}
        assert!(matches!(
            r.take_error(),
            Some(OutputError::Malformed { .. })
        ));
        assert!(matches!(
            count_partitions(&dir.path().join("none")),
            Err(OutputError::Empty(_))
        ));
    }
}
