//! The job submissions the tests build: one constructor for the fields
//! they share, so each test spells out only what it varies.

use std::path::Path;

use mapreduce::client::Submission;

use super::path_str;

/// A submission of `app` over `files` into `out` with `n_reduce` reduce
/// tasks: no arguments, no overwrite, one whole-file map task per input.
pub fn submission(app: &str, files: &[impl AsRef<Path>], out: &Path, n_reduce: u32) -> Submission {
    Submission {
        files: files.iter().map(|f| path_str(f.as_ref())).collect(),
        output_dir: path_str(out),
        app: app.to_string(),
        n_reduce,
        ..Submission::default()
    }
}
