//! `GET /v1/node` and `GET /readyz`: `pullcheck node`'s facts (platform, runtime, registry
//! configuration, identities, the cloud identities asked at most every [`CLOUD_RECHECK`]) plus
//! what only the long-running agent knows — the last rate-limit figures each registry sent
//! ([`RateLimitBoard`]), its budgets, probes in flight — and the runtime state readiness
//! reports (asked at most every [`RUNTIME_RECHECK`], waited for at most [`READY_WAIT`]).

use super::budget::BudgetState;
use super::context::NodeContext;
use crate::classify::Verdict;
use crate::endpoints::RegistryConfig;
use crate::identity::cloud::CloudSettings;
use crate::node::{cloud_facts, identity_facts, IdentityFact, NodeFacts, RuntimeFacts};
use crate::platform::Platform;
use crate::probe::ratelimit::RateLimit;
use crate::report::Report;
use crate::runtime::RuntimeClient;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a runtime answer is reused by `/readyz`.
pub const RUNTIME_RECHECK: Duration = Duration::from_secs(10);

/// How long `/readyz` waits for the runtime. The runtime is reported, not required: a hung
/// containerd (accepting on its socket, never answering) must not hold readiness answers for
/// `--runtime-timeout` (10 s by default, beyond the kubelet's readiness `timeoutSeconds`) and
/// so turn the agent unready.
pub const READY_WAIT: Duration = Duration::from_secs(1);

/// Registries remembered by [`RateLimitBoard`].
const MAX_REGISTRIES: usize = 256;

/// The last rate-limit figures one registry sent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenRateLimit {
    /// The host that sent them (registry or mirror URL).
    pub registry: String,
    /// The figures.
    pub rate_limit: RateLimit,
    /// The image being probed then.
    pub image: String,
    /// When, seconds since the Unix epoch.
    pub seen_at: u64,
}

/// Rate-limit figures by registry host, from every finished probe.
#[derive(Debug, Default)]
pub struct RateLimitBoard {
    map: Mutex<HashMap<String, SeenRateLimit>>,
}

impl RateLimitBoard {
    /// Records the figures of every attempt in `report` that carried any.
    pub fn record(&self, report: &Report) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for a in &report.attempts {
            let Some(rl) = &a.evidence.rate_limit else {
                continue;
            };
            if map.len() >= MAX_REGISTRIES && !map.contains_key(&a.host) {
                continue;
            }
            map.insert(
                a.host.clone(),
                SeenRateLimit {
                    registry: a.host.clone(),
                    rate_limit: rl.clone(),
                    image: report.image.clone(),
                    seen_at: now,
                },
            );
        }
    }

    /// Everything seen, by registry.
    pub fn all(&self) -> Vec<SeenRateLimit> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.values().cloned().collect();
        v.sort_by(|a, b| a.registry.cmp(&b.registry));
        v
    }
}

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
    pub registry_cost: super::service::StateDoc,
    /// The agent's load.
    pub agent: AgentState,
}

/// Gathers the node facts, as `pullcheck node` does: the runtime and the cloud identities are
/// asked (concurrently; the cloud answer is reused for [`CLOUD_RECHECK`]), the registry
/// configuration re-read.
pub async fn facts(ctx: &NodeContext) -> NodeFacts {
    let p = &ctx.settings;
    let (runtime, cloud) = tokio::join!(
        RuntimeFacts::gather(ctx.runtime.as_ref().map_err(Clone::clone)),
        ctx.cloud_seen.facts(ctx.cloud.as_ref()),
    );
    let registry = RegistryConfig::load(
        p.containerd_config.as_deref(),
        p.hosts_dir.as_deref(),
        &p.proc_root,
    )
    .map_err(|e| crate::identity::error_chain(&e));
    let mut identities = identity_facts(&ctx.identity);
    identities.extend(cloud);
    NodeFacts::new(Platform::host(), runtime, registry, identities)
        .with_crio(p.runtime_kind, &p.crio)
}

/// How long `/v1/node` reuses what the cloud metadata services said.
pub const CLOUD_RECHECK: Duration = Duration::from_secs(10);

/// The cloud identities as `/v1/node` last saw them (IMDS role, GKE service account): asked
/// at most every [`CLOUD_RECHECK`], so a busy `/v1/node` does not load the metadata services,
/// and an outage or its end shows within that time.
#[derive(Debug, Default)]
pub struct CloudWatch {
    last: tokio::sync::Mutex<Option<(Instant, Vec<IdentityFact>)>>,
}

