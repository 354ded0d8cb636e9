//! The plugin registry: finds app libraries in plugin folders, loads each by
//! its own path with abi_stable's checks, and hands out apps by name.
//!
//! This module and `plugin-api` are the only users of `abi_stable`. Apps are
//! used through the host-native [`App`] trait, implemented both by loaded
//! libraries and by [`StaticApp`] (an app linked into the binary, for tests).

mod app;
mod registry;

pub use app::{App, StaticApp};
pub use registry::{
    default_cache_dir, default_plugin_dirs, sha256_hex, AppEntry, PluginProblem, Registry,
    RegistryError,
};
