//! Blame: a crash with evidence (the process running the task's app code
//! died) is held against its task and re-queues it at once; a worker lost
//! without evidence never is; `max_task_attempts` crashes in a row fail the
//! job when the task crashes alone, more when the job's other tasks crash
//! too (a flaky app).

use super::*;

/// `worker` reports that `a` crashed its executor with `cause`.
fn crashed(s: &mut Scheduler, worker: WorkerId, a: &Assignment, cause: &str, now: Instant) {
    assert_eq!(
        fail(s, worker, a, crash(cause), now),
        ReportOutcome::Accepted
    );
}

#[test]
fn a_poison_input_fails_its_job_after_four_crashes_once_the_others_ran_clean() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 10, 1, t0);
    let [good, bad] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, good, t0), Some(m(0, 0)));
    let mut a = must_ask(&mut s, bad, t0);
    let slow = must_ask(&mut s, good, t0);
    assert_eq!(slow.task, m(0, 2));
    for attempt in 1..=4 {
        assert_eq!(state(&s, JobId(0)), JobState::Running);
        assert_eq!(a, assignment(spec(10, 1), m(0, 1), attempt, vec![]));
        crashed(&mut s, bad, &a, "killed by signal SIGSEGV", t0);
        if attempt < 4 {
            // Re-queued at once: no tick, no timeout in between.
            a = must_ask(&mut s, bad, t0);
        }
    }
    // Parked: not offered while the other maps, which could still crash
    // too, run.
    assert_eq!(finish(&mut s, good, &slow, t0), ReportOutcome::Accepted);
    let rest = drain(&mut s, good, t0);
    assert_eq!(rest, (3..10).map(|i| m(0, i)).collect::<Vec<_>>());
    // They all ran clean (9 clean attempts): map 1 crashes alone, its
    // input is poison.
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Failed);
    assert_eq!(
        st.errors,
        vec![
            "map task 1 (input f1) crashed the process running it 4 times in a row \
             (last: killed by signal SIGSEGV); the last error: the executor died: \
             killed by signal SIGSEGV"
                .to_string()
        ]
    );
    assert_eq!(st.counters.task_attempts, 13);
    assert_eq!(st.counters.task_failures, 4);
    // The workers themselves are fine: nobody died.
    assert_eq!(
        events(&mut s),
        vec![Event::JobEnded {
            job: JobId(0),
            workers: vec![(good, at(good)), (bad, at(bad))],
        }]
    );
}

#[test]
fn a_parked_task_runs_again_once_another_task_crashes_too() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let a0 = must_ask(&mut s, w0, t0);
    assert_eq!(a0.task, m(0, 0));
    for _ in 0..4 {
        let a = must_ask(&mut s, w1, t0);
        assert_eq!(a.task, m(0, 1));
        crashed(&mut s, w1, &a, "exit code 1", t0);
    }
    assert_eq!(ask(&mut s, w1, t0), None);
    // Map 0 crashes too: the app is flaky, map 1 runs again (its four
    // crashes are below the flaky limit).
    crashed(&mut s, w0, &a0, "exit code 1", t0);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    let again = must_ask(&mut s, w1, t0);
    assert_eq!((again.task, again.attempt), (m(0, 0), Attempt(2)));
    let parked = must_ask(&mut s, w0, t0);
    assert_eq!((parked.task, parked.attempt), (m(0, 1), Attempt(5)));
    assert_eq!(finish(&mut s, w0, &parked, t0), ReportOutcome::Accepted);
    assert_eq!(finish(&mut s, w1, &again, t0), ReportOutcome::Accepted);
    assert_eq!(drain(&mut s, w0, t0), vec![r(0, 0)]);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn a_parked_task_waits_for_the_others_and_thin_evidence_runs_it_again() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(must_ask(&mut s, w0, t0).task, m(0, 0));
    for _ in 0..4 {
        let a = must_ask(&mut s, w1, t0);
        crashed(&mut s, w1, &a, "killed by signal SIGBUS", t0);
    }
    // Worker 0 is lost without evidence: map 0 is pending again, so map 1
    // stays parked until map 0 has run somewhere.
    let now = outlive(&mut s, &[w1], t0);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    let a = must_ask(&mut s, w1, now);
    assert_eq!((a.task, a.attempt), (m(0, 0), Attempt(2)));
    assert_eq!(ask(&mut s, w1, now), None);
    // One clean attempt of the others is too little to call map 1 poison:
    // it runs again.
    assert_eq!(finish(&mut s, w1, &a, now), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    let again = must_ask(&mut s, w1, now);
    assert_eq!((again.task, again.attempt), (m(0, 1), Attempt(5)));
    assert_eq!(finish(&mut s, w1, &again, now), ReportOutcome::Accepted);
    assert_eq!(drain(&mut s, w1, now), vec![r(0, 0)]);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn a_crash_ignores_the_retry_flag_and_is_retried() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    let f = Failure {
        retry: false,
        ..crash("exit code 1")
    };
    assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    assert_eq!(drain(&mut s, w, t0), vec![m(0, 0), r(0, 0)]);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn only_crashes_in_a_row_count() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    for _ in 0..3 {
        let a = must_ask(&mut s, w, t0);
        crashed(&mut s, w, &a, "exit code 1", t0);
    }
    // An attempt that ends otherwise clears the run of crashes...
    let a = must_ask(&mut s, w, t0);
    let f = failure("peer busy", true, None);
    assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted);
    // ...so 19 more are 19 in a row, not 22 (alone, with no other task to
    // tell poison from bad luck, a task may crash 20 times in a row).
    for _ in 0..19 {
        let a = must_ask(&mut s, w, t0);
        crashed(&mut s, w, &a, "exit code 1", t0);
    }
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    let a = must_ask(&mut s, w, t0);
    assert_eq!(a.attempt, Attempt(24));
    crashed(&mut s, w, &a, "exit code 1", t0);
    assert_eq!(state(&s, JobId(0)), JobState::Failed);
    let errors = errors(&s, JobId(0));
    assert!(
        errors[0].contains("20 times in a row (last: exit code 1)"),
        "{errors:?}"
    );
}

