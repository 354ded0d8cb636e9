//! Objects published from local files, atomically and only where no object
//! is yet ([`publish_file`]): a small file as one conditional PUT; a large
//! one without holding it in memory:
//! a multipart upload that streams the file in parts (at most
//! [`IN_FLIGHT`] parts in flight, so memory stays near `IN_FLIGHT + 1`
//! parts whatever the file's size) and is aborted on any error, so that it
//! leaves no object; and a conditional server-side copy (`UploadPartCopy`
//! then `CompleteMultipartUpload` with `If-None-Match: *`, object_store's
//! `S3CopyIfNotExists::Multipart`) that publishes an uploaded object under
//! its final name only if nothing is there yet.
//!
//! Blocking, like the rest of [`super`]: call from `spawn_blocking` threads.

use std::io::Read;
use std::path::Path;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use object_store::{MultipartUpload, PutPayload};

use super::{block_on, client, ObjectUrl, StorageError};

/// How [`publish_file`] ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The object was created from the file.
    Created,
    /// An object with the file's bytes was there already.
    AlreadySame,
}

/// Publishes `file` as the object `url` unless an object is there already:
/// up to `part_size` bytes as one conditional PUT (`If-None-Match: *`);
/// larger, uploaded in parts to `temporary` ([`upload_file`]), published
/// by a conditional copy ([`copy_create`]), and `temporary` removed. An
/// object already at `url` is accepted if it holds the file's bytes
/// (compared a part at a time) and is [`StorageError::Differs`] otherwise;
/// a file over [`MAX_COPY`] is [`StorageError::TooLarge`] (blocking).
pub fn publish_file(
    file: &Path,
    url: &ObjectUrl,
    temporary: &ObjectUrl,
    part_size: usize,
) -> Result<Published, StorageError> {
    let local = |source| StorageError::Local {
        path: file.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(file).map_err(local)?.len();
    let created = if size <= part_size as u64 {
        super::put(url, std::fs::read(file).map_err(local)?, true)
    } else if size > MAX_COPY {
        return Err(StorageError::TooLarge {
            url: url.to_string(),
            size,
        });
    } else {
        upload_file(file, temporary, part_size).and_then(|()| {
            let published = copy_create(temporary, url);
            if let Err(e) = super::delete(temporary) {
                tracing::warn!(%temporary, "cannot remove the uploaded temporary object: {e}");
            }
            published
        })
    };
    match created {
        Ok(()) => Ok(Published::Created),
        Err(StorageError::Exists(_)) if holds(url, file, size, part_size)? => {
            Ok(Published::AlreadySame)
        }
        Err(StorageError::Exists(_)) => Err(StorageError::Differs(url.to_string())),
        Err(e) => Err(e),
    }
}

/// Whether the object `url` holds the `size` bytes of `file`, compared a
/// part at a time (blocking).
fn holds(url: &ObjectUrl, file: &Path, size: u64, part_size: usize) -> Result<bool, StorageError> {
    if super::size(url)? != Some(size) {
        return Ok(false);
    }
    let local = |source| StorageError::Local {
        path: file.to_path_buf(),
        source,
    };
    let mut reader = std::fs::File::open(file).map_err(local)?;
    let step = part_size.max(1) as u64;
    let (mut pos, mut ours) = (0, Vec::new());
    while pos < size {
        let end = (pos + step).min(size);
        let theirs = super::get_range(url, pos..end)?;
        ours.clear();
        (&mut reader)
            .take(end - pos)
            .read_to_end(&mut ours)
            .map_err(local)?;
        if theirs != ours {
            return Ok(false);
        }
        pos = end;
    }
    Ok(true)
}

/// Parts uploading at once.
pub const IN_FLIGHT: usize = 2;

/// The largest object a conditional copy publishes: S3's limit on one
/// `UploadPartCopy` (and on one PUT).
pub const MAX_COPY: u64 = 5 << 30;

/// The smallest part S3 accepts (all parts but the last).
pub const MIN_PART: usize = 5 << 20;

/// Uploads `file` as the object `url` in parts of `part_size` bytes (at
/// least [`MIN_PART`] on AWS S3; the last part may be shorter), replacing
/// any object there; the upload is aborted if anything fails, leaving no
/// object (blocking).
pub fn upload_file(file: &Path, url: &ObjectUrl, part_size: usize) -> Result<(), StorageError> {
    let store = client(&url.bucket)?;
    let local = |source| StorageError::Local {
        path: file.to_path_buf(),
        source,
    };
    let mut reader = std::fs::File::open(file).map_err(local)?;
    block_on(async {
        let mut upload = store
            .put_multipart(&url.path())
            .await
            .map_err(|e| StorageError::request(url, e))?;
        let sent = send_parts(upload.as_mut(), &mut reader, part_size.max(1), url, &local).await;
        let done = match sent {
            Ok(()) => upload
                .complete()
                .await
                .map(|_| ())
                .map_err(|e| StorageError::request(url, e)),
            Err(e) => Err(e),
        };
        if done.is_err() {
            if let Err(e) = upload.abort().await {
                tracing::warn!(%url, "cannot abort a failed multipart upload: {e}");
            }
        }
        done
    })?
}

/// Reads `reader` to its end in parts and uploads them, [`IN_FLIGHT`] at
/// a time.
async fn send_parts(
    upload: &mut dyn MultipartUpload,
    reader: &mut std::fs::File,
    part_size: usize,
    url: &ObjectUrl,
    local: &dyn Fn(std::io::Error) -> StorageError,
) -> Result<(), StorageError> {
    let mut in_flight = FuturesUnordered::new();
    loop {
        let mut part = Vec::with_capacity(part_size);
        let n = reader
            .by_ref()
            .take(part_size as u64)
            .read_to_end(&mut part)
            .map_err(local)?;
        if n == 0 {
            break;
        }
        in_flight.push(upload.put_part(PutPayload::from(part)));
        while in_flight.len() >= IN_FLIGHT {
            if let Some(sent) = in_flight.next().await {
                sent.map_err(|e| StorageError::request(url, e))?;
            }
        }
        if n < part_size {
            break;
        }
    }
    while let Some(sent) = in_flight.next().await {
        sent.map_err(|e| StorageError::request(url, e))?;
    }
    Ok(())
}

/// Copies the object `from` to `to` (same bucket) on the server, only if
/// `to` has no object yet, failing with [`StorageError::Exists`] otherwise
/// (blocking).
pub fn copy_create(from: &ObjectUrl, to: &ObjectUrl) -> Result<(), StorageError> {
    let store = client(&to.bucket)?;
    block_on(store.copy_if_not_exists(&from.path(), &to.path()))?
        .map_err(|e| StorageError::request(to, e))
}

/// An object's entity tag, or `None` if there is none (blocking).
pub fn etag(url: &ObjectUrl) -> Result<Option<String>, StorageError> {
    let store = client(&url.bucket)?;
    match block_on(store.head(&url.path()))? {
        Ok(meta) => Ok(meta.e_tag),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StorageError::request(url, e)),
    }
}
