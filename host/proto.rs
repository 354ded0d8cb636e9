//! The generated gRPC code for `proto/coordinator.proto` and
//! `proto/worker.proto`, and the messages of `proto/executor.proto` (the
//! worker's pipe to its executor process). Only the service edges (coordinator, worker, client)
//! use these types; everything inside works on domain types.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Package `coordinator`.
pub mod coordinator {
    tonic::include_proto!("coordinator");
}

/// Package `worker`.
pub mod worker {
    tonic::include_proto!("worker");
}

/// Package `executor` (messages only: a pipe protocol, not a service).
pub mod executor {
    tonic::include_proto!("executor");
}
