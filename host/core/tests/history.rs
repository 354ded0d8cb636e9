//! Attempt histories: every attempt of a task with its worker, start, end
//! and outcome (the web UI's task table and timeline), and what a worker
//! ran.

use super::*;
use crate::core::{AttemptOutcome, AttemptRecord, Phase, TaskStage, TaskStatus, WorkerRun};

fn record(
    attempt: u32,
    worker: WorkerId,
    started_at: Instant,
    ended_at: Option<Instant>,
    outcome: AttemptOutcome,
) -> AttemptRecord {
    AttemptRecord {
        attempt: Attempt(attempt),
        worker,
        started_at,
        ended_at,
        outcome,
    }
}

#[test]
fn a_tasks_attempts_record_failure_loss_success_and_abandon() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 1, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let (t1, t2, t3) = (t0 + secs(1), t0 + secs(2), t0 + secs(3));
    let a1 = must_ask(&mut s, w0, t1);
    fail(&mut s, w0, &a1, failure("disk full", true, None), t2);
    let a2 = must_ask(&mut s, w1, t3);
    assert_eq!(a2.attempt, Attempt(2));
    // w1 falls silent while running attempt 2; w0 stays alive.
    let t4 = t3 + TIMEOUT + ms(1);
    s.heartbeat(w0, t4).expect("alive");
    s.tick(t4);
    let t5 = t4 + secs(1);
    let a3 = must_ask(&mut s, w0, t5);
    assert_eq!(a3.task, m(0, 0));
    let t6 = t5 + secs(2);
    finish(&mut s, w0, &a3, t6);
    let a4 = must_ask(&mut s, w0, t6);
    assert_eq!(a4.task, r(0, 0));
    // While it runs, its duration grows with the `now` the caller passes.
    let (_, reduces) = s.task_statuses(job, Phase::Reduce, 0, 10).expect("job");
    assert_eq!(reduces[0].stage, TaskStage::Running);
    assert_eq!(reduces[0].attempts[0].duration(t6 + secs(4)), secs(4));
    let t7 = t6 + secs(5);
    s.cancel(job, t7).expect("cancel");

    let (total, maps) = s.task_statuses(job, Phase::Map, 0, 10).expect("job");
    assert_eq!(total, 1);
    assert_eq!(
        maps,
        vec![TaskStatus {
            task: m(0, 0),
            input: Some("f0".to_string()),
            stage: TaskStage::Done,
            attempts: vec![
                record(
                    1,
                    w0,
                    t1,
                    Some(t2),
                    AttemptOutcome::Failed {
                        error: "disk full".into()
                    }
                ),
                record(2, w1, t3, Some(t4), AttemptOutcome::Lost),
                record(3, w0, t5, Some(t6), AttemptOutcome::Succeeded),
            ],
        }]
    );
    assert_eq!(maps[0].last_error(), Some("disk full"));
    assert_eq!(maps[0].attempts[2].duration(t7), secs(2));
    let (_, reduces) = s.task_statuses(job, Phase::Reduce, 0, 10).expect("job");
    assert_eq!(
        reduces[0].attempts,
        vec![record(1, w0, t6, Some(t7), AttemptOutcome::Abandoned)]
    );
    assert_eq!(reduces[0].input, None);
    assert_eq!(reduces[0].stage, TaskStage::Pending);

    // What each worker ran, newest first.
    let runs = |s: &Scheduler, w| -> Vec<(TaskId, u32)> {
        s.worker_runs(w, 10)
            .expect("known worker")
            .into_iter()
            .map(|WorkerRun { task, record }| (task, record.attempt.0))
            .collect()
    };
    assert_eq!(runs(&s, w0), vec![(r(0, 0), 1), (m(0, 0), 3), (m(0, 0), 1)]);
    assert_eq!(runs(&s, w1), vec![(m(0, 0), 2)]);
    assert_eq!(s.worker_runs(w0, 1).map(|v| v.len()), Some(1));
    assert_eq!(s.worker_runs(WorkerId(9), 10), None);
    assert_eq!(
        s.task_statuses(JobId(9), Phase::Map, 0, 10),
        Err(CoreError::UnknownJob(JobId(9)))
    );
}

#[test]
fn lost_map_output_and_released_assignments_show_in_the_history() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let t1 = t0 + secs(1);
    let a0 = must_ask(&mut s, w0, t1);
    finish(&mut s, w0, &a0, t1);
    let a1 = must_ask(&mut s, w1, t1);
    finish(&mut s, w1, &a1, t1);
    let t2 = t1 + secs(1);
    let a2 = must_ask(&mut s, w0, t2);
    assert_eq!(a2.task, r(0, 0));
    // w1 dies: the map output it held is lost; that attempt had succeeded.
    let t3 = t1 + TIMEOUT + ms(1);
    s.heartbeat(w0, t3).expect("alive");
    s.tick(t3);
    // w0 says it runs nothing: the reduce's assignment never arrived.
    let t4 = t3 + secs(1);
    s.worker_idle(w0, t4).expect("alive");

    let (total, maps) = s.task_statuses(job, Phase::Map, 1, 5).expect("job");
    assert_eq!(total, 2);
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].task, m(0, 1));
    assert_eq!(maps[0].stage, TaskStage::Pending);
    assert_eq!(
        maps[0].attempts,
        vec![record(1, w1, t1, Some(t1), AttemptOutcome::OutputLost)]
    );
    assert_eq!(maps[0].last_error(), None);
    let (_, reduces) = s.task_statuses(job, Phase::Reduce, 0, 5).expect("job");
    assert_eq!(
        reduces[0].attempts,
        vec![record(1, w0, t2, Some(t4), AttemptOutcome::Released)]
    );
}
