//! The bounded history of ended jobs: compaction (here at the end, with no
//! job kept in detail), forgetting by
//! count and by age (driven by `tick` and announced by `next_deadline`),
//! ids never reused, and the changed-job feed that wakes only the watchers
//! of jobs that moved.

use super::*;
use crate::core::{CoreError, Retention};

fn with_retention(max_jobs: usize, max_age: Duration) -> Scheduler {
    Scheduler::new(SchedulerConfig {
        worker_timeout: Duration::from_secs(3600),
        // Compacted at once (detail for none), as these tests expect.
        retention: Retention {
            max_jobs,
            max_age,
            detailed: 0,
        },
        ..SchedulerConfig::default()
    })
}

/// Submits a job of `n_map` maps and one reduce and runs it to success.
fn run_job(s: &mut Scheduler, w: WorkerId, n_map: u32, now: Instant) -> JobId {
    let job = submit(s, n_map, 1, now);
    drain(s, w, now);
    assert_eq!(state(s, job), JobState::Succeeded);
    job
}

fn forgotten(s: &mut Scheduler) -> Vec<JobId> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            Event::JobForgotten(j) => Some(j),
            _ => None,
        })
        .collect()
}

#[test]
fn an_ended_job_drops_its_tasks_but_keeps_its_summary() {
    let t0 = Instant::now();
    let mut s = with_retention(10, secs(3600));
    let w = register1(&mut s, t0);
    let job = submit(&mut s, 100, 3, t0);
    assert_eq!(s.tasks_held(), 103);
    drain(&mut s, w, t0);
    let st = s.job_status(job).expect("kept");
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!((st.maps.total, st.maps.done), (100, 100));
    assert_eq!((st.reduces.total, st.reduces.done), (3, 3));
    assert_eq!(st.counters.task_attempts, 103);
    assert!(st.spec.files.is_empty(), "the input list is dropped");
    assert_eq!(s.tasks_held(), 0, "per-task state is dropped");
}

#[test]
fn a_cancelled_job_is_compacted_with_its_errors() {
    let t0 = Instant::now();
    let mut s = with_retention(10, secs(3600));
    let w = register1(&mut s, t0);
    let job = submit(&mut s, 3, 1, t0);
    let a = must_ask(&mut s, w, t0);
    s.cancel(job, t0).unwrap();
    assert_eq!(s.tasks_held(), 0);
    let st = s.job_status(job).unwrap();
    assert_eq!(st.state, JobState::Cancelled);
    assert_eq!(st.maps.running, 0);
    assert_eq!(st.errors, vec!["cancelled".to_string()]);
    // A late report about the compacted job changes nothing.
    let before = s.job_status(job);
    assert_eq!(finish(&mut s, w, &a, t0), ReportOutcome::Ignored);
    assert_eq!(s.job_status(job), before);
}

#[test]
fn beyond_the_count_the_oldest_ended_jobs_are_forgotten() {
    let t0 = Instant::now();
    let mut s = with_retention(2, secs(3600));
    let w = register1(&mut s, t0);
    let jobs: Vec<JobId> = (0..4).map(|_| run_job(&mut s, w, 1, t0)).collect();
    assert_eq!(s.ended_jobs(), 2);
    assert_eq!(s.job_status(jobs[0]), Err(CoreError::JobForgotten(jobs[0])));
    assert_eq!(s.job_status(jobs[1]), Err(CoreError::JobForgotten(jobs[1])));
    assert!(s.job_status(jobs[2]).is_ok());
    assert!(s.job_status(jobs[3]).is_ok());
    assert_eq!(forgotten(&mut s), vec![jobs[0], jobs[1]]);
    let msg = CoreError::JobForgotten(jobs[0]).to_string();
    assert!(
        msg.contains("forgotten") && msg.contains("--retain-jobs"),
        "{msg}"
    );
    // Ids are never reused, and an id never handed out is unknown.
    let next = submit(&mut s, 1, 1, t0);
    assert_eq!(next, JobId(4));
    assert_eq!(s.job_status(JobId(9)), Err(CoreError::UnknownJob(JobId(9))));
    assert_eq!(s.job_statuses().len(), 3);
}

