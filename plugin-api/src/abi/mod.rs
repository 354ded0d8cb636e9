//! The stable ABI between the host and an app library: the layout both sides
//! share.
//!
//! An app library exports one root module, [`AppModule`], a prefix type (new
//! fields can be appended in later versions without breaking older apps).
//! Streams cross the boundary as `(context pointer, extern "C" fn)` pairs that
//! only this module and its two halves build; app authors and hosts use safe
//! wrappers.
//!
//! - [`export`] (plugin side): [`module_for`] builds the module for an
//!   [`crate::App`]; every entry point runs the app under `catch_unwind`, so
//!   a panic becomes an error value and never unwinds across `extern "C"`.
//! - `host` (host side, behind the `host` cargo feature, which only the
//!   engine enables): `load_module` loads a library by path with
//!   abi_stable's layout and version checks, and `Module` calls into it
//!   safely; a failed call is an `AppCallError` (module `call_error`).
//!
//! Growing the ABI: not by appending fields to [`AppModule`]. abi_stable
//! 0.11's layout check refuses a library whose prefix type has *fewer*
//! fields than the host's (the interface may not have more fields than the
//! implementation), so a newer host would reject every already-built
//! plugin ("too many fields"; tried with a plugin built from the previous
//! `plugin-api`). Later calls go into [`AppExt`] instead, a struct exported
//! under its own symbol ([`APP_EXT_SYMBOL`]) with its layout beside it:
//! the host checks that layout with abi_stable and treats a library
//! without the symbol as one built before it (whole files, `map` only).
//! A later addition is a new struct under a new symbol (`..._v2`).

#[cfg(feature = "host")]
mod call_error;
pub mod export;
#[cfg(feature = "host")]
mod host;

#[cfg(feature = "host")]
pub use call_error::AppCallError;
pub use export::{__private, ext_for, module_for, Instance};
#[cfg(feature = "host")]
pub use host::{load_module, Module};

use std::ffi::c_void;

use abi_stable::library::RootModule;
use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::type_layout::TypeLayout;
use abi_stable::{package_version_strings, sabi_types::VersionStrings, StableAbi};

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

pub(crate) type ReduceFn =
    extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>;

/// The root module an app library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = AppModuleRef)))]
pub struct AppModule {
    /// [`crate::App::NAME`].
    pub name: RStr<'static>,
    /// The app crate's version.
    pub version: RStr<'static>,
    /// [`crate::App::DESCRIPTION`].
    pub description: RStr<'static>,
    /// [`crate::App::map`]: path, contents, args, sink.
    pub map:
        extern "C" fn(RStr<'_>, RSlice<'_, u8>, RSlice<'_, u8>, EmitFfi) -> RResult<(), RString>,
    /// [`crate::App::reduce`]: key, values, args.
    pub reduce:
        extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>,
    /// [`crate::App::combine`], when the app has one.
    pub combine: ROption<
        extern "C" fn(RSlice<'_, u8>, ValuesFfi, RSlice<'_, u8>) -> RResult<RVec<u8>, RString>,
    >,
    /// [`crate::App::partition`], when the app overrides it: key, n_reduce, args.
    pub partition:
        ROption<extern "C" fn(RSlice<'_, u8>, u32, RSlice<'_, u8>) -> RResult<u32, RString>>,
    /// [`crate::App::format`]: records, output.
    #[sabi(last_prefix_field)]
    pub format: extern "C" fn(RecordsFfi, SinkFfi) -> RResult<(), RString>,
}

/// Calls added after the root module's layout was fixed (input splits), in
/// a struct of their own under the symbol [`APP_EXT_SYMBOL`] (see the
/// module documentation for why not appended to [`AppModule`]).
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct AppExt {
    /// [`crate::App::input_format`] for the job's args, as
    /// [`crate::InputFormat::to_code`].
    pub input_format: extern "C" fn(RSlice<'_, u8>) -> u32,
    /// [`crate::App::map`] with the input's offset in its file: path,
    /// offset, contents, args, sink.
    pub map_at: extern "C" fn(
        RStr<'_>,
        u64,
        RSlice<'_, u8>,
        RSlice<'_, u8>,
        EmitFfi,
    ) -> RResult<(), RString>,
}

/// What [`APP_EXT_SYMBOL`] names: [`AppExt`] with the layout it was built
/// with, which the host checks before touching `ext`.
#[repr(C)]
pub struct AppExtHeader {
    /// `<AppExt as StableAbi>::LAYOUT` of the plugin's `plugin-api`.
    pub layout: &'static TypeLayout,
    /// The calls.
    pub ext: AppExt,
}

// SAFETY: a layout description and function pointers, all immutable.
unsafe impl Sync for AppExtHeader {}

/// The symbol an app library exports its [`AppExtHeader`] under; absent in
/// libraries built before input splits.
pub const APP_EXT_SYMBOL: &[u8] = b"mapreduce_app_ext_v1\0";

impl RootModule for AppModuleRef {
    abi_stable::declare_root_module_statics! {AppModuleRef}
    const BASE_NAME: &'static str = "mapreduce_app";
    const NAME: &'static str = "mapreduce_app";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
