//! The plugin side of the ABI: what `export_app!` expands to. [`module_for`]
//! builds an app's root module from its [`App`] impl; the shims run every
//! call under `catch_unwind`, so neither an error nor a panic crosses
//! `extern "C"` as anything but an error value.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RNone, RResult, RSlice, RSome, RStr, RString, RVec};

use abi_stable::StableAbi;

use super::{
    AppExt, AppExtHeader, AppModule, AppModuleRef, EmitFfi, RecordsFfi, ReduceFn, SinkFfi,
    ValuesFfi,
};
use crate::app::{call_combine, call_partition};
use crate::error::panic_message;
use crate::{App, AppError, Args, Emit, MapInput, Records, Values};

/// Gives the shims the app's single instance; implemented by `export_app!`.
pub trait Instance: App + Sized {
    /// The app instance, created on first use.
    fn instance() -> &'static Self;
}

/// What `export_app!` expands to; not for direct use.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
}

/// Builds the root module for `T` (used by `export_app!`).
pub fn module_for<T: Instance>(version: &'static str) -> AppModuleRef {
    AppModule {
        name: RStr::from_str(T::NAME),
        version: RStr::from_str(version),
        description: RStr::from_str(T::DESCRIPTION),
        map: map_shim::<T>,
        reduce: reduce_shim::<T>,
        combine: if T::COMBINE.is_some() {
            RSome(combine_shim::<T> as ReduceFn)
        } else {
            RNone
        },
        partition: if T::PARTITION.is_some() {
            RSome(partition_shim::<T>)
        } else {
            RNone
        },
        format: format_shim::<T>,
    }
    .leak_into_prefix()
}

/// The [`AppExtHeader`] for `T` (used by `export_app!`).
pub const fn ext_for<T: Instance>() -> AppExtHeader {
    AppExtHeader {
        layout: <AppExt as StableAbi>::LAYOUT,
        ext: AppExt {
            input_format: input_format_shim::<T>,
            map_at: map_at_shim::<T>,
        },
    }
}

/// Runs `f`, turning its error or panic into an error value.
fn guarded<R>(f: impl FnOnce() -> Result<R, AppError>) -> RResult<R, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into_message().into()),
        Err(payload) => RResult::RErr(format!("app panicked: {}", panic_message(&*payload)).into()),
    }
}

struct PluginEmit(EmitFfi);

impl Emit for PluginEmit {
    fn emit(&mut self, key: &[u8], value: &[u8]) {
        (self.0.emit)(self.0.ctx, key.into(), value.into())
    }
}

struct PluginValues(ValuesFfi);

impl Values for PluginValues {
    fn next_value(&mut self) -> Option<&[u8]> {
        match (self.0.next)(self.0.ctx) {
            RSome(s) => Some(s.as_slice()),
            RNone => None,
        }
    }
}

struct PluginRecords(RecordsFfi);

impl Records for PluginRecords {
    fn next_record(&mut self) -> Option<(&[u8], &[u8])> {
        match (self.0.next)(self.0.ctx) {
            RSome(r) => Some((r.key.as_slice(), r.value.as_slice())),
            RNone => None,
        }
    }
}

struct PluginSink(SinkFfi);

impl Write for PluginSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.0.write)(self.0.ctx, buf.into()) {
            Ok(buf.len())
        } else {
            Err(std::io::Error::other("output closed"))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

extern "C" fn map_shim<T: Instance>(
    path: RStr<'_>,
    contents: RSlice<'_, u8>,
    args: RSlice<'_, u8>,
    emit: EmitFfi,
) -> RResult<(), RString> {
    map_at_shim::<T>(path, 0, contents, args, emit)
}

extern "C" fn map_at_shim<T: Instance>(
    path: RStr<'_>,
    offset: u64,
    contents: RSlice<'_, u8>,
    args: RSlice<'_, u8>,
    emit: EmitFfi,
) -> RResult<(), RString> {
    guarded(|| {
        let input = MapInput {
            path: path.as_str(),
            contents: contents.as_slice(),
            args: Args::new(args.as_slice()),
            offset,
        };
        T::instance().map(&input, &mut PluginEmit(emit))
    })
}

extern "C" fn input_format_shim<T: Instance>(args: RSlice<'_, u8>) -> u32 {
    // A panic reads as the safe answer, whole files.
    catch_unwind(AssertUnwindSafe(|| {
        T::instance()
            .input_format(&Args::new(args.as_slice()))
            .to_code()
    }))
    .unwrap_or(0)
}

extern "C" fn reduce_shim<T: Instance>(
    key: RSlice<'_, u8>,
    values: ValuesFfi,
    args: RSlice<'_, u8>,
) -> RResult<RVec<u8>, RString> {
    guarded(|| {
        T::instance()
            .reduce(
                key.as_slice(),
                &mut PluginValues(values),
                &Args::new(args.as_slice()),
            )
            .map(RVec::from)
    })
}

extern "C" fn combine_shim<T: Instance>(
    key: RSlice<'_, u8>,
    values: ValuesFfi,
    args: RSlice<'_, u8>,
) -> RResult<RVec<u8>, RString> {
    guarded(|| {
        let args = Args::new(args.as_slice());
        call_combine(
            T::instance(),
            key.as_slice(),
            &mut PluginValues(values),
            &args,
        )
        .unwrap_or_else(|| Err(AppError::msg(format!("app {} has no combiner", T::NAME))))
        .map(RVec::from)
    })
}

extern "C" fn partition_shim<T: Instance>(
    key: RSlice<'_, u8>,
    n_reduce: u32,
    args: RSlice<'_, u8>,
) -> RResult<u32, RString> {
    guarded(|| {
        let args = Args::new(args.as_slice());
        Ok(call_partition(
            T::instance(),
            key.as_slice(),
            n_reduce,
            &args,
        ))
    })
}

extern "C" fn format_shim<T: Instance>(records: RecordsFfi, out: SinkFfi) -> RResult<(), RString> {
    guarded(|| {
        let mut sink = std::io::BufWriter::new(PluginSink(out));
        T::instance().format(&mut PluginRecords(records), &mut sink)?;
        sink.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod symbol_tests {
    #[test]
    fn export_app_uses_abi_stables_loader_symbol() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
