//! The integration tests, as one test binary (`cargo test --test it`), so
//! the crate and its dependencies are linked once rather than once per test
//! file. Each module is one area; `common` holds the shared helpers (inputs,
//! sequential reference implementations, output readers) and
//! `common::procs` the one harness for tests with real `mr` processes.
//!
//! Run one area with a filter, e.g. `cargo test --test it e2e_processes::`.

mod common;

mod adversary;
mod chaos;
mod cli;
mod confinement;
mod counters;
mod crashes;
mod deploy_guide;
mod e2e_errors;
mod e2e_processes;
mod faults_processes;
mod harness;
mod inputs;
mod legacy;
mod limits;
mod ops_processes;
mod outputs;
mod perf_spill;
mod plugin_registry;
mod restart;
mod s3;
mod security;
mod shutdown;
mod sim;
mod stragglers;
mod webui;
