//! A core rebuilt from the durable store after a coordinator restart:
//! which finished work it keeps, which runs again, and which held map
//! outputs of registering workers it adopts.

use super::*;
use crate::core::{Counters, FinishedTask, HeldOutput, JobEnd, RestoredJob};

/// A finished task of `attempt` with `bytes` input bytes.
fn done(attempt: u32, bytes: u64) -> FinishedTask {
    FinishedTask {
        attempt: Attempt(attempt),
        counters: TaskCounters {
            input_bytes: bytes,
            ..TaskCounters::default()
        },
    }
}

/// Job `id` of `spec(n_map, n_reduce)` with nothing finished.
fn recorded(id: u32, n_map: u32, n_reduce: u32, now: Instant) -> RestoredJob {
    RestoredJob {
        id: JobId(id),
        spec: spec(n_map, n_reduce),
        submitted_at: now,
        maps_done: Vec::new(),
        reduces_done: Vec::new(),
        end: None,
    }
}

fn held(job: u32, map: u32, attempt: u32) -> HeldOutput {
    HeldOutput {
        job: JobId(job),
        map,
        attempt: Attempt(attempt),
    }
}

#[test]
fn a_queued_job_runs_under_its_old_id_and_new_ids_follow_the_reserved_one() {
    let t0 = Instant::now();
    let mut s = new_sched();
    assert_eq!(
        s.restore_job(recorded(3, 2, 1, t0), t0),
        Ok(JobState::Queued)
    );
    s.reserve_job_ids(JobId(7));
    let w = register1(&mut s, t0);
    assert_eq!(drain(&mut s, w, t0), vec![m(3, 0), m(3, 1), r(3, 0)]);
    assert_eq!(state(&s, JobId(3)), JobState::Succeeded);
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(7), "ids are never reused");
}

#[test]
fn restoring_an_id_twice_is_refused() {
    let t0 = Instant::now();
    let mut s = new_sched();
    s.restore_job(recorded(0, 1, 1, t0), t0).unwrap();
    assert_eq!(
        s.restore_job(recorded(0, 1, 1, t0), t0),
        Err(CoreError::JobExists(JobId(0)))
    );
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(1));
}

#[test]
fn finished_reduces_stay_finished_and_unheld_maps_run_again() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let mut job = recorded(0, 2, 2, t0);
    job.maps_done = vec![(0, done(1, 10)), (1, done(2, 20))];
    job.reduces_done = vec![(1, done(1, 5))];
    assert_eq!(s.restore_job(job, t0), Ok(JobState::Running));
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!((st.maps.done, st.reduces.done), (0, 1));
    assert_eq!(st.counters.input_bytes, 5, "the finished reduce counts");
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    assert_eq!(a.task, m(0, 0));
    assert_eq!(
        a.attempt,
        Attempt(2),
        "attempts go on past the recorded one"
    );
    finish(&mut s, w, &a, t0);
    let a = must_ask(&mut s, w, t0);
    assert_eq!((a.task, a.attempt), (m(0, 1), Attempt(3)));
    finish(&mut s, w, &a, t0);
    assert_eq!(
        drain(&mut s, w, t0),
        vec![r(0, 0)],
        "only the unfinished reduce"
    );
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn held_outputs_of_the_recorded_attempt_are_adopted_and_skip_their_maps() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let mut job = recorded(0, 3, 1, t0);
    job.maps_done = vec![(0, done(1, 10)), (1, done(2, 20))];
    s.restore_job(job, t0).unwrap();
    // Map 1 was recorded with attempt 2: attempt 1's output is refused.
    // Map 2 has no record (the record was lost, or it finished just
    // before the crash): its output is adopted.
    let offer = [held(0, 0, 1), held(0, 1, 1), held(0, 2, 4), held(9, 0, 1)];
    let (w, adopted) = s.register_worker_holding(Some("w:1".into()), &offer, t0);
    assert_eq!(adopted, vec![held(0, 0, 1), held(0, 2, 4)]);
    let st = s.job_status(JobId(0)).unwrap();
    assert_eq!(st.maps.done, 2);
    assert_eq!(
        st.counters.input_bytes, 10,
        "the adopted recorded map counts"
    );
    let a = must_ask(&mut s, w, t0);
    assert_eq!((a.task, a.attempt), (m(0, 1), Attempt(3)));
    finish(&mut s, w, &a, t0);
    let a = must_ask(&mut s, w, t0);
    assert_eq!(a.task, r(0, 0));
    let mut locations: Vec<_> = a
        .map_locations
        .iter()
        .map(|l| (l.task, l.attempt, l.worker))
        .collect();
    locations.sort();
    assert_eq!(
        locations,
        vec![(0, Attempt(1), w), (1, Attempt(3), w), (2, Attempt(4), w)]
    );
}

