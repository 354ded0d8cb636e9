//! Object storage: job inputs and outputs named `s3://bucket/key`, read and
//! written through the Apache Arrow project's `object_store` crate, against
//! AWS S3 or any S3-compatible server (MinIO, Ceph, moto).
//!
//! Configured the standard AWS way, from the environment of the process that
//! touches the data (the coordinator lists inputs and writes the manifest;
//! workers read splits and write reduce outputs): `AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint; or a named profile of
//! `~/.aws/credentials` and `~/.aws/config` (`AWS_PROFILE`, else
//! `default`; [`profile`]), the environment's variables winning.
//!
//! Every call here blocks on the current tokio runtime: call them from
//! `spawn_blocking` threads, as the rest of the file I/O is.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, S3CopyIfNotExists};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

mod ini;
pub mod profile;
pub mod upload;

pub use profile::ProfileError;

/// The scheme of object storage locations.
pub const SCHEME: &str = "s3://";

/// Why object storage could not be used; each names the location.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A malformed `s3://` URL.
    #[error("{0} is not a valid s3:// location (s3://bucket/key)")]
    BadUrl(String),
    /// The client could not be configured (environment variables).
    #[error("cannot configure object storage for bucket {bucket}: {source}")]
    Config {
        /// The bucket.
        bucket: String,
        /// What the client said.
        source: object_store::Error,
    },
    /// The server refused or failed a request.
    #[error("object storage request for {url} failed: {source}")]
    Request {
        /// The location.
        url: String,
        /// What the client said.
        source: object_store::Error,
    },
    /// An object that should be created exists already.
    #[error("{0} exists already")]
    Exists(String),
    /// The AWS profile cannot be used.
    #[error("cannot configure object storage: {0}")]
    Profile(#[from] ProfileError),
    /// An object exists already with other bytes than those to publish.
    #[error("{0} was committed already with other bytes; it is not replaced")]
    Differs(String),
    /// A file too large to publish as one object.
    #[error(
        "{url} would be {size} bytes; an output object is at most {} bytes: \
         use more reduce partitions (-n)",
        upload::MAX_COPY
    )]
    TooLarge {
        /// The object.
        url: String,
        /// The file's size.
        size: u64,
    },
    /// A local file to upload cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Local {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Called outside a tokio runtime.
    #[error("object storage used outside the async runtime")]
    NoRuntime,
}

impl StorageError {
    fn request(url: &ObjectUrl, source: object_store::Error) -> Self {
        match source {
            object_store::Error::AlreadyExists { .. } => StorageError::Exists(url.to_string()),
            source => StorageError::Request {
                url: url.to_string(),
                source,
            },
        }
    }
}

/// Whether `path` names object storage rather than a local path.
pub fn is_object(path: &str) -> bool {
    path.starts_with(SCHEME)
}

/// Where a job's input or output lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local (or shared file system) path.
    Local(std::path::PathBuf),
    /// An object (or prefix) in a bucket.
    Object(ObjectUrl),
}

impl Location {
    /// Parses a path as users name it.
    pub fn parse(path: &str) -> Result<Location, StorageError> {
        if is_object(path) {
            ObjectUrl::parse(path).map(Location::Object)
        } else {
            Ok(Location::Local(path.into()))
        }
    }
}

/// `s3://bucket/key`: a bucket and a key (possibly a prefix, possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectUrl {
    /// The bucket.
    pub bucket: String,
    /// The key, without a leading `/`.
    pub key: String,
}

