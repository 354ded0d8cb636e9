//! Helpers for unit-testing an app without the engine: the `Emit`, `Values`
//! and `Records` streams the engine would hand it, one-call wrappers for
//! map, reduce/combine and format, and a tiny single-process job runner.
//!
//! ```ignore
//! #[test]
//! fn counts() {
//!     let out = plugin_api::testing::run_job::<MyApp>(&[("a.txt", b"x y x")], &[]).unwrap();
//!     assert_eq!(out, "...");
//! }
//! ```

use std::collections::BTreeMap;

use crate::app::{call_combine, call_partition};
use crate::frame::encode_frames;
use crate::split::{cut, line_split_of, LineSplit};
use crate::{App, AppError, Args, Emit, MapInput, Records, Values};

/// Key/value pairs, as emitted or as output records.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Collects emitted pairs.
#[derive(Debug, Default)]
pub struct VecEmit(pub Pairs);

impl Emit for VecEmit {
    fn emit(&mut self, key: &[u8], value: &[u8]) {
        self.0.push((key.to_vec(), value.to_vec()));
    }
}

/// Streams values from a slice.
pub struct SliceValues<'a>(std::slice::Iter<'a, Vec<u8>>);

impl<'a> SliceValues<'a> {
    /// Streams `values` in order.
    pub fn new(values: &'a [Vec<u8>]) -> Self {
        SliceValues(values.iter())
    }
}

impl Values for SliceValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        self.0.next().map(Vec::as_slice)
    }
}

/// Streams records from a slice.
pub struct SliceRecords<'a>(std::slice::Iter<'a, (Vec<u8>, Vec<u8>)>);

impl<'a> SliceRecords<'a> {
    /// Streams `records` in order.
    pub fn new(records: &'a [(Vec<u8>, Vec<u8>)]) -> Self {
        SliceRecords(records.iter())
    }
}

impl Records for SliceRecords<'_> {
    fn next_record(&mut self) -> Option<(&[u8], &[u8])> {
        self.0.next().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// Job arguments encoded the way the engine passes them.
pub fn args(list: &[&str]) -> Vec<u8> {
    encode_frames(list).expect("test arguments are shorter than 4 GiB")
}

/// Maps one file and returns its output pairs.
pub fn map<A: App + Default>(
    path: &str,
    contents: &[u8],
    raw_args: &[u8],
) -> Result<Pairs, AppError> {
    let input = MapInput {
        path,
        contents,
        args: Args::new(raw_args),
        offset: 0,
    };
    let mut out = VecEmit::default();
    A::default().map(&input, &mut out)?;
    Ok(out.0)
}

/// Reduces (or, with `combine`, combines) `values`.
pub fn reduce<A: App + Default>(
    key: &[u8],
    values: &[Vec<u8>],
    raw_args: &[u8],
    combine: bool,
) -> Result<Vec<u8>, AppError> {
    let app = A::default();
    let mut stream = SliceValues::new(values);
    let args = Args::new(raw_args);
    if combine {
        call_combine(&app, key, &mut stream, &args)
            .unwrap_or_else(|| Err(AppError::msg(format!("app {} has no combiner", A::NAME))))
    } else {
        app.reduce(key, &mut stream, &args)
    }
}

/// The partition of `key` (the app's own partitioner, else the default
/// hash).
pub fn partition<A: App + Default>(key: &[u8], n_reduce: u32, raw_args: &[u8]) -> u32 {
    call_partition(&A::default(), key, n_reduce, &Args::new(raw_args))
}

/// Formats `records` (in the order given) to text.
pub fn format<A: App + Default>(records: &[(Vec<u8>, Vec<u8>)]) -> Result<String, AppError> {
    let mut out = Vec::new();
    A::default().format(&mut SliceRecords::new(records), &mut out)?;
    String::from_utf8(out).map_err(AppError::msg)
}

/// Runs a whole job in process: maps every input (combining each map task's
/// output when the app has a combiner), groups by key, reduces, and formats
/// the records in descending key order so `format` has to do its own sorting.
pub fn run_job<A: App + Default>(
    inputs: &[(&str, &[u8])],
    raw_args: &[u8],
) -> Result<String, AppError> {
    run_job_split::<A>(inputs, raw_args, u64::MAX)
}

/// [`run_job`] with every input cut into splits of `split_size` bytes when
/// the app reads lines for these arguments
/// ([`InputFormat::is_lines`](crate::InputFormat::is_lines)): one map task
/// per split, each seeing the split's lines at their offset, as the engine
/// cuts them; whole files otherwise.
pub fn run_job_split<A: App + Default>(
    inputs: &[(&str, &[u8])],
    raw_args: &[u8],
    split_size: u64,
) -> Result<String, AppError> {
    let app = A::default();
    let lines = app.input_format(&Args::new(raw_args)).is_lines();
    let mut groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (path, contents) in inputs {
        let splits = if lines {
            cut(contents.len() as u64, split_size)
                .into_iter()
                .map(|(offset, len)| line_split_of(contents, offset, len))
                .collect()
        } else {
            vec![LineSplit {
                offset: 0,
                bytes: contents.to_vec(),
            }]
        };
        for split in splits {
            map_task::<A>(
                &app,
                path,
                split.offset,
                &split.bytes,
                raw_args,
                &mut groups,
            )?;
        }
    }
    finish::<A>(groups, raw_args)
}

/// [`run_job`] with every input's lines joined into one map call (each
/// input's last line ended with a `\n` where it has none), as the engine
/// may join small files for an app that reads
/// [`InputFormat::JoinedLines`](crate::InputFormat::JoinedLines): such an
/// app's output must be the same as [`run_job`]'s. The call's path is the
/// first input's.
pub fn run_job_joined<A: App + Default>(
    inputs: &[(&str, &[u8])],
    raw_args: &[u8],
) -> Result<String, AppError> {
    let app = A::default();
    let mut joined = Vec::new();
    for (_, contents) in inputs {
        joined.extend_from_slice(contents);
        if !contents.is_empty() && !contents.ends_with(b"\n") {
            joined.push(b'\n');
        }
    }
    let path = inputs.first().map_or("", |(p, _)| p);
    let mut groups = BTreeMap::new();
    map_task::<A>(&app, path, 0, &joined, raw_args, &mut groups)?;
    finish::<A>(groups, raw_args)
}

/// One map call over `contents` as one map task: its records grouped (and
/// combined, when the app has a combiner) into `groups`.
fn map_task<A: App + Default>(
    app: &A,
    path: &str,
    offset: u64,
    contents: &[u8],
    raw_args: &[u8],
    groups: &mut BTreeMap<Vec<u8>, Vec<Vec<u8>>>,
) -> Result<(), AppError> {
    let input = MapInput {
        path,
        contents,
        args: Args::new(raw_args),
        offset,
    };
    let mut out = VecEmit::default();
    app.map(&input, &mut out)?;
    let mut task: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (key, value) in out.0 {
        task.entry(key).or_default().push(value);
    }
    for (key, values) in task {
        let values = if A::COMBINE.is_some() {
            vec![reduce::<A>(&key, &values, raw_args, true)?]
        } else {
            values
        };
        groups.entry(key).or_default().extend(values);
    }
    Ok(())
}

/// Every key's values reduced, in descending key order, rendered by the
/// app's formatter.
fn finish<A: App + Default>(
    groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>>,
    raw_args: &[u8],
) -> Result<String, AppError> {
    let mut records = Vec::new();
    for (key, values) in groups.into_iter().rev() {
        let value = reduce::<A>(&key, &values, raw_args, false)?;
        records.push((key, value));
    }
    format::<A>(&records)
}
