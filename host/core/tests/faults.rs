//! Workers that fall silent for the timeout: their running tasks and the map
//! output their jobs still need run again, their finished reduces do not;
//! slow workers that keep heartbeating keep their tasks; deadlines.

use super::*;
use crate::core::PhaseProgress;

fn progress(total: u32, done: u32, running: u32) -> PhaseProgress {
    PhaseProgress {
        total,
        done,
        running,
    }
}

#[test]
fn a_dead_workers_running_task_is_reassigned_with_the_next_attempt() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(ask_task(&mut s, w0, t0), Some(m(0, 0)));
    assert_eq!(ask_task(&mut s, w1, t0), Some(m(0, 1)));
    assert_eq!(ask(&mut s, w1, t0), None);

    let now = outlive(&mut s, &[w1], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    assert_eq!(running_on(&s, w0, now), vec![]);
    assert_eq!(
        must_ask(&mut s, w1, now),
        assignment(spec(2, 1), m(0, 0), 2, vec![])
    );
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!((st.maps, st.state), (progress(2, 0, 2), JobState::Running));
    assert_eq!(st.counters.task_attempts, 3);
    assert_eq!(st.counters.task_failures, 1);
}

#[test]
fn a_lost_map_output_reruns_and_holds_the_reduces_until_it_is_back() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 2, t0);
    let [w0, w1, w2] = register(&mut s, 3, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, w1, t0), Some(m(0, 1)));
    let r0 = must_ask(&mut s, w2, t0);
    assert_eq!(r0.map_locations, vec![loc(0, 1, w0), loc(1, 1, w1)]);
    assert!(s.has_available_task(), "reduce 1 is available");

    let now = outlive(&mut s, &[w1, w2], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    // Map 0 runs again; reduce 1 is withdrawn until it is done.
    assert_eq!(
        must_ask(&mut s, w1, now),
        assignment(spec(2, 2), m(0, 0), 2, vec![])
    );
    assert_eq!(ask(&mut s, w2, now), None);
    assert!(!s.has_available_task());
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(
        (st.maps, st.reduces),
        (progress(2, 1, 1), progress(2, 0, 1))
    );

    let rerun = Report {
        worker: w1,
        task: m(0, 0),
        attempt: Some(Attempt(2)),
    };
    let c = TaskCounters::default();
    assert_eq!(s.finish_task(&rerun, c, now), Ok(ReportOutcome::Accepted));
    // The new reduce assignment points at the new map worker.
    let r1 = must_ask(&mut s, w2, now);
    let locs = vec![loc(0, 2, w1), loc(1, 1, w1)];
    assert_eq!(r1, assignment(spec(2, 2), r(0, 1), 1, locs));

    assert_eq!(finish(&mut s, w2, &r0, now), ReportOutcome::Accepted);
    assert_eq!(finish(&mut s, w2, &r1, now), ReportOutcome::Accepted);
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    assert_eq!(
        events(&mut s),
        vec![Event::JobEnded {
            job: JobId(0),
            workers: vec![(w1, at(w1))],
        }]
    );
}

#[test]
fn a_dead_workers_running_reduce_is_available_again_at_once() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 2, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 0)));
    assert_eq!(ask_task(&mut s, w1, t0), Some(r(0, 0)));
    let now = outlive(&mut s, &[w0], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w1)]);
    let again = must_ask(&mut s, w0, now);
    assert_eq!(
        again,
        assignment(spec(1, 2), r(0, 0), 2, vec![loc(0, 1, w0)])
    );
    assert_eq!(ask_task(&mut s, w0, now), Some(r(0, 1)));
    assert_eq!(ask(&mut s, w0, now), None);
}

#[test]
fn a_dead_workers_finished_reduces_are_not_redone() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 2, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, w0, t0), Some(r(0, 0)));
    let r1 = must_ask(&mut s, w1, t0);
    assert_eq!(r1.task, r(0, 1));

    let now = outlive(&mut s, &[w1], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    // Reduce 1 still needs map 0's output: the map runs again...
    assert_eq!(run_one(&mut s, w1, now), Some(m(0, 0)));
    // ...but the finished reduce 0 does not.
    assert_eq!(ask(&mut s, w1, now), None);
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(
        (st.maps, st.reduces),
        (progress(1, 1, 0), progress(2, 1, 1))
    );

    assert_eq!(finish(&mut s, w1, &r1, now), ReportOutcome::Accepted);
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!(st.reduces, progress(2, 2, 0));
    assert_eq!(st.counters.task_attempts, 4);
    assert_eq!(
        events(&mut s),
        vec![Event::JobEnded {
            job: JobId(0),
            workers: vec![(w1, at(w1))],
        }]
    );
}

#[test]
fn map_outputs_of_ended_jobs_are_not_rerun() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(drain(&mut s, w0, t0), vec![m(0, 0), r(0, 0)]);
    let ended = Event::JobEnded {
        job: JobId(0),
        workers: vec![(w0, at(w0))],
    };
    assert_eq!(events(&mut s), vec![ended]);
    let now = outlive(&mut s, &[w1], t0);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    assert_eq!(ask(&mut s, w1, now), None);
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!(
        (st.maps, st.reduces),
        (progress(1, 1, 0), progress(1, 1, 0))
    );
}