impl ObjectUrl {
    /// Parses `s3://bucket/key`.
    pub fn parse(url: &str) -> Result<ObjectUrl, StorageError> {
        let bad = || StorageError::BadUrl(url.to_string());
        let rest = url.strip_prefix(SCHEME).ok_or_else(bad)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = !bucket.is_empty()
            && bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_bucket || key.split('/').any(|c| c == ".." || c == ".") {
            return Err(bad());
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The object `name` inside this prefix (`prefix/name`).
    pub fn join(&self, name: &str) -> ObjectUrl {
        let key = if self.key.is_empty() || self.key.ends_with('/') {
            format!("{}{name}", self.key)
        } else {
            format!("{}/{name}", self.key)
        };
        ObjectUrl {
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// Whether this location is `root` or beneath it (by whole key
    /// components: `s3://b/data` holds `s3://b/data/x`, not `s3://b/database`).
    pub fn is_beneath(&self, root: &ObjectUrl) -> bool {
        if self.bucket != root.bucket {
            return false;
        }
        let prefix = root.key.trim_end_matches('/');
        prefix.is_empty()
            || self.key == prefix
            || self
                .key
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    fn path(&self) -> ObjectPath {
        ObjectPath::from(self.key.trim_end_matches('/'))
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.bucket, self.key)
    }
}

/// The client settings for `bucket`: the environment's, then its profile's
/// where the environment sets nothing.
fn builder(bucket: &str) -> Result<AmazonS3Builder, StorageError> {
    let env = |name: &str| std::env::var(name).ok();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let profile = profile::load(&env, home.as_deref())?;
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if env("AWS_COPY_IF_NOT_EXISTS").is_none() {
        // Conditional copies as `UploadPartCopy` then a conditional
        // `CompleteMultipartUpload` (`upload::copy_create`).
        builder = builder.with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
    }
    Ok(profile::settings(&profile, &env)
        .into_iter()
        .fold(builder, |b, (key, value)| b.with_config(key, value)))
}

/// One client per bucket, configured from the environment on first use.
fn client(bucket: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static CLIENTS: Mutex<Option<HashMap<String, Arc<dyn ObjectStore>>>> = Mutex::new(None);
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    let clients = clients.get_or_insert_with(HashMap::new);
    if let Some(c) = clients.get(bucket) {
        return Ok(Arc::clone(c));
    }
    let store = builder(bucket)?
        .build()
        .map_err(|source| StorageError::Config {
            bucket: bucket.to_string(),
            source,
        })?;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    clients.insert(bucket.to_string(), Arc::clone(&store));
    Ok(store)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, StorageError> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| StorageError::NoRuntime)?;
    Ok(handle.block_on(f))
}

/// One listed object: its location and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object.
    pub url: ObjectUrl,
    /// Its size in bytes.
    pub size: u64,
}

/// The objects whose keys start with `prefix`'s key, in key order
/// (blocking).
pub fn list(prefix: &ObjectUrl) -> Result<Vec<Listed>, StorageError> {
    let store = client(&prefix.bucket)?;
    // `list` takes whole path components; list the parent and filter.
    let parent = prefix
        .key
        .rfind('/')
        .map(|i| ObjectPath::from(&prefix.key[..i]));
    let metas: Vec<_> = block_on(store.list(parent.as_ref()).try_collect::<Vec<_>>())?
        .map_err(|e| StorageError::request(prefix, e))?;
    let mut found: Vec<Listed> = metas
        .into_iter()
        .filter(|m| m.location.as_ref().starts_with(prefix.key.as_str()))
        .map(|m| Listed {
            url: ObjectUrl {
                bucket: prefix.bucket.clone(),
                key: m.location.to_string(),
            },
            size: m.size,
        })
        .collect();
    found.sort_by(|a, b| a.url.key.cmp(&b.url.key));
    Ok(found)
}

/// The size of one object, or `None` if there is none (blocking).
pub fn size(url: &ObjectUrl) -> Result<Option<u64>, StorageError> {
    let store = client(&url.bucket)?;
    match block_on(store.head(&url.path()))? {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StorageError::request(url, e)),
    }
}

/// A whole object (blocking).
pub fn get(url: &ObjectUrl) -> Result<Bytes, StorageError> {
    let store = client(&url.bucket)?;
    block_on(async { store.get(&url.path()).await?.bytes().await })?
        .map_err(|e| StorageError::request(url, e))
}

/// The bytes `range` of an object: one ranged GET (blocking).
pub fn get_range(url: &ObjectUrl, range: Range<u64>) -> Result<Bytes, StorageError> {
    let store = client(&url.bucket)?;
    block_on(store.get_range(&url.path(), range))?.map_err(|e| StorageError::request(url, e))
}

/// Writes `bytes` as the object `url` in one PUT, so it appears whole or not
/// at all; with `create`, only if no object is there yet (`If-None-Match:
/// *`), failing with [`StorageError::Exists`] otherwise (blocking).
pub fn put(url: &ObjectUrl, bytes: Vec<u8>, create: bool) -> Result<(), StorageError> {
    let store = client(&url.bucket)?;
    let mode = if create {
        PutMode::Create
    } else {
        PutMode::Overwrite
    };
    let opts = PutOptions {
        mode,
        ..PutOptions::default()
    };
    block_on(store.put_opts(&url.path(), PutPayload::from(bytes), opts))?
        .map(|_| ())
        .map_err(|e| StorageError::request(url, e))
}

/// Removes an object; a missing one is not an error (blocking).
pub fn delete(url: &ObjectUrl) -> Result<(), StorageError> {
    let store = client(&url.bucket)?;
    match block_on(store.delete(&url.path()))? {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(StorageError::request(url, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_nest_by_components() {
        let u = ObjectUrl::parse("s3://data/logs/a.txt").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("data", "logs/a.txt"));
        assert_eq!(u.to_string(), "s3://data/logs/a.txt");
        let root = ObjectUrl::parse("s3://data/logs").unwrap();
        assert!(u.is_beneath(&root));
        assert!(u.is_beneath(&ObjectUrl::parse("s3://data/logs/").unwrap()));
        assert!(u.is_beneath(&ObjectUrl::parse("s3://data").unwrap()));
        assert!(!ObjectUrl::parse("s3://data/logsx/a")
            .unwrap()
            .is_beneath(&root));
        assert!(!ObjectUrl::parse("s3://other/logs/a")
            .unwrap()
            .is_beneath(&root));
        assert_eq!(root.join("mr-out-0").key, "logs/mr-out-0");
        for bad in ["s3://", "s3:///k", "s3://b/../k", "s3://b c/k", "/local"] {
            assert!(ObjectUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
