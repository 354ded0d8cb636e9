//! Stale reports are fenced off: reports from dead workers are refused,
//! reports from another worker or attempt, duplicates and reports on ended
//! jobs are ignored, and none of them changes anything.

use super::*;

fn rep(worker: WorkerId, task: TaskId, attempt: Option<u32>) -> Report {
    Report {
        worker,
        task,
        attempt: attempt.map(Attempt),
    }
}

fn counters(n: u64) -> TaskCounters {
    TaskCounters {
        input_bytes: n,
        input_records: 1,
        output_records: n,
        output_bytes: n,
        shuffle_bytes: n,
    }
}

#[test]
fn reports_from_a_dead_worker_are_refused_and_change_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(must_ask(&mut s, w0, t0).attempt, Attempt(1));
    let now = outlive(&mut s, &[w1], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    let new = must_ask(&mut s, w1, now);
    assert_eq!((new.task, new.attempt), (m(0, 0), Attempt(2)));

    let before = snapshot(&s);
    for attempt in [Some(1), None, Some(2)] {
        let stale = rep(w0, m(0, 0), attempt);
        let res = s.finish_task(&stale, counters(5), now);
        assert_err(res, CoreError::WorkerDead(w0));
        let res = s.fail_task(&stale, failure("late", false, None), now);
        assert_err(res, CoreError::WorkerDead(w0));
    }
    assert_eq!(snapshot(&s), before);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    assert_eq!(finish(&mut s, w1, &new, now), ReportOutcome::Accepted);
}

#[test]
fn reports_from_another_worker_or_attempt_are_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let first = must_ask(&mut s, w0, t0);
    let f = failure("flaky", true, None);
    assert_eq!(fail(&mut s, w0, &first, f, t0), ReportOutcome::Accepted);
    let second = must_ask(&mut s, w1, t0);
    assert_eq!((second.task, second.attempt), (m(0, 0), Attempt(2)));

    let before = snapshot(&s);
    let stale = [
        rep(w0, m(0, 0), Some(1)), // the earlier attempt
        rep(w0, m(0, 0), Some(2)), // the current attempt, wrong worker
        rep(w0, m(0, 0), None),    // legacy, wrong worker
        rep(w1, m(0, 0), Some(1)), // right worker, earlier attempt
        rep(w1, m(0, 0), Some(3)), // right worker, future attempt
    ];
    for report in &stale {
        let res = s.finish_task(report, counters(7), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored), "finish {report:?}");
        let res = s.fail_task(report, failure("stale", false, None), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored), "fail {report:?}");
        let res = s.fail_task(report, failure("stale", true, Some(w1)), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored), "retry {report:?}");
    }
    assert_eq!(snapshot(&s), before);
    assert_eq!(running_on(&s, w1, t0), vec![(m(0, 0), Attempt(2))]);
    assert_eq!(running_on(&s, w0, t0), vec![]);

    // The right worker's legacy report (no attempt) is accepted.
    let legacy = rep(w1, m(0, 0), None);
    let c = TaskCounters::default();
    assert_eq!(s.finish_task(&legacy, c, t0), Ok(ReportOutcome::Accepted));
    let red = must_ask(&mut s, w0, t0);
    assert_eq!(red.map_locations, vec![loc(0, 2, w1)]);
}

#[test]
fn a_legacy_failure_report_from_the_right_worker_is_accepted() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    assert_eq!(ask_task(&mut s, w, t0), Some(m(0, 0)));
    let legacy = rep(w, m(0, 0), None);
    let res = s.fail_task(&legacy, failure("flaky", true, None), t0);
    assert_eq!(res, Ok(ReportOutcome::Accepted));
    let again = must_ask(&mut s, w, t0);
    assert_eq!((again.task, again.attempt), (m(0, 0), Attempt(2)));
}

#[test]
fn a_duplicate_finish_is_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    let res = s.finish_task(&report(w, &a), counters(10), t0);
    assert_eq!(res, Ok(ReportOutcome::Accepted));

    let before = snapshot(&s);
    let res = s.finish_task(&report(w, &a), counters(10), t0);
    assert_eq!(res, Ok(ReportOutcome::Ignored));
    let res = s.finish_task(&rep(w, m(0, 0), None), counters(10), t0);
    assert_eq!(res, Ok(ReportOutcome::Ignored));
    // Nor can a finished task fail afterwards.
    let res = s.fail_task(&report(w, &a), failure("late", false, None), t0);
    assert_eq!(res, Ok(ReportOutcome::Ignored));
    assert_eq!(snapshot(&s), before);
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.counters.input_bytes, 10);
    assert_eq!(st.maps.done, 1);
    assert_eq!(st.state, JobState::Running);
}

#[test]
fn a_report_on_a_task_never_handed_out_is_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    assert_eq!(ask_task(&mut s, w, t0), Some(m(0, 0)));
    let before = snapshot(&s);
    for report in [rep(w, m(0, 1), Some(1)), rep(w, r(0, 0), None)] {
        let res = s.finish_task(&report, counters(1), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored));
        let res = s.fail_task(&report, failure("x", false, None), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored));
    }
    assert_eq!(snapshot(&s), before);
}

#[test]
fn reports_after_the_job_was_cancelled_are_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    let b = must_ask(&mut s, w, t0);
    s.cancel(JobId(0), t0).unwrap();
    events(&mut s);

    let before = snapshot(&s);
    for x in [&a, &b] {
        let res = s.finish_task(&report(w, x), counters(3), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored));
        let res = s.fail_task(&report(w, x), failure("boom", false, None), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored));
        let res = s.fail_task(&report(w, x), failure("flaky", true, None), t0);
        assert_eq!(res, Ok(ReportOutcome::Ignored));
    }
    assert_eq!(snapshot(&s), before);
    assert_eq!(state(&s, JobId(0)), JobState::Cancelled);
    assert_eq!(ask(&mut s, w, t0), None);
}

#[test]
fn reports_after_the_job_failed_are_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let a = must_ask(&mut s, w0, t0);
    let b = must_ask(&mut s, w1, t0);
    let f = failure("boom", false, None);
    assert_eq!(fail(&mut s, w0, &a, f, t0), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Failed);
    events(&mut s);

    let before = snapshot(&s);
    assert_eq!(finish(&mut s, w1, &b, t0), ReportOutcome::Ignored);
    let f = failure("boom too", false, None);
    assert_eq!(fail(&mut s, w1, &b, f, t0), ReportOutcome::Ignored);
    assert_eq!(snapshot(&s), before);
    assert_eq!(
        errors(&s, JobId(0)),
        vec!["map task 0 (input f0) failed: boom"]
    );
}

#[test]
fn reports_after_the_job_succeeded_are_ignored() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    let map = must_ask(&mut s, w, t0);
    assert_eq!(finish(&mut s, w, &map, t0), ReportOutcome::Accepted);
    let red = must_ask(&mut s, w, t0);
    assert_eq!(finish(&mut s, w, &red, t0), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    events(&mut s);

    let before = snapshot(&s);
    for x in [&map, &red] {
        assert_eq!(finish(&mut s, w, x, t0), ReportOutcome::Ignored);
        let f = failure("late", false, None);
        assert_eq!(fail(&mut s, w, x, f, t0), ReportOutcome::Ignored);
    }
    assert_eq!(snapshot(&s), before);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}
