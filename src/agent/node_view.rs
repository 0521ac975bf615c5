//! `GET /v1/node`: `pullcheck node`'s facts (platform, runtime, registry configuration,
//! identities, the cloud identities as the service's [`CloudWatch`](crate::service::CloudWatch)
//! last saw them) plus what only the long-running agent knows — the last rate-limit figures each
//! registry sent, its budgets, the state directory and what probes spent, probes in flight.

use crate::endpoints::RegistryConfig;
use crate::node_facts::{identity_facts, NodeFacts, RuntimeFacts};
use crate::platform::Platform;
use crate::service::budget::BudgetState;
use crate::service::rate_limits::SeenRateLimit;
use crate::service::{NodeContext, StateDoc};
use serde::Serialize;

/// The agent's own load.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    /// Upstream probes running now.
    pub probes_in_flight: usize,
    /// The limit on them.
    pub max_concurrent_probes: usize,
    /// Answers in the cache.
    pub cached_answers: usize,
}

/// `GET /v1/node`: `NodeFacts` plus the agent's view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// What `pullcheck node -o json` reports.
    #[serde(flatten)]
    pub facts: NodeFacts,
    /// Last rate-limit figures per registry.
    pub rate_limits: Vec<SeenRateLimit>,
    /// Per-registry budgets of manifest GETs and what is left.
    pub budgets: Vec<BudgetState>,
    /// The state directory, and the manifest requests the agent itself sent per registry.
    pub registry_cost: StateDoc,
    /// The agent's load.
    pub agent: AgentState,
}

/// Gathers the node facts, as `pullcheck node` does: the runtime and the cloud identities are
/// asked (concurrently; the cloud answer is reused for
/// [`CLOUD_RECHECK`](crate::service::watch::CLOUD_RECHECK)), the registry
/// configuration re-read.
pub async fn facts(ctx: &NodeContext) -> NodeFacts {
    let p = &ctx.settings;
    let cloud_settings = ctx.cloud();
    let (runtime, cloud) = tokio::join!(
        RuntimeFacts::gather(ctx.runtime.as_ref().map_err(Clone::clone)),
        ctx.cloud_seen.facts(cloud_settings.as_ref()),
    );
    let registry = RegistryConfig::load(
        p.containerd_config.as_deref(),
        p.hosts_dir.as_deref(),
        &p.proc_root,
    )
    .map_err(|e| crate::error_text::error_chain(&e));
    let mut identities = identity_facts(&ctx.identity);
    identities.extend(cloud);
    NodeFacts::new(Platform::host(), runtime, registry, identities)
        .with_crio(p.runtime_kind, &p.crio)
}
