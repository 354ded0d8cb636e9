//! The manifest a job writes into its output folder when it commits (after
//! every reduce finished): `_SUCCESS`, a JSON document naming the job, its
//! app and plugin hash, `n_reduce`, each output file with its size, the
//! counters and the finish time. It is written last and atomically
//! (temporary name, fsync, rename, fsync of the folder), so its presence
//! means the folder holds one whole job's output; `mr process` reads `n`
//! from it and checks the files against it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::OutputError;
use crate::security::OutputDir;

/// The manifest's file name (Hadoop's success marker, as JSON).
pub const MANIFEST: &str = "_SUCCESS";

/// The folder, beneath an object storage output prefix, of reduce outputs
/// being uploaded before they are published under their `mr-out-*` names.
pub const TEMPORARY: &str = "_temporary/";

/// The manifest format this build writes.
pub const FORMAT: u32 = 1;

/// One output file as committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Its name inside the folder (`mr-out-<r>`).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a committed job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format ([`FORMAT`]).
    pub format: u32,
    /// The job's id at its coordinator.
    pub job_id: u32,
    /// The app's name.
    pub app: String,
    /// SHA-256 (hex) of the app's plugin library when the job was submitted.
    pub plugin_sha256: String,
    /// Number of reduce partitions, one file each.
    pub n_reduce: u32,
    /// The output files, partition 0 first.
    pub files: Vec<OutputFile>,
    /// The job's counters by name.
    pub counters: BTreeMap<String, u64>,
    /// Submission time, milliseconds since the Unix epoch.
    pub submitted_at_ms: u64,
    /// Finish time, milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
}

/// The name of partition `r`'s output file.
pub fn output_name(r: u32) -> String {
    format!("mr-out-{r}")
}

/// The output files of `n_reduce` partitions in the opened folder `dir`
/// with their sizes; an error if one is missing or not a regular file.
pub fn output_files(dir: &OutputDir, n_reduce: u32) -> Result<Vec<OutputFile>, OutputError> {
    (0..n_reduce)
        .map(|r| {
            let name = output_name(r);
            let path = dir.path().join(&name);
            match dir.file_size(&name) {
                Ok(Some(bytes)) => Ok(OutputFile { name, bytes }),
                Ok(None) => Err(OutputError::Malformed {
                    path,
                    reason: "is not a regular file".into(),
                }),
                Err(source) => Err(OutputError::Read { path, source }),
            }
        })
        .collect()
}

impl Manifest {
    /// Writes the manifest into the opened folder `dir` atomically, by
    /// descriptor: under a temporary name, synced, renamed into place, and
    /// the folder synced.
    pub fn write(&self, dir: &OutputDir) -> Result<(), OutputError> {
        let path = dir.path().join(MANIFEST);
        let tmp = format!(".{MANIFEST}.j{}.tmp", self.job_id);
        let io = |action: &'static str, name: &str| {
            let p = dir.path().join(name);
            move |source| OutputError::Folder {
                action,
                path: p,
                source,
            }
        };
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| OutputError::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        // A temporary left by a crashed earlier commit of this job.
        let _ = dir.remove(&tmp);
        let result = (|| {
            let mut f = dir.create_new(&tmp).map_err(io("create", &tmp))?;
            f.write_all(&text).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("sync", &tmp))?;
            dir.rename(&tmp, MANIFEST)
                .map_err(io("rename into place", MANIFEST))
        })();
        if result.is_err() {
            let _ = dir.remove(&tmp);
        }
        result?;
        dir.sync().map_err(io("sync", "."))
    }

    /// Reads `dir`'s manifest; [`OutputError::NoManifest`] if there is none.
    pub fn read(dir: &Path) -> Result<Manifest, OutputError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OutputError::NoManifest(dir.to_path_buf()))
            }
            Err(source) => return Err(OutputError::Read { path, source }),
        };
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| OutputError::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT || m.files.len() != m.n_reduce as usize {
            return Err(OutputError::BadManifest {
                path,
                reason: format!(
                    "format {} with {} files for n_reduce {} (this mr reads format {FORMAT})",
                    m.format,
                    m.files.len(),
                    m.n_reduce
                ),
            });
        }
        Ok(m)
    }

    /// Checks that every output file is still there with its committed size.
    pub fn verify(&self, dir: &Path) -> Result<(), OutputError> {
        for (r, f) in self.files.iter().enumerate() {
            let path: PathBuf = dir.join(&f.name);
            let changed = |reason: String| OutputError::Changed {
                path: path.clone(),
                job: self.job_id,
                reason,
            };
            if f.name != output_name(r as u32) {
                return Err(changed(format!("the manifest names it as partition {r}")));
            }
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() == f.bytes => {}
                Ok(m) => {
                    return Err(changed(format!(
                        "it has {} bytes, the manifest says {}",
                        m.len(),
                        f.bytes
                    )))
                }
                Err(e) => return Err(changed(e.to_string())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> OutputDir {
        crate::security::Confinement::default()
            .open_output(&dir.display().to_string())
            .unwrap()
    }

    fn manifest(dir: &Path, n: u32) -> Manifest {
        Manifest {
            format: FORMAT,
            job_id: 7,
            app: "wc".into(),
            plugin_sha256: "ab".repeat(32),
            n_reduce: n,
            files: output_files(&open(dir), n).unwrap(),
            counters: BTreeMap::from([("input_bytes".to_string(), 12)]),
            submitted_at_ms: 1,
            finished_at_ms: 2,
        }
    }

    #[test]
    fn round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mr-out-0"), b"abc").unwrap();
        std::fs::write(dir.path().join("mr-out-1"), b"").unwrap();
        let m = manifest(dir.path(), 2);
        m.write(&open(dir.path())).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["_SUCCESS", "mr-out-0", "mr-out-1"]);
        m.verify(dir.path()).unwrap();
    }

    #[test]
    fn missing_manifest_and_changed_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(OutputError::NoManifest(_))
        ));
        std::fs::write(dir.path().join("mr-out-0"), b"abc").unwrap();
        let m = manifest(dir.path(), 1);
        std::fs::write(dir.path().join("mr-out-0"), b"abcdef").unwrap();
        let e = m.verify(dir.path()).unwrap_err();
        assert!(e.to_string().contains("changed after job 7"), "{e}");
        assert!(output_files(&open(dir.path()), 2).is_err());
        std::fs::write(dir.path().join(MANIFEST), b"{not json").unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(OutputError::BadManifest { .. })
        ));
    }
}
