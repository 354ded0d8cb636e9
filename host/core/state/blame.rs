//! Blame: how many crashes in a row fail a task, given how its job's other
//! tasks fare. A pure function with its reasons, so the rule is in one
//! place (see docs/ARCHITECTURE.md, "Blame only what caused the crash").
//!
//! A crash *with evidence* (the process running the task's app code died of
//! a signal or exited) is held against the task; a worker lost without
//! evidence never is. Only crashes *in a row* count: any attempt of the task
//! that ends otherwise (finished, failed normally) clears them.
//!
//! - When none of the job's other tasks ever crashed, the task alone is
//!   crashing: `max_task_attempts` crashes in a row fail the job (a poison
//!   input fails fast).
//! - When the others crash too, the app is flaky rather than this input
//!   poisoned: the task may crash as many times in a row as a task crashing
//!   at the others' observed rate `p` would only reach with probability
//!   below one in a million (`p^n < 1e-6`), and never fewer than
//!   `max_task_attempts`. `p` is capped at 1/2, so the limit is at most 20:
//!   an input that is poison for a flaky app still fails its job.
//!
//! With the MIT lab's crash workload (every call exits with `p = 0.33`) the
//! limit is 13, and a job of 18 tasks fails by chance with probability about
//! `18 × 0.33^13 ≈ 10^-5`; the plain rule (4 in a row) would fail it about
//! one time in five.

/// The chance below which a run of crashes at the job's base rate is
/// taken for the task's own fault.
const CHANCE: f64 = 1e-6;

/// The highest crash rate of the other tasks taken into account.
const MAX_RATE: f64 = 0.5;

/// How many crashes in a row fail a task whose job's other tasks ended
/// `other_ended` attempts, `other_crashes` of them crashes.
pub fn crash_limit(max_task_attempts: u32, other_ended: u32, other_crashes: u32) -> u32 {
    let max = max_task_attempts.max(1);
    if other_crashes == 0 || other_ended == 0 {
        return max;
    }
    let p = (f64::from(other_crashes) / f64::from(other_ended)).min(MAX_RATE);
    let n = (CHANCE.ln() / p.ln()).ceil();
    // `n` is at most 20 (p <= 1/2) and at least 1 (p < 1): the cast is exact.
    max.max(n as u32)
}

#[cfg(test)]
mod tests {
    use super::crash_limit;

    #[test]
    fn a_task_crashing_alone_fails_after_max() {
        assert_eq!(crash_limit(4, 0, 0), 4);
        assert_eq!(crash_limit(4, 63, 0), 4);
        assert_eq!(crash_limit(2, 10, 0), 2);
    }

    #[test]
    fn a_flaky_job_allows_long_runs_of_crashes() {
        // The MIT crash workload: a third of the calls exit.
        assert_eq!(crash_limit(4, 30, 10), 13);
        // Rare crashes elsewhere: the limit stays at least max.
        assert_eq!(crash_limit(4, 1000, 1), 4);
        assert_eq!(crash_limit(4, 100, 5), 5);
    }

    #[test]
    fn the_limit_is_bounded_however_flaky_the_job() {
        assert_eq!(crash_limit(4, 10, 10), 20);
        assert_eq!(crash_limit(4, 3, 2), 20);
        assert_eq!(crash_limit(30, 3, 2), 30);
    }
}
