//! [`LoadedApp`]: the host's view of an app, whether loaded from a library
//! or linked in statically ([`StaticApp`]). Named apart from
//! `plugin_api::App`, the trait app authors implement.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugin_api::abi::{AppCallError, Module};
use plugin_api::app::call_partition;
use plugin_api::error::panic_message;
use plugin_api::{AppError, Args, Emit, InputFormat, MapInput, Records, Values};

/// An app as the engine calls it. A failed call is an [`AppCallError`]: the
/// app's own message, or a panic inside the app (`app panicked: ...`).
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
    ) -> Result<(), AppCallError>;
    /// Reduces one key's values.
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError>;
    /// Whether the app has a combiner.
    fn has_combiner(&self) -> bool;
    /// Combines some of one key's values (only if [`LoadedApp::has_combiner`]).
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError>;
    /// Whether the app has its own partitioner.
    fn has_partitioner(&self) -> bool;
    /// The partition of `key` among `n_reduce`.
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, AppCallError>;
    /// Formats a finished job's records for people.
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppCallError>;
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
    ) -> Result<(), AppCallError> {
        Module::map(self, path, offset, contents, args, emit)
    }
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        Module::reduce(self, key, values, args)
    }
    fn has_combiner(&self) -> bool {
        Module::has_combiner(self)
    }
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        Module::combine(self, key, values, args)
    }
    fn has_partitioner(&self) -> bool {
        Module::has_partitioner(self)
    }
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, AppCallError> {
        Module::partition(self, key, n_reduce, args)
    }
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppCallError> {
        Module::format(self, records, out)
    }
}

/// An app linked into the binary: the same behaviour as its plugin, without
/// a library to load.
#[derive(Debug, Default)]
pub struct StaticApp<T>(pub T);

/// Runs an app call, turning its error or panic into an [`AppCallError`].
fn guarded<R>(f: impl FnOnce() -> Result<R, AppError>) -> Result<R, AppCallError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(AppCallError::from),
        Err(p) => Err(AppCallError::Panicked(panic_message(&*p))),
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
    ) -> Result<(), AppCallError> {
        let input = MapInput {
            path,
            contents,
            args: Args::new(args),
            offset,
        };
        guarded(|| self.0.map(&input, &mut FnEmit(emit)))
    }
    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        guarded(|| self.0.reduce(key, values, &Args::new(args)))
    }
    fn has_combiner(&self) -> bool {
        T::COMBINE.is_some()
    }
    fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        let Some(combine) = T::COMBINE else {
            return Err(AppCallError::NoCombiner {
                app: T::NAME.to_string(),
            });
        };
        guarded(|| combine(&self.0, key, values, &Args::new(args)))
    }
    fn has_partitioner(&self) -> bool {
        T::PARTITION.is_some()
    }
    fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, AppCallError> {
        guarded(|| Ok(call_partition(&self.0, key, n_reduce, &Args::new(args))))
    }
    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppCallError> {
        guarded(|| self.0.format(records, out))
    }
}

#[cfg(test)]
mod tests {
    use plugin_api::abi::AppCallError;
    use plugin_api::testing::SliceValues;
    use plugin_api::{App, AppError, Args, Emit, MapInput, Values};

    use super::{LoadedApp, StaticApp};

    /// Fails a map of `bad`, panics on a map of `boom`; no combiner.
    #[derive(Default)]
    struct Picky;

    impl App for Picky {
        const NAME: &'static str = "picky";
        fn map(&self, input: &MapInput<'_>, _: &mut dyn Emit) -> Result<(), AppError> {
            match input.path {
                "boom" => panic!("exploded on {}", input.path),
                "bad" => Err(AppError::msg("bad input")),
                _ => Ok(()),
            }
        }
        fn reduce(&self, _: &[u8], _: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
            Ok(Vec::new())
        }
    }

    fn map(path: &str) -> Result<(), AppCallError> {
        StaticApp(Picky).map(path, 0, b"", b"", &mut |_, _| {})
    }

    #[test]
    fn a_static_apps_error_and_panic_are_typed_with_their_messages() {
        assert!(map("fine").is_ok());
        let error = map("bad").unwrap_err();
        assert!(matches!(&error, AppCallError::App(m) if m == "bad input"));
        assert_eq!(error.to_string(), "bad input");
        let panic = map("boom").unwrap_err();
        assert!(matches!(&panic, AppCallError::Panicked(m) if m == "exploded on boom"));
        assert_eq!(panic.to_string(), "app panicked: exploded on boom");
    }

    #[test]
    fn combining_without_a_combiner_names_the_app() {
        let app = StaticApp(Picky);
        assert!(!app.has_combiner());
        let values = [b"1".to_vec()];
        let mut values = SliceValues::new(&values);
        let err = app.combine(b"k", &mut values, b"").unwrap_err();
        assert!(matches!(&err, AppCallError::NoCombiner { app } if app == "picky"));
        assert_eq!(err.to_string(), "app picky has no combiner");
    }
}
