//! Object storage inputs (`s3://bucket/...`) as users name them, expanded
//! with LIST requests at submit time by the rules local inputs follow
//! ([`super::inputs`]): an object is itself; a prefix ending in `/` (or a
//! key with no object but objects beneath it) is the objects directly in
//! it (all beneath it with `recursive`); a key with `*`, `?` or `[` is a
//! glob pattern over the keys beneath its literal prefix (`*` stops at `/`,
//! `**` crosses it). Names starting with `.` or `_` found by a prefix or a
//! pattern are skipped. Sizes come from the listing, for split planning.

use super::inputs::{is_pattern, InputError};
use crate::storage::{self, Listed, ObjectUrl, StorageError};

fn unreadable(url: &str, e: StorageError) -> InputError {
    InputError::Unreadable {
        path: url.to_string(),
        reason: e.to_string(),
    }
}

/// Whether a key below a listed prefix has a hidden component.
fn hidden_below(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .unwrap_or(key)
        .split('/')
        .any(|c| c.starts_with('.') || c.starts_with('_'))
}

/// Expands `inputs` (all `s3://` URLs) to the objects they name, with their
/// sizes, in order (blocking I/O).
pub fn expand(inputs: &[String], recursive: bool) -> Result<Vec<Listed>, InputError> {
    let mut found = Vec::new();
    for input in inputs {
        let url = ObjectUrl::parse(input).map_err(|e| unreadable(input, e))?;
        if is_pattern(&url.key) {
            expand_pattern(input, &url, &mut found)?;
            continue;
        }
        if !url.key.is_empty() && !url.key.ends_with('/') {
            if let Some(size) = storage::size(&url).map_err(|e| unreadable(input, e))? {
                found.push(Listed { url, size });
                continue;
            }
        }
        let folder = if url.key.is_empty() || url.key.ends_with('/') {
            url
        } else {
            ObjectUrl {
                key: format!("{}/", url.key),
                ..url
            }
        };
        let before = found.len();
        for obj in storage::list(&folder).map_err(|e| unreadable(input, e))? {
            let below = &obj.url.key[folder.key.len()..];
            if hidden_below(&obj.url.key, &folder.key) || (!recursive && below.contains('/')) {
                continue;
            }
            found.push(obj);
        }
        if found.len() == before {
            let hint = if recursive {
                ""
            } else {
                " directly in it (--recursive reads subfolders)"
            };
            return Err(InputError::EmptyFolder(input.clone(), hint));
        }
    }
    Ok(found)
}

fn expand_pattern(input: &str, url: &ObjectUrl, found: &mut Vec<Listed>) -> Result<(), InputError> {
    let pattern = glob::Pattern::new(&url.key).map_err(|e| InputError::BadPattern {
        pattern: input.to_string(),
        reason: e.msg.to_string(),
    })?;
    let options = glob::MatchOptions {
        require_literal_separator: true,
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    // The literal folder the pattern's matches are beneath.
    let wild = url.key.find(['*', '?', '[']).unwrap_or(url.key.len());
    let base_len = url.key[..wild].rfind('/').map_or(0, |i| i + 1);
    let base = ObjectUrl {
        bucket: url.bucket.clone(),
        key: url.key[..base_len].to_string(),
    };
    let before = found.len();
    for obj in storage::list(&base).map_err(|e| unreadable(input, e))? {
        if pattern.matches_with(&obj.url.key, options) && !hidden_below(&obj.url.key, &base.key) {
            found.push(obj);
        }
    }
    if found.len() == before {
        return Err(InputError::NoMatch(input.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hidden_below;

    #[test]
    fn hidden_names_count_below_the_prefix_only() {
        assert!(hidden_below("in/_SUCCESS", "in/"));
        assert!(hidden_below("in/sub/.x", "in/"));
        assert!(!hidden_below("_in/a.txt", "_in/"));
        assert!(!hidden_below("in/a_b.txt", "in/"));
    }
}
