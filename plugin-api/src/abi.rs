//! The stable ABI between the host and an app library.
//!
//! An app library exports one root module, [`AppModule`], a prefix type (new
//! fields can be appended in later versions without breaking older apps).
//! Streams cross the boundary as `(context pointer, extern "C" fn)` pairs that
//! only this module builds; app authors and hosts use the safe wrappers here.
//!
//! Plugin side: [`module_for`] builds the module for an [`App`]; every entry
//! point runs the app under `catch_unwind`, so a panic becomes an error value
//! and never unwinds across `extern "C"`.
//!
//! Host side: [`load_module`] loads a library by path with abi_stable's layout
//! and version checks, and [`Module`] calls into it safely.

use std::ffi::c_void;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RNone, ROption, RResult, RSlice, RSome, RStr, RString, RVec};
use abi_stable::{package_version_strings, sabi_types::VersionStrings, StableAbi};

use crate::{App, AppError, Args, Emit, MapInput, Records, Values};

/// Gives the shims the app's single instance; implemented by `export_app!`.
pub trait Instance: App + Sized {
    /// The app instance, created on first use.
    fn instance() -> &'static Self;
}

/// A sink for key/value pairs, owned by the caller.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct EmitFfi {
    ctx: *mut c_void,
    emit: extern "C" fn(*mut c_void, RSlice<'_, u8>, RSlice<'_, u8>),
}

/// A stream of values; each returned slice is valid until the next call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct ValuesFfi {
    ctx: *mut c_void,
    next: extern "C" fn(*mut c_void) -> ROption<RSlice<'static, u8>>,
}

/// One output record; valid until the next call of its stream.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct RecordFfi {
    key: RSlice<'static, u8>,
    value: RSlice<'static, u8>,
}

/// A stream of output records.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct RecordsFfi {
    ctx: *mut c_void,
    next: extern "C" fn(*mut c_void) -> ROption<RecordFfi>,
}

/// A byte sink; `write` returns false when the sink failed.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct SinkFfi {
    ctx: *mut c_void,
    write: extern "C" fn(*mut c_void, RSlice<'_, u8>) -> bool,
}

type ReduceFn =
    extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>;

/// The root module an app library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = AppModuleRef)))]
pub struct AppModule {
    /// [`App::NAME`].
    pub name: RStr<'static>,
    /// The app crate's version.
    pub version: RStr<'static>,
    /// [`App::DESCRIPTION`].
    pub description: RStr<'static>,
    /// [`App::map`]: path, contents, args, sink.
    pub map:
        extern "C" fn(RStr<'_>, RSlice<'_, u8>, RSlice<'_, u8>, EmitFfi) -> RResult<(), RString>,
    /// [`App::reduce`]: key, values, args.
    pub reduce:
        extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>,
    /// [`App::combine`], when the app has one.
    pub combine: ROption<
        extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>,
    >,
    /// [`App::partition`], when the app overrides it: key, n_reduce, args.
    pub partition:
        ROption<extern "C" fn(RSlice<'_, u8>, u32, RSlice<'_, u8>) -> RResult<u32, RString>>,
    /// [`App::format`]: records, output.
    #[sabi(last_prefix_field)]
    pub format: extern "C" fn(RecordsFfi, SinkFfi) -> RResult<(), RString>,
}

impl RootModule for AppModuleRef {
    abi_stable::declare_root_module_statics! {AppModuleRef}
    const BASE_NAME: &'static str = "mapreduce_app";
    const NAME: &'static str = "mapreduce_app";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

// ---------------------------------------------------------------- plugin side

/// What `export_app!` expands to; not for direct use.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
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

/// Builds the root module for `T` (used by `export_app!`).
pub fn module_for<T: Instance>(version: &'static str) -> AppModuleRef {
    AppModule {
        name: RStr::from_str(T::NAME),
        version: RStr::from_str(version),
        description: RStr::from_str(T::DESCRIPTION),
        map: map_shim::<T>,
        reduce: reduce_shim::<T>,
        combine: if T::HAS_COMBINER {
            RSome(combine_shim::<T> as ReduceFn)
        } else {
            RNone
        },
        partition: if T::HAS_PARTITIONER {
            RSome(partition_shim::<T>)
        } else {
            RNone
        },
        format: format_shim::<T>,
    }
    .leak_into_prefix()
}

/// Runs `f`, turning its error or panic into an error value.
fn guarded<R>(f: impl FnOnce() -> Result<R, AppError>) -> RResult<R, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into_message().into()),
        Err(payload) => RResult::RErr(format!("app panicked: {}", panic_message(&*payload)).into()),
    }
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
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
    guarded(|| {
        let input = MapInput {
            path: path.as_str(),
            contents: contents.as_slice(),
            args: Args::new(args.as_slice()),
        };
        T::instance().map(&input, &mut PluginEmit(emit))
    })
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
        T::instance()
            .combine(
                key.as_slice(),
                &mut PluginValues(values),
                &Args::new(args.as_slice()),
            )
            .map(RVec::from)
    })
}

