//! Compiles `proto/*.proto` into Rust with a pure-Rust protobuf compiler
//! (`protox`), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/coordinator.proto",
        "proto/worker.proto",
        "proto/executor.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".worker.ReadMapReply.result")
        .bytes(".worker.ReadMapChunk.data")
        .bytes(".executor")
        .compile_fds(fds)?;
    Ok(())
}