#[test]
fn losses_without_evidence_neither_count_nor_break_a_run_of_crashes() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 9, 1, t0);
    let keeper = register1(&mut s, t0);
    // Maps 0..8 run clean first: enough evidence against map 8 later.
    for i in 0..8 {
        assert_eq!(run_one(&mut s, keeper, t0), Some(m(0, i)));
    }
    let mut now = t0;
    for round in 0..3 {
        let a = must_ask(&mut s, keeper, now);
        assert_eq!(a.task, m(0, 8));
        crashed(&mut s, keeper, &a, "killed by signal SIGABRT", now);
        // The attempt after each crash is lost with a worker that times out.
        let w = register1(&mut s, now);
        assert_eq!(must_ask(&mut s, w, now).attempt, Attempt(2 * round + 2));
        now = outlive(&mut s, &[keeper], now);
    }
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    let a = must_ask(&mut s, keeper, now);
    crashed(&mut s, keeper, &a, "killed by signal SIGABRT", now);
    assert_eq!(state(&s, JobId(0)), JobState::Failed);
    assert_eq!(s.job_status(JobId(0)).unwrap().counters.task_failures, 7);
}

#[test]
fn a_flaky_app_crashing_everywhere_keeps_going() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    // Map 0 crashes once, then finishes: the job's other tasks crash too,
    // so map 1 may crash 5 x 4 = 20 times in a row.
    let a0 = must_ask(&mut s, w0, t0);
    assert_eq!(a0.task, m(0, 0));
    let a1 = must_ask(&mut s, w1, t0);
    assert_eq!(a1.task, m(0, 1));
    crashed(&mut s, w0, &a0, "exit code 1", t0);
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 0)));
    crashed(&mut s, w1, &a1, "exit code 1", t0);
    for _ in 2..20 {
        let a = must_ask(&mut s, w1, t0);
        assert_eq!(a.task, m(0, 1));
        crashed(&mut s, w1, &a, "exit code 1", t0);
    }
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    // Twenty in a row is too many even for a flaky app.
    let a = must_ask(&mut s, w1, t0);
    assert_eq!(a.attempt, Attempt(20));
    crashed(&mut s, w1, &a, "exit code 1", t0);
    assert_eq!(state(&s, JobId(0)), JobState::Failed);
    let errors = errors(&s, JobId(0));
    assert!(
        errors[0]
            .contains("map task 1 (input f1) crashed the process running it 20 times in a row"),
        "{errors:?}"
    );
}

