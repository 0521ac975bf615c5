//! pullcheck: can this Kubernetes node pull image X — and if not, exactly why, as whom, and what fixes it.
//!
//! Data flow, one direction:
//! [`mod@reference`] → [`identity`] (candidate credentials) → [`endpoints`] (the node's containerd
//! registry configuration: config.toml, hosts.toml or legacy mirrors, TLS, proxy) → [`probe`]
//! (HTTP exchanges recorded as [`probe::Evidence`]; a 401 or a TLS failure is evidence, not an
//! `Err`) → [`classify`] (pure: evidence → [`classify::Verdict`] + remediation) → [`report`]
//! (JSON / text).
//! [`diagnose`] is the one orchestrator that sees every stage; the CLI calls it directly, and the
//! long-running agent through its probe [`service`] (cache, coalescing, budgets), which both the
//! HTTP edge ([`agent`]) and the drift [`monitor`] sit on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agent;
pub mod bounded;
pub mod classify;
pub mod diagnose;
pub mod duration;
pub mod endpoints;
pub mod error_text;
pub mod human;
pub mod identity;
pub mod monitor;
pub mod net;
pub mod node_facts;
pub mod node_setup;
pub mod nodefile;
pub mod platform;
pub mod plugin;
pub mod probe;
pub mod procfs;
pub mod reference;
pub mod report;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod term;
