//! Read-only views: a job's progress, state and counters through its life,
//! and the workers' states, running tasks and completion counts.

use super::*;
use crate::core::{Counters, JobStatus, PhaseProgress, WorkerState, WorkerStatus};

fn progress(total: u32, done: u32, running: u32) -> PhaseProgress {
    PhaseProgress {
        total,
        done,
        running,
    }
}

fn map_counters(i: u64) -> TaskCounters {
    TaskCounters {
        input_bytes: 100 * (i + 1),
        input_records: 1,
        output_records: 10 + i,
        output_bytes: 1000 + i,
        shuffle_bytes: 0,
    }
}

fn reduce_counters(i: u64) -> TaskCounters {
    TaskCounters {
        input_bytes: 0,
        input_records: 0,
        output_records: 5 + i,
        output_bytes: 50 + i,
        shuffle_bytes: 300 + i,
    }
}

#[test]
fn a_jobs_status_follows_it_from_queued_to_succeeded() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    let mut expected = JobStatus {
        id: job,
        spec: Arc::new(spec(2, 1)),
        state: JobState::Queued,
        maps: progress(2, 0, 0),
        reduces: progress(1, 0, 0),
        errors: vec![],
        counters: Counters::default(),
        notes: vec![],
        submitted_at: t0,
        finished_at: None,
    };
    assert_eq!(s.job_status(job), Ok(expected.clone()));

    let t1 = t0 + secs(1);
    let m0 = must_ask(&mut s, w, t1);
    expected.state = JobState::Running;
    expected.maps = progress(2, 0, 1);
    expected.counters.task_attempts = 1;
    assert_eq!(s.job_status(job), Ok(expected.clone()));

    let m1 = must_ask(&mut s, w, t1);
    s.finish_task(&report(w, &m0), map_counters(0), t1).unwrap();
    expected.maps = progress(2, 1, 1);
    expected.counters = Counters {
        input_bytes: 100,
        input_records: 1,
        map_output_records: 10,
        map_output_bytes: 1000,
        task_attempts: 2,
        ..Counters::default()
    };
    assert_eq!(s.job_status(job), Ok(expected.clone()));

    s.finish_task(&report(w, &m1), map_counters(1), t1).unwrap();
    let red = must_ask(&mut s, w, t1);
    expected.maps = progress(2, 2, 0);
    expected.reduces = progress(1, 0, 1);
    expected.counters.input_bytes = 300;
    expected.counters.input_records = 2;
    expected.counters.map_output_records = 21;
    expected.counters.map_output_bytes = 2001;
    expected.counters.task_attempts = 3;
    assert_eq!(s.job_status(job), Ok(expected.clone()));

    let t2 = t0 + secs(2);
    s.finish_task(&report(w, &red), reduce_counters(0), t2)
        .unwrap();
    expected.state = JobState::Succeeded;
    expected.reduces = progress(1, 1, 0);
    expected.counters.shuffle_bytes = 300;
    expected.counters.reduce_output_records = 5;
    expected.counters.reduce_output_bytes = 50;
    expected.finished_at = Some(t2);
    // Ended, it is among the newest ended jobs, which keep their detail.
    assert_eq!(s.job_status(job), Ok(expected.clone()));
    assert_eq!(s.job_statuses(), vec![expected]);
}

#[test]
fn counters_sum_accepted_reports_and_count_attempts_and_failures() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 3, 2, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    // Map 0 fails once, map 1 is lost with worker 1, then all succeed.
    let a = must_ask(&mut s, w0, t0);
    assert_eq!(
        fail(&mut s, w0, &a, failure("flaky", true, None), t0),
        ReportOutcome::Accepted
    );
    let mut maps = vec![must_ask(&mut s, w0, t0)];
    assert_eq!(ask_task(&mut s, w1, t0), Some(m(0, 1)));
    let now = outlive(&mut s, &[w0], t0);
    maps.extend(std::iter::from_fn(|| ask(&mut s, w0, now)));
    let got: Vec<(TaskId, Attempt)> = maps.iter().map(|a| (a.task, a.attempt)).collect();
    assert_eq!(
        got,
        vec![
            (m(0, 0), Attempt(2)),
            (m(0, 1), Attempt(2)),
            (m(0, 2), Attempt(1))
        ]
    );
    for (i, a) in maps.iter().enumerate() {
        let res = s.finish_task(&report(w0, a), map_counters(i as u64), now);
        assert_eq!(res, Ok(ReportOutcome::Accepted));
    }
    for i in 0..2 {
        let a = must_ask(&mut s, w0, now);
        let res = s.finish_task(&report(w0, &a), reduce_counters(i), now);
        assert_eq!(res, Ok(ReportOutcome::Accepted));
    }

    let st = s.job_status(job).unwrap();
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!(
        st.counters,
        Counters {
            input_bytes: 100 + 200 + 300,
            input_records: 3,
            map_output_records: 10 + 11 + 12,
            map_output_bytes: 1000 + 1001 + 1002,
            shuffle_bytes: 300 + 301,
            reduce_output_records: 5 + 6,
            reduce_output_bytes: 50 + 51,
            // 3 maps + 2 reduces + 1 retry + 1 rerun after the loss.
            task_attempts: 7,
            task_failures: 2,
        }
    );
}

