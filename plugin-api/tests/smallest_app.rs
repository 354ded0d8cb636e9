//! The smallest app, exactly as README.md's "Writing an app" and
//! docs/writing-apps.md show it (keep them in step): a word count in map and
//! reduce only, with its reducer as combiner and the default format. Also
//! checks that an app written the older way (`HAS_COMBINER` plus an
//! overridden `combine`) still builds and keeps its combiner.

use plugin_api::testing::{self, run_job};

// ---- the example, verbatim ------------------------------------------------
use plugin_api::{
    encode_u64, export_app, sum_u64, App, AppError, Args, Emit, MapInput, Reducer, Values,
};

/// Counts the words (whitespace-separated) of all input files.
#[derive(Default)]
pub struct Words;

impl App for Words {
    const NAME: &'static str = "words";
    const COMBINE: Option<Reducer<Self>> = Some(Self::reduce);

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        for word in std::str::from_utf8(input.contents)?.split_whitespace() {
            out.emit(word.as_bytes(), &encode_u64(1));
        }
        Ok(())
    }

    fn reduce(
        &self,
        _key: &[u8],
        values: &mut dyn Values,
        _: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        Ok(encode_u64(sum_u64(values)?).to_vec())
    }
}

export_app!(Words);
// ---- end of the example ---------------------------------------------------

#[test]
fn the_smallest_app_counts_combines_and_prints() {
    const { assert!(Words::COMBINE.is_some()) };
    const { assert!(Words::PARTITION.is_none()) };
    let inputs: [(&str, &[u8]); 2] = [("a", b"to be or not to be"), ("b", b"be")];
    let out = run_job::<Words>(&inputs, &testing::args(&[])).unwrap();
    // `run_job` hands records to `format` in descending key order.
    assert_eq!(out, "to\t2\nor\t1\nnot\t1\nbe\t3\n");
}

#[test]
fn the_exported_module_has_the_combiner_the_app_names() {
    let module = __mapreduce_app_root_module();
    assert_eq!(module.name().as_str(), "words");
    assert!(module.combine().is_some());
    assert!(module.partition().is_none());
}

/// An app of the older kind: flags kept by hand.
#[derive(Default)]
struct OldStyle;

impl App for OldStyle {
    const NAME: &'static str = "old-style";
    const HAS_COMBINER: bool = true;
    const HAS_PARTITIONER: bool = true;

    fn map(&self, _: &MapInput<'_>, _: &mut dyn Emit) -> Result<(), AppError> {
        Ok(())
    }
    fn reduce(&self, _: &[u8], _: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        Ok(b"reduced".to_vec())
    }
    fn combine(&self, _: &[u8], _: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        Ok(b"combined".to_vec())
    }
    fn partition(&self, _: &[u8], n_reduce: u32, _: &Args<'_>) -> u32 {
        n_reduce - 1
    }
}

#[test]
fn the_older_flags_still_name_the_overridden_methods() {
    let combined = testing::reduce::<OldStyle>(b"k", &[], &[], true).unwrap();
    assert_eq!(combined, b"combined");
    assert_eq!(testing::partition::<OldStyle>(b"k", 5, &[]), 4);
    assert_eq!(
        testing::partition::<Words>(b"k", 5, &[]),
        plugin_api::ihash(b"k") % 5
    );
}
