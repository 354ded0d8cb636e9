//! Backup attempts of stragglers (the MapReduce paper's section 3.6): a
//! worker that would idle gets a second attempt of its phase's slowest
//! task, at most one per task; the first attempt to finish wins and the
//! other's report is ignored; `speculation` off (coordinator or job) stops
//! it all.

use super::*;
use crate::core::{AttemptOutcome, AttemptRecord, Phase, TaskStatus};

/// A scheduler with speculation on (the default: 1 s floor).
fn speculating() -> Scheduler {
    let s = Scheduler::new(SchedulerConfig::default());
    assert!(s.config().speculation);
    assert_eq!(s.config().speculation_floor, secs(1));
    s
}

/// One job of 3 maps and 1 reduce; w0 runs m0 (the straggler) from `t0`,
/// w1 finishes m1 in 1 s and runs m2 from `t0 + 1 s`; w2 and w3 are idle.
/// Returns the workers and the assignments of m0 and m2.
fn straggler(s: &mut Scheduler, t0: Instant) -> ([WorkerId; 4], Assignment, Assignment) {
    submit(s, 3, 1, t0);
    let [w0, w1, w2, w3] = register(s, 4, t0)[..] else {
        unreachable!()
    };
    let a0 = must_ask(s, w0, t0);
    let a1 = must_ask(s, w1, t0);
    assert_eq!(finish(s, w1, &a1, t0 + secs(1)), ReportOutcome::Accepted);
    let a2 = must_ask(s, w1, t0 + secs(1));
    assert_eq!((a0.task, a2.task), (m(0, 0), m(0, 2)));
    ([w0, w1, w2, w3], a0, a2)
}

/// Map `index`'s attempt history.
fn history(s: &Scheduler, index: usize) -> Vec<AttemptRecord> {
    let (_, tasks) = s.task_statuses(JobId(0), Phase::Map, 0, 10).expect("job");
    let t: &TaskStatus = &tasks[index];
    t.attempts.clone()
}