extern "C" fn partition_shim<T: Instance>(
    key: RSlice<'_, u8>,
    n_reduce: u32,
    args: RSlice<'_, u8>,
) -> RResult<u32, RString> {
    guarded(|| Ok(T::instance().partition(key.as_slice(), n_reduce, &Args::new(args.as_slice()))))
}

extern "C" fn format_shim<T: Instance>(records: RecordsFfi, out: SinkFfi) -> RResult<(), RString> {
    guarded(|| {
        let mut sink = std::io::BufWriter::new(PluginSink(out));
        T::instance().format(&mut PluginRecords(records), &mut sink)?;
        sink.flush()?;
        Ok(())
    })
}

// ------------------------------------------------------------------ host side

/// Loads the app library at `path` (each path as its own library, never
/// cached by interface type) and checks its layout and version.
pub fn load_module(path: &Path) -> Result<AppModuleRef, LibraryError> {
    lib_header_from_path(path)?.init_root_module::<AppModuleRef>()
}

/// A loaded app module with safe calls into it. Errors are the app's
/// messages (panics as `app panicked: ...`).
#[derive(Clone, Copy)]
pub struct Module(AppModuleRef);

/// A stream host code panicked while the app was calling it.
const HOST_PANIC: &str = "the engine failed while the app was calling it";

impl Module {
    /// Wraps a loaded root module.
    pub fn new(m: AppModuleRef) -> Self {
        Module(m)
    }

    /// [`App::NAME`].
    pub fn name(&self) -> &'static str {
        self.0.name().as_str()
    }

    /// The app crate's version.
    pub fn version(&self) -> &'static str {
        self.0.version().as_str()
    }

    /// [`App::DESCRIPTION`].
    pub fn description(&self) -> &'static str {
        self.0.description().as_str()
    }

    /// Whether the app has a combiner.
    pub fn has_combiner(&self) -> bool {
        self.0.combine().is_some()
    }

    /// Whether the app has its own partitioner.
    pub fn has_partitioner(&self) -> bool {
        self.0.partition().is_some()
    }

    /// Calls [`App::map`].
    pub fn map(
        &self,
        path: &str,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), String> {
        let mut ctx = EmitCtx {
            f: emit,
            panicked: false,
        };
        let ffi = EmitFfi {
            ctx: &mut ctx as *mut EmitCtx<'_> as *mut c_void,
            emit: emit_trampoline,
        };
        let result = (self.0.map())(path.into(), contents.into(), args.into(), ffi);
        if ctx.panicked {
            return Err(HOST_PANIC.to_string());
        }
        result.into_result().map_err(String::from)
    }

    /// Calls [`App::reduce`].
    pub fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, String> {
        call_reducer(self.0.reduce(), key, values, args)
    }

    /// Calls [`App::combine`]; an error when the app has no combiner.
    pub fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, String> {
        match self.0.combine() {
            RSome(f) => call_reducer(f, key, values, args),
            RNone => Err(format!("app {} has no combiner", self.name())),
        }
    }

    /// Calls [`App::partition`] (the default `ihash` when not overridden).
    pub fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, String> {
        match self.0.partition() {
            RSome(f) => f(key.into(), n_reduce, args.into())
                .into_result()
                .map_err(String::from),
            RNone => Ok(crate::ihash(key) % n_reduce.max(1)),
        }
    }

    /// Calls [`App::format`].
    pub fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), String> {
        let mut rctx = RecordsCtx {
            r: records,
            panicked: false,
        };
        let mut sctx = SinkCtx {
            w: out,
            error: None,
        };
        let result = (self.0.format())(
            RecordsFfi {
                ctx: &mut rctx as *mut RecordsCtx<'_> as *mut c_void,
                next: records_trampoline,
            },
            SinkFfi {
                ctx: &mut sctx as *mut SinkCtx<'_> as *mut c_void,
                write: sink_trampoline,
            },
        );
        if rctx.panicked {
            return Err(HOST_PANIC.to_string());
        }
        if let Some(e) = sctx.error {
            return Err(format!("writing output: {e}"));
        }
        result.into_result().map_err(String::from)
    }
}

