# syntax=docker/dockerfile:1
# pullcheck image: a Rust builder stage, then a distroless runtime with the binary alone.
#
#   docker build -t pullcheck:0.1.0 .
#   docker run --rm pullcheck:0.1.0 explain 'failed to pull image "x": 401 Unauthorized'
#
# Runtime base: distroless cc (glibc and libgcc_s, which the binary links; no shell, no
# package manager). The binary is the release build with symbols stripped (about 24 MB;
# image size: see deploy/README.md). The CA bundle distroless carries is used only outside
# Kubernetes: the DaemonSet mounts the node's trust store over /etc/ssl/certs (and /etc/pki on
# RHEL-like nodes), so registries are verified against the CAs the node's containerd trusts.
# For reproducible builds pin both base images by digest (FROM image@sha256:…).
# Needs BuildKit (the default builder since Docker 23) or buildah 1.28+ for the cache mounts;
# the cluster tests build it with buildah and local stand-ins for both bases (scripts/kube-images).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The build needs no protoc (proto/ is compiled by protox, pure Rust) and no C library
# headers beyond libc (ring's C and assembly are built with the image's gcc).
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
# Strip symbols too (the repository's profile strips debug info only): 31 MB -> 24 MB.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
# The Cargo profile: `release` for every published image. The cluster tests build theirs with
# `--build-arg CARGO_PROFILE=image-test` (Cargo.toml: release without LTO, at opt-level 1): the
# same code in about half the build time, never published.
ARG CARGO_PROFILE=release
# The source revision pullcheck_build_info reports (the release workflow passes the commit).
ARG PULLCHECK_REVISION=unknown
ENV PULLCHECK_REVISION=${PULLCHECK_REVISION}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile "$CARGO_PROFILE" --locked --bin pullcheck \
 && cp "target/$CARGO_PROFILE/pullcheck" /pullcheck

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="pullcheck" \
      org.opencontainers.image.description="Can this Kubernetes node pull image X? If not: why, as whom, and what fixes it." \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /pullcheck /usr/local/bin/pullcheck
# Non-root by default (the CLI needs no privilege). The DaemonSet runs the agent as uid 0
# with every capability dropped but SYS_PTRACE, for the reasons given in deploy/README.md.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pullcheck"]
CMD ["--help"]
