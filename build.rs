//! Compiles proto/runtime/v1/api.proto (our CRI v1 subset) into Rust with protox + tonic-prost-build:
//! pure Rust, so the build needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/runtime/v1/api.proto");
    let fds = protox::compile(["runtime/v1/api.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