#[test]
fn an_adopted_output_is_lost_with_its_worker_like_any_other() {
    let t0 = Instant::now();
    let mut s = new_sched();
    s.restore_job(recorded(0, 1, 1, t0), t0).unwrap();
    let (w, adopted) = s.register_worker_holding(None, &[held(0, 0, 1)], t0);
    assert_eq!(adopted.len(), 1);
    let w2 = register1(&mut s, t0 + secs(5));
    s.heartbeat(w2, t0 + secs(10)).unwrap();
    s.tick(t0 + secs(10));
    assert!(events(&mut s).contains(&Event::WorkerDied(w)));
    let a = must_ask(&mut s, w2, t0 + secs(10));
    assert_eq!((a.task, a.attempt), (m(0, 0), Attempt(2)));
}

#[test]
fn outputs_of_running_done_or_ended_work_are_not_adopted() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 2, 1, t0);
    let w = register1(&mut s, t0);
    let a = must_ask(&mut s, w, t0);
    finish(&mut s, w, &a, t0);
    let running = must_ask(&mut s, w, t0);
    assert_eq!(running.task, m(0, 1));
    let mut ended = recorded(5, 1, 1, t0);
    ended.end = Some(JobEnd {
        state: JobState::Cancelled,
        errors: vec!["cancelled".into()],
        counters: Counters::default(),
        finished_at: t0,
    });
    s.restore_job(ended, t0).unwrap();
    let offer = [held(job.0, 0, 1), held(job.0, 1, 1), held(5, 0, 1)];
    let (_, adopted) = s.register_worker_holding(None, &offer, t0);
    assert!(adopted.is_empty(), "{adopted:?}");
}

#[test]
fn an_ended_job_keeps_its_end_and_hands_out_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let mut job = recorded(2, 2, 1, t0);
    job.maps_done = vec![(0, done(1, 1)), (1, done(1, 1))];
    job.reduces_done = vec![(0, done(1, 1))];
    let counters = Counters {
        input_bytes: 42,
        ..Counters::default()
    };
    job.end = Some(JobEnd {
        state: JobState::Succeeded,
        errors: Vec::new(),
        counters,
        finished_at: t0 + secs(3),
    });
    assert_eq!(s.restore_job(job, t0), Ok(JobState::Succeeded));
    let st = s.job_status(JobId(2)).unwrap();
    assert_eq!((st.maps.done, st.reduces.done), (2, 1));
    assert_eq!(st.counters, counters);
    assert_eq!(st.finished_at, Some(t0 + secs(3)));
    let w = register1(&mut s, t0);
    assert_eq!(ask_task(&mut s, w, t0), None);
    assert_eq!(submit(&mut s, 1, 1, t0), JobId(3));
}

#[test]
fn a_job_whose_every_reduce_finished_but_whose_end_was_not_recorded_succeeds() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let mut job = recorded(0, 3, 2, t0);
    job.reduces_done = vec![(0, done(1, 1)), (1, done(1, 1))];
    assert_eq!(s.restore_job(job, t0), Ok(JobState::Succeeded));
    let w = register1(&mut s, t0);
    assert_eq!(ask_task(&mut s, w, t0), None, "no map runs again");
}