#[test]
fn job_statuses_list_every_job_oldest_first() {
    let t0 = Instant::now();
    let mut s = new_sched();
    for k in 0..5 {
        submit(&mut s, 1, 1, t0 + secs(k));
    }
    let w = register1(&mut s, t0);
    assert_eq!(run_one(&mut s, w, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, w, t0), Some(r(0, 0))); // job 0 succeeds
    let a = must_ask(&mut s, w, t0);
    let f = failure("boom", false, None);
    assert_eq!(fail(&mut s, w, &a, f, t0), ReportOutcome::Accepted); // job 1 fails
    s.cancel(JobId(2), t0).unwrap();
    assert_eq!(ask_task(&mut s, w, t0), Some(m(3, 0))); // job 3 runs
    let got: Vec<(JobId, JobState, Instant)> = s
        .job_statuses()
        .into_iter()
        .map(|st| (st.id, st.state, st.submitted_at))
        .collect();
    assert_eq!(
        got,
        vec![
            (JobId(0), JobState::Succeeded, t0),
            (JobId(1), JobState::Failed, t0 + secs(1)),
            (JobId(2), JobState::Cancelled, t0 + secs(2)),
            (JobId(3), JobState::Running, t0 + secs(3)),
            (JobId(4), JobState::Queued, t0 + secs(4)),
        ]
    );
    assert!(JobState::Succeeded.is_ended());
    assert!(JobState::Failed.is_ended());
    assert!(JobState::Cancelled.is_ended());
    assert!(!JobState::Running.is_ended());
    assert!(!JobState::Queued.is_ended());
}

#[test]
fn worker_statuses_show_state_tasks_and_last_sign_of_life() {
    let t0 = Instant::now();
    let mut s = new_sched();
    submit(&mut s, 4, 1, t0);
    let [w0, w1, w2] = register(&mut s, 3, t0)[..] else {
        unreachable!()
    };
    // Worker 0 runs two maps, worker 1 finishes one, worker 2 takes one and
    // falls silent.
    assert_eq!(ask_task(&mut s, w0, t0 + secs(1)), Some(m(0, 0)));
    assert_eq!(ask_task(&mut s, w0, t0 + secs(1)), Some(m(0, 1)));
    assert_eq!(run_one(&mut s, w1, t0 + secs(2)), Some(m(0, 2)));
    assert_eq!(ask_task(&mut s, w2, t0), Some(m(0, 3)));

    let now = t0 + secs(3);
    let status = |id: WorkerId, state, ago, running, done| WorkerStatus {
        id,
        address: at(id),
        state,
        last_seen_ago: ago,
        running,
        tasks_completed: done,
    };
    let alive = WorkerState::Alive;
    assert_eq!(
        s.worker_statuses(now),
        vec![
            status(
                w0,
                alive,
                secs(2),
                vec![(m(0, 0), Attempt(1)), (m(0, 1), Attempt(1))],
                0
            ),
            status(w1, alive, secs(1), vec![], 1),
            status(w2, alive, secs(3), vec![(m(0, 3), Attempt(1))], 0),
        ]
    );

    let now = outlive(&mut s, &[w0, w1], t0 + ms(500));
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w2)]);
    assert_eq!(ask_task(&mut s, w1, now), Some(m(0, 3)));
    let later = now + secs(4);
    assert_eq!(
        s.worker_statuses(later),
        vec![
            status(
                w0,
                alive,
                secs(4),
                vec![(m(0, 0), Attempt(1)), (m(0, 1), Attempt(1))],
                0
            ),
            status(w1, alive, secs(4), vec![(m(0, 3), Attempt(2))], 1),
            status(w2, WorkerState::Dead, later - t0, vec![], 0),
        ]
    );
    // A time before the last sign of life reads as zero.
    assert_eq!(s.worker_statuses(t0)[0].last_seen_ago, Duration::ZERO);
}

#[test]
fn done_maps_that_run_again_say_why() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, w0, t0), Some(m(0, 1)));
    assert!(s.job_status(job).unwrap().notes.is_empty());

    let now = outlive(&mut s, &[w1], t0);
    let st = s.job_status(job).unwrap();
    assert_eq!(st.maps.done, 0);
    assert_eq!(
        st.notes,
        [format!("maps 0, 1 run again: worker {w0} died")],
        "one note for one death"
    );
    drain(&mut s, w1, now);
    let st = s.job_status(job).unwrap();
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!(st.notes.len(), 1, "kept after the job ends: {:?}", st.notes);
}

#[test]
fn job_states_have_one_lowercase_name_each() {
    let names: Vec<&str> = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ]
    .into_iter()
    .map(JobState::name)
    .collect();
    assert_eq!(
        names,
        ["queued", "running", "succeeded", "failed", "cancelled"]
    );
}