fn call_reducer(
    f: ReduceFn,
    key: &[u8],
    values: &mut dyn Values,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    let mut ctx = ValuesCtx {
        v: values,
        panicked: false,
    };
    let ffi = ValuesFfi {
        ctx: &mut ctx as *mut ValuesCtx<'_> as *mut c_void,
        next: values_trampoline,
    };
    let result = f(key.into(), ffi, args.into());
    if ctx.panicked {
        return Err(HOST_PANIC.to_string());
    }
    result
        .into_result()
        .map(RVec::into_vec)
        .map_err(String::from)
}

struct EmitCtx<'a> {
    f: &'a mut dyn FnMut(&[u8], &[u8]),
    panicked: bool,
}

extern "C" fn emit_trampoline(ctx: *mut c_void, key: RSlice<'_, u8>, value: RSlice<'_, u8>) {
    // SAFETY: `ctx` is the `EmitCtx` that `Module::map` built and keeps alive
    // for the whole call; the app calls back only during that call.
    let ctx = unsafe { &mut *(ctx as *mut EmitCtx<'_>) };
    if ctx.panicked {
        return;
    }
    let f = &mut ctx.f;
    if catch_unwind(AssertUnwindSafe(|| f(key.as_slice(), value.as_slice()))).is_err() {
        ctx.panicked = true;
    }
}

struct ValuesCtx<'a> {
    v: &'a mut dyn Values,
    panicked: bool,
}

extern "C" fn values_trampoline(ctx: *mut c_void) -> ROption<RSlice<'static, u8>> {
    // SAFETY: as for `emit_trampoline`; the slice handed out stays valid until
    // the next call, which is the documented contract of `ValuesFfi`.
    let ctx = unsafe { &mut *(ctx as *mut ValuesCtx<'_>) };
    if ctx.panicked {
        return RNone;
    }
    let v = &mut ctx.v;
    match catch_unwind(AssertUnwindSafe(|| {
        v.next_value().map(|s| (s.as_ptr(), s.len()))
    })) {
        Ok(Some((ptr, len))) => RSome(unsafe { RSlice::from_raw_parts(ptr, len) }),
        Ok(None) => RNone,
        Err(_) => {
            ctx.panicked = true;
            RNone
        }
    }
}

struct RecordsCtx<'a> {
    r: &'a mut dyn Records,
    panicked: bool,
}

extern "C" fn records_trampoline(ctx: *mut c_void) -> ROption<RecordFfi> {
    // SAFETY: as for `values_trampoline`.
    let ctx = unsafe { &mut *(ctx as *mut RecordsCtx<'_>) };
    if ctx.panicked {
        return RNone;
    }
    let r = &mut ctx.r;
    let next = catch_unwind(AssertUnwindSafe(|| {
        r.next_record()
            .map(|(k, v)| ((k.as_ptr(), k.len()), (v.as_ptr(), v.len())))
    }));
    match next {
        Ok(Some(((kp, kl), (vp, vl)))) => RSome(RecordFfi {
            key: unsafe { RSlice::from_raw_parts(kp, kl) },
            value: unsafe { RSlice::from_raw_parts(vp, vl) },
        }),
        Ok(None) => RNone,
        Err(_) => {
            ctx.panicked = true;
            RNone
        }
    }
}

struct SinkCtx<'a> {
    w: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

extern "C" fn sink_trampoline(ctx: *mut c_void, bytes: RSlice<'_, u8>) -> bool {
    // SAFETY: as for `emit_trampoline`.
    let ctx = unsafe { &mut *(ctx as *mut SinkCtx<'_>) };
    if ctx.error.is_some() {
        return false;
    }
    let w = &mut ctx.w;
    match catch_unwind(AssertUnwindSafe(|| w.write_all(bytes.as_slice()))) {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            ctx.error = Some(e);
            false
        }
        Err(_) => {
            ctx.error = Some(std::io::Error::other(HOST_PANIC));
            false
        }
    }
}
