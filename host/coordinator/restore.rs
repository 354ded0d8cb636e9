//! Rebuilding the coordinator from its durable store at start: every
//! stored job goes back into the core under its id ([`Scheduler::restore_job`]
//! keeps finished reduces, re-runs maps nobody holds, keeps ended jobs'
//! ends), unfinished jobs get their output folders back, later ids follow
//! the stored next id, and a job whose every reduce had finished but whose
//! commit was not recorded commits now.
//!
//! [`Scheduler::restore_job`]: crate::core::Scheduler::restore_job

use std::path::PathBuf;
use std::sync::Arc;

use super::state::Shared;
use super::store::{Snapshot, StoredJob, StoredTask};
use crate::core::{Attempt, FinishedTask, JobEnd, JobId, JobState, RestoredJob};
use crate::security::Confinement;

/// What a restore found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Jobs queued or running again.
    pub unfinished: usize,
    /// Jobs that had ended.
    pub ended: usize,
}

/// Puts `snapshot` back into `shared`'s core (which must be fresh) and
/// starts the commits that were due.
pub fn restore(
    shared: &Arc<Shared>,
    snapshot: Snapshot,
    confinement: &Arc<Confinement>,
) -> Restored {
    let clock = shared.clock;
    let mut found = Restored::default();
    let mut commits = Vec::new();
    shared.update(|core, now| {
        core.reserve_job_ids(JobId(snapshot.next_job_id));
        for (id, stored) in snapshot.jobs {
            let dir = PathBuf::from(&stored.spec.output_dir);
            let sha = stored.plugin_sha256.clone();
            let was_ended = stored.end.is_some();
            let job = restored_job(id, stored, &clock);
            let state = match core.restore_job(job, now) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(job = id.0, "cannot restore a stored job: {e}");
                    continue;
                }
            };
            if was_ended {
                found.ended += 1;
                continue;
            }
            found.unfinished += 1;
            shared.outputs.restore(id, dir, sha);
            if state == JobState::Succeeded {
                // Every reduce had finished; the manifest may not exist.
                if let Ok(s) = core.job_status(id) {
                    commits.extend(shared.outputs.begin_commit(&s, &clock, confinement));
                }
            }
        }
    });
    for commit in commits {
        drop(shared.commit(commit));
    }
    found
}

fn finished(tasks: std::collections::BTreeMap<u32, StoredTask>) -> Vec<(u32, FinishedTask)> {
    tasks
        .into_iter()
        .map(|(i, t)| {
            (
                i,
                FinishedTask {
                    attempt: Attempt(t.attempt),
                    counters: t.counters,
                },
            )
        })
        .collect()
}

fn restored_job(id: JobId, stored: StoredJob, clock: &super::convert::Clock) -> RestoredJob {
    RestoredJob {
        id,
        spec: stored.spec,
        submitted_at: clock.instant_of(stored.submitted_at_ms),
        maps_done: finished(stored.maps_done),
        reduces_done: finished(stored.reduces_done),
        end: stored.end.map(|e| JobEnd {
            state: e.state,
            errors: e.errors,
            counters: e.counters,
            finished_at: clock.instant_of(e.finished_at_ms),
        }),
    }
}
