//! The probe service ([`ProbeService::probe`]), behind `/v1/probe` and the drift monitor alike:
//! registry policy by name →
//! answer cache (unless `fresh`) → coalescing of identical probes in flight → for the one probe
//! that goes upstream: the concurrency limit, the registry policy by address → [`diagnose`]
//! (each manifest GET it needs asks the registry's budget; a probe that HEAD proves known needs
//! none) → cache, metrics, rate-limit board. Answers are the report serialized
//! once; every caller of a flight, and every cache hit, gets the same bytes.

use super::budget::{Budgets, GetBudget, Limiter};
use super::cache::Cache;
use super::coalesce::{Coalescer, Role};
use super::context::NodeContext;
use super::guard::{self, Guard};
use super::metrics::ProbeMetrics;
use super::rate_limits::RateLimitBoard;
use super::refusal::{Refusal, RefusalKind};
use super::request::{ProbeKey, ProbeRequest};
use super::state_dir::{StateDir, StateDoc};
use crate::classify::Verdict;
use crate::diagnose::{self, Request, RuntimePullRequest};
use crate::identity::kube_secrets;
use crate::identity::pull_order::KubeRequest;
use crate::net::policy::AddressPolicy;
use crate::platform::Platform;
use crate::probe::store::Store;
use crate::probe::{cost, Options, Prober};
use crate::report::summary::Summary;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A finished probe, shared by everyone who asked.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The serialized report.
    pub body: Bytes,
    /// Its verdict.
    pub verdict: Verdict,
    /// The report in brief.
    pub summary: Arc<Summary>,
}

/// How an answer was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the cache, stored this long ago.
    Cached(Duration),
    /// This request's own upstream probe.
    Probed,
    /// Another request's probe, in flight when this one arrived.
    Coalesced,
}

impl Served {
    /// `hit`, `miss`, `coalesced` (the `X-Pullcheck-Cache` header).
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Cached(_) => "hit",
            Served::Probed => "miss",
            Served::Coalesced => "coalesced",
        }
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The serialized report.
    pub body: Bytes,
    /// Its verdict.
    pub verdict: Verdict,
    /// The report in brief.
    pub summary: Arc<Summary>,
    /// How.
    pub served: Served,
}

/// The share of each registry's budget background probes (the drift monitor) leave to callers.
pub const BACKGROUND_KEEPS: f64 = 0.5;

/// Most platforms with a prober of their own (each keeps its own clients and caches).
const MAX_PLATFORM_PROBERS: usize = 16;

/// Probers by platform: the node's, and others asked for with `platform=`.
struct Probers {
    host: Arc<Prober>,
    others: Mutex<HashMap<Platform, Arc<Prober>>>,
    policy: Arc<dyn AddressPolicy>,
    store: Option<Arc<Store>>,
}

impl Probers {
    fn get(&self, platform: Option<&Platform>, ctx: &NodeContext) -> Arc<Prober> {
        let Some(p) = platform.filter(|p| **p != self.host.options().platform) else {
            return self.host.clone();
        };
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = others.get(p) {
            return found.clone();
        }
        let mut prober = Prober::with_proxy(
            Options {
                step_timeout: ctx.settings.timeout,
                platform: p.clone(),
            },
            ctx.proxy.clone(),
        )
        .with_policy(self.policy.clone());
        if let Some(s) = &self.store {
            prober = prober.with_store(s.clone());
        }
        let prober = Arc::new(prober);
        if others.len() < MAX_PLATFORM_PROBERS {
            others.insert(p.clone(), prober.clone());
        }
        prober
    }
}

/// The probe pipeline.
pub struct ProbeService {
    ctx: Arc<NodeContext>,
    probers: Probers,
    cache: Cache<ProbeKey>,
    flights: Coalescer<ProbeKey, Result<Probed, Refusal>>,
    guard: Guard,
    budgets: Arc<Budgets>,
    limiter: Limiter,
    state: StateDir,
    metrics: Arc<ProbeMetrics>,
    seen: Arc<RateLimitBoard>,
    versions: VersionSeen,
}

/// The runtime version the last fresh probe predicted for. Cached answers were predicted for
/// it; when a probe sees another (containerd restarted after an upgrade), they are dropped.
#[derive(Debug, Default)]
struct VersionSeen(Mutex<Option<String>>);

impl VersionSeen {
    /// Records `now` (a version label); the previous one when it differs.
    fn changed(&self, now: &str) -> Option<String> {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let before = last.replace(now.to_string());
        before.filter(|b| b != now)
    }
}

