//! Task failures: non-retryable ones fail the job at once, retryable ones
//! are retried up to `max_task_attempts` times, tasks lost with their
//! workers are re-run however often (crashes with evidence: `crashes.rs`); unreachable map workers hold a job's reduces; cancellation.

use super::*;

#[test]
fn a_non_retryable_failure_fails_the_job_at_once() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 4, 2, t0);
    submit(&mut s, 2, 1, t0);
    let ws = register(&mut s, 6, t0);
    let maps: Vec<Assignment> = ws[..4].iter().map(|&w| must_ask(&mut s, w, t0)).collect();
    assert_eq!(finish(&mut s, ws[0], &maps[0], t0), ReportOutcome::Accepted);
    // Worker 3 dies; worker 4 reruns its map; worker 5 starts job 1.
    let now = outlive(&mut s, &[ws[0], ws[1], ws[2], ws[4], ws[5]], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(ws[3])]);
    let m3 = must_ask(&mut s, ws[4], now);
    assert_eq!((m3.task, m3.attempt), (m(0, 3), Attempt(2)));
    assert_eq!(ask_task(&mut s, ws[5], now), Some(m(1, 0)));

    let f = failure("boom", false, None);
    assert_eq!(
        fail(&mut s, ws[2], &maps[2], f, now),
        ReportOutcome::Accepted
    );

    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Failed);
    assert_eq!(
        st.errors,
        vec!["map task 2 (input f2) failed: boom".to_string()]
    );
    assert_eq!(st.finished_at, Some(now));
    // The alive workers that ran its maps (not the dead worker 3).
    let workers = [ws[0], ws[1], ws[2], ws[4]].map(|w| (w, at(w))).to_vec();
    let ended = Event::JobEnded {
        job: JobId(0),
        workers,
    };
    assert_eq!(events(&mut s), vec![ended]);

    // None of job 0's tasks is handed out any more; job 1 goes on.
    assert_eq!(running_on(&s, ws[1], now), vec![]);
    assert_eq!(ask_task(&mut s, ws[1], now), Some(m(1, 1)));
    assert_eq!(ask(&mut s, ws[2], now), None);
    assert_eq!(finish(&mut s, ws[1], &maps[1], now), ReportOutcome::Ignored);
    assert_eq!(state(&s, JobId(1)), JobState::Running);
}

#[test]
fn a_non_retryable_reduce_failure_names_the_reduce() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 3, t0);
    let w = register1(&mut s, t0);
    assert_eq!(run_one(&mut s, w, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, w, t0), Some(r(0, 0)));
    let a = must_ask(&mut s, w, t0);
    assert_eq!(a.task, r(0, 1));
    let f = failure("disk full", false, None);
    assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted);
    assert_eq!(
        errors(&s, JobId(0)),
        vec!["reduce task 1 failed: disk full"]
    );
    assert_eq!(state(&s, JobId(0)), JobState::Failed);
    assert_eq!(ask(&mut s, w, t0), None);
}

#[test]
fn a_task_lost_with_its_worker_any_number_of_times_is_still_rerun() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let keeper = register1(&mut s, t0);
    assert_eq!(run_one(&mut s, keeper, t0), Some(m(0, 0)));
    let mut now = t0;
    let mut lost = Vec::new();
    for attempt in 1..=10 {
        assert_eq!(state(&s, JobId(0)), JobState::Running);
        let w = register1(&mut s, now);
        let a = must_ask(&mut s, w, now);
        assert_eq!(a, assignment(spec(2, 1), m(0, 1), attempt, vec![]));
        now = outlive(&mut s, &[keeper], now);
        lost.push(w);
    }
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Running, "{:?}", st.errors);
    assert_eq!(st.counters.task_attempts, 11);
    assert_eq!(st.counters.task_failures, 10);
    let died: Vec<Event> = lost.iter().map(|&w| Event::WorkerDied(w)).collect();
    assert_eq!(events(&mut s), died);
    // The eleventh attempt finishes and the job goes on to succeed.
    assert_eq!(drain(&mut s, keeper, now), vec![m(0, 1), r(0, 0)]);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn retryable_failures_are_retried_then_fail_the_job() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    for attempt in 1..=4 {
        let expected = if attempt == 1 {
            JobState::Queued
        } else {
            JobState::Running
        };
        assert_eq!(state(&s, JobId(0)), expected);
        let a = must_ask(&mut s, w, t0);
        assert_eq!(a, assignment(spec(1, 1), m(0, 0), attempt, vec![]));
        let f = failure(&format!("flaky {attempt}"), true, None);
        assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted);
    }
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Failed);
    assert_eq!(
        st.errors,
        vec!["map task 0 (input f0) failed 4 times; the last error: flaky 4"]
    );
    assert_eq!(st.counters.task_attempts, 4);
    assert_eq!(st.counters.task_failures, 4);
    let ended = Event::JobEnded {
        job: JobId(0),
        workers: vec![(w, at(w))],
    };
    assert_eq!(events(&mut s), vec![ended]);
    // The next job runs.
    assert_eq!(drain(&mut s, w, t0), vec![m(1, 0), r(1, 0)]);
}

