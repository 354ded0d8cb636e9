//! The [`App`] trait an app implements, and the streams the engine hands it.

use std::io::Write;

use crate::{AppError, Args, InputFormat};

/// One map call's input: a whole input file, or for an app that reads
/// [`InputFormat::Lines`], the whole lines of one split of a file.
#[derive(Debug, Clone, Copy)]
pub struct MapInput<'a> {
    /// The input path as the job names it (the map key): a submitted path,
    /// or a file found in a submitted folder or glob.
    pub path: &'a str,
    /// The bytes (the map value): the file's, or the split's lines.
    pub contents: &'a [u8],
    /// The job's arguments.
    pub args: Args<'a>,
    /// Where `contents` starts in the file: 0 for a whole file or the
    /// first split, else the offset of the split's first line. Splits of
    /// one file have distinct offsets, in file order.
    pub offset: u64,
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

/// A reduce or combine function of app `A`, as [`App::COMBINE`] names it.
pub type Reducer<A> = fn(&A, &[u8], &mut dyn Values, &Args<'_>) -> Result<Vec<u8>, AppError>;

/// A partition function of app `A`, as [`App::PARTITION`] names it: the
/// partition (`0..n_reduce`) of a key.
pub type Partitioner<A> = fn(&A, &[u8], u32, &Args<'_>) -> u32;

/// A mapreduce application. Implement it for a `Default` type and export it
/// with [`crate::export_app!`]. Only `NAME`, [`App::map`] and [`App::reduce`]
/// are required.
///
/// Every method may be called from several threads at once and for several
/// jobs, so keep per-job state in local variables, not in `self`.
///
/// The optional parts are named, not flagged: an app has a combiner exactly
/// when [`App::COMBINE`] names a function, and its own partitioner exactly
/// when [`App::PARTITION`] does. "My reducer is my combiner" is one line:
///
/// ```ignore
/// const COMBINE: Option<Reducer<Self>> = Some(Self::reduce);
/// ```
pub trait App: Send + Sync + 'static {
    /// The name jobs use to ask for this app (`mr submit -a NAME`).
    const NAME: &'static str;
    /// A one-line description, shown by `mr apps`.
    const DESCRIPTION: &'static str = "";

    /// The combiner, if any: merges some of one key's values from one map
    /// task into a single value before they are stored and shuffled.
    ///
    /// Contract: its output has the same type as its inputs (it is one more
    /// value for [`App::reduce`] or a later combine), it is associative and
    /// commutative over values, and the engine may apply it zero or more
    /// times. `Some(Self::reduce)` when reduce itself qualifies (sums,
    /// maxima, ...); `Some(Self::my_combine)` for another function.
    ///
    /// Defaults to [`App::combine`] when the older [`App::HAS_COMBINER`]
    /// is set, else none.
    const COMBINE: Option<Reducer<Self>> = if Self::HAS_COMBINER {
        Some(Self::combine)
    } else {
        None
    };

    /// The partitioner, if the app has its own; without one a key goes to
    /// `ihash(key) % n_reduce`. A result outside `0..n_reduce` fails the
    /// task.
    ///
    /// Defaults to [`App::partition`] when the older
    /// [`App::HAS_PARTITIONER`] is set, else none.
    const PARTITION: Option<Partitioner<Self>> = if Self::HAS_PARTITIONER {
        Some(Self::partition)
    } else {
        None
    };

    /// The older way to declare a combiner, kept so that apps written
    /// against it still build: `true` with an overridden [`App::combine`].
    /// Prefer [`App::COMBINE`], which cannot disagree with the code.
    const HAS_COMBINER: bool = false;
    /// The older way to declare a partitioner: `true` with an overridden
    /// [`App::partition`]. Prefer [`App::PARTITION`].
    const HAS_PARTITIONER: bool = false;

    /// How the engine may cut this app's input: whole files (the default)
    /// or [`InputFormat::Lines`], records that are lines, so a large file
    /// can be read by several map tasks at once; or
    /// [`InputFormat::JoinedLines`], lines whose file does not matter, so
    /// that small files may also be joined into one map call.
    const INPUT: InputFormat = InputFormat::WholeFiles;

    /// The input format of one job, given its arguments: [`App::INPUT`]
    /// unless the app overrides it (an app whose record format depends on
    /// its arguments). Called when a job is submitted; on bad arguments
    /// answer [`InputFormat::WholeFiles`] and let `map` report them.
    fn input_format(&self, args: &Args<'_>) -> InputFormat {
        let _ = args;
        Self::INPUT
    }

    /// Maps one input file to intermediate key/value pairs.
    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError>;

    /// Reduces all values of one key to the key's output value.
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError>;

    /// The combiner of the older [`App::HAS_COMBINER`] way; the engine calls
    /// [`App::COMBINE`], which points here only when that flag is set.
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        let _ = (key, values, args);
        Err(AppError::msg(format!("app {} has no combiner", Self::NAME)))
    }

    /// The partitioner of the older [`App::HAS_PARTITIONER`] way; the
    /// engine calls [`App::PARTITION`], which points here only when that
    /// flag is set. The default is `ihash(key) % n_reduce`.
    fn partition(&self, key: &[u8], n_reduce: u32, args: &Args<'_>) -> u32 {
        let _ = args;
        crate::ihash(key) % n_reduce.max(1)
    }

    /// Writes the finished job's output for people to read (`mr process`).
    ///
    /// The default, [`crate::value::write_records`], prints one
    /// `key\tvalue` line per record in the engine's order, showing 8-byte
    /// non-text fields as numbers (see there for the exact rule).
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        crate::value::write_records(records, out)
    }
}

/// Calls `app`'s combiner, if it has one (see [`App::COMBINE`]).
pub fn call_combine<A: App>(
    app: &A,
    key: &[u8],
    values: &mut dyn Values,
    args: &Args<'_>,
) -> Option<Result<Vec<u8>, AppError>> {
    A::COMBINE.map(|f| f(app, key, values, args))
}

/// The partition of `key` under `app`: its [`App::PARTITION`], else
/// `ihash(key) % n_reduce`.
pub fn call_partition<A: App>(app: &A, key: &[u8], n_reduce: u32, args: &Args<'_>) -> u32 {
    match A::PARTITION {
        Some(f) => f(app, key, n_reduce, args),
        None => crate::ihash(key) % n_reduce.max(1),
    }
}
