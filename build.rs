//! Compiles `proto/*.proto` into Rust with a pure-Rust protobuf compiler
//! (`protox`), so no system `protoc` is needed. Also compiles the course's
//! original protocol (`tests/legacy/proto/`) into `$OUT_DIR/legacy/`, which
//! only the integration tests include (the minimal legacy peers in
//! `tests/it/legacy/`); nothing in the crate uses it.

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

    let legacy = [
        "tests/legacy/proto/coordinator.proto",
        "tests/legacy/proto/worker.proto",
    ];
    for p in &legacy {
        println!("cargo:rerun-if-changed={p}");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("legacy");
    std::fs::create_dir_all(&out)?;
    let fds = protox::compile(legacy, ["tests/legacy/proto"])?;
    tonic_prost_build::configure()
        .out_dir(out)
        .compile_fds(fds)?;
    Ok(())
}
