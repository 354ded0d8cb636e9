//! The [`App`] trait an app implements, and the streams the engine hands it.

use std::io::Write;

use crate::{AppError, Args};

/// One map call's input: a whole input file.
#[derive(Debug, Clone, Copy)]
pub struct MapInput<'a> {
    /// The input path exactly as submitted (the map key).
    pub path: &'a str,
    /// The file's bytes (the map value).
    pub contents: &'a [u8],
    /// The job's arguments.
    pub args: Args<'a>,
}

/// Where map (and combine) output goes.
pub trait Emit {
    /// Emits one intermediate key/value pair.
    fn emit(&mut self, key: &[u8], value: &[u8]);
}

/// The values of one key, as a stream: each slice is valid until the next
/// call.
pub trait Values {
    /// The next value, or `None` at the end.
    fn next_value(&mut self) -> Option<&[u8]>;
}

/// A finished job's output records, in the order of `mr-out-0`, `mr-out-1`,
/// ... and, within a file, ascending key order.
pub trait Records {
    /// The next `(key, value)` record, or `None` at the end.
    fn next_record(&mut self) -> Option<(&[u8], &[u8])>;
}

/// A mapreduce application. Implement it for a `Default` type and export it
/// with [`crate::export_app!`].
///
/// Every method may be called from several threads at once and for several
/// jobs, so keep per-job state in local variables, not in `self`.
pub trait App: Send + Sync + 'static {
    /// The name jobs use to ask for this app (`mr submit -a NAME`).
    const NAME: &'static str;
    /// A one-line description, shown by `mr apps`.
    const DESCRIPTION: &'static str = "";
    /// Whether [`App::combine`] is implemented.
    const HAS_COMBINER: bool = false;
    /// Whether [`App::partition`] is overridden.
    const HAS_PARTITIONER: bool = false;

    /// Maps one input file to intermediate key/value pairs.
    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError>;

    /// Reduces all values of one key to the key's output value.
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError>;

    /// The combiner: merges some of one key's values from one map task into a
    /// single value before they are stored and shuffled.
    ///
    /// Contract: its output has the same type as its inputs (it is one more
    /// value for [`App::reduce`] or a later combine), it is associative and
    /// commutative over values, and the engine may apply it zero or more
    /// times. Set [`App::HAS_COMBINER`] when you implement it.
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        let _ = (key, values, args);
        Err(AppError::msg(format!(
            "app {} has no combiner (HAS_COMBINER is false)",
            Self::NAME
        )))
    }

    /// The reduce partition (`0..n_reduce`) of a key. The default is
    /// `ihash(key) % n_reduce`; set [`App::HAS_PARTITIONER`] when you
    /// override it. A result outside `0..n_reduce` fails the task.
    fn partition(&self, key: &[u8], n_reduce: u32, args: &Args<'_>) -> u32 {
        let _ = args;
        crate::ihash(key) % n_reduce.max(1)
    }

    /// Writes the finished job's output for people to read (`mr process`).
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError>;
}