#[test]
fn no_backup_while_a_task_is_available_or_before_the_threshold() {
    let t0 = Instant::now();
    let mut s = speculating();
    submit(&mut s, 3, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    must_ask(&mut s, w0, t0);
    // m0 has run 10 s, but m1 and m2 wait: w1 gets m1, not a backup.
    assert_eq!(ask_task(&mut s, w1, t0 + secs(10)), Some(m(0, 1)));

    let t0 = Instant::now();
    let mut s = speculating();
    let ([_, _, w2, _], _, _) = straggler(&mut s, t0);
    // All handed out; m0 has run 1.999 s, under twice the median (1 s).
    assert_eq!(ask(&mut s, w2, t0 + ms(1999)), None);
}

#[test]
fn an_idle_worker_learns_when_a_backup_falls_due() {
    let t0 = Instant::now();
    let mut s = speculating();
    let ([w0, _, w2, _], _, _) = straggler(&mut s, t0);
    // m0 (from t0) reaches twice the median (1 s) at 2 s, m2 (from 1 s) at 3 s.
    assert_eq!(s.next_backup_due(w2, t0 + ms(1500)), Some(t0 + secs(2)));
    // w0 runs m0: only m2 can be its backup.
    assert_eq!(s.next_backup_due(w0, t0 + ms(1500)), Some(t0 + secs(3)));
    must_ask(&mut s, w2, t0 + secs(2));
    assert_eq!(s.next_backup_due(w2, t0 + secs(2)), Some(t0 + secs(3)));
    let off = Scheduler::new(SchedulerConfig {
        speculation: false,
        ..SchedulerConfig::default()
    });
    assert_eq!(off.next_backup_due(w2, t0), None);
}

#[test]
fn a_worker_that_would_idle_backs_up_the_slowest_task_once() {
    let t0 = Instant::now();
    let mut s = speculating();
    let ([w0, w1, w2, w3], _, _) = straggler(&mut s, t0);
    // At 2 s, m0 (2 s) has run twice the median; m2 (1 s) has not.
    let b0 = must_ask(&mut s, w2, t0 + secs(2));
    assert_eq!(b0, assignment(spec(3, 1), m(0, 0), 2, Vec::new()));
    // m0 has its backup; now m2 (2 s) is the slowest eligible.
    let b2 = must_ask(&mut s, w3, t0 + secs(3));
    assert_eq!((b2.task, b2.attempt), (m(0, 2), Attempt(2)));
    // Never two backups of a task, and never on the worker running it.
    assert_eq!(ask(&mut s, w3, t0 + secs(60)), None);
    assert_eq!(ask(&mut s, w0, t0 + secs(60)), None);
    assert_eq!(ask(&mut s, w1, t0 + secs(60)), None);
    assert_eq!(
        running_on(&s, w2, t0 + secs(3)),
        vec![(m(0, 0), Attempt(2))]
    );
    assert_eq!(s.available_tasks(), 0);
}

#[test]
fn the_backup_finishing_first_wins_and_the_first_attempt_is_ignored() {
    let t0 = Instant::now();
    let mut s = speculating();
    let ([w0, w1, w2, _], a0, a2) = straggler(&mut s, t0);
    let b0 = must_ask(&mut s, w2, t0 + secs(2));
    assert_eq!(
        finish(&mut s, w2, &b0, t0 + secs(3)),
        ReportOutcome::Accepted
    );
    assert_eq!(running_on(&s, w0, t0 + secs(3)), vec![]);
    assert_eq!(
        finish(&mut s, w0, &a0, t0 + secs(4)),
        ReportOutcome::Ignored
    );
    let late = s.fail_task(&report(w0, &a0), failure("late", false, None), t0 + secs(4));
    assert_eq!(late, Ok(ReportOutcome::Ignored));
    assert_eq!(
        history(&s, 0),
        vec![
            AttemptRecord {
                attempt: Attempt(1),
                worker: w0,
                started_at: t0,
                ended_at: Some(t0 + secs(3)),
                outcome: AttemptOutcome::Superseded,
            },
            AttemptRecord {
                attempt: Attempt(2),
                worker: w2,
                started_at: t0 + secs(2),
                ended_at: Some(t0 + secs(3)),
                outcome: AttemptOutcome::Succeeded,
            },
        ]
    );
    assert_eq!(
        finish(&mut s, w1, &a2, t0 + secs(4)),
        ReportOutcome::Accepted
    );
    // The reduce fetches m0 from the winner, by its attempt.
    let r0 = must_ask(&mut s, w0, t0 + secs(4));
    assert_eq!(
        r0.map_locations,
        vec![loc(0, 2, w2), loc(1, 1, w1), loc(2, 1, w1)]
    );
    assert_eq!(
        finish(&mut s, w0, &r0, t0 + secs(5)),
        ReportOutcome::Accepted
    );
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    let status = s.job_status(JobId(0)).expect("job");
    assert_eq!(status.counters.task_attempts, 5);
}

#[test]
fn the_first_attempt_finishing_first_wins_and_the_backup_is_ignored() {
    let t0 = Instant::now();
    let mut s = speculating();
    let ([w0, _, w2, _], a0, _) = straggler(&mut s, t0);
    let b0 = must_ask(&mut s, w2, t0 + secs(2));
    assert_eq!(
        finish(&mut s, w0, &a0, t0 + secs(3)),
        ReportOutcome::Accepted
    );
    assert_eq!(running_on(&s, w2, t0 + secs(3)), vec![]);
    assert_eq!(
        finish(&mut s, w2, &b0, t0 + secs(4)),
        ReportOutcome::Ignored
    );
    let outcomes: Vec<_> = history(&s, 0).into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![AttemptOutcome::Succeeded, AttemptOutcome::Superseded]
    );
}

