//! Submitting a job (`SubmitJob`): admission off the async runtime
//! ([`admit`]: inputs expanded, checked and measured once, splits planned,
//! the output folder checked), then the output folder claimed and
//! prepared, then the job queued in the core and recorded durably.

use std::sync::Arc;

use plugin_api::InputFormat;
use tonic::Status;

use super::helpers::blocking;
use super::CoordinatorService;
use crate::coordinator::convert::{self, status_of};
use crate::coordinator::input_sizes;
use crate::coordinator::store::Record;
use crate::coordinator::{admission, inputs, job_inputs, object_outputs, Limits};
use crate::core::JobSpec;
use crate::proto::coordinator as pb;
use crate::security::Confinement;
use crate::storage;

/// What admission needs from the request besides the job's spec.
#[derive(Clone, Copy)]
struct Admit {
    overwrite: bool,
    split_size: u64,
    recursive: bool,
    format: InputFormat,
    /// Live workers when the job was submitted: tasks are planned in
    /// rounds of this many.
    workers: usize,
}

impl CoordinatorService {
    /// Admits, queues and records `request`'s job.
    pub(super) async fn submit(
        &self,
        request: pb::SubmitJobRequest,
    ) -> Result<pb::SubmitJobReply, Status> {
        let overwrite = request.overwrite;
        let (split_size, recursive) = (request.split_size, request.recursive);
        let spec = convert::job_spec(request)?;
        let registry = self.shared.registry();
        admission::check_request(&spec, &registry, &self.limits)?;
        let entry = registry.get(&spec.app);
        let sha = entry.map(|e| e.sha256.clone()).unwrap_or_default();
        let format = entry.map_or(InputFormat::WholeFiles, |e| e.app.input_format(&spec.args));
        let workers = self.shared.read(|core, _| core.summary().workers_alive);
        let how = Admit {
            overwrite,
            split_size,
            recursive,
            format,
            workers: usize::try_from(workers).unwrap_or(usize::MAX),
        };
        // Reading the file system: inputs (folders and patterns expanded,
        // then every file checked and measured), the output folder.
        let confinement = Arc::clone(&self.confinement);
        let limits = self.limits.clone();
        let (spec, dir, sizes) = blocking(move || admit(spec, &confinement, &limits, how)).await?;
        let outputs = &self.shared.outputs;
        let limits = &self.limits;
        let claimed = self.shared.read(|core, _| {
            admission::check_queue(core.unfinished_jobs() + outputs.submitting(), limits)?;
            outputs.claim(core, &dir)
        })?;
        // The folder is ours: only now create it or clear the earlier output.
        let folder = claimed.dir().to_path_buf();
        let confinement = Arc::clone(&self.confinement);
        blocking(move || {
            let url = folder.to_string_lossy();
            if storage::is_object(&url) {
                object_outputs::prepare(&url, overwrite)
            } else {
                admission::prepare_output(&confinement, &folder, overwrite)
            }
        })
        .await?;
        let (app, files, n_reduce) = (spec.app.clone(), spec.files.len(), spec.n_reduce);
        let n_map = spec.n_map();
        let journal = self.shared.journal.as_ref();
        let clock = self.shared.clock;
        let (id, durable) = self.shared.update(|core, now| {
            let record = journal.map(|_| (spec.clone(), sha.clone()));
            let id = core.submit(spec, now).map_err(status_of)?;
            outputs.bind(claimed, id, sha);
            self.inputs.insert(id, sizes);
            // Queued under the core's lock, before any of the job's task
            // records can be.
            let durable = journal.zip(record).map(|(j, (spec, plugin_sha256))| {
                j.commit(vec![Record::Submitted {
                    job: id,
                    spec,
                    plugin_sha256,
                    submitted_at_ms: clock.epoch_ms(now),
                }])
            });
            Ok::<_, Status>((id, durable))
        })?;
        if let Some(durable) = durable {
            // The reply promises the job survives a restart: wait for the
            // sync. If the store failed, the job does not run.
            if let Err(e) = durable.await {
                tracing::error!(job = id.0, "cannot record the job durably: {e}");
                self.shared.update(|core, now| {
                    if let Ok(j) = core.job_status(id) {
                        if !j.state.is_ended() {
                            let _ = core.cancel(id, now);
                        }
                    }
                });
                return Err(Status::unavailable(format!(
                    "the job could not be recorded durably, so it was not accepted: {e}"
                )));
            }
        }
        tracing::info!(job = id.0, %app, files, n_map, n_reduce, overwrite, "job submitted");
        Ok(pb::SubmitJobReply {
            job_id: id.0,
            n_map: n_map as u32,
            n_files: files as u32,
        })
    }
}

/// Reads the file system for a submission (blocking I/O): inputs expanded
/// and checked (object inputs listed instead), every input's size measured
/// once, splits planned, the output folder checked. Returns the final spec,
/// the output folder and the most each map task could read.
fn admit(
    mut spec: JobSpec,
    confinement: &Confinement,
    limits: &Limits,
    how: Admit,
) -> Result<(JobSpec, std::path::PathBuf, Vec<u64>), Status> {
    let Admit {
        overwrite,
        split_size,
        recursive,
        format,
        workers,
    } = how;
    if !storage::is_object(&spec.output_dir) {
        confinement
            .check_output(&spec.output_dir)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
    }
    // Local files and objects alike, expanded in the order named; every
    // size measured once (objects from their listing).
    let admitted = job_inputs::admit(&spec.files, recursive, confinement, limits)?;
    spec.files = admitted.files;
    let sized = admitted.sized;
    let dir = if storage::is_object(&spec.output_dir) {
        object_outputs::check(&spec.output_dir, overwrite, confinement)?
    } else {
        admission::check_output(&spec.output_dir, overwrite)?
    };
    if split_size > 0 {
        spec.splits = inputs::plan_splits(&sized, format, split_size, workers);
        admission::check_map_count(spec.splits.len(), limits)?;
    }
    let sizes = input_sizes::measure(&spec, &sized);
    Ok((spec, dir, sizes))
}
