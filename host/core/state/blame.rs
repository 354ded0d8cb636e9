//! Blame: how many crashes in a row fail a task, given how its job's other
//! tasks fare. A pure function with its reasons, so the rule is in one
//! place (see docs/ARCHITECTURE.md, "Blame only what caused the crash").
//!
//! A crash *with evidence* (the process running the task's app code died of
//! a signal or exited) is held against the task; a worker lost without
//! evidence never is. Only crashes *in a row* count: any attempt of the task
//! that ends otherwise (finished, failed normally) clears them.
//!
//! - When none of the job's other tasks ever crashed, the task is crashing
//!   alone so far: after `max_task_attempts` crashes in a row it is parked
//!   (`TaskState::Parked`) until the others tell. If they all run clean
//!   (nothing that could still crash is pending or running) with at least
//!   [`EVIDENCE_FACTOR`] × `max_task_attempts` (8) clean attempts among
//!   them, its input is poison and the job fails, after exactly
//!   `max_task_attempts` attempts. With fewer, the evidence is too thin
//!   (four crashes against three clean runs happen by chance to a flaky
//!   app): the task runs again, up to the flaky limit below. If another
//!   task crashes meanwhile, the app is flaky and the rule below applies.
//!   (Parking matters at the start of a flaky job: a task may crash four
//!   times before any other task has ended at all.)
//! - When the others crash too, the app is flaky rather than this input
//!   poisoned: the task may crash [`FLAKY_FACTOR`] times as often in a row
//!   (20 by default) before it fails the job, so an input that is poison
//!   for a flaky app still fails its job, later.
//!
//! Why a fixed factor and not the others' crash rate: tasks of one flaky
//! job crash at very different rates (a reduce that calls the app for
//! three keys crashes at `1 - 0.67^3 = 0.70` per attempt under the MIT
//! lab's crash workload, a reduce with no key never), so the job-wide rate
//! understates the busy tasks' odds; tried on that workload, a rate-based
//! limit of 8 failed a two-key reduce. With 20, a task that crashes at
//! `p = 0.33` per attempt fails its job by chance with probability
//! `0.33^20 ≈ 2·10^-10`, one at `p = 0.55` (two calls) `6·10^-6`.
//!
//! What remains is the case no rule can tell from poison: one task crashes
//! 4 times in a row while at least 8 attempts of the job's other tasks all
//! run clean. For the lab's 8 inputs a map cannot see 8 clean others; a
//! reduce can only once all 8 maps ran clean on their first attempt
//! (`0.67^8 ≈ 4%`) and then crashes 4 times in a row (about `1%` per
//! keyed reduce) while the keyed others run clean: about `10^-3` per job.
//! (Without the evidence rule, a map of the lab's job was failed this way
//! in about one run in 150.)

/// How many times `max_task_attempts` clean attempts of the job's other
/// tasks it takes to call a task that crashed alone poison.
pub const EVIDENCE_FACTOR: u32 = 2;

/// How many times `max_task_attempts` crashes in a row a task of a flaky
/// job may have.
pub const FLAKY_FACTOR: u32 = 5;

/// How many crashes in a row fail a task whose job's other tasks crashed
/// `other_crashes` times in all.
pub fn crash_limit(max_task_attempts: u32, other_crashes: u32) -> u32 {
    let max = max_task_attempts.max(1);
    if other_crashes == 0 {
        max
    } else {
        max.saturating_mul(FLAKY_FACTOR)
    }
}

#[cfg(test)]
mod tests {
    use super::crash_limit;

    #[test]
    fn a_task_crashing_alone_fails_after_max() {
        assert_eq!(crash_limit(4, 0), 4);
        assert_eq!(crash_limit(2, 0), 2);
        assert_eq!(crash_limit(0, 0), 1);
    }

    #[test]
    fn a_flaky_job_allows_five_times_as_many() {
        assert_eq!(crash_limit(4, 1), 20);
        assert_eq!(crash_limit(4, 1000), 20);
        assert_eq!(crash_limit(1, 3), 5);
        assert_eq!(crash_limit(u32::MAX, 3), u32::MAX);
    }
}
