//! The generated gRPC code for `proto/coordinator.proto` and
//! `proto/worker.proto`. Only the service edges (coordinator, worker, client)
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