/// Two maps done on `w0` and `w1`, then `w2` fails reduce 0 saying it could
/// not reach `peer`.
fn reduce_fails_on(s: &mut Scheduler, peer: WorkerId, t0: Instant) -> Vec<WorkerId> {
    submit(s, 2, 2, t0);
    let ws = register(s, 4, t0);
    assert_eq!(run_one(s, ws[0], t0), Some(m(0, 0)));
    assert_eq!(run_one(s, ws[1], t0), Some(m(0, 1)));
    let a = must_ask(s, ws[2], t0);
    assert_eq!(a.task, r(0, 0));
    let f = failure("fetch failed", true, Some(peer));
    assert_eq!(fail(s, ws[2], &a, f, t0), ReportOutcome::Accepted);
    ws
}

#[test]
fn an_unreachable_peer_holds_the_reduces_until_it_heartbeats() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let ws = reduce_fails_on(&mut s, WorkerId(0), t0);
    // Both reduces wait, including the one not yet handed out.
    assert_eq!(ask(&mut s, ws[3], t0), None);
    assert!(!s.has_available_task());
    // Others' signs of life do not release them.
    s.heartbeat(ws[1], t0 + secs(1)).unwrap();
    assert_eq!(ask(&mut s, ws[3], t0 + secs(1)), None);

    s.heartbeat(ws[0], t0 + secs(2)).unwrap();
    let locs = vec![loc(0, 1, ws[0]), loc(1, 1, ws[1])];
    let again = must_ask(&mut s, ws[3], t0 + secs(2));
    assert_eq!(again, assignment(spec(2, 2), r(0, 0), 2, locs.clone()));
    let other = must_ask(&mut s, ws[2], t0 + secs(2));
    assert_eq!(other, assignment(spec(2, 2), r(0, 1), 1, locs));
}

#[test]
fn an_unreachable_peer_that_dies_has_its_maps_rerun() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let ws = reduce_fails_on(&mut s, WorkerId(0), t0);
    assert_eq!(ask(&mut s, ws[3], t0), None);
    let now = outlive(&mut s, &ws[1..], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(ws[0])]);
    assert_eq!(
        must_ask(&mut s, ws[3], now),
        assignment(spec(2, 2), m(0, 0), 2, vec![])
    );
    assert_eq!(ask(&mut s, ws[2], now), None);
    let rerun = Report {
        worker: ws[3],
        task: m(0, 0),
        attempt: Some(Attempt(2)),
    };
    let c = TaskCounters::default();
    assert_eq!(s.finish_task(&rerun, c, now), Ok(ReportOutcome::Accepted));
    let locs = vec![loc(0, 2, ws[3]), loc(1, 1, ws[1])];
    let again = must_ask(&mut s, ws[2], now);
    assert_eq!(again, assignment(spec(2, 2), r(0, 0), 2, locs.clone()));
    assert_eq!(
        must_ask(&mut s, ws[2], now),
        assignment(spec(2, 2), r(0, 1), 1, locs)
    );
}

#[test]
fn an_unreachable_peer_holding_no_output_of_the_job_holds_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    // Worker 3 ran none of the job's maps.
    let ws = reduce_fails_on(&mut s, WorkerId(3), t0);
    assert_eq!(ask_task(&mut s, ws[3], t0), Some(r(0, 0)));
    assert_eq!(ask_task(&mut s, ws[3], t0), Some(r(0, 1)));
}

#[test]
fn an_unreachable_peer_already_dead_holds_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 2, t0);
    let ws = register(&mut s, 3, t0);
    assert_eq!(run_one(&mut s, ws[0], t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, ws[1], t0), Some(m(0, 1)));
    let a = must_ask(&mut s, ws[2], t0);
    let now = outlive(&mut s, &ws[1..], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(ws[0])]);
    let f = failure("fetch failed", true, Some(ws[0]));
    assert_eq!(fail(&mut s, ws[2], &a, f, now), ReportOutcome::Accepted);
    // Map 0 reruns; then both reduces are open again.
    assert_eq!(run_one(&mut s, ws[1], now), Some(m(0, 0)));
    let locs = vec![loc(0, 2, ws[1]), loc(1, 1, ws[1])];
    let again = must_ask(&mut s, ws[2], now);
    assert_eq!(again, assignment(spec(2, 2), r(0, 0), 2, locs));
    assert_eq!(ask_task(&mut s, ws[2], now), Some(r(0, 1)));
}

#[test]
fn cancel_ends_the_job_once() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    submit(&mut s, 1, 1, t0);
    submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(ask_task(&mut s, w0, t0), Some(m(0, 0)));

    assert_eq!(s.cancel(JobId(0), t0 + secs(1)), Ok(()));
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Cancelled);
    assert_eq!(st.errors, vec!["cancelled"]);
    assert_eq!(st.finished_at, Some(t0 + secs(1)));
    let ended = Event::JobEnded {
        job: JobId(0),
        workers: vec![(w0, at(w0))],
    };
    assert_eq!(events(&mut s), vec![ended]);
    assert_err(s.cancel(JobId(0), t0), CoreError::JobEnded(JobId(0)));
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(running_on(&s, w0, t0), vec![]);

    // A queued job: no worker holds any of its data.
    assert_eq!(s.cancel(JobId(2), t0), Ok(()));
    let ended = Event::JobEnded {
        job: JobId(2),
        workers: vec![],
    };
    assert_eq!(events(&mut s), vec![ended]);
    assert_eq!(drain(&mut s, w1, t0), vec![m(1, 0), r(1, 0)]);
    assert_eq!(ask(&mut s, w0, t0), None);
    assert_err(s.cancel(JobId(1), t0), CoreError::JobEnded(JobId(1)));
}
