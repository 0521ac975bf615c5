//! The probe pipeline as a library layer, below both of the agent's faces — the HTTP API
//! ([`crate::agent`]) and the drift monitor ([`crate::monitor`]) — and above the one
//! orchestrator, [`diagnose`](crate::diagnose::diagnose). It owns what every probe of a
//! long-running process shares:
//! - the node side, loaded once ([`NodeContext`], built from [`NodeSettings`](crate::node_setup::NodeSettings));
//! - the pipeline itself ([`ProbeService`]): registry policy ([`guard`]), answer cache
//!   ([`cache`]), coalescing of identical probes ([`coalesce`]), the concurrency limit and the
//!   registries' budgets of manifest GETs ([`budget`]), the state directory ([`state_dir`]);
//! - what it keeps watching ([`watch`]: the runtime, the cloud identities) and has seen
//!   ([`rate_limits`]);
//! - its metrics ([`metrics`], [`report_metrics`]).
//!
//! It takes a domain request ([`ProbeRequest`]) and answers with the serialized report or a
//! [`Refusal`]. The HTTP edge parses parameters into requests and maps refusals to API errors;
//! the monitor builds requests and reschedules on refusals. The dependency stack reads
//! `bin → agent → monitor → service → diagnose`.

pub mod budget;
pub mod cache;
pub mod coalesce;
pub mod context;
pub mod guard;
pub mod metrics;
pub mod pipeline;
pub mod rate_limits;
pub mod refusal;
pub mod report_metrics;
pub mod request;
pub mod state_dir;
pub mod watch;

pub use context::NodeContext;
pub use pipeline::{Answer, ProbeService, Probed, Served, BACKGROUND_KEEPS};
pub use refusal::{Refusal, RefusalKind};
pub use request::{ProbeKey, ProbeRequest};
pub use state_dir::StateDoc;
pub use watch::{CloudWatch, RuntimeState, RuntimeWatch};