#[test]
fn one_attempt_failing_or_lost_leaves_the_other_running() {
    let t0 = Instant::now();
    let mut s = speculating();
    let ([w0, w1, w2, w3], a0, a2) = straggler(&mut s, t0);
    let b0 = must_ask(&mut s, w2, t0 + secs(2));
    let b2 = must_ask(&mut s, w3, t0 + secs(3));
    // m0's backup fails: the first attempt runs on, and gets no second backup.
    let outcome = fail(
        &mut s,
        w2,
        &b0,
        failure("disk full", true, None),
        t0 + secs(4),
    );
    assert_eq!(outcome, ReportOutcome::Accepted);
    assert_eq!(s.available_tasks(), 0);
    assert_eq!(ask(&mut s, w2, t0 + secs(60)), None);
    // w1, running m2's first attempt, dies: the backup on w3 runs on; only
    // m1, whose output died with w1, is available again.
    let now = outlive(&mut s, &[w0, w2, w3], t0 + secs(4));
    assert_eq!(events(&mut s), vec![Event::WorkerDied(w1)]);
    assert_eq!(running_on(&s, w3, now), vec![(m(0, 2), Attempt(2))]);
    assert_eq!(s.available_tasks(), 1);
    assert_eq!(ask_task(&mut s, w2, now), Some(m(0, 1)));
    assert_eq!(finish(&mut s, w3, &b2, now), ReportOutcome::Accepted);
    assert_eq!(finish(&mut s, w0, &a0, now), ReportOutcome::Accepted);
    let m2 = history(&s, 2);
    let outcomes: Vec<_> = m2.iter().map(|r| (r.worker, r.outcome.clone())).collect();
    assert_eq!(
        outcomes,
        vec![(w1, AttemptOutcome::Lost), (w3, AttemptOutcome::Succeeded)]
    );
    assert_eq!(a2.task, m(0, 2));
}

#[test]
fn speculation_off_for_the_coordinator_or_the_job_means_no_backup() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        speculation: false,
        ..SchedulerConfig::default()
    });
    let ([_, _, w2, _], _, _) = straggler(&mut s, t0);
    assert_eq!(ask(&mut s, w2, t0 + secs(60)), None);

    // The job's own switch overrides the coordinator's, both ways.
    for (coordinator, job, backup) in [(true, false, false), (false, true, true)] {
        let mut s = Scheduler::new(SchedulerConfig {
            speculation: coordinator,
            ..SchedulerConfig::default()
        });
        let job_spec = JobSpec {
            speculation: Some(job),
            ..spec(1, 1)
        };
        s.submit(job_spec, t0).expect("valid job");
        let [w0, w1] = register(&mut s, 2, t0)[..] else {
            unreachable!()
        };
        must_ask(&mut s, w0, t0);
        let got = ask(&mut s, w1, t0 + secs(60)).map(|a| (a.task, a.attempt));
        assert_eq!(got, backup.then_some((m(0, 0), Attempt(2))));
    }
}

#[test]
fn a_straggling_reduce_gets_a_backup_and_the_job_succeeds_once() {
    let t0 = Instant::now();
    let mut s = speculating();
    submit(&mut s, 1, 2, t0);
    let [w0, w1, w2] = register(&mut s, 3, t0)[..] else {
        unreachable!()
    };
    let a = must_ask(&mut s, w0, t0);
    finish(&mut s, w0, &a, t0);
    let r0 = must_ask(&mut s, w0, t0);
    let r1 = must_ask(&mut s, w1, t0);
    assert_eq!(
        finish(&mut s, w0, &r0, t0 + secs(1)),
        ReportOutcome::Accepted
    );
    let b1 = must_ask(&mut s, w2, t0 + secs(2));
    assert_eq!((b1.task, b1.attempt), (r(0, 1), Attempt(2)));
    assert_eq!(b1.map_locations, vec![loc(0, 1, w0)]);
    assert_eq!(
        finish(&mut s, w2, &b1, t0 + secs(3)),
        ReportOutcome::Accepted
    );
    assert_eq!(state(&s, JobId(0)), JobState::Succeeded);
    let ended = events(&mut s);
    assert_eq!(ended.len(), 1);
    assert_eq!(
        finish(&mut s, w1, &r1, t0 + secs(4)),
        ReportOutcome::Ignored
    );
    assert_eq!(events(&mut s), vec![]);
}

#[test]
fn a_job_spec_stored_before_the_switch_existed_follows_the_coordinator() {
    let old = r#"{"files":["f0"],"output_dir":"/out","app":"wc","n_reduce":1,"args":[]}"#;
    let spec: JobSpec = serde_json::from_str(old).expect("an old stored spec");
    assert_eq!(spec.speculation, None);
    let new = serde_json::to_string(&JobSpec {
        speculation: Some(false),
        ..spec
    })
    .expect("json");
    let back: JobSpec = serde_json::from_str(&new).expect("round trip");
    assert_eq!(back.speculation, Some(false));
}
