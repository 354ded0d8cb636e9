//! Running a reduce task's CPU part: merge the fetched runs (in memory or
//! on local disk) by streaming k-way merge, call the app's reduce per key
//! with its values streamed, and write `mr-out-<r>` atomically.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use plugin_api::frame::write_frame;

use super::merge::{MergeError, Merger};
use super::spill::Run;
use crate::plugin::LoadedApp;
use crate::security::OutputDir;
use plugin_api::abi::AppCallError;

/// What a reduce task wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReduceStats {
    /// Records (keys) written.
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a reduce failed.
#[derive(Debug, thiserror::Error)]
pub enum ReduceError {
    /// The app returned an error or panicked.
    #[error(transparent)]
    App(#[from] AppCallError),
    /// A fetched run was malformed or unreadable.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The output could not be written.
    #[error("cannot write output {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The final name of partition `r`'s output.
pub fn output_path(dir: &Path, r: u32) -> PathBuf {
    dir.join(output_name(r))
}

fn output_name(r: u32) -> String {
    format!("mr-out-{r}")
}

/// Merges `runs` (reading those on disk through `buffer` bytes each),
/// reduces each key and writes `mr-out-<r>` in `dir`: first under a
/// temporary name unique to `tag`, synced, then renamed into place and the
/// folder synced, so the file appears whole or not at all. Every step goes
/// through the folder's descriptor.
pub fn reduce_to_file(
    app: &dyn LoadedApp,
    runs: Vec<Run>,
    buffer: usize,
    args: &[u8],
    dir: &OutputDir,
    r: u32,
    tag: &str,
) -> Result<ReduceStats, ReduceError> {
    let final_name = output_name(r);
    let tmp_name = format!(".mr-out-{r}.{tag}.tmp");
    let tmp_path = dir.path().join(&tmp_name);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReduceError::Write { path, source }
    };
    let file = dir.create_new(&tmp_name).map_err(write_err(&tmp_path))?;
    let result = write_reduced(app, runs, buffer, args, file, &tmp_path);
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            let _ = dir.remove(&tmp_name);
            return Err(e);
        }
    };
    let final_path = output_path(dir.path(), r);
    dir.rename(&tmp_name, &final_name).map_err(|e| {
        let _ = dir.remove(&tmp_name);
        write_err(&final_path)(e)
    })?;
    dir.sync().map_err(write_err(dir.path()))?;
    Ok(stats)
}

fn write_reduced(
    app: &dyn LoadedApp,
    runs: Vec<Run>,
    buffer: usize,
    args: &[u8],
    file: File,
    path: &Path,
) -> Result<ReduceStats, ReduceError> {
    let io = |source| ReduceError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut merger = Merger::new(runs, buffer)?;
    let mut stats = ReduceStats::default();
    let mut key = Vec::new();
    while merger.next_key(&mut key)? {
        let value = app
            .reduce(&key, &mut merger.values(), args)
            .map_err(ReduceError::App)?;
        if let Some(e) = merger.take_error() {
            return Err(e.into());
        }
        for frame in [&key[..], &value[..]] {
            write_frame(&mut out, frame).map_err(io)?;
        }
        stats.records += 1;
        stats.bytes += 8 + key.len() as u64 + value.len() as u64;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(stats)
}
