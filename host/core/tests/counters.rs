//! Job counters count each task once, by the attempt that was accepted
//! last: a map run again after its worker died replaces its earlier
//! counters; `task_attempts` and `task_failures` count every attempt.

use super::*;

fn read(bytes: u64) -> TaskCounters {
    TaskCounters {
        input_bytes: bytes,
        input_records: 1,
        output_records: bytes,
        output_bytes: bytes,
        shuffle_bytes: 0,
    }
}

#[test]
fn a_map_run_again_after_its_worker_died_counts_once() {
    let t0 = Instant::now();
    let mut s = new_sched();
    let job = submit(&mut s, 2, 1, t0);
    let [w0, w1] = register(&mut s, 2, t0)[..] else {
        unreachable!()
    };
    let first = must_ask(&mut s, w0, t0);
    let other = must_ask(&mut s, w1, t0);
    assert_eq!((first.task, other.task), (m(0, 0), m(0, 1)));
    let done = |s: &mut Scheduler, w, a: &Assignment, bytes, now| {
        let res = s.finish_task(&report(w, a), read(bytes), now);
        assert_eq!(res, Ok(ReportOutcome::Accepted));
    };
    done(&mut s, w0, &first, 10, t0);
    done(&mut s, w1, &other, 5, t0);

    // w0 dies with map 0's output; w1 runs it again, once failing.
    let now = outlive(&mut s, &[w1], t0);
    let again = must_ask(&mut s, w1, now);
    assert_eq!((again.task, again.attempt), (m(0, 0), Attempt(2)));
    let flaky = failure("flaky disk", true, None);
    assert_eq!(
        fail(&mut s, w1, &again, flaky, now),
        ReportOutcome::Accepted
    );
    let last = must_ask(&mut s, w1, now);
    assert_eq!((last.task, last.attempt), (m(0, 0), Attempt(3)));
    done(&mut s, w1, &last, 10, now);

    let st = s.job_status(job).unwrap();
    assert_eq!(st.maps.done, 2);
    assert_eq!(st.counters.input_bytes, 15, "{:?}", st.counters);
    assert_eq!(st.counters.input_records, 2);
    assert_eq!(st.counters.map_output_bytes, 15);
    assert_eq!(st.counters.task_attempts, 4, "every attempt counts");
    assert_eq!(st.counters.task_failures, 1, "{:?}", st.counters);

    let reduce = must_ask(&mut s, w1, now);
    assert_eq!(reduce.task, r(0, 0));
    done(&mut s, w1, &reduce, 3, now);
    let st = s.job_status(job).unwrap();
    assert_eq!(st.state, JobState::Succeeded);
    assert_eq!(st.counters.input_bytes, 18);
    assert_eq!(st.counters.reduce_output_bytes, 3);
}
