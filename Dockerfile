# Multi-stage build: Rust builder → distroless runtime. The node's trust store is mounted from
# the host at run time (/etc/ssl/certs), so the image carries none of its own.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --bin pullcheck

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pullcheck /usr/local/bin/pullcheck
USER nonroot
ENTRYPOINT ["/usr/local/bin/pullcheck"]
