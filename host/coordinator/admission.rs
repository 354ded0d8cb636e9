//! Admission of a submitted job: the app exists, the request is within the
//! limits, the queue has room, its paths stay inside the allowed folders,
//! every input is a readable regular file, and the output folder may be
//! written ([`crate::output::folder`]). Runs before the job reaches the
//! core; a refused submission changes nothing on disk.

use std::path::{Path, PathBuf};

use tonic::Status;

use super::Limits;
use crate::core::{CoreError, JobSpec};
use crate::output::{folder, OutputError};
use crate::plugin::Registry;
use crate::security::{resolve, Confinement};

/// Checks `spec` against the registry and the limits (no file I/O).
pub fn check_request(spec: &JobSpec, registry: &Registry, limits: &Limits) -> Result<(), Status> {
    if registry.get(&spec.app).is_none() {
        let available = registry.names();
        let available = if available.is_empty() {
            "none: no plugins were found in the coordinator's plugin folders".to_string()
        } else {
            available.join(", ")
        };
        return Err(Status::invalid_argument(format!(
            "unknown app {:?}; available apps: {available}",
            spec.app
        )));
    }
    if spec.files.is_empty() {
        return Err(Status::invalid_argument(
            CoreError::NoInputFiles.to_string(),
        ));
    }
    if spec.n_reduce == 0 {
        return Err(Status::invalid_argument(CoreError::ZeroReduce.to_string()));
    }
    check_file_count(spec.files.len(), limits)?;
    if spec.n_reduce > limits.max_n_reduce {
        return Err(Status::invalid_argument(format!(
            "n_reduce may be at most {} (--max-n-reduce); got {}",
            limits.max_n_reduce, spec.n_reduce
        )));
    }
    if spec.args.len() > limits.max_args_bytes {
        return Err(Status::invalid_argument(format!(
            "app arguments may be at most {} bytes (--max-args-bytes); got {}",
            limits.max_args_bytes,
            spec.args.len()
        )));
    }
    Ok(())
}

/// Checks the number of input files (before and after expansion).
pub fn check_file_count(files: usize, limits: &Limits) -> Result<(), Status> {
    if files > limits.max_files {
        return Err(Status::invalid_argument(format!(
            "a job may have at most {} input files (--max-files); this one has {files}",
            limits.max_files,
        )));
    }
    Ok(())
}

/// Checks the number of map tasks a split plan gives (bounded like input
/// files: a tiny `--split-size` over a large file would flood the core).
pub fn check_map_count(maps: usize, limits: &Limits) -> Result<(), Status> {
    if maps > limits.max_files {
        return Err(Status::invalid_argument(format!(
            "this job would have {maps} map tasks; at most {} are allowed (--max-files): \
             choose a larger --split-size",
            limits.max_files,
        )));
    }
    Ok(())
}

/// Checks that input folders and the literal folders of input patterns are
/// allowed before they are listed (blocking I/O).
pub fn check_input_folders(inputs: &[String], confinement: &Confinement) -> Result<(), Status> {
    for input in inputs {
        let folder = if super::inputs::is_pattern(input) {
            super::inputs::pattern_base(input)
        } else if Path::new(input).is_dir() {
            PathBuf::from(input)
        } else {
            continue;
        };
        confinement
            .check_input_folder(&folder.display().to_string())
            .map_err(|e| Status::permission_denied(e.to_string()))?;
    }
    Ok(())
}

/// Checks that the queue has room for one more job.
pub fn check_queue(unfinished: usize, limits: &Limits) -> Result<(), Status> {
    if unfinished >= limits.max_queued_jobs {
        return Err(Status::resource_exhausted(format!(
            "the coordinator already has {unfinished} queued or running jobs (the limit, --max-queued-jobs); \
             try again when some have finished"
        )));
    }
    Ok(())
}