#[test]
fn unfinished_jobs_are_never_forgotten() {
    let t0 = Instant::now();
    let mut s = with_retention(1, secs(1));
    let w = register1(&mut s, t0);
    let waiting = submit(&mut s, 1, 1, t0);
    let queued = submit(&mut s, 1, 1, t0);
    let a = must_ask(&mut s, w, t0);
    s.tick(t0 + secs(100));
    assert_eq!(state(&s, waiting), JobState::Running);
    assert_eq!(state(&s, queued), JobState::Queued);
    assert_eq!(
        finish(&mut s, w, &a, t0 + secs(100)),
        ReportOutcome::Accepted
    );
}

#[test]
fn ended_jobs_age_out_at_the_deadline_tick_is_given() {
    let t0 = Instant::now();
    let mut s = with_retention(100, secs(60));
    let w = register1(&mut s, t0);
    let old = run_job(&mut s, w, 1, t0);
    let young = run_job(&mut s, w, 1, t0 + secs(30));
    events(&mut s);
    // The worker's deadline is an hour away; the history's comes first.
    assert_eq!(s.next_deadline(), Some(t0 + secs(60)));
    s.tick(t0 + secs(59));
    assert!(s.job_status(old).is_ok());
    s.tick(t0 + secs(60));
    assert_eq!(s.job_status(old), Err(CoreError::JobForgotten(old)));
    assert!(s.job_status(young).is_ok());
    assert_eq!(forgotten(&mut s), vec![old]);
    assert_eq!(s.next_deadline(), Some(t0 + secs(90)));
    s.tick(t0 + secs(90));
    assert_eq!(s.ended_jobs(), 0);
}

#[test]
fn changed_jobs_name_only_the_jobs_that_moved() {
    let t0 = Instant::now();
    let mut s = with_retention(1, secs(3600));
    let w = register1(&mut s, t0);
    let a = submit(&mut s, 2, 1, t0);
    let b = submit(&mut s, 1, 1, t0);
    let changed =
        |s: &mut Scheduler| std::iter::from_fn(|| s.poll_changed_job()).collect::<Vec<_>>();
    assert_eq!(changed(&mut s), vec![a, b]);
    assert_eq!(changed(&mut s), vec![]);
    must_ask(&mut s, w, t0);
    assert_eq!(changed(&mut s), vec![a]);
    s.cancel(b, t0).unwrap();
    assert_eq!(changed(&mut s), vec![b]);
    s.cancel(a, t0).unwrap();
    // `a` ended, and `b` left the history of one.
    assert_eq!(changed(&mut s), vec![a, b]);
}

#[test]
fn the_summary_counts_tasks_of_unfinished_jobs_and_attempts_of_forgotten_ones() {
    let t0 = Instant::now();
    let mut s = with_retention(1, secs(3600));
    let w = register(&mut s, 2, t0);
    run_job(&mut s, w[0], 2, t0);
    run_job(&mut s, w[0], 1, t0);
    let open = submit(&mut s, 3, 2, t0);
    must_ask(&mut s, w[1], t0);
    let sum = s.summary();
    assert_eq!(
        sum.jobs,
        [
            (JobState::Queued, 0),
            (JobState::Running, 1),
            (JobState::Succeeded, 1),
            (JobState::Failed, 0),
            (JobState::Cancelled, 0),
        ]
    );
    assert_eq!(
        (sum.maps.pending, sum.maps.running, sum.maps.done),
        (2, 1, 0)
    );
    assert_eq!((sum.reduces.pending, sum.reduces.running), (2, 0));
    // 3 attempts of the forgotten job, 2 of the kept one, 1 of the open one.
    assert_eq!(sum.task_attempts, 6);
    assert_eq!((sum.workers_alive, sum.workers_dead), (2, 0));
    assert!(s.job_status(open).is_ok());
}

#[test]
fn the_newest_ended_jobs_keep_their_detail() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        worker_timeout: Duration::from_secs(3600),
        retention: Retention {
            max_jobs: 10,
            max_age: secs(3600),
            detailed: 2,
        },
        ..SchedulerConfig::default()
    });
    let w = register1(&mut s, t0);
    let jobs: Vec<JobId> = (0..3).map(|_| run_job(&mut s, w, 2, t0)).collect();
    // The two newest keep their tasks (2 maps + 1 reduce each); the oldest
    // was compacted when the third ended.
    assert_eq!(s.tasks_held(), 6);
    assert!(s.job_status(jobs[0]).expect("kept").spec.files.is_empty());
    assert_eq!(s.job_status(jobs[2]).expect("kept").spec.files.len(), 2);
}
