//! A job's tasks go to one kind of worker: course workers (registered
//! without an address, apps compiled in) or plugin workers, never both;
//! a worker skips the other kind's jobs but never idles while a job it may
//! run has a task available; the binding lapses when the job keeps nothing
//! (no task running or done). A course worker declared dead that comes back
//! is taken back as a fresh worker under its id.

use super::*;
use crate::core::{WorkerKind, WorkerState};

/// A course worker: registered without an address.
fn course(s: &mut Scheduler, now: Instant) -> WorkerId {
    s.register_worker(None, now)
}

#[test]
fn a_job_started_by_one_kind_is_skipped_by_the_other() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let p = register1(&mut s, t0);
    let c = course(&mut s, t0);
    submit(&mut s, 2, 1, t0);
    assert_eq!(ask_task(&mut s, p, t0), Some(m(0, 0)));
    // Map 1 is available, but job 0 is the plugin workers'.
    assert_eq!(ask_task(&mut s, c, t0), None);
    // A later job is free: the course worker takes it, past job 0.
    submit(&mut s, 1, 1, t0);
    assert_eq!(ask_task(&mut s, c, t0), Some(m(1, 0)));
    // And the plugin worker skips job 1 once it is the course worker's.
    assert_eq!(ask_task(&mut s, p, t0), Some(m(0, 1)));
    submit(&mut s, 1, 1, t0);
    assert_eq!(ask_task(&mut s, p, t0), Some(m(2, 0)));
}

#[test]
fn reduces_go_to_the_kind_that_ran_the_maps() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let c = course(&mut s, t0);
    let p = register1(&mut s, t0);
    submit(&mut s, 1, 2, t0);
    assert_eq!(run_one(&mut s, c, t0), Some(m(0, 0)));
    assert_eq!(
        ask_task(&mut s, p, t0),
        None,
        "the reduces are the course's"
    );
    assert_eq!(run_one(&mut s, c, t0), Some(r(0, 0)));
    assert_eq!(run_one(&mut s, c, t0), Some(r(0, 1)));
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn the_binding_lapses_when_the_job_keeps_nothing() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let c = course(&mut s, t0);
    submit(&mut s, 1, 1, t0);
    assert_eq!(ask_task(&mut s, c, t0), Some(m(0, 0)));
    let p = register1(&mut s, t0 + secs(5));
    assert_eq!(ask_task(&mut s, p, t0 + secs(5)), None);
    // The course worker dies running the only map: nothing is kept, so
    // the plugin worker may take the job over.
    s.tick(t0 + TIMEOUT);
    assert_eq!(ask_task(&mut s, p, t0 + TIMEOUT), Some(m(0, 0)));
}

#[test]
fn a_finished_reduce_keeps_the_job_with_its_kind() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let c = course(&mut s, t0);
    submit(&mut s, 1, 2, t0);
    assert_eq!(run_one(&mut s, c, t0), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, c, t0), Some(r(0, 0)));
    // It dies: its map output is lost and map 0 pending again, but reduce
    // 0's output is the course app's, so the job stays the course's.
    let p = register1(&mut s, t0 + secs(5));
    s.tick(t0 + TIMEOUT);
    assert_eq!(ask_task(&mut s, p, t0 + TIMEOUT), None);
    let c2 = course(&mut s, t0 + TIMEOUT);
    assert_eq!(run_one(&mut s, c2, t0 + TIMEOUT), Some(m(0, 0)));
    assert_eq!(run_one(&mut s, c2, t0 + TIMEOUT), Some(r(0, 1)));
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
}

#[test]
fn a_course_worker_declared_dead_comes_back_fresh() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let c = course(&mut s, t0);
    let p = register1(&mut s, t0);
    submit(&mut s, 2, 1, t0);
    let stale = must_ask(&mut s, c, t0);
    assert_eq!(stale.task, m(0, 0));
    s.heartbeat(p, t0 + secs(4)).unwrap();
    s.tick(t0 + TIMEOUT);
    assert_eq!(events(&mut s), vec![Event::WorkerDied(c)]);
    // It never knew: its heartbeat is answered, not refused...
    let back = t0 + TIMEOUT + secs(1);
    assert_eq!(s.heartbeat(c, back), Ok(()));
    assert_eq!(events(&mut s), vec![Event::WorkerReturned(c)]);
    // ...its report of the attempt it lost is stale...
    assert_eq!(finish(&mut s, c, &stale, back), ReportOutcome::Ignored);
    // ...and it runs tasks again (the job kept nothing: any kind may).
    let again = must_ask(&mut s, c, back);
    assert_eq!((again.task, again.attempt), (m(0, 0), Attempt(2)));
    assert_eq!(finish(&mut s, c, &again, back), ReportOutcome::Accepted);
    // It is alive and timed again from its return.
    let states: Vec<WorkerState> = s.worker_statuses(back).iter().map(|w| w.state).collect();
    assert_eq!(states, vec![WorkerState::Alive, WorkerState::Alive]);
    s.tick(back + TIMEOUT - ms(1));
    assert_eq!(events(&mut s), vec![Event::WorkerDied(p)]);
    // A plugin worker declared dead must register again.
    assert_eq!(
        s.heartbeat(p, back + TIMEOUT),
        Err(CoreError::WorkerDead(p))
    );
}

#[test]
fn no_backup_attempt_crosses_kinds() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        speculation: true,
        ..SchedulerConfig::default()
    });
    let p = register1(&mut s, t0);
    let p2 = register1(&mut s, t0);
    let c = course(&mut s, t0);
    submit(&mut s, 2, 1, t0);
    let a = must_ask(&mut s, p, t0);
    let b = must_ask(&mut s, p2, t0);
    assert_eq!(
        finish(&mut s, p2, &b, t0 + secs(1)),
        ReportOutcome::Accepted
    );
    // Map 0 straggles: another plugin worker would get a backup of it, the
    // course worker does not.
    let late = t0 + secs(60);
    s.heartbeat(p, late).unwrap();
    assert_eq!(s.next_backup_due(c, late), None);
    assert_eq!(ask_task(&mut s, c, late), None);
    assert_eq!(ask_task(&mut s, p2, late), Some(a.task));
}

#[test]
fn only_the_tasks_a_kind_may_run_count_as_available_to_it() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let c = course(&mut s, t0);
    submit(&mut s, 3, 1, t0);
    submit(&mut s, 2, 1, t0);
    assert_eq!(ask_task(&mut s, c, t0), Some(m(0, 0)));
    // Job 0's two maps are the course workers'; job 1's two anyone's.
    assert_eq!(s.available_tasks(), 4);
    assert_eq!(s.available_tasks_for(WorkerKind::Plugin, 10), 2);
    assert_eq!(s.available_tasks_for(WorkerKind::CompiledIn, 10), 4);
    assert_eq!(s.available_tasks_for(WorkerKind::CompiledIn, 3), 3);
    assert_eq!(s.available_tasks_for(WorkerKind::Plugin, 1), 1);
}