#[test]
fn rerunning_a_map_whose_output_was_lost_never_counts_against_it() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let keeper = register1(&mut s, t0);
    let mut now = t0;
    // Map 0 crashes three times, then finishes on a worker that dies...
    for _ in 0..3 {
        let a = must_ask(&mut s, keeper, now);
        assert_eq!(a.task, m(0, 0));
        crashed(&mut s, keeper, &a, "exit code 3", now);
    }
    for _ in 0..6 {
        let w = register1(&mut s, now);
        assert_eq!(run_one(&mut s, w, now), Some(m(0, 0)));
        now = outlive(&mut s, &[keeper], now);
    }
    // ...six times over; it is still only three crashes in a row away from
    // nothing: one more crash now does not fail the job (the finishes
    // cleared the run).
    let a = must_ask(&mut s, keeper, now);
    assert_eq!((a.task, a.attempt), (m(0, 0), Attempt(10)));
    crashed(&mut s, keeper, &a, "exit code 3", now);
    assert_eq!(state(&s, JobId(0)), JobState::Running);
    assert_eq!(drain(&mut s, keeper, now), vec![m(0, 0), m(0, 1), r(0, 0)]);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn a_stale_crash_report_changes_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let old = must_ask(&mut s, w0, t0);
    let now = outlive(&mut s, &[w1], t0);
    let _ = events(&mut s);
    let current = must_ask(&mut s, w1, now);
    assert_eq!(current.attempt, Attempt(2));
    let before = snapshot(&s);
    let stale = Report {
        worker: w1,
        task: old.task,
        attempt: Some(old.attempt),
    };
    let outcome = s.fail_task(&stale, crash("exit code 1"), now).unwrap();
    assert_eq!(outcome, ReportOutcome::Ignored);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn fetch_failures_blame_the_peer_and_rerun_its_maps_after_four() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [holder, reducer] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, holder, t0), Some(m(0, 0)));
    for attempt in 1..=4 {
        let a = must_ask(&mut s, reducer, t0);
        assert_eq!((a.task, a.attempt), (r(0, 0), Attempt(attempt)));
        let f = failure("cannot fetch map 0", true, Some(holder));
        assert_eq!(fail(&mut s, reducer, &a, f, t0), ReportOutcome::Accepted);
        // Not held against the reduce: the job goes on.
        assert_eq!(state(&s, JobId(0)), JobState::Running);
        if attempt < 4 {
            // The holder is suspect until it proves alive.
            assert_eq!(ask(&mut s, reducer, t0), None);
            s.heartbeat(holder, t0).unwrap();
        }
    }
    // The fourth failure takes the holder's output for lost: map 0 runs
    // again (elsewhere or not), then the reduce.
    assert_eq!(s.job_status(JobId(0)).unwrap().maps.done, 0);
    let a = must_ask(&mut s, reducer, t0);
    assert_eq!((a.task, a.attempt), (m(0, 0), Attempt(2)));
    assert_eq!(finish(&mut s, reducer, &a, t0), ReportOutcome::Accepted);
    let a = must_ask(&mut s, reducer, t0);
    assert_eq!(a.map_locations, vec![loc(0, 2, reducer)]);
    assert_eq!(finish(&mut s, reducer, &a, t0), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn a_restarted_worker_adopts_its_predecessors_map_output() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let old = register1(&mut s, t0);
    assert_eq!(run_one(&mut s, old, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, old, t0), Some(m(0, 1)));
    // `old` is SIGKILLed; a new worker on its machine finds its output.
    let new = register1(&mut s, t0);
    let held = [
        (m(0, 0), Attempt(1)),
        (m(0, 1), Attempt(1)),
        (m(0, 1), Attempt(2)), // no such attempt finished: ignored
        (m(7, 0), Attempt(1)), // no such job: ignored
    ];
    assert_eq!(
        s.adopt_outputs(new, &held, t0).unwrap(),
        vec![m(0, 0), m(0, 1)]
    );
    // The predecessor is dead at once, without waiting for its timeout,
    // and nothing runs again.
    assert_eq!(events(&mut s), vec![Event::WorkerDied(old)]);
    let a = must_ask(&mut s, new, t0);
    assert_eq!(a.task, r(0, 0));
    assert_eq!(a.map_locations, vec![loc(0, 1, new), loc(1, 1, new)]);
    assert_eq!(finish(&mut s, new, &a, t0), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    assert_eq!(s.job_status(JobId(0)).unwrap().counters.task_attempts, 3);
}

#[test]
fn output_adopted_after_it_was_lost_needs_no_rerun() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [old, other] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, old, t0), Some(m(0, 0)));
    let running = must_ask(&mut s, other, t0);
    assert_eq!(running.task, m(0, 1));
    let now = outlive(&mut s, &[other], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(old)]);
    assert_eq!(s.job_status(JobId(0)).unwrap().maps.done, 0);
    let new = register1(&mut s, now);
    assert_eq!(
        s.adopt_outputs(new, &[(m(0, 0), Attempt(1))], now).unwrap(),
        vec![m(0, 0)]
    );
    assert_eq!(events(&mut s), vec![]);
    // Map 0 is done again without a rerun; map 1 finishes; the reduce runs.
    assert_eq!(ask(&mut s, new, now), None);
    assert_eq!(
        finish(&mut s, other, &running, now),
        ReportOutcome::Accepted
    );
    let a = must_ask(&mut s, new, now);
    assert_eq!(a.map_locations, vec![loc(0, 1, new), loc(1, 1, other)]);
}