impl CloudWatch {
    /// The current (or recent) facts; none with `--no-cloud-identity`.
    pub async fn facts(&self, settings: Option<&CloudSettings>) -> Vec<IdentityFact> {
        let Some(settings) = settings else {
            return Vec::new();
        };
        let mut last = self.last.lock().await;
        if let Some((at, f)) = last.as_ref() {
            if at.elapsed() < CLOUD_RECHECK {
                return f.clone();
            }
        }
        let f = cloud_facts(settings).await;
        *last = Some((Instant::now(), f.clone()));
        f
    }
}

/// The runtime's state, as `/readyz` reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    /// `unix:///…`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `ok` or `runtime_unavailable`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// Runtime name and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The runtime state, reused for [`RUNTIME_RECHECK`].
#[derive(Debug, Default)]
pub struct RuntimeWatch {
    last: tokio::sync::Mutex<Option<(Instant, RuntimeState)>>,
}

impl RuntimeWatch {
    /// The current (or recent) state.
    pub async fn state(&self, ctx: &NodeContext) -> RuntimeState {
        let mut last = self.last.lock().await;
        if let Some((at, s)) = last.as_ref() {
            if at.elapsed() < RUNTIME_RECHECK {
                return s.clone();
            }
        }
        let s = match &ctx.runtime {
            Err(e) => RuntimeState {
                endpoint: None,
                verdict: Verdict::RuntimeUnavailable,
                version: None,
                error: Some(e.clone()),
            },
            Ok(c) => ask(c, READY_WAIT).await,
        };
        *last = Some((Instant::now(), s.clone()));
        s
    }
}

/// Asks the runtime its name and version, waiting at most `wait`.
async fn ask(c: &RuntimeClient, wait: Duration) -> RuntimeState {
    let unavailable = |error: String| RuntimeState {
        endpoint: Some(c.endpoint().url()),
        verdict: Verdict::RuntimeUnavailable,
        version: None,
        error: Some(error),
    };
    match tokio::time::timeout(wait, c.info()).await {
        Ok(Ok(info)) => RuntimeState {
            endpoint: Some(c.endpoint().url()),
            verdict: Verdict::Ok,
            version: Some(format!("{} {}", info.name, info.version)),
            error: None,
        },
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!(
            "container runtime at {} did not answer Version/Status within {} (hung?)",
            c.endpoint().url(),
            humantime::format_duration(wait)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::endpoint::RuntimeEndpoint;

    /// A runtime socket that accepts and never answers: readiness learns it within the
    /// readiness wait, not the runtime's own (longer) call limit.
    #[tokio::test]
    async fn a_hung_runtime_does_not_hold_readiness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cri.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        });
        let client = RuntimeClient::new(RuntimeEndpoint { path }, Duration::from_secs(600));
        let state = tokio::time::timeout(
            Duration::from_secs(60),
            ask(&client, Duration::from_millis(200)),
        )
        .await
        .expect("bounded by the readiness wait, not the 600 s call limit");
        assert_eq!(state.verdict, Verdict::RuntimeUnavailable);
        let error = state.error.unwrap();
        assert!(
            error.contains("did not answer") && error.contains("200ms"),
            "{error}"
        );
        held.abort();
    }

    /// `--no-cloud-identity` asks nothing; otherwise an unreachable metadata service is a
    /// note saying so, reused until the recheck.
    #[tokio::test]
    async fn cloud_identities_are_reported_and_reused() {
        let w = CloudWatch::default();
        assert!(w.facts(None).await.is_empty());
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let settings = CloudSettings {
            imds_endpoint: Some(format!("http://{closed}")),
            gce_metadata_host: Some(closed.to_string()),
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let first = w.facts(Some(&settings)).await;
        let eks = first.iter().find(|f| f.kind == "eks").expect("an eks line");
        assert!(
            eks.description.starts_with("not available"),
            "{}",
            eks.description
        );
        assert!(first.iter().any(|f| f.kind == "gke"));
        let again = w.facts(Some(&settings)).await;
        assert_eq!(again.len(), first.len());
        assert!(w.last.lock().await.is_some());
    }
}
