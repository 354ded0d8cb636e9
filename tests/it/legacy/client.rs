//! Our `mr` client on the course's coordinator, which offers clients only
//! `SubmitJob` and `PollJob`: `--wait` follows a job by polling, a failed
//! job shows as failed, and what the coordinator lacks is named.

use super::coordinator::LegacyCoordinator;
use super::{legacy_port_base, start_worker, wc_output};
use crate::common::procs::{run_mr, submit_args, CmdOutput};
use crate::common::{path_str, word_counts, write_files};

/// The words `mr` printed on standard error, checked for an empty
/// "mr: error:" (a status without a message).
fn assert_says(out: &CmdOutput, part: &str) {
    assert!(out.stderr.contains(part), "no {part:?} in {out:#?}");
    assert!(
        !out.stderr.lines().any(|l| l.trim_end().ends_with("error:")),
        "an empty error: {out:#?}"
    );
}

#[test]
fn our_client_submits_waits_polls_and_names_what_the_course_coordinator_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = ["a rose is a rose", "is it a rose"];
    let inputs: Vec<(String, Vec<u8>)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("in-{i}.txt"), t.as_bytes().to_vec()))
        .collect();
    let files = write_files(&tmp.path().join("in"), &inputs);
    let bad = write_files(
        &tmp.path().join("bad"),
        &[("edges.txt".to_string(), b"1 2\n1 two\n".to_vec())],
    );
    let coordinator = LegacyCoordinator::start();
    let url = coordinator.url();
    let _worker = start_worker(tmp.path(), "worker", &url, legacy_port_base(1));

    // `--wait` follows the job without WatchJob.
    let out = tmp.path().join("out");
    let done = run_mr(submit_args(&url, &files, &out, "wc", 2, true, &[]));
    assert!(done.status.success(), "{done:#?}");
    assert_eq!(done.stdout, "0\n", "{done:#?}");
    assert_says(&done, "succeeded in");
    assert_says(&done, &path_str(&out));
    assert_eq!(wc_output(&out, 2), word_counts(&texts));

    // A failed job ends `--wait` as failed, with its error...
    let bad_out = tmp.path().join("bad-out");
    let failed = run_mr(submit_args(
        &url,
        &bad,
        &bad_out,
        "vertex-degree",
        1,
        true,
        &[],
    ));
    assert!(!failed.status.success(), "{failed:#?}");
    assert_says(&failed, "job 1 failed");
    assert_says(&failed, "line 2");
    // ...and `mr poll` shows it failed, not running.
    let poll = run_mr(["poll", "1", "--coordinator", &url]).ok();
    assert!(poll.stdout.starts_with("job 1 (): failed\n"), "{poll:#?}");
    let json = run_mr(["poll", "1", "--json", "--coordinator", &url])
        .ok()
        .json();
    assert_eq!(json["state"], "failed", "{json}");
    assert_eq!(json["done"], true, "{json}");
    assert_eq!(json["job_id"], 1, "{json}");

    for (args, what) in [
        (vec!["jobs"], "job listings"),
        (vec!["workers"], "worker listings"),
        (vec!["apps"], "app listings"),
        (vec!["cancel", "0"], "cancelling jobs"),
    ] {
        let mut args: Vec<&str> = args;
        args.extend(["--coordinator", &url]);
        let out = run_mr(&args);
        assert!(!out.status.success(), "{out:#?}");
        assert_says(&out, &format!("does not offer {what}"));
    }
}
