//! Loss in the façade: what the core does when a worker dies or cannot
//! serve its map output. Running tasks of a dead worker become pending
//! again (not their fault); map output it held is recomputed; a peer that
//! reduces cannot fetch from is first suspect, then its output is taken
//! for lost.

use std::time::Instant;

use super::Scheduler;
use crate::core::ids::{JobId, TaskId, WorkerId};
use crate::core::messages::Event;
use crate::core::state::{AttemptOutcome, OutputLoss, Verdict};

impl Scheduler {
    /// A reduce of `job` could not fetch from `peer`. After `max` such
    /// failures the map output it holds is taken for lost and its maps run
    /// again elsewhere (an alive peer that cannot serve, say cut off from
    /// other workers only); before that, the peer is suspect.
    pub(super) fn blame_peer(&mut self, peer: WorkerId, job: JobId, max: u32) {
        let Ok(j) = self.jobs.get_mut(job) else {
            return;
        };
        if j.fetch_failures(peer) < max {
            self.suspect(peer, job);
            return;
        }
        j.unblock(peer);
        let lost = j.lose_outputs_of(peer);
        if !lost.is_empty() {
            self.available.close_reduces(j);
        }
        for task in lost {
            self.available.offer(task, j);
        }
        self.available.open_reduces(j);
    }

    /// A reduce of `job` could not fetch from `peer`: if `peer` is alive and
    /// holds some of the job's map output, hold the job's reduces until it
    /// proves alive (a heartbeat) or is declared dead (its maps then re-run).
    pub(super) fn suspect(&mut self, peer: WorkerId, job: JobId) {
        if !self.workers.suspect(peer, job) {
            return;
        }
        if let Ok(j) = self.jobs.get_mut(job) {
            j.block_on(peer);
            self.available.close_reduces(j);
        }
    }

    /// Marks `worker` dead: its running tasks and the map output it held
    /// become available again.
    pub(super) fn declare_dead(&mut self, worker: WorkerId, now: Instant) {
        let Some(remains) = self.workers.kill(worker) else {
            return;
        };
        self.events.push_back(Event::WorkerDied(worker));
        let mut affected = remains.suspect_for;
        for task in remains.running {
            affected.insert(task.job);
            self.lose_running_task(task, worker, now);
        }
        for task in remains.map_outputs {
            affected.insert(task.job);
            if let Ok(job) = self.jobs.get_mut(task.job) {
                if job.lose_output(task, worker, OutputLoss::WorkerDied(worker)) {
                    self.available.close_reduces(job);
                    self.available.offer(task, job);
                }
            }
        }
        for job in affected {
            if let Ok(j) = self.jobs.get_mut(job) {
                j.unblock(worker);
                self.available.open_reduces(j);
            }
            self.review_parked(job, now);
        }
    }

    /// A task running on a dead worker: pending again, however often (a
    /// worker lost without evidence is not the task's fault).
    pub(super) fn lose_running_task(&mut self, task: TaskId, worker: WorkerId, now: Instant) {
        let Ok(job) = self.jobs.get_mut(task.job) else {
            return;
        };
        if job.drop_duplicate(task, worker, AttemptOutcome::Lost, now) {
            return;
        }
        let verdict = job.lose_running(task, worker);
        if verdict != Verdict::Unchanged {
            job.close_attempt(task, worker, AttemptOutcome::Lost, now);
        }
        if verdict == Verdict::Retry {
            self.available.offer(task, job);
        }
    }
}
