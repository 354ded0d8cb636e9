//! Which kind of worker runs a job ([`WorkerKind`]): a job's tasks never
//! mix course workers (apps compiled in, which the coordinator cannot
//! verify) with plugin workers, whose map output and output files need not
//! agree with theirs. The first assignment binds the job to its worker's
//! kind; the binding holds while any task runs or is done, and lapses when
//! none is (every worker of the kind died before anything was kept), so a
//! job is never stuck with a kind that left. `O(1)`: it reads the phase
//! counts every transition keeps.

use super::Job;
use crate::core::messages::WorkerKind;

impl Job {
    /// Whether a worker of `kind` may run this job's tasks now.
    pub fn may_run_on(&self, kind: WorkerKind) -> bool {
        self.kind.is_none_or(|k| k == kind) || self.nothing_kept()
    }

    /// Binds the job to `kind` (one of its tasks goes to such a worker);
    /// callers check [`Job::may_run_on`] first.
    pub fn bind(&mut self, kind: WorkerKind) {
        debug_assert!(self.may_run_on(kind), "a job's tasks mix worker kinds");
        self.kind = Some(kind);
    }

    /// No task runs or is done: no output of any kind exists.
    fn nothing_kept(&self) -> bool {
        let (m, r) = (self.map_counts, self.reduce_counts);
        m.done + m.running + r.done + r.running == 0
    }
}
