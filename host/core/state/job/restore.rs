//! A job put back from the durable store after a coordinator restart
//! ([`Job::restore`]), and the map outputs a registering worker says it
//! holds ([`Job::adopt`]).

use super::{Job, JobState, PhaseCounts};
use crate::core::ids::{Attempt, WorkerId};
use crate::core::ids::{Phase, TaskId};
use crate::core::messages::RestoredJob;
use crate::core::state::task::TaskState;

impl Job {
    /// A job as the durable store recorded it. An ended job keeps its end;
    /// an unfinished one keeps its finished reduces (their output is in its
    /// folder) and runs its maps again unless workers report holding them
    /// ([`Job::adopt`]). Running attempts were not recorded: they are
    /// pending.
    pub fn restore(r: RestoredJob) -> Self {
        let mut job = Job::new(r.id, r.spec, r.submitted_at);
        let mut reduces_done = 0;
        for (index, done) in &r.reduces_done {
            if let Some(t) = job.reduces.get_mut(*index as usize) {
                if t.state() == TaskState::Pending {
                    t.restore_finished(done.attempt);
                    reduces_done += 1;
                    job.counters.task_attempts += 1;
                    job.counted
                        .record(&mut job.counters, Phase::Reduce, *index, done.counters);
                }
            }
        }
        for (index, done) in r.maps_done {
            if let Some(t) = job.maps.get_mut(index as usize) {
                t.restore_attempts(done.attempt);
                job.recorded_maps.insert(index, done);
            }
        }
        match r.end {
            Some(end) => {
                for (i, done) in std::mem::take(&mut job.recorded_maps) {
                    if let Some(t) = job.maps.get_mut(i as usize) {
                        t.restore_finished(done.attempt);
                    }
                }
                job.state = end.state;
                job.errors = end.errors;
                job.counters = end.counters;
                job.finished_at = Some(end.finished_at);
            }
            None if reduces_done > 0 || !job.recorded_maps.is_empty() => {
                job.state = JobState::Running;
            }
            None => {}
        }
        job.map_counts = PhaseCounts::of(&job.maps);
        job.reduce_counts = PhaseCounts::of(&job.reduces);
        job
    }

    /// A worker that registered holds `attempt`'s output of map `index`:
    /// the map is done if it is pending and the job runs, unless the store
    /// recorded another attempt as the one that finished. Whether adopted.
    pub fn adopt(&mut self, index: u32, attempt: Attempt, worker: WorkerId) -> bool {
        if self.state.is_ended() {
            return false;
        }
        if self
            .recorded_maps
            .get(&index)
            .is_some_and(|r| r.attempt != attempt)
        {
            return false;
        }
        let task = TaskId::map(self.id, index);
        if !self
            .change_task(task, |t| t.adopt_restored(worker, attempt))
            .unwrap_or(false)
        {
            return false;
        }
        self.touched.insert(worker);
        if let Some(done) = self.recorded_maps.remove(&index) {
            self.counters.task_attempts += 1;
            self.counted
                .record(&mut self.counters, Phase::Map, index, done.counters);
        }
        if self.state == JobState::Queued {
            self.state = JobState::Running;
        }
        true
    }

    /// Whether every reduce has finished (a restored job whose end was not
    /// recorded yet).
    pub fn all_reduces_done(&self) -> bool {
        self.reduce_counts.done == self.spec.n_reduce
    }
}
