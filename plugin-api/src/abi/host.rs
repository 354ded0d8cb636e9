//! The host side of the ABI (the `host` cargo feature): [`load_module`]
//! loads an app library by path with abi_stable's layout and version checks,
//! and [`Module`] calls into it safely. The trampolines hand host streams to
//! the app and catch the host's own panics, so none unwinds through the app.

use std::ffi::c_void;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use abi_stable::abi_stability::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibraryError, RawLibrary};
use abi_stable::std_types::{RNone, ROption, RSlice, RSome, RVec};
use abi_stable::StableAbi;

use super::{
    AppCallError, AppExt, AppExtHeader, AppModuleRef, EmitFfi, RecordFfi, RecordsFfi, ReduceFn,
    SinkFfi, ValuesFfi, APP_EXT_SYMBOL,
};
use crate::{Records, Values};

/// Loads the app library at `path` (each path as its own library, never
/// cached by interface type) and checks its layout and version, and those
/// of its [`AppExt`] if it has one (a library built before input splits
/// has none).
pub fn load_module(path: &Path) -> Result<Module, LibraryError> {
    let root = lib_header_from_path(path)?.init_root_module::<AppModuleRef>()?;
    // The same library again (the loader hands back its handle); like the
    // header's, it is never unloaded: app code may be running.
    let raw = RawLibrary::load_at(path)?;
    // SAFETY: `export_app!` exports `APP_EXT_SYMBOL` as a static
    // `AppExtHeader`; its `layout` field is read first and checked before
    // `ext` is used.
    let header = match unsafe { raw.get::<&'static AppExtHeader>(APP_EXT_SYMBOL) } {
        Ok(symbol) => Some(*symbol),
        Err(_) => None,
    };
    std::mem::forget(raw);
    let ext = match header {
        None => None,
        Some(h) => {
            check_layout_compatibility(<AppExt as StableAbi>::LAYOUT, h.layout)
                .into_result()
                .map_err(LibraryError::AbiInstability)?;
            Some(h.ext)
        }
    };
    Ok(Module(root, ext))
}

/// A loaded app module with safe calls into it; a failed call is an
/// [`AppCallError`].
#[derive(Clone, Copy)]
pub struct Module(AppModuleRef, Option<AppExt>);

/// A stream host code panicked while the app was calling it.
const HOST_PANIC: &str = "the engine failed while the app was calling it";

impl Module {
    /// Wraps a loaded root module without the calls added later (as a
    /// library built before them is loaded).
    pub fn new(m: AppModuleRef) -> Self {
        Module(m, None)
    }

    /// [`crate::App::NAME`].
    pub fn name(&self) -> &'static str {
        self.0.name().as_str()
    }

    /// The app crate's version.
    pub fn version(&self) -> &'static str {
        self.0.version().as_str()
    }

    /// [`crate::App::DESCRIPTION`].
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

    /// The app's input format for a job with `args` (whole files for an
    /// app built before input splits).
    pub fn input_format(&self, args: &[u8]) -> crate::InputFormat {
        match self.1 {
            Some(ext) => crate::InputFormat::from_code((ext.input_format)(args.into())),
            None => crate::InputFormat::WholeFiles,
        }
    }

    /// Calls [`App::map`] on input that starts at `offset` in its file (an
    /// app built before input splits only gets whole files, offset 0).
    pub fn map(
        &self,
        path: &str,
        offset: u64,
        contents: &[u8],
        args: &[u8],
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), AppCallError> {
        let mut ctx = EmitCtx {
            f: emit,
            panicked: false,
        };
        let ffi = EmitFfi {
            ctx: &mut ctx as *mut EmitCtx<'_> as *mut c_void,
            emit: emit_trampoline,
        };
        let result = match self.1 {
            Some(ext) => (ext.map_at)(path.into(), offset, contents.into(), args.into(), ffi),
            None => (self.0.map())(path.into(), contents.into(), args.into(), ffi),
        };
        if ctx.panicked {
            return Err(AppCallError::EnginePanicked);
        }
        result.into_result().map_err(AppCallError::from_plugin)
    }

    /// Calls [`App::reduce`].
    pub fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        call_reducer(self.0.reduce(), key, values, args)
    }

    /// Calls [`App::combine`]; an error when the app has no combiner.
    pub fn combine(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &[u8],
    ) -> Result<Vec<u8>, AppCallError> {
        match self.0.combine() {
            RSome(f) => call_reducer(f, key, values, args),
            RNone => Err(AppCallError::NoCombiner {
                app: self.name().to_string(),
            }),
        }
    }

    /// Calls [`App::partition`] (the default `ihash` when not overridden).
    pub fn partition(&self, key: &[u8], n_reduce: u32, args: &[u8]) -> Result<u32, AppCallError> {
        match self.0.partition() {
            RSome(f) => f(key.into(), n_reduce, args.into())
                .into_result()
                .map_err(AppCallError::from_plugin),
            RNone => Ok(crate::ihash(key) % n_reduce.max(1)),
        }
    }

    /// Calls [`App::format`].
    pub fn format(
        &self,
        records: &mut dyn Records,
        out: &mut dyn Write,
    ) -> Result<(), AppCallError> {
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
            return Err(AppCallError::EnginePanicked);
        }
        if let Some(e) = sctx.error {
            return Err(AppCallError::Output(e));
        }
        result.into_result().map_err(AppCallError::from_plugin)
    }
}

fn call_reducer(
    f: ReduceFn,
    key: &[u8],
    values: &mut dyn Values,
    args: &[u8],
) -> Result<Vec<u8>, AppCallError> {
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
        return Err(AppCallError::EnginePanicked);
    }
    result
        .into_result()
        .map(RVec::into_vec)
        .map_err(AppCallError::from_plugin)
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
