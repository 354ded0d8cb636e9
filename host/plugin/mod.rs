//! The plugin registry: finds app libraries in plugin folders, loads each by
//! its own path with abi_stable's checks, and hands out apps by name.
//!
//! This module and `plugin-api` are the only users of `abi_stable`. Apps are
//! used through the host-native [`LoadedApp`] trait, implemented both by
//! loaded libraries and by [`StaticApp`] (an app linked into the binary, for
//! tests).
//!
//! Layout:
//! - `app`: the [`LoadedApp`] trait and [`StaticApp`];
//! - `files`: which folders and files to load, and their permission check;
//! - `cache`: hashing plugin files and the hash-named cache copies;
//! - `load`: loading a library from its bytes, remembered by hash, and
//!   abi_stable's errors summed up in one line;
//! - `registry`: the apps by name, and the files skipped.

mod app;
mod cache;
mod files;
mod load;
mod registry;

pub use app::{LoadedApp, StaticApp};
pub use cache::{default_cache_dir, sha256_hex};
pub use files::default_plugin_dirs;
pub use load::AppEntry;
pub use registry::{PluginProblem, Registry, RegistryError};
