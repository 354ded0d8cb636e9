//! Tests of the map output store: attempts, memory and files, adoption.

use super::*;
use bytes::Bytes;

fn output(attempt: u32) -> MapOutput {
    MapOutput::new(
        Some(Attempt(attempt)),
        vec![Run::memory(&b"p0"[..]), Run::memory(&b"p1"[..])],
    )
}

fn part(job: u32, map_task: u32, reduce_task: u32, attempt: u32) -> PartitionRef {
    PartitionRef {
        job: JobId(job),
        map_task,
        attempt: (attempt != 0).then_some(Attempt(attempt)),
        reduce_task,
    }
}

fn bytes(r: Result<Run, StoreError>) -> Result<Bytes, StoreError> {
    r.map(|run| run.to_bytes().unwrap())
}

#[test]
fn serves_partitions_by_attempt() {
    let s = MapOutputStore::default();
    s.insert(JobId(1), 0, output(2));
    assert_eq!(
        bytes(s.partition(part(1, 0, 1, 0))),
        Ok(Bytes::from_static(b"p1"))
    );
    assert_eq!(
        bytes(s.partition(part(1, 0, 0, 2))),
        Ok(Bytes::from_static(b"p0"))
    );
    assert_eq!(
        bytes(s.partition(part(1, 0, 0, 1))),
        Err(StoreError::OtherAttempt {
            job: JobId(1),
            map_task: 0,
            held: Attempt(2),
            wanted: Attempt(1)
        })
    );
    assert_eq!(
        bytes(s.partition(part(1, 1, 0, 0))),
        Err(StoreError::Missing {
            job: JobId(1),
            map_task: 1
        })
    );
    assert!(matches!(
        s.partition(part(1, 0, 5, 0)),
        Err(StoreError::NoPartition { n: 2, .. })
    ));
}

#[test]
fn held_lists_known_attempts_and_keep_only_drops_the_rest() {
    let s = MapOutputStore::default();
    // Made before the worker ever registered: no state, never offered.
    s.insert(JobId(9), 0, output(1));
    s.set_state(7);
    s.insert(JobId(1), 0, output(2));
    s.insert(JobId(1), 1, output(1));
    s.insert(
        JobId(2),
        0,
        MapOutput::new(None, vec![Run::memory(&b"x"[..])]),
    );
    assert_eq!(
        s.held(),
        vec![(7, JobId(1), 0, Attempt(2)), (7, JobId(1), 1, Attempt(1))]
    );
    assert_eq!(
        s.keep_only(&[(JobId(1), 1, Attempt(1)), (JobId(1), 0, Attempt(1))]),
        3
    );
    assert_eq!(s.held(), vec![(7, JobId(1), 1, Attempt(1))]);
    assert_eq!(s.bytes_held(), 4);
}

#[test]
fn remove_job_frees_only_that_job() {
    let s = MapOutputStore::default();
    s.insert(JobId(1), 0, output(1));
    s.insert(JobId(2), 0, output(1));
    assert_eq!(s.remove_job(JobId(1)), 4);
    assert!(s.partition(part(1, 0, 0, 0)).is_err());
    assert!(s.partition(part(2, 0, 0, 0)).is_ok());
    assert_eq!(s.bytes_held(), 4);
}

/// A store of 1 MiB whose scratch folder goes in `parent`.
fn store_in(parent: &std::path::Path) -> MapOutputStore {
    MapOutputStore::new(StoreConfig {
        memory_limit: 1 << 20,
        work_dir: parent.to_path_buf(),
        held: None,
    })
}

#[test]
fn removing_a_job_deletes_its_files_and_gives_back_its_memory() {
    let parent = tempfile::tempdir().unwrap();
    let s = store_in(parent.path());
    let file = s.work_dir().create_file("out").unwrap();
    file.write_all_at(b"disk", 0).unwrap();
    let path = file.path().to_path_buf();
    let disk = Run::Disk(super::super::spill::DiskRange {
        file,
        offset: 0,
        len: 4,
    });
    assert!(s.memory().try_reserve(2));
    let mut out = MapOutput::new(Some(Attempt(1)), vec![disk, Run::memory(&b"me"[..])]);
    out.charge = Some(Charge::reserved(s.memory().clone(), 2));
    s.insert(JobId(7), 0, out);
    assert_eq!(s.memory_held(), 2);
    assert_eq!(
        &s.partition(part(7, 0, 0, 1)).unwrap().to_bytes().unwrap()[..],
        b"disk"
    );
    assert_eq!(s.remove_job(JobId(7)), 6);
    assert!(!path.exists());
    assert_eq!(s.memory_held(), 0);
    let root = s.work_dir().created().unwrap().to_path_buf();
    drop(s);
    assert!(!root.exists(), "the work dir goes with the store");
}

#[test]
fn only_files_an_executor_moved_into_the_folder_are_adopted() {
    let parent = tempfile::tempdir().unwrap();
    let s = store_in(parent.path());
    let folder = s.work_dir().path().unwrap().to_path_buf();
    let moved = folder.join(format!("{HANDED_OVER_PREFIX}1-0"));
    std::fs::write(&moved, b"p0p1").unwrap();
    let name = moved.display().to_string();
    let runs = s
        .adopt_files(&[(name.as_str(), 0, 2), (name.as_str(), 2, 2)])
        .unwrap();
    let got: Vec<Bytes> = runs.iter().map(|r| r.to_bytes().unwrap()).collect();
    assert_eq!(got, [Bytes::from_static(b"p0"), Bytes::from_static(b"p1")]);
    s.insert(JobId(3), 0, MapOutput::new(Some(Attempt(1)), runs));
    assert_eq!(s.remove_job(JobId(3)), 4);
    assert!(!moved.exists(), "the adopted file is the store's to remove");

    // Anything else named in a reply is refused and left alone.
    let elsewhere = parent.path().join(format!("{HANDED_OVER_PREFIX}1-1"));
    let other_name = folder.join("precious");
    for f in [&elsewhere, &other_name] {
        std::fs::write(f, b"keep").unwrap();
        let name = f.display().to_string();
        let e = s.adopt_files(&[(name.as_str(), 0, 4)]).unwrap_err();
        assert!(e.to_string().contains("not a file it moves"), "{e}");
        drop(e);
        assert!(f.exists(), "{} was not adopted", f.display());
    }
}
