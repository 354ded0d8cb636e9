//! First come, first served without idling: a worker always gets the first
//! available task in job order (maps before reduces), a job's reduces only
//! once all its maps are done, and `None` only when nothing can run.

use super::*;

#[test]
fn one_worker_runs_every_task_of_every_job_in_order() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let jobs: Vec<JobId> = (0..3).map(|_| submit(&mut s, 10, 5, t0)).collect();
    assert_eq!(jobs, vec![JobId(0), JobId(1), JobId(2)]);
    let w = register1(&mut s, t0);

    let ran = drain(&mut s, w, t0 + ms(1));

    let mut expected = Vec::new();
    for j in 0..3 {
        expected.extend((0..10).map(|i| m(j, i)));
        expected.extend((0..5).map(|i| r(j, i)));
    }
    assert_eq!(ran, expected);
    assert_eq!(ask(&mut s, w, t0 + ms(2)), None);
    assert!(!s.has_available_task());
    for j in jobs {
        assert_eq!(state(&s, j), JobState::Succeeded);
    }
}

#[test]
fn one_worker_hands_out_each_map_with_attempt_one_and_its_spec() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 3, 1, t0);
    let w = register1(&mut s, t0);
    for i in 0..3 {
        let a = must_ask(&mut s, w, t0);
        assert_eq!(a, assignment(spec(3, 1), m(job.0, i), 1, vec![]));
        let split = a.split().expect("a map reads a split");
        assert_eq!(split.whole_file(), Some(format!("f{i}").as_str()));
        assert_eq!(finish(&mut s, w, &a, t0), ReportOutcome::Accepted);
    }
    let a = must_ask(&mut s, w, t0);
    let locs = (0..3).map(|i| loc(i, 1, w)).collect();
    assert_eq!(a, assignment(spec(3, 1), r(0, 0), 1, locs));
    assert_eq!(a.split(), None);
}

#[test]
fn a_job_submitted_later_waits_for_the_earlier_jobs_reduces() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 2, t0);
    let w = register1(&mut s, t0);
    assert_eq!(run_one(&mut s, w, t0), Some(m(0, 0)));
    submit(&mut s, 2, 1, t0 + ms(1));
    assert_eq!(
        drain(&mut s, w, t0 + ms(2)),
        vec![m(0, 1), r(0, 0), r(0, 1), m(1, 0), m(1, 1), r(1, 0)]
    );
}

#[test]
fn twenty_workers_take_the_first_job_then_the_second() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 10, 2, t0);
    submit(&mut s, 10, 2, t0);
    let ws = register(&mut s, 20, t0);

    let got: Vec<Option<TaskId>> = ws.iter().map(|&w| ask_task(&mut s, w, t0)).collect();
    let expected: Vec<Option<TaskId>> = (0..10)
        .map(|i| Some(m(0, i)))
        .chain((0..10).map(|i| Some(m(1, i))))
        .collect();
    assert_eq!(got, expected);

    // Every map runs, no reduce is open: a further worker has nothing to do.
    let extra = register1(&mut s, t0);
    assert_eq!(ask(&mut s, extra, t0), None);
    assert!(!s.has_available_task());
}

#[test]
fn a_worker_takes_the_next_jobs_maps_rather_than_idling() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 10, 2, t0);
    submit(&mut s, 10, 2, t0);
    let ws = register(&mut s, 11, t0);
    let job0: Vec<Assignment> = ws[..10].iter().map(|&w| must_ask(&mut s, w, t0)).collect();
    assert_eq!(
        job0.iter().map(|a| a.task).collect::<Vec<_>>(),
        (0..10).map(|i| m(0, i)).collect::<Vec<_>>()
    );

    // Job 0's maps all run but are not done: the next worker gets job 1's.
    assert_eq!(ask_task(&mut s, ws[10], t0), Some(m(1, 0)));

    // Nine of job 0's maps finish: still no reduce of job 0.
    for (w, a) in ws.iter().zip(&job0).take(9) {
        assert_eq!(finish(&mut s, *w, a, t0), ReportOutcome::Accepted);
    }
    assert_eq!(ask_task(&mut s, ws[0], t0), Some(m(1, 1)));

    // The last one finishes: job 0's reduces come before job 1's maps.
    assert_eq!(finish(&mut s, ws[9], &job0[9], t0), ReportOutcome::Accepted);
    assert_eq!(ask_task(&mut s, ws[1], t0), Some(r(0, 0)));
    assert_eq!(ask_task(&mut s, ws[2], t0), Some(r(0, 1)));
    assert_eq!(ask_task(&mut s, ws[3], t0), Some(m(1, 2)));
}

#[test]
fn reduces_open_only_when_the_last_map_finishes() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 3, 2, t0);
    let ws = register(&mut s, 4, t0);
    let maps: Vec<Assignment> = ws[..3].iter().map(|&w| must_ask(&mut s, w, t0)).collect();
    for k in 0..2 {
        assert_eq!(finish(&mut s, ws[k], &maps[k], t0), ReportOutcome::Accepted);
        assert_eq!(ask(&mut s, ws[3], t0), None, "after {} maps", k + 1);
        assert!(!s.has_available_task());
    }
    assert_eq!(finish(&mut s, ws[2], &maps[2], t0), ReportOutcome::Accepted);
    assert!(s.has_available_task());
    assert_eq!(ask_task(&mut s, ws[3], t0), Some(r(0, 0)));
    assert_eq!(ask_task(&mut s, ws[0], t0), Some(r(0, 1)));
    assert_eq!(ask(&mut s, ws[1], t0), None);
}

#[test]
fn a_retried_task_goes_back_to_its_place_in_job_order() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 3, 1, t0);
    submit(&mut s, 2, 1, t0);
    let ws = register(&mut s, 3, t0);
    let a0 = must_ask(&mut s, ws[0], t0);
    assert_eq!(ask_task(&mut s, ws[1], t0), Some(m(0, 1)));
    assert_eq!(ask_task(&mut s, ws[2], t0), Some(m(0, 2)));
    assert_eq!(ask_task(&mut s, ws[2], t0), Some(m(1, 0)));

    let f = failure("flaky", true, None);
    assert_eq!(fail(&mut s, ws[0], &a0, f, t0), ReportOutcome::Accepted);

    // Job 0's map 0 comes before job 1's map 1.
    let again = must_ask(&mut s, ws[0], t0);
    assert_eq!(again, assignment(spec(3, 1), m(0, 0), 2, vec![]));
    assert_eq!(ask_task(&mut s, ws[0], t0), Some(m(1, 1)));
    assert_eq!(ask(&mut s, ws[0], t0), None);
}

#[test]
fn a_worker_with_nothing_to_do_gets_none() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let w = register1(&mut s, t0);
    // No job at all.
    assert_eq!(ask(&mut s, w, t0), None);
    assert!(!s.has_available_task());
    // Every task of the only job is already running.
    submit(&mut s, 1, 1, t0);
    assert!(s.has_available_task());
    assert_eq!(ask_task(&mut s, w, t0), Some(m(0, 0)));
    assert_eq!(ask(&mut s, w, t0), None);
}
