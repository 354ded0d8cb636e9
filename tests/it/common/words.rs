//! Checking a word-count job's output (the `chaos` app counts
//! whitespace-separated words) against a sequential count of its inputs.

use std::collections::BTreeMap;
use std::path::Path;

use super::{be_u64, read_output_dir};

/// Checks the `n_reduce` output files in `out` against a sequential count
/// of the whitespace-separated words in `files`: every word once, with its
/// count.
pub fn check_word_count_output(out: &Path, n_reduce: u32, files: &[(String, Vec<u8>)]) {
    let mut want: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (_, bytes) in files {
        for w in std::str::from_utf8(bytes).unwrap().split_whitespace() {
            *want.entry(w.as_bytes().to_vec()).or_insert(0) += 1;
        }
    }
    let records = read_output_dir(out, n_reduce);
    let got: BTreeMap<Vec<u8>, u64> = records
        .iter()
        .map(|(k, v)| (k.clone(), be_u64(v)))
        .collect();
    assert_eq!(got.len(), records.len(), "a word in two records");
    assert_eq!(got, want, "the word counts in {}", out.display());
}
