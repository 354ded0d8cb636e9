//! [`LoadedApp`]: the host's view of an app, whether loaded from a library
//! or linked in statically ([`StaticApp`]). Named apart from
//! `plugin_api::App`, the trait app authors implement.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugin_api::abi::Module;
use plugin_api::app::{call_combine, call_partition};
use plugin_api::error::panic_message;
use plugin_api::{AppError, Args, Emit, InputFormat, MapInput, Records, Values};

/// An app as the engine calls it. Errors are the app's own messages; a
/// panic inside the app arrives as an error `app panicked: ...`.
pub trait LoadedApp: Send + Sync {
    /// The app's name.
    fn name(&self) -> &str;
    /// Its version.
    fn version(&self) -> &str;
    /// A one-line description.
    fn description(&self) -> &str;
    /// How the app's input may be cut for a job with `args`.
    fn input_format(&self, args: &[u8]) -> InputFormat;
    /// Maps one input: a whole file, or the lines of a split of it that
    /// start at `offset`.
    fn map(
        &self,
        path: &str,
        offset: u64,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), String>;
    /// Reduces one key's values.
    fn reduce(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String>;
    /// Whether the app has a combiner.
    fn has_combiner(&self) -> bool;
    /// Combines some of one key's values (only if [`LoadedApp::has_combiner`]).
    fn combine(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String>;
    /// Whether the app has its own partitioner.
    fn has_partitioner(&self) -> bool;
    /// The partition of `key` among `n_reduce`.
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, String>;
    /// Formats a finished job's records for people.
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), String>;
}

impl LoadedApp for Module {
    fn name(&self) -> &str {
        Module::name(self)
    }
    fn version(&self) -> &str {
        Module::version(self)
    }
    fn description(&self) -> &str {
        Module::description(self)
    }
    fn input_format(&self, args: &[u8]) -> InputFormat {
        Module::input_format(self, args)
    }
    fn map(
        &self,
        path: &str,
        offset: u64,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), String> {
        Module::map(self, path, offset, contents, args, emit)
    }
    fn reduce(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String> {
        Module::reduce(self, key, values, args)
    }
    fn has_combiner(&self) -> bool {
        Module::has_combiner(self)
    }
    fn combine(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String> {
        Module::combine(self, key, values, args)
    }
    fn has_partitioner(&self) -> bool {
        Module::has_partitioner(self)
    }
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, String> {
        Module::partition(self, key, n_reduce, args)
    }
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), String> {
        Module::format(self, records, out)
    }
}

/// An app linked into the binary: the same behaviour as its plugin, without
/// a library to load.
#[derive(Debug, Default)]
pub struct StaticApp<T>(pub T);

fn guarded<R>(f: impl FnOnce() -> Result<R, AppError>) -> Result<R, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.into_message()),
        Err(p) => Err(format!("app panicked: {}", panic_message(&*p))),
    }
}

struct FnEmit<'a>(&'a mut dyn FnMut(&[u8], &[u8]));

impl Emit for FnEmit<'_> {
    fn emit(&mut self, key: &[u8], value: &[u8]) {
        (self.0)(key, value)
    }
}

impl<T: plugin_api::App> LoadedApp for StaticApp<T> {
    fn name(&self) -> &str {
        T::NAME
    }
    fn version(&self) -> &str {
        "static"
    }
    fn description(&self) -> &str {
        T::DESCRIPTION
    }
    fn input_format(&self, args: &[u8]) -> InputFormat {
        catch_unwind(AssertUnwindSafe(|| self.0.input_format(&Args::new(args))))
            .unwrap_or(InputFormat::WholeFiles)
    }
    fn map(
        &self,
        path: &str,
        offset: u64,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), String> {
        let input = MapInput {
            path,
            contents,
            args: Args::new(args),
            offset,
        };
        guarded(|| self.0.map(&input, &mut FnEmit(emit)))
    }
    fn reduce(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String> {
        guarded(|| self.0.reduce(key, values, &Args::new(args)))
    }
    fn has_combiner(&self) -> bool {
        T::COMBINE.is_some()
    }
    fn combine(&self, key: &[u8], values: &mut dyn Values, args: &[u8]) -> Result<Vec<u8>, String> {
        guarded(|| {
            call_combine(&self.0, key, values, &Args::new(args))
                .unwrap_or_else(|| Err(AppError::msg(format!("app {} has no combiner", T::NAME))))
        })
    }
    fn has_partitioner(&self) -> bool {
        T::PARTITION.is_some()
    }
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, String> {
        guarded(|| Ok(call_partition(&self.0, key, n_reduce, &Args::new(args))))
    }
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), String> {
        guarded(|| self.0.format(records, out))
    }
}
