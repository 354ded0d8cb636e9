//! `mr process -o s3://bucket/prefix/`: the job's `_SUCCESS` manifest and
//! `mr-out-*` objects are downloaded into a private temporary folder, then
//! read, checked against the manifest and formatted as a local output is.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::output::manifest::MANIFEST;
use crate::storage::{self, ObjectUrl};

/// A downloaded object output, removed when dropped.
pub(super) struct StagedOutput(PathBuf);

impl StagedOutput {
    /// Downloads the output objects directly beneath `url` (on a runtime of
    /// its own, off the caller's).
    pub(super) fn fetch(url: &str) -> anyhow::Result<StagedOutput> {
        let mut prefix = ObjectUrl::parse(url)?;
        if !prefix.key.is_empty() && !prefix.key.ends_with('/') {
            prefix.key.push('/');
        }
        let dir = std::env::temp_dir().join(format!("mr-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let staged = StagedOutput(dir.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                tokio::task::spawn_blocking(move || download(&prefix, &dir)).await
            })?
        })
        .join()
        .map_err(|_| anyhow::anyhow!("downloading {url} crashed"))??;
        Ok(staged)
    }

    /// The folder holding the downloaded objects.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StagedOutput {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn download(prefix: &ObjectUrl, dir: &Path) -> anyhow::Result<()> {
    for object in storage::list(prefix)? {
        let name = &object.url.key[prefix.key.len()..];
        if name == MANIFEST || name.starts_with("mr-out-") && !name.contains('/') {
            let bytes = storage::get(&object.url)?;
            let path = dir.join(name);
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}
