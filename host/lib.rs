//! mapreduce: a MapReduce engine whose applications are plugins.
//!
//! Layout:
//! - [`core`]: the scheduler core, pure and synchronous (jobs, tasks,
//!   workers, fault handling); every input takes `now`.
//! - [`proto`]: the generated gRPC code (`proto/*.proto`), used only by the
//!   service edges ([`coordinator`], [`worker`], [`client`]).
//! - [`coordinator`]: the coordinator's tonic service around the core, its
//!   timer driver, its durable job store (`coordinator::store`, redb) and
//!   the restore from it, and `run`.
//! - [`worker`]: the worker: task loop, map and reduce execution, the
//!   in-memory map output store and the service that serves it.
//! - [`plugin`]: the plugin registry; the host's only user of `abi_stable`.
//! - [`client`]: a typed client for the coordinator, used by the CLI.
//! - [`cli`]: the `mr` command line (parsing and subcommands).
//! - [`cluster`]: an embedded coordinator plus workers in one process (`mr run`, tests).
//! - [`security`]: role tokens, TLS, path confinement, and how this process
//!   dials others.
//! - [`output`]: a job's output folder: reading `mr-out-*` as records, the
//!   `_SUCCESS` manifest, and the rules for a folder a new job writes.
//! - [`storage`]: object storage (`s3://bucket/key` inputs and outputs)
//!   through the `object_store` crate, configured from `AWS_*` variables.
//! - [`net`]: where servers accept and clients open connections (TCP by
//!   default; a simulated network in tests).
//! - [`shutdown`]: the grace that bounds every drain once a server stops.

pub mod cli;
pub mod client;
pub mod cluster;
pub mod coordinator;
pub mod core;
pub mod net;
pub mod output;
pub mod plugin;
pub mod proto;
pub mod security;
pub mod shutdown;
pub mod storage;
pub mod worker;
