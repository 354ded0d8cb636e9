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
//! - `files`: which folders and files to load;
//! - `trust`: whether a folder or file may be loaded from (sshd's
//!   StrictModes: owner, group/other write, parents, symlink targets);
//! - `cache`: hashing plugin files, the private cache folder and its
//!   hash-named copies (never loaded, only served again after a check);
//! - `load`: loading a library from its verified bytes through a sealed
//!   memfd, remembered by hash once every check passed, and abi_stable's
//!   errors summed up in one line;
//! - `registry`: the apps by name, and the files skipped.

mod app;
mod cache;
mod files;
mod load;
mod registry;
mod trust;

pub use app::{LoadedApp, StaticApp};
pub use cache::{default_cache_dir, sha256_hex};
pub use files::default_plugin_dirs;
pub use load::AppEntry;
pub use registry::{FetchedPluginError, PluginProblem, Registry, RegistryError};
pub use trust::Untrusted;
