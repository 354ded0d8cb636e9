//! A job's inputs at submission, local paths and `s3://` URLs alike: one
//! job may name both, since each map task reads each of its inputs by its
//! own kind (`worker::execute::read_source`). Each input is checked against
//! the allowed input roots before anything is listed, then expanded in the
//! order named (folders and patterns by [`super::inputs`], prefixes and
//! patterns of objects by [`super::object_inputs`]), then every local file
//! is checked readable.

use tonic::Status;

use super::{admission, inputs, object_inputs, Limits};
use crate::security::Confinement;
use crate::storage;

/// A job's inputs, expanded and checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Every input file or object, in the order named.
    pub files: Vec<String>,
    /// Every input's size, in `files` order: measured by the one check of
    /// each local file, or from the objects' listing.
    pub sized: Vec<(String, u64)>,
}

/// Checks, expands and measures `inputs` (blocking I/O).
pub fn admit(
    inputs: &[String],
    recursive: bool,
    confinement: &Confinement,
    limits: &Limits,
) -> Result<Admitted, Status> {
    let (objects, local): (Vec<&String>, Vec<&String>) =
        inputs.iter().partition(|f| storage::is_object(f));
    for input in &objects {
        confinement
            .check_input_object(input)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
    }
    let local: Vec<String> = local.into_iter().cloned().collect();
    admission::check_input_folders(&local, confinement)?;
    // Expanded in the order named; `None` marks a local file.
    let mut found: Vec<(String, Option<u64>)> = Vec::new();
    for input in inputs {
        let one = std::slice::from_ref(input);
        let invalid = |e: inputs::InputError| Status::invalid_argument(e.to_string());
        if storage::is_object(input) {
            let listed = object_inputs::expand(one, recursive).map_err(invalid)?;
            found.extend(
                listed
                    .into_iter()
                    .map(|l| (l.url.to_string(), Some(l.size))),
            );
        } else {
            let files = inputs::expand(one, recursive).map_err(invalid)?;
            found.extend(files.into_iter().map(|f| (f, None)));
        }
    }
    admission::check_file_count(found.len(), limits)?;
    let local_files: Vec<String> = found
        .iter()
        .filter(|(_, size)| size.is_none())
        .map(|(f, _)| f.clone())
        .collect();
    for f in &local_files {
        confinement
            .check_input(f)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
    }
    let mut local_sizes = admission::check_inputs(&local_files)?.into_iter();
    let mut sized = Vec::new();
    for (f, size) in &found {
        match size {
            Some(size) => sized.push((f.clone(), *size)),
            None => sized.extend(local_sizes.next()),
        }
    }
    Ok(Admitted {
        files: found.into_iter().map(|(f, _)| f).collect(),
        sized,
    })
}
