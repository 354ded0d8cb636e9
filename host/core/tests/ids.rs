//! Identifiers and attempt numbers, and the errors the core refuses with:
//! invalid submissions, unknown jobs, tasks and workers, and dead workers.

use super::*;
use crate::core::{Phase, WorkerState};

#[test]
fn job_ids_start_at_zero_and_are_never_reused() {
    let t0 = Instant::now();
    let mut s = new_sched();
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(0));
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(1));
    // Job 0 ends (it runs to completion), job 1 is cancelled.
    let w = register1(&mut s, t0);
    assert_eq!(
        drain(&mut s, w, t0),
        vec![m(0, 0), r(0, 0), m(1, 0), r(1, 0)]
    );
    let j2 = submit(&mut s, 1, 1, t0);
    assert_eq!(j2, JobId(2));
    s.cancel(j2, t0).expect("cancel");
    // Refused submissions take no id.
    assert_err(s.submit(spec(0, 1), t0), CoreError::NoInputFiles);
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(3));
    let ids: Vec<JobId> = s.job_statuses().iter().map(|st| st.id).collect();
    assert_eq!(ids, vec![JobId(0), JobId(1), JobId(2), JobId(3)]);
}

#[test]
fn worker_ids_start_at_zero_and_are_never_reused() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let a = s.register_worker(Some("a:1".to_string()), t0);
    let b = s.register_worker(None, t0);
    assert_eq!((a, b), (WorkerId(0), WorkerId(1)));
    // Worker 0 dies; a new registration (even from the same address) gets a
    // fresh id and worker 0 stays dead.
    let now = outlive(&mut s, &[b], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(a)]);
    let c = s.register_worker(Some("a:1".to_string()), now);
    assert_eq!(c, WorkerId(2));
    let states: Vec<(WorkerId, WorkerState)> = s
        .worker_statuses(now)
        .into_iter()
        .map(|w| (w.id, w.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (a, WorkerState::Dead),
            (b, WorkerState::Alive),
            (c, WorkerState::Alive)
        ]
    );
    assert_err(s.heartbeat(a, now), CoreError::WorkerDead(a));
}

#[test]
fn attempts_count_up_on_retryable_failures() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    for attempt in 1..=3 {
        let a = must_ask(&mut s, w, t0);
        assert_eq!(a, assignment(spec(1, 1), m(0, 0), attempt, vec![]));
        let f = failure("flaky", true, None);
        assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted);
    }
    let a = must_ask(&mut s, w, t0);
    assert_eq!(a.attempt, Attempt(4));
    assert_eq!(finish(&mut s, w, &a, t0), ReportOutcome::Accepted);
    // Each task counts its own attempts.
    let red = must_ask(&mut s, w, t0);
    assert_eq!((red.task, red.attempt), (r(0, 0), Attempt(1)));
    assert_eq!(red.map_locations, vec![loc(0, 4, w)]);
}

#[test]
fn attempts_count_up_when_workers_are_lost() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let mut now = t0;
    for attempt in 1..=3 {
        let w = register1(&mut s, now);
        let a = must_ask(&mut s, w, now);
        assert_eq!(a, assignment(spec(1, 1), m(0, 0), attempt, vec![]));
        now = outlive(&mut s, &[], now);
        assert_eq!(events(&mut s), vec![Event::WorkerDied(w)]);
    }
    let w = register1(&mut s, now);
    assert_eq!(must_ask(&mut s, w, now).attempt, Attempt(4));
}

#[test]
fn submissions_are_validated() {
    let t0 = Instant::now();
    let mut s = new_sched();
    assert_err(s.submit(spec(0, 3), t0), CoreError::NoInputFiles);
    assert_err(s.submit(spec(3, 0), t0), CoreError::ZeroReduce);
    assert_err(s.submit(spec(0, 0), t0), CoreError::NoInputFiles);
    assert_eq!(s.job_statuses(), vec![]);
    assert!(!s.has_available_task());
}

#[test]
fn unknown_jobs_are_refused() {
    let t0 = Instant::now();
    let mut s = new_sched();
    assert_err(s.job_status(JobId(0)), CoreError::UnknownJob(JobId(0)));
    assert_err(s.cancel(JobId(0), t0), CoreError::UnknownJob(JobId(0)));
    submit(&mut s, 1, 1, t0);
    assert_err(s.job_status(JobId(1)), CoreError::UnknownJob(JobId(1)));
    assert_err(s.cancel(JobId(7), t0), CoreError::UnknownJob(JobId(7)));
    assert_eq!(state(&s, JobId(0)), JobState::Queued);

    // A report naming an unknown job or task index.
    let w = register1(&mut s, t0);
    let before = snapshot(&s);
    let bad_job = Report {
        worker: w,
        task: m(5, 0),
        attempt: Some(Attempt(1)),
    };
    let c = TaskCounters::default();
    assert_err(
        s.finish_task(&bad_job, c, t0),
        CoreError::UnknownJob(JobId(5)),
    );
    let bad_index = Report {
        worker: w,
        task: r(0, 1),
        attempt: None,
    };
    let expected = CoreError::UnknownTask {
        job: JobId(0),
        phase: Phase::Reduce,
        index: 1,
    };
    assert_err(s.finish_task(&bad_index, c, t0), expected.clone());
    let f = failure("x", false, None);
    assert_err(s.fail_task(&bad_index, f, t0), expected);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn unknown_workers_are_refused() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    let ghost = WorkerId(9);
    let before = snapshot(&s);
    assert_err(s.heartbeat(ghost, t0), CoreError::UnknownWorker(ghost));
    assert_err(s.next_task(ghost, t0), CoreError::UnknownWorker(ghost));
    let rep = report(ghost, &a);
    let c = TaskCounters::default();
    assert_err(s.finish_task(&rep, c, t0), CoreError::UnknownWorker(ghost));
    let f = failure("boom", false, None);
    assert_err(s.fail_task(&rep, f, t0), CoreError::UnknownWorker(ghost));
    assert_eq!(snapshot(&s), before);
    // A worker id handed out next is not "unknown" before it is registered.
    assert_err(
        s.heartbeat(WorkerId(1), t0),
        CoreError::UnknownWorker(WorkerId(1)),
    );
}

#[test]
fn dead_workers_are_refused_until_they_register_again() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [dead, alive] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let a = must_ask(&mut s, dead, t0);
    let now = outlive(&mut s, &[alive], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(dead)]);
    let before = snapshot(&s);
    assert_err(s.heartbeat(dead, now), CoreError::WorkerDead(dead));
    assert_err(s.next_task(dead, now), CoreError::WorkerDead(dead));
    let c = TaskCounters::default();
    assert_err(
        s.finish_task(&report(dead, &a), c, now),
        CoreError::WorkerDead(dead),
    );
    let f = failure("boom", false, None);
    assert_err(
        s.fail_task(&report(dead, &a), f, now),
        CoreError::WorkerDead(dead),
    );
    assert_eq!(snapshot(&s), before);
    // Registering again gives a new id that works.
    let again = s.register_worker(Some(addr(WorkerId(2))), now);
    assert_eq!(again, WorkerId(2));
    assert_eq!(s.heartbeat(again, now), Ok(()));
    assert_eq!(ask_task(&mut s, again, now), Some(m(0, 0)));
}
