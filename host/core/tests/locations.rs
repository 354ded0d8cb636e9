//! Where reduce tasks fetch map output from: every map's worker, attempt and
//! registered address (`None` for a worker registered without one; the
//! coordinator's `convert` applies the legacy port rule to those).

use super::*;

#[test]
fn reduce_assignments_locate_every_map_output() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 3, 2, t0);
    let ws = register(&mut s, 3, t0);
    // Map 0 on worker 2, map 1 on worker 0, map 2 on worker 1 (second try).
    let a0 = must_ask(&mut s, ws[2], t0);
    let a1 = must_ask(&mut s, ws[0], t0);
    let a2 = must_ask(&mut s, ws[1], t0);
    assert_eq!((a0.task, a1.task, a2.task), (m(0, 0), m(0, 1), m(0, 2)));
    let f = failure("flaky", true, None);
    assert_eq!(fail(&mut s, ws[1], &a2, f, t0), ReportOutcome::Accepted);
    let a2 = must_ask(&mut s, ws[1], t0);
    assert_eq!((a2.task, a2.attempt), (m(0, 2), Attempt(2)));
    for (w, a) in [(ws[2], &a0), (ws[0], &a1), (ws[1], &a2)] {
        assert_eq!(finish(&mut s, w, a, t0), ReportOutcome::Accepted);
    }

    let locs = vec![loc(0, 1, ws[2]), loc(1, 1, ws[0]), loc(2, 2, ws[1])];
    assert_eq!(
        must_ask(&mut s, ws[0], t0),
        assignment(spec(3, 2), r(0, 0), 1, locs.clone())
    );
    assert_eq!(
        must_ask(&mut s, ws[0], t0),
        assignment(spec(3, 2), r(0, 1), 1, locs)
    );
}

#[test]
fn workers_without_an_address_are_reported_without_one() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let named = s.register_worker(Some("10.1.2.3:9000".to_string()), t0);
    let legacy = s.register_worker(None, t0);
    let empty = s.register_worker(Some(String::new()), t0);
    assert_eq!(
        (named, legacy, empty),
        (WorkerId(0), WorkerId(1), WorkerId(2))
    );
    // A job's tasks go to one kind of worker (`kinds`): the two without an
    // address run one job, the named one another.
    submit(&mut s, 2, 1, t0);
    submit(&mut s, 1, 1, t0);
    assert_eq!(run_one(&mut s, legacy, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, empty, t0), Some(m(0, 1)));
    assert_eq!(run_one(&mut s, named, t0), Some(m(1, 0)));
    let red = must_ask(&mut s, legacy, t0);
    let expected = vec![
        MapLocation {
            task: 0,
            attempt: Attempt(1),
            worker: legacy,
            address: None,
        },
        MapLocation {
            task: 1,
            attempt: Attempt(1),
            worker: empty,
            address: None,
        },
    ];
    assert_eq!(red, assignment(spec(2, 1), r(0, 0), 1, expected));
    let red = must_ask(&mut s, named, t0);
    let expected = vec![MapLocation {
        task: 0,
        attempt: Attempt(1),
        worker: named,
        address: Some("10.1.2.3:9000".to_string()),
    }];
    assert_eq!(red, assignment(spec(1, 1), r(1, 0), 1, expected));

    let addresses: Vec<Option<String>> = s
        .worker_statuses(t0)
        .into_iter()
        .map(|w| w.address)
        .collect();
    assert_eq!(
        addresses,
        vec![Some("10.1.2.3:9000".to_string()), None, None]
    );
}

#[test]
fn the_job_ended_event_carries_map_worker_addresses() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let named = register1(&mut s, t0);
    let other = register1(&mut s, t0);
    let legacy = s.register_worker(None, t0);
    assert_eq!(run_one(&mut s, named, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, other, t0), Some(m(0, 1)));
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(run_one(&mut s, other, t0), Some(r(0, 0)));
    assert_eq!(
        events(&mut s),
        vec![Event::JobEnded {
            job: JobId(0),
            workers: vec![(named, at(named)), (other, at(other))],
        }]
    );
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    submit(&mut s, 1, 1, t0);
    assert_eq!(run_one(&mut s, legacy, t0), Some(m(1, 0)));
    assert_eq!(run_one(&mut s, legacy, t0), Some(r(1, 0)));
    assert_eq!(
        events(&mut s),
        vec![Event::JobEnded {
            job: JobId(1),
            workers: vec![(legacy, None)],
        }]
    );
}