impl ProbeService {
    /// Assembles the pipeline.
    pub fn new(
        ctx: Arc<NodeContext>,
        cache: Cache<ProbeKey>,
        guard: Guard,
        budgets: Budgets,
        limiter: Limiter,
        metrics: Arc<ProbeMetrics>,
        seen: Arc<RateLimitBoard>,
    ) -> Self {
        // Every connection a probe makes obeys the registry policy, not only the first.
        let policy: Arc<dyn AddressPolicy> = Arc::new(guard.clone());
        let state = StateDir::open(ctx.settings.state_dir.as_deref());
        let mut host = Prober::with_proxy(
            Options {
                step_timeout: ctx.settings.timeout,
                platform: Platform::host(),
            },
            ctx.proxy.clone(),
        )
        .with_policy(policy.clone());
        if let Some(s) = &state.store {
            host = host.with_store(s.clone());
        }
        ProbeService {
            ctx,
            probers: Probers {
                host: Arc::new(host),
                others: Mutex::new(HashMap::new()),
                policy,
                store: state.store.clone(),
            },
            cache,
            flights: Coalescer::default(),
            guard,
            budgets: Arc::new(budgets),
            limiter,
            state,
            metrics,
            seen,
            versions: VersionSeen::default(),
        }
    }

    /// Answers one probe request.
    pub async fn probe(self: &Arc<Self>, p: ProbeRequest) -> Result<Answer, Refusal> {
        let result = self.answer(p).await;
        match &result {
            Ok(a) => {
                self.metrics
                    .observe_probe(super::metrics::answer_label(a.served), a.verdict);
            }
            Err(e) => self.metrics.observe_refusal(e.kind),
        }
        result
    }

    async fn answer(self: &Arc<Self>, p: ProbeRequest) -> Result<Answer, Refusal> {
        if p.needs_kube() && self.ctx.kube.is_none() {
            return Err(Refusal::new(
                RefusalKind::KubernetesUnavailable,
                format!(
                    "pod and secret need the Kubernetes API, and this agent has none: {}",
                    self.ctx.kube_missing.as_deref().unwrap_or("not configured")
                ),
            ));
        }
        self.guard.check_name(&p.parsed).map_err(refusal)?;
        let key = p.key();
        if !p.fresh {
            let now = Instant::now();
            if let Some(hit) = self.cache.get(&key, now) {
                return Ok(Answer {
                    body: hit.body,
                    verdict: hit.verdict,
                    summary: hit.summary,
                    served: Served::Cached(now.saturating_duration_since(hit.stored)),
                });
            }
        }
        let svc = self.clone();
        let flight_key = key.clone();
        let (result, role) = self
            .flights
            .run(key, move || async move { svc.fly(flight_key, p).await })
            .await
            .map_err(|e| Refusal::new(RefusalKind::Internal, e.to_string()))?;
        let probed = result?;
        Ok(Answer {
            body: probed.body,
            verdict: probed.verdict,
            summary: probed.summary,
            served: match role {
                Role::Leader => Served::Probed,
                Role::Follower => Served::Coalesced,
            },
        })
    }

    /// The one upstream probe of a flight.
    async fn fly(self: Arc<Self>, key: ProbeKey, p: ProbeRequest) -> Result<Probed, Refusal> {
        let _slot = self.limiter.try_acquire().ok_or_else(|| {
            Refusal::new(
                RefusalKind::Saturated,
                format!(
                    "{} probes are already running (--max-concurrent-probes); try again shortly",
                    self.limiter.max()
                ),
            )
            .retry_after(Duration::from_secs(1))
        })?;
        self.guard.check(&p.parsed).await.map_err(refusal)?;
        let prober = self.probers.get(p.platform.as_ref(), &self.ctx);
        let request = self.request(&p);
        let diagnosed = diagnose::diagnose(&prober, &request)
            .await
            .map_err(diagnose_error)?;
        self.metrics.observe_upstream(&diagnosed.evidence);
        self.seen.record(&diagnosed);
        // A GET the budget refused leaves the answer unfinished: the caller asks again later.
        if let Some(r) = diagnosed
            .evidence
            .iter()
            .find_map(|e| e.get_refused.as_ref())
        {
            return Err(Refusal::new(
                RefusalKind::RegistryBudgetExhausted,
                format!(
                    "this probe needs a manifest GET (the registry's HEAD named a digest this node \
                     has not read), and the agent's budget of GETs for {} ({}) is spent; try again \
                     after Retry-After",
                    r.budget, r.rate
                ),
            )
            .retry_after(Duration::from_secs(r.retry_after_secs)));
        }
        let report = &diagnosed.report;
        if let Some(v) = &report.runtime_version {
            let label = format!("{} {}", v.name, v.version);
            if let Some(before) = self.versions.changed(&label) {
                self.cache.clear();
                tracing::info!(before = %before, now = %label, "the runtime's version changed: cached answers dropped");
            }
        }
        let summary = Arc::new(Summary::of(report, &diagnosed.evidence));
        self.metrics.reports.observe(&summary);
        let body = crate::term::json::to_vec(&report)
            .map(Bytes::from)
            .map_err(|e| {
                Refusal::new(RefusalKind::Internal, format!("encoding the report: {e}"))
            })?;
        let by_digest = p.parsed.digest.is_some();
        self.cache.put(
            key,
            body.clone(),
            summary.clone(),
            by_digest,
            Instant::now(),
        );
        tracing::info!(
            image = %p.image,
            verdict = report.verdict.as_str(),
            took_ms = report.duration_ms,
            "probed"
        );
        Ok(Probed {
            body,
            verdict: report.verdict,
            summary,
        })
    }

