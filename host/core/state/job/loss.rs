//! Loss in one job: a task running on a lost worker becomes pending
//! again, map output lost with its worker (or too often unfetchable from
//! it) is recomputed, output a restarted worker finds on its machine is
//! adopted, and reduces wait on a suspect peer. Each transition touches
//! only the job; the façade (`scheduler/loss.rs`) carries the consequences.

use super::{Job, OutputLoss, Verdict};
use crate::core::ids::{Attempt, Phase, TaskId, WorkerId};

impl Job {
    /// `task` was running on `worker`, which was lost without evidence
    /// against the task (timed out, killed from outside, cut off): pending
    /// again, however often it happens; nothing is held against the task.
    pub fn lose_running(&mut self, task: TaskId, worker: WorkerId) -> Verdict {
        if self.state.is_ended() {
            return Verdict::Unchanged;
        }
        if !self.change_task(task, |t| t.lose(worker)).unwrap_or(false) {
            return Verdict::Unchanged;
        }
        self.counters.task_failures += 1;
        Verdict::Retry
    }

    /// `worker` holds `attempt`'s output of map `task`, left on its machine
    /// by a predecessor (a worker restarted on the same `--work-dir`):
    /// see `Task::adopt`. `None` if nothing changed, else the predecessor
    /// it came from (`Some(None)`: the output had been lost).
    pub fn adopt_output(
        &mut self,
        task: TaskId,
        attempt: Attempt,
        worker: WorkerId,
    ) -> Option<Option<WorkerId>> {
        if self.state.is_ended() || task.phase != Phase::Map {
            return None;
        }
        let from = self
            .change_task(task, |t| t.adopt(worker, attempt))
            .ok()??;
        self.touched.insert(worker);
        Some(from)
    }

    /// Map `task`'s output lived on `worker`, lost as `why` says: the map
    /// must run again while the job still needs it (noted). Whether it
    /// changed.
    pub fn lose_output(&mut self, task: TaskId, worker: WorkerId, why: OutputLoss) -> bool {
        if self.state.is_ended() {
            return false;
        }
        if !self
            .change_task(task, |t| t.lose_output(worker))
            .unwrap_or(false)
        {
            return false;
        }
        self.notes.map_lost(task.index, why);
        self.fetch_failures.remove(&worker);
        true
    }

    /// Fetch failures reported against `peer` (alive or not) since it last
    /// lost its output of this job.
    pub fn fetch_failures(&self, peer: WorkerId) -> u32 {
        self.fetch_failures.get(&peer).copied().unwrap_or(0)
    }

    /// Every map whose output `peer` holds is pending again (reduces could
    /// not fetch it too often: Hadoop's rule for re-executing a map); the
    /// maps to offer.
    pub fn lose_outputs_of(&mut self, peer: WorkerId) -> Vec<TaskId> {
        self.fetch_failures.remove(&peer);
        let held: Vec<TaskId> = self
            .map_outputs()
            .filter(|&(_, _, w)| w == peer)
            .map(|(i, _, _)| TaskId::map(self.id, i))
            .collect();
        held.into_iter()
            .filter(|&t| self.lose_output(t, peer, OutputLoss::Unfetchable(peer)))
            .collect()
    }

    /// The job's reduces wait until `peer` proves alive or dies.
    pub fn block_on(&mut self, peer: WorkerId) {
        self.blocked_on.insert(peer);
    }

    /// `worker` proved alive or died: it no longer blocks the reduces.
    pub fn unblock(&mut self, worker: WorkerId) {
        self.blocked_on.remove(&worker);
    }
}
