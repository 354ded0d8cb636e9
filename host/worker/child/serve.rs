//! The executor process (`mr executor`): runs app code for its worker.
//!
//! It reads one request at a time from stdin and writes each reply to what
//! was its stdout when it started; stdout itself is pointed at stderr first,
//! so an app that prints cannot corrupt the replies. It dies with its
//! worker (the parent-death signal) and ends when stdin closes. App errors
//! and panics become `Failed` replies; anything that kills the process is
//! for the worker to see.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prost::Message;

use super::{read_frame, write_frame, HANDED_OVER_PREFIX};
use crate::core::InputRange;
use crate::core::JobId;
use crate::plugin::{LoadedApp, Registry, RegistryError};
use crate::proto::executor as pb;
use crate::security::Confinement;
use crate::worker::execute::task_calls;
use crate::worker::execute::{path_message, remove_stale_temporaries};
use crate::worker::map_task::{run_map_inputs, MapConfig, MapSource};
use crate::worker::reduce_task::reduce_to_file;
use crate::worker::spill::{DiskRange, MemoryBudget, MemoryLimits, Run, RunFile, WorkDir};

/// Why the executor process stopped other than at the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The pipes to the worker failed.
    #[error("executor pipe: {0}")]
    Io(#[from] io::Error),
    /// The worker sent something that is not a request.
    #[error("malformed request from the worker: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Runs the executor loop until stdin closes.
pub fn run_executor() -> Result<(), ExecutorError> {
    // Die with the worker, even if it is SIGKILLed mid-task.
    if let Err(e) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
    {
        tracing::warn!("cannot ask to die with the worker: {e}");
    }
    let replies = rustix::io::dup(io::stdout()).map_err(io::Error::from)?;
    rustix::stdio::dup2_stdout(io::stderr()).map_err(io::Error::from)?;
    let mut replies = File::from(replies);
    let mut requests = io::stdin().lock();
    let mut apps = Apps::default();
    while let Some(frame) = read_frame(&mut requests)? {
        // Bytes fields become slices of the frame: a split is not copied.
        let request = pb::Request::decode(bytes::Bytes::from(frame))?;
        let reply = handle(&mut apps, request);
        write_frame(&mut replies, &reply.encode_to_vec())?;
    }
    Ok(())
}

/// Why the app a request names cannot be loaded here.
#[derive(Debug, thiserror::Error)]
enum AppLoadError {
    /// The request names no app.
    #[error("the request names no app")]
    Unnamed,
    /// The library does not load.
    #[error("cannot load {}: {source}", path.display())]
    Library {
        /// The library.
        path: PathBuf,
        /// Why.
        source: RegistryError,
    },
    /// The library loads but does not export the app.
    #[error("cannot load app {name} from {}: {why}", path.display())]
    Missing {
        /// The app.
        name: String,
        /// The library.
        path: PathBuf,
        /// The registry's reason, or that another app is exported.
        why: String,
    },
    /// The library is not the one the worker meant.
    #[error("{} has SHA-256 {actual}, expected {expected}", path.display())]
    HashMismatch {
        /// The library.
        path: PathBuf,
        /// Its hash.
        actual: String,
        /// The hash asked for.
        expected: String,
    },
}

/// Apps loaded so far, by library path and hash (a library stays loaded).
#[derive(Default)]
struct Apps {
    loaded: HashMap<(String, String), Arc<dyn LoadedApp>>,
}

impl Apps {
    fn get(&mut self, app: Option<&pb::AppRef>) -> Result<Arc<dyn LoadedApp>, AppLoadError> {
        let app = app.ok_or(AppLoadError::Unnamed)?;
        let key = (app.library.clone(), app.sha256.clone());
        if let Some(loaded) = self.loaded.get(&key) {
            return Ok(Arc::clone(loaded));
        }
        let mut registry = Registry::new();
        let path = PathBuf::from(&app.library);
        registry
            .load_file(&path)
            .map_err(|source| AppLoadError::Library {
                path: path.clone(),
                source,
            })?;
        let entry = registry.get(&app.name).ok_or_else(|| {
            let why = registry.problems().first().map_or_else(
                || "it exports another app".to_string(),
                |p| p.reason.clone(),
            );
            AppLoadError::Missing {
                name: app.name.clone(),
                path: path.clone(),
                why,
            }
        })?;
        if !app.sha256.is_empty() && entry.sha256 != app.sha256 {
            return Err(AppLoadError::HashMismatch {
                path,
                actual: entry.sha256.clone(),
                expected: app.sha256.clone(),
            });
        }
        self.loaded.insert(key, Arc::clone(&entry.app));
        Ok(Arc::clone(&entry.app))
    }
}

fn handle(apps: &mut Apps, request: pb::Request) -> pb::Reply {
    let kind = match request.kind {
        Some(pb::request::Kind::Map(m)) => map(apps, m).map(pb::reply::Kind::Map),
        Some(pb::request::Kind::Reduce(r)) => reduce(apps, r).map(pb::reply::Kind::Reduce),
        None => Err(pb::Failed {
            message: "empty request from the worker".into(),
            retry: true,
        }),
    };
    pb::Reply {
        kind: Some(kind.unwrap_or_else(pb::reply::Kind::Failed)),
    }
}

fn fatal(message: impl Into<String>) -> pb::Failed {
    pb::Failed {
        message: message.into(),
        retry: false,
    }
}

fn map(apps: &mut Apps, m: pb::MapRequest) -> Result<pb::MapDone, pb::Failed> {
    // A library that will not load on this machine may load on another.
    let app = apps.get(m.app.as_ref()).map_err(|e| pb::Failed {
        message: e.to_string(),
        retry: true,
    })?;
    let limits = MemoryLimits::from_limit(m.memory_limit);
    let memory = Arc::new(MemoryBudget::new(limits.store));
    let work_dir = WorkDir::new(&m.work_dir);
    let cfg = MapConfig {
        limits,
        memory: &memory,
        work_dir: &work_dir,
    };
    // Inputs by name are read here, one map call's piece at a time (only one
    // is in memory at once), confined as the worker would read them; an
    // older worker sends the bytes.
    let confinement = Confinement::from_roots(m.allowed_input, Vec::new());
    let (mut input_bytes, mut input_records) = (0u64, 0u64);
    let result = if m.input_ranges.is_empty() {
        let mut sources = m
            .inputs
            .into_iter()
            .map(|s| Ok(MapSource::new(s.path, s.offset, s.contents)));
        run_map_inputs(&*app, &mut sources, &m.args, m.n_reduce, cfg)
    } else {
        let ranges = m.input_ranges.into_iter().map(|r| InputRange {
            path: r.path,
            offset: r.offset,
            len: r.len,
        });
        let format = app.input_format(&m.args);
        let mut sources = task_calls(
            &confinement,
            ranges,
            format,
            limits.map_call,
            |calls, read| {
                input_bytes += read;
                input_records += calls;
            },
        );
        run_map_inputs(&*app, &mut sources, &m.args, m.n_reduce, cfg)
    }
    .map_err(|e| fatal(e.to_string()))?;
    let retry = |what: &str, e: io::Error| pb::Failed {
        message: format!("cannot {what} the map output: {e}"),
        retry: true,
    };
    let handed_over = if m.output_files {
        hand_over(&result.partitions, Path::new(&m.work_dir)).map_err(|e| retry("move", e))?
    } else {
        None
    };
    let (partitions, partition_files) = match handed_over {
        Some(files) => (Vec::new(), files),
        None => (
            result
                .partitions
                .iter()
                .map(Run::to_bytes)
                .collect::<io::Result<Vec<_>>>()
                .map_err(|e| retry("read back", e))?,
            Vec::new(),
        ),
    };
    Ok(pb::MapDone {
        partitions,
        records: result.stats.records,
        bytes: result.stats.bytes,
        spills: result.stats.spills,
        input_bytes,
        input_records,
        partition_files,
    })
}

/// Moves a map output that is all in one file into the worker's scratch
/// folder `to`, under a name of its own, and says where each partition is
/// in it; `None` for output in memory (sent as bytes). The executor's own
/// scratch folder, inside `to`, is removed when the task ends, so the
/// rename is the hand-over: the worker owns the file from then on (the
/// handle here, whose path is gone, removes nothing).
fn hand_over(partitions: &[Run], to: &Path) -> io::Result<Option<Vec<pb::DiskRun>>> {
    static MOVED: AtomicU64 = AtomicU64::new(0);
    let ranges: Option<Vec<&DiskRange>> = partitions
        .iter()
        .map(|r| match r {
            Run::Disk(d) => Some(d),
            Run::Memory(_) => None,
        })
        .collect();
    let Some(ranges) = ranges else {
        return Ok(None);
    };
    let Some(first) = ranges.first() else {
        return Ok(None);
    };
    if ranges.iter().any(|d| !Arc::ptr_eq(&d.file, &first.file)) {
        return Ok(None);
    }
    let n = MOVED.fetch_add(1, Ordering::Relaxed);
    let target = to.join(format!("{HANDED_OVER_PREFIX}{}-{n}", std::process::id()));
    std::fs::rename(first.file.path(), &target)?;
    let path = target.display().to_string();
    Ok(Some(
        ranges
            .iter()
            .map(|d| pb::DiskRun {
                path: path.clone(),
                offset: d.offset,
                len: d.len,
            })
            .collect(),
    ))
}

fn reduce(apps: &mut Apps, r: pb::ReduceRequest) -> Result<pb::ReduceDone, pb::Failed> {
    let app = apps.get(r.app.as_ref()).map_err(|e| pb::Failed {
        message: e.to_string(),
        retry: true,
    })?;
    let confinement = Confinement::from_roots(Vec::new(), r.allowed_output);
    let dir = confinement
        .open_output(&r.output_dir)
        .map_err(|e| fatal(path_message(&e)))?;
    let runs = if r.run_refs.is_empty() {
        r.runs.into_iter().map(Run::memory).collect()
    } else {
        r.run_refs
            .into_iter()
            .map(run_of)
            .collect::<Result<Vec<_>, _>>()?
    };
    let buffer = usize::try_from(r.buffer).unwrap_or(usize::MAX);
    let stats = reduce_to_file(&*app, runs, buffer, &r.args, &dir, r.partition, &r.tag)
        .map_err(|e| fatal(e.to_string()))?;
    remove_stale_temporaries(&dir, JobId(r.job), r.partition);
    Ok(pb::ReduceDone {
        records: stats.records,
        bytes: stats.bytes,
    })
}

/// A run as the worker passed it: its bytes, or a range of its file.
fn run_of(r: pb::RunRef) -> Result<Run, pb::Failed> {
    match r.kind {
        Some(pb::run_ref::Kind::Memory(bytes)) => Ok(Run::memory(bytes)),
        Some(pb::run_ref::Kind::Disk(d)) => {
            let file = RunFile::borrow(PathBuf::from(&d.path)).map_err(|e| pb::Failed {
                message: format!("cannot open the fetched map output {}: {e}", d.path),
                retry: true,
            })?;
            Ok(Run::Disk(DiskRange {
                file: Arc::new(file),
                offset: d.offset,
                len: d.len,
            }))
        }
        None => Err(pb::Failed {
            message: "a run with neither bytes nor a file".to_string(),
            retry: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_on_disk_is_read_in_place_and_left_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map-output-0");
        std::fs::write(&path, b"xxhello worldyy").unwrap();
        let r = pb::RunRef {
            kind: Some(pb::run_ref::Kind::Disk(pb::DiskRun {
                path: path.display().to_string(),
                offset: 2,
                len: 11,
            })),
        };
        let run = run_of(r).unwrap();
        assert!(matches!(run, Run::Disk(_)));
        assert_eq!(&run.to_bytes().unwrap()[..], b"hello world");
        drop(run);
        assert!(path.exists(), "the worker's file is the worker's to remove");

        let memory = pb::RunRef {
            kind: Some(pb::run_ref::Kind::Memory(b"abc".to_vec().into())),
        };
        assert_eq!(&run_of(memory).unwrap().to_bytes().unwrap()[..], b"abc");
        let missing = pb::RunRef {
            kind: Some(pb::run_ref::Kind::Disk(pb::DiskRun {
                path: dir.path().join("gone").display().to_string(),
                offset: 0,
                len: 1,
            })),
        };
        assert!(run_of(missing).unwrap_err().retry);
        assert!(run_of(pb::RunRef { kind: None }).is_err());
    }
}