    fn request(&self, p: &ProbeRequest) -> Request {
        let s = &self.ctx.settings;
        let kube = match (&self.ctx.kube, p.needs_kube()) {
            (Some(client), true) => Some(KubeRequest {
                client: client.clone(),
                pod: p.pod.clone(),
                secrets: p.secrets.clone(),
            }),
            _ => None,
        };
        Request {
            image: p.image.clone(),
            node_identity: Some(self.ctx.identity.clone()),
            hosts_dir: s.hosts_dir.clone(),
            containerd_config: s.containerd_config.clone(),
            runtime_pull: p.runtime_pull.then(|| RuntimePullRequest {
                client: self.ctx.runtime_for_pull(),
                keep: false,
                limit: s.runtime_pull_timeout,
            }),
            runtime: Some(self.ctx.runtime.clone()),
            kube,
            cloud: self.ctx.cloud(),
            runtime_kind: s.runtime_kind,
            crio: s.crio.clone(),
            gets: Some(Arc::new(GetBudget {
                budgets: self.budgets.clone(),
                keep: if p.background { BACKGROUND_KEEPS } else { 0.0 },
            })),
            ..Request::default()
        }
    }

    /// Upstream probes running now.
    pub fn in_flight(&self) -> usize {
        self.limiter.in_use()
    }

    /// The concurrency limit.
    pub fn max_concurrent(&self) -> usize {
        self.limiter.max()
    }

    /// Answers cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// The budgets' state.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The state directory, and what the probes spent at each registry.
    pub fn state(&self) -> StateDoc {
        let mut spent: Vec<cost::HostSpent> = Vec::new();
        let others: Vec<Arc<Prober>> = self
            .probers
            .others
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for p in std::iter::once(&self.probers.host).chain(&others) {
            for h in p.spent() {
                match spent.iter_mut().find(|s| s.host == h.host) {
                    Some(s) => s.spent.add(&h.spent),
                    None => spent.push(h),
                }
            }
        }
        StateDoc {
            state_dir: self.state.store.as_ref().map(|s| s.stats()),
            state_dir_error: self.state.error.clone(),
            spent,
        }
    }
}

fn refusal(e: guard::Error) -> Refusal {
    Refusal::new(RefusalKind::RegistryNotAllowed, e.to_string())
}

/// Why a diagnosis could not start, as a refusal.
fn diagnose_error(e: diagnose::Error) -> Refusal {
    let text = crate::error_text::error_chain(&e);
    let kind = match e {
        diagnose::Error::DockerConfig(_) | diagnose::Error::Endpoints(_) => {
            RefusalKind::NodeConfiguration
        }
        diagnose::Error::Kube(k) => match k {
            kube_secrets::Error::PodNotFound { .. } => RefusalKind::PodNotFound,
            kube_secrets::Error::Invalid { .. } => RefusalKind::InvalidPullSecret,
            kube_secrets::Error::Reference { .. } => RefusalKind::InvalidReference,
            kube_secrets::Error::Config(_) => RefusalKind::KubernetesUnavailable,
            kube_secrets::Error::Api { .. } => RefusalKind::KubernetesError,
        },
    };
    Refusal::new(kind, text)
}

#[cfg(test)]
mod tests {
    use super::VersionSeen;

    #[test]
    fn a_changed_runtime_version_is_seen_once() {
        let v = VersionSeen::default();
        assert_eq!(
            v.changed("containerd 1.7.24"),
            None,
            "the first is no change"
        );
        assert_eq!(v.changed("containerd 1.7.24"), None);
        assert_eq!(
            v.changed("containerd 2.1.9").as_deref(),
            Some("containerd 1.7.24")
        );
        assert_eq!(v.changed("containerd 2.1.9"), None);
    }
}
