//! A job's output on object storage (`-o s3://bucket/prefix/`), as the
//! coordinator handles it: checked at submission (allowed output roots; an
//! earlier job's `mr-out-*` or `_SUCCESS` there needs `--overwrite`, which
//! removes them before the job runs), and committed by writing the
//! `_SUCCESS` manifest, last, once every `mr-out-<r>` object is there (their
//! sizes recorded), then removing what killed reduces left under
//! `_temporary/`. Workers write the `mr-out-*` objects themselves
//! (`worker::object_output`).

use std::path::PathBuf;

use tonic::Status;

use crate::output::manifest::{output_name, Manifest, OutputFile, MANIFEST, TEMPORARY};
use crate::output::OutputError;
use crate::security::Confinement;
use crate::storage::{self, ObjectUrl, StorageError};

/// The prefix as a directory: `s3://bucket/prefix/`.
fn prefix(url: &str) -> Result<ObjectUrl, StorageError> {
    let mut prefix = ObjectUrl::parse(url)?;
    if !prefix.key.is_empty() && !prefix.key.ends_with('/') {
        prefix.key.push('/');
    }
    Ok(prefix)
}

/// The job output objects directly beneath `prefix` (`mr-out-*`, `_SUCCESS`).
fn job_objects(prefix: &ObjectUrl) -> Result<Vec<ObjectUrl>, StorageError> {
    Ok(storage::list(prefix)?
        .into_iter()
        .map(|l| l.url)
        .filter(|u| {
            let name = &u.key[prefix.key.len()..];
            name == MANIFEST || name.starts_with("mr-out-") && !name.contains('/')
        })
        .collect())
}

/// Checks an object storage output at submission (blocking I/O; changes
/// nothing); the claimed "folder" is the URL.
pub fn check(url: &str, overwrite: bool, confinement: &Confinement) -> Result<PathBuf, Status> {
    confinement
        .check_output_object(url)
        .map_err(|e| Status::permission_denied(e.to_string()))?;
    let prefix = prefix(url).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let found = job_objects(&prefix).map_err(|e| Status::unavailable(e.to_string()))?;
    if !overwrite && !found.is_empty() {
        return Err(Status::already_exists(format!(
            "output {url} holds {} objects of an earlier job; pass --overwrite to replace them, \
             or choose another prefix",
            found.len()
        )));
    }
    Ok(PathBuf::from(prefix.to_string()))
}

/// Removes an earlier job's output objects (with `overwrite`; blocking I/O;
/// the prefix must be claimed).
pub fn prepare(url: &str, overwrite: bool) -> Result<(), Status> {
    let prefix = prefix(url).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let unavailable = |e: StorageError| Status::unavailable(e.to_string());
    let found = job_objects(&prefix).map_err(unavailable)?;
    if !overwrite && !found.is_empty() {
        return Err(Status::already_exists(format!("output {url} is not empty")));
    }
    // The manifest first: the prefix never looks committed while cleared.
    let (manifest, rest): (Vec<_>, Vec<_>) =
        found.into_iter().partition(|u| u.key.ends_with(MANIFEST));
    for object in manifest.iter().chain(&rest) {
        storage::delete(object).map_err(unavailable)?;
    }
    if !rest.is_empty() {
        tracing::info!(%url, removed = rest.len(), "overwrite: removed the earlier job's output");
    }
    Ok(())
}

/// Writes `manifest` as `_SUCCESS` beneath `url`, after checking every
/// partition's object exists and recording its size (blocking I/O).
pub fn commit(url: &str, mut manifest: Manifest) -> Result<(), OutputError> {
    let failed = |action: &'static str| {
        move |e: StorageError| OutputError::Folder {
            action,
            path: PathBuf::from(url),
            source: std::io::Error::other(e.to_string()),
        }
    };
    let prefix = prefix(url).map_err(failed("parse the output URL"))?;
    manifest.files = (0..manifest.n_reduce)
        .map(|r| {
            let name = output_name(r);
            let object = prefix.join(&name);
            match storage::size(&object).map_err(failed("read an output object"))? {
                Some(bytes) => Ok(OutputFile { name, bytes }),
                None => Err(OutputError::Malformed {
                    path: PathBuf::from(object.to_string()),
                    reason: "is missing".into(),
                }),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| OutputError::BadManifest {
        path: PathBuf::from(url),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    storage::put(&prefix.join(MANIFEST), text, false).map_err(failed("write the manifest"))?;
    remove_temporaries(&prefix);
    Ok(())
}

/// Removes what killed reduces left under `prefix/_temporary/` (uploaded
/// but never published); best effort, after the commit.
fn remove_temporaries(prefix: &ObjectUrl) {
    let left = match storage::list(&prefix.join(TEMPORARY)) {
        Ok(left) => left,
        Err(e) => {
            tracing::warn!(%prefix, "cannot list the output's temporary objects: {e}");
            return;
        }
    };
    for object in left {
        if let Err(e) = storage::delete(&object.url) {
            tracing::warn!(url = %object.url, "cannot remove a temporary object: {e}");
        }
    }
}
