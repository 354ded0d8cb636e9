//! Course workers on our coordinator beside our `mr worker`s: a job's
//! tasks go to one kind only (a course worker's compiled-in app and our
//! plugin need not agree on map output or output format), and a course
//! worker declared dead that comes back is taken back, not refused (it
//! would exit).

use std::time::Duration;

use super::course_worker::CourseWorker;
use super::wc_output;
use crate::common::procs::{Cluster, ClusterConfig, HEARTBEAT_MS, STEP, WORKER_TIMEOUT_MS};
use crate::common::{plugins_dir, poll_until, word_counts, write_files};

/// All the apps; `worker_timeout_ms` `None`: the coordinator's default
/// (long enough for a test's course worker that does not heartbeat while
/// the test waits for other things).
fn config(worker_timeout_ms: Option<u64>) -> ClusterConfig {
    ClusterConfig {
        plugins: plugins_dir(),
        heartbeat_ms: HEARTBEAT_MS,
        worker_timeout_ms,
        state_dir: None,
    }
}

/// `(job, reduce?, task)` of an assignment.
fn what(t: &super::proto::coordinator::GetTaskReply) -> (u32, bool, u32) {
    (t.job_id, t.reduce, t.task)
}

#[test]
fn a_job_runs_on_course_workers_or_on_ours_never_both() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = ["one fish two fish", "red fish blue fish"];
    let inputs: Vec<(String, Vec<u8>)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("in-{i}.txt"), t.as_bytes().to_vec()))
        .collect();
    let files = write_files(&tmp.path().join("in"), &inputs);
    let mut cluster = Cluster::start_with(tmp.path(), 0, config(None));
    let mut course = CourseWorker::register(&cluster.url);

    // The course worker starts job 0.
    let job0 = cluster.submit(&files, &tmp.path().join("out0"), "wc", 1, &[]);
    let first = course.get_task().unwrap().expect("a task");
    assert_eq!(what(&first), (job0, false, 0));

    // Our worker comes, and job 1 after it: our worker runs job 1 to its
    // end and never touches job 0, whose map 1 is still available.
    cluster.add_worker();
    cluster.wait_alive(2);
    let out1 = tmp.path().join("out1");
    let job1 = cluster.submit(&files, &out1, "wc", 2, &[]);
    let end = cluster.wait_job(job1, STEP);
    assert_eq!(end["state"], "succeeded", "{end}");
    assert_eq!(wc_output(&out1, 2), word_counts(&texts));
    let job0_status = cluster.poll(job0);
    assert_eq!(job0_status["maps"]["running"], 1, "{job0_status}");
    assert_eq!(job0_status["maps"]["done"], 0, "{job0_status}");

    // The course worker runs the rest of job 0, reduce included, told
    // that every map output is its own.
    course.heartbeat().unwrap();
    let second = course.get_task().unwrap().expect("map 1 waited for it");
    assert_eq!(what(&second), (job0, false, 1));
    course.finish(&first).unwrap();
    course.finish(&second).unwrap();
    let reduce = course.get_task().unwrap().expect("the reduce");
    assert_eq!(what(&reduce), (job0, true, 0));
    let holders: Vec<u32> = reduce
        .map_task_assignments
        .iter()
        .map(|a| a.worker_id)
        .collect();
    assert_eq!(holders, vec![course.id, course.id]);
    course.write_output(&reduce);
    course.finish(&reduce).unwrap();
    let end = cluster.wait_job(job0, STEP);
    assert_eq!(end["state"], "succeeded", "{end}");
    let ours = cluster
        .workers_json()
        .into_iter()
        .find(|w| w["worker_id"] != course.id)
        .expect("our worker is listed");
    assert_eq!(ours["tasks_completed"], 2 + 2, "job 1's tasks only: {ours}");
}

#[test]
fn a_course_worker_declared_dead_that_comes_back_is_taken_back() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_files(
        &tmp.path().join("in"),
        &[("in.txt".to_string(), b"back again".to_vec())],
    );
    let cluster = Cluster::start_with(tmp.path(), 0, config(Some(WORKER_TIMEOUT_MS)));
    let mut course = CourseWorker::register(&cluster.url);
    let job = cluster.submit(&files, &tmp.path().join("out"), "wc", 1, &[]);
    let lost = course.get_task().unwrap().expect("a task");

    // Silent past the timeout (a long pause, a network cut): declared dead.
    poll_until("the course worker to be declared dead", STEP, || {
        let dead = cluster
            .workers_json()
            .iter()
            .any(|w| w["worker_id"] == course.id && w["state"] == "dead");
        dead.then_some(())
    });
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS));

    // It comes back: answered, not refused (the course's worker exits on
    // an error), alive again under its id, and its lost attempt runs again.
    course
        .heartbeat()
        .expect("a returning course worker is answered");
    assert!(cluster
        .alive_workers()
        .iter()
        .any(|w| w["worker_id"] == course.id));
    course
        .finish(&lost)
        .expect("a stale report is ignored, not refused");
    let again = course.get_task().unwrap().expect("its map again");
    assert_eq!(what(&again), (job, false, 0));
    course.finish(&again).unwrap();
    let reduce = course.get_task().unwrap().expect("the reduce");
    course.write_output(&reduce);
    course.finish(&reduce).unwrap();
    let end = cluster.wait_job(job, STEP);
    assert_eq!(end["state"], "succeeded", "{end}");
    assert!(
        cluster
            .coordinator
            .as_ref()
            .unwrap()
            .log_text()
            .contains("taken back"),
        "the coordinator says so"
    );
}
