//! The bed tier, one test binary: every test that talks to the shared test bed
//! (`scripts/testbed.py`: docker-registry, nginx, openssl, skopeo and the cloud fakes on
//! loopback), a real containerd, or both. The first test to call [`support::bed`] starts the
//! bed; every module then shares it (or the one `PULLCHECK_TESTBED` names), so it starts once
//! per run, not once per file. Built only with `--features bed` (`scripts/test` turns it on).
//!
//! Tests of different modules run side by side. A test therefore owns what it changes: its own
//! repository when it pushes (`monitor_cost`), its own hosts.toml host:port in the shared
//! containerd, its own [`support::containerd::Private`] when it kills or hangs one (`faults`).
//!
//! Run one module with a filter: `cargo test --features bed --test bed probe_bed::`.

#[path = "../support/mod.rs"]
mod support;

mod agent_api;
mod agent_auth;
mod agent_lifecycle;
mod containers_image;
mod faults;
mod identity_bed;
mod identity_cloud;
mod leaks;
mod monitor;
mod monitor_cost;
mod plugin_bench;
mod plugin_image;
mod plugin_pod;
mod probe_bed;
mod runtime_containerd;