/// Why a path cannot be a job's input; the text follows the path.
#[derive(Debug, thiserror::Error)]
enum InputProblem {
    #[error("does not exist")]
    Missing,
    #[error("{0}")]
    Metadata(std::io::Error),
    /// A directory, FIFO, device or socket: how it reads.
    #[error("{0}")]
    NotRegular(&'static str),
    #[error("is not readable (permission denied)")]
    NotReadable,
    #[error("cannot be opened: {0}")]
    CannotOpen(std::io::Error),
}

/// [`input_size`] of every file, in order: on several threads for a job of
/// many files (two system calls each, which for 100,000 files is most of
/// a submission's time).
fn input_sizes(files: &[String]) -> Vec<Result<u64, InputProblem>> {
    const PER_THREAD: usize = 2048;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len().div_ceil(PER_THREAD))
        .max(1);
    if threads == 1 {
        return files.iter().map(|f| input_size(f)).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|f| input_size(f)).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| match p.join() {
                Ok(sizes) => sizes,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// The size of `path`, which must be a regular file this process may read,
/// or why it cannot be a job's input. Judged from metadata first, so a FIFO
/// or a device is never opened (opening a FIFO blocks).
fn input_size(path: &str) -> Result<u64, InputProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(InputProblem::Missing),
        Err(e) => return Err(InputProblem::Metadata(e)),
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(InputProblem::NotRegular(describe_non_regular(&kind)));
    }
    // Whether this process may read it, asked without opening it (one
    // system call instead of an open and a close, for each of a job's
    // possibly 100,000 inputs).
    match rustix::fs::access(path, rustix::fs::Access::READ_OK) {
        Ok(()) => Ok(meta.len()),
        Err(rustix::io::Errno::ACCESS) => Err(InputProblem::NotReadable),
        Err(e) => Err(InputProblem::CannotOpen(e.into())),
    }
}

#[cfg(unix)]
fn describe_non_regular(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "is a directory"
    } else if kind.is_fifo() {
        "is a FIFO (named pipe), not a regular file"
    } else if kind.is_char_device() || kind.is_block_device() {
        "is a device, not a regular file"
    } else if kind.is_socket() {
        "is a socket, not a regular file"
    } else {
        "is not a regular file"
    }
}

#[cfg(not(unix))]
fn describe_non_regular(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "is a directory"
    } else {
        "is not a regular file"
    }
}

/// Checks every input (blocking I/O) and refuses the job with the list of
/// all bad ones and why each (as much of the list as fits in a message).
/// Returns each input with its size: the one place a job's local inputs
/// are measured (for planning splits and bounding counters).
pub fn check_inputs(files: &[String]) -> Result<Vec<(String, u64)>, Status> {
    let mut sizes = Vec::with_capacity(files.len());
    let mut bad = Vec::new();
    for (f, checked) in files.iter().zip(input_sizes(files)) {
        match checked {
            Ok(size) => sizes.push((f.clone(), size)),
            Err(why) => bad.push(format!("{f} {why}")),
        }
    }
    if bad.is_empty() {
        return Ok(sizes);
    }
    Err(Status::invalid_argument(format!(
        "{} of the {} input files cannot be read: {}",
        bad.len(),
        files.len(),
        folder::list(&bad).replace(", ", "; ")
    )))
}

/// The output folder resolved (`..` and symlinks), after checking that the
/// folder's contents allow a new job (blocking I/O; changes nothing).
pub fn check_output(dir: &str, overwrite: bool) -> Result<PathBuf, Status> {
    let resolved = resolve(Path::new(dir))
        .map_err(|reason| Status::invalid_argument(format!("output directory {dir} {reason}")))?;
    folder::check(&resolved, overwrite).map_err(output_status)?;
    Ok(resolved)
}

/// Creates the output folder (beneath the allowed output folders) and opens
/// it once, then clears an earlier job's files from it through that
/// descriptor (blocking I/O; the folder must be claimed).
pub fn prepare_output(
    confinement: &Confinement,
    dir: &Path,
    overwrite: bool,
) -> Result<(), Status> {
    let opened = confinement
        .open_output(&dir.to_string_lossy())
        .map_err(|e| Status::permission_denied(e.to_string()))?;
    let prepared = folder::prepare(&opened, overwrite).map_err(output_status)?;
    if !prepared.removed.is_empty() {
        tracing::info!(
            dir = %dir.display(),
            removed = prepared.removed.len(),
            "overwrite: removed the earlier job's output"
        );
    }
    Ok(())
}

fn output_status(e: OutputError) -> Status {
    match e {
        OutputError::NotEmpty { .. } | OutputError::Foreign { .. } | OutputError::NotAFolder(_) => {
            Status::already_exists(e.to_string())
        }
        _ => Status::failed_precondition(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_plan_is_bounded_like_the_input_files() {
        let limits = Limits {
            max_files: 10,
            ..Limits::default()
        };
        assert!(check_map_count(10, &limits).is_ok());
        let e = check_map_count(11, &limits).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("11 map tasks"), "{}", e.message());
        assert!(check_file_count(11, &limits).is_err());
    }
}