#[test]
fn a_slow_worker_that_keeps_heartbeating_keeps_its_task() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let [slow, idle] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let a = must_ask(&mut s, slow, t0);
    let mut now = t0;
    for _ in 0..40 {
        now += secs(3);
        s.heartbeat(slow, now).unwrap();
        s.heartbeat(idle, now).unwrap();
        s.tick(now);
        assert_eq!(s.next_deadline(), Some(now + TIMEOUT));
    }
    // Two minutes in, far past the timeout: nothing was declared dead.
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(running_on(&s, slow, now), vec![(m(0, 0), Attempt(1))]);
    assert_eq!(ask(&mut s, idle, now), None);
    assert_eq!(finish(&mut s, slow, &a, now), ReportOutcome::Accepted);
    assert_eq!(ask_task(&mut s, idle, now), Some(r(0, 0)));
}

#[test]
fn next_deadline_is_the_earliest_last_seen_plus_the_timeout() {
    let t0 = Instant::now();
    let mut s = new_sched();
    assert_eq!(s.next_deadline(), None);
    let w0 = register1(&mut s, t0);
    assert_eq!(s.next_deadline(), Some(t0 + TIMEOUT));
    let w1 = register1(&mut s, t0 + secs(1));
    assert_eq!(s.next_deadline(), Some(t0 + TIMEOUT));
    s.heartbeat(w0, t0 + secs(2)).unwrap();
    assert_eq!(s.next_deadline(), Some(t0 + secs(1) + TIMEOUT));
    s.heartbeat(w1, t0 + secs(3)).unwrap();
    assert_eq!(s.next_deadline(), Some(t0 + secs(2) + TIMEOUT));
    // A heartbeat carrying an older time does not move it back.
    s.heartbeat(w0, t0).unwrap();
    assert_eq!(s.next_deadline(), Some(t0 + secs(2) + TIMEOUT));

    // Just before the deadline nobody dies; at it, w0 does.
    let deadline = t0 + secs(2) + TIMEOUT;
    s.tick(deadline - Duration::from_nanos(1));
    assert_eq!(events(&mut s), vec![]);
    s.tick(deadline);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w0)]);
    assert_eq!(s.next_deadline(), Some(t0 + secs(3) + TIMEOUT));
    s.tick(t0 + secs(60));
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w1)]);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn asking_for_tasks_and_reporting_count_as_signs_of_life() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 1, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0 + secs(5));
    assert_eq!(s.next_deadline(), Some(t0 + secs(5) + TIMEOUT));
    s.tick(t0 + secs(10));
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(
        finish(&mut s, w, &a, t0 + secs(11)),
        ReportOutcome::Accepted
    );
    assert_eq!(s.next_deadline(), Some(t0 + secs(11) + TIMEOUT));
    s.tick(t0 + secs(17));
    assert_eq!(events(&mut s), vec![]);
    s.tick(t0 + secs(18));
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w)]);
}

#[test]
fn workers_silent_together_die_in_one_tick() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 3, 1, t0);
    let [w0, w1, w2] = register(&mut s, 3, t0)[..] else {
        unreachable!()
    };
    for w in [w0, w1, w2] {
        assert_eq!(ask_task(&mut s, w, t0), Some(m(0, w.0)));
    }
    s.heartbeat(w1, t0 + secs(1)).unwrap();
    s.tick(t0 + secs(20));
    assert_eq!(
        events(&mut s),
        vec![
            Event::WorkerDied(w0),
            Event::WorkerDied(w2),
            Event::WorkerDied(w1)
        ]
    );
    let w3 = register1(&mut s, t0 + secs(20));
    let order: Vec<(TaskId, Attempt)> = std::iter::from_fn(|| ask(&mut s, w3, t0 + secs(20)))
        .map(|a| (a.task, a.attempt))
        .collect();
    assert_eq!(
        order,
        vec![
            (m(0, 0), Attempt(2)),
            (m(0, 1), Attempt(2)),
            (m(0, 2), Attempt(2))
        ]
    );
}

#[test]
fn an_idle_worker_gets_back_a_task_whose_assignment_it_never_received() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    // The reply assigning map 0 is lost: the worker asks again, idle.
    assert_eq!(ask_task(&mut s, w, t0), Some(m(0, 0)));
    s.worker_idle(w, t0).unwrap();
    assert_eq!(running_on(&s, w, t0), vec![]);
    assert_eq!(
        must_ask(&mut s, w, t0),
        assignment(spec(2, 1), m(0, 0), 2, vec![])
    );
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.maps, progress(2, 0, 1));
    assert_eq!(st.counters.task_failures, 0, "not the task's fault");
    // Idle from a dead or unknown worker is refused like any sign of life.
    assert_err(
        s.worker_idle(WorkerId(9), t0),
        CoreError::UnknownWorker(WorkerId(9)),
    );
}
