//! Admission of a submitted job: the app exists, the request is within the
//! limits, the queue has room, and its paths stay inside the allowed
//! folders. Runs before the job reaches the core.

use tonic::Status;

use super::Limits;
use crate::core::JobSpec;
use crate::plugin::Registry;
use crate::security::Confinement;

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
    if spec.files.len() > limits.max_files {
        return Err(Status::invalid_argument(format!(
            "a job may have at most {} input files (--max-files); this one has {}",
            limits.max_files,
            spec.files.len()
        )));
    }
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

/// Checks `spec`'s paths against `confinement` (resolving them touches the
/// file system, so call it off the async runtime).
pub fn check_paths(spec: &JobSpec, confinement: &Confinement) -> Result<(), Status> {
    for f in &spec.files {
        confinement
            .check_input(f)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
    }
    confinement
        .check_output(&spec.output_dir)
        .map_err(|e| Status::permission_denied(e.to_string()))
}
