//! The probe service's metrics ([`ProbeMetrics::register`], under `pullcheck_agent_`): probes by
//! how they were answered ([`answer_label`]: `cache_hit`, `probed`, `shared`) and their verdict, probe requests
//! refused ([`Refusal`](super::Refusal), by kind), upstream HTTP requests by registry host and
//! status, manifest requests by registry and kind — and what finished reports say
//! ([`super::report_metrics`]). The agent registers them beside its own in one
//! [`Registry`]; the drift monitor's probes count here too.
//!
//! Label values that callers influence (registry hosts) are capped: past
//! [`MAX_REGISTRY_LABELS`] distinct hosts, new ones count as `other`.

use super::pipeline::Served;
use super::refusal::RefusalKind;
use super::report_metrics::ReportMetrics;
use crate::classify::Verdict;
use crate::probe::Evidence;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct registry hosts labelled by name; the rest are `other`.
pub const MAX_REGISTRY_LABELS: usize = 200;

/// `answer`, `verdict`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// How the request was answered: [`answer_label`].
    pub answer: &'static str,
    /// The verdict (verdicts only: refusals are counted apart).
    pub verdict: &'static str,
}

/// The `answer` label of `pullcheck_agent_probes_total`: `cache_hit` (a cached report, no
/// registry request), `probed` (this request's own probe went to the registry), `shared` (it
/// waited for another request's probe of the same question, already in flight, and got its
/// report: the registry was asked once for both).
pub fn answer_label(served: Served) -> &'static str {
    match served {
        Served::Cached(_) => "cache_hit",
        Served::Probed => "probed",
        Served::Coalesced => "shared",
    }
}

/// `code`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The API error code (`registry_not_allowed`, `saturated`, …).
    pub code: &'static str,
}

/// `registry`, `status`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// Host and port of the request's URL (registry, mirror or token realm).
    pub registry: String,
    /// The HTTP status, or `error` for a transport failure.
    pub status: String,
}

/// `registry`, `kind`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    /// Host and port of the registry or mirror.
    pub registry: String,
    /// `get` (Docker Hub: a pull), `head` (free), `get_avoided` (the digest was known).
    pub kind: &'static str,
}

/// The probe service's metric handles.
#[derive(Debug)]
pub struct ProbeMetrics {
    probes: Family<ProbeLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
    cost: Family<CostLabels, Counter>,
    hosts: LabelCap,
    /// What finished reports say (rate limits, credential expiry, probe durations).
    pub reports: ReportMetrics,
}

/// A bounded set of label values: the first `max` distinct values keep their name, later ones
/// are `other` (a label callers influence cannot grow the series without bound).
#[derive(Debug)]
pub struct LabelCap {
    seen: Mutex<HashSet<String>>,
    max: usize,
}

impl LabelCap {
    /// A cap of `max` distinct values.
    pub fn new(max: usize) -> Self {
        LabelCap {
            seen: Mutex::new(HashSet::new()),
            max,
        }
    }

    /// `value`, or `other` once `max` other values were seen.
    pub fn label(&self, value: String) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&value) {
            return value;
        }
        if seen.len() >= self.max {
            return "other".into();
        }
        seen.insert(value.clone());
        value
    }
}

impl ProbeMetrics {
    /// Registers the probe metrics (prefixed `pullcheck_agent_`, and the report metrics under
    /// `pullcheck_`) and returns their handles.
    pub fn register(registry: &mut Registry) -> Self {
        let m = ProbeMetrics {
            probes: Family::default(),
            refusals: Family::default(),
            upstream: Family::default(),
            cost: Family::default(),
            hosts: LabelCap::new(MAX_REGISTRY_LABELS),
            reports: ReportMetrics::register(registry),
        };
        let r = registry.sub_registry_with_prefix("pullcheck_agent");
        r.register(
            "probes",
            "Probe requests by how they were answered (cache_hit: from the cache; probed: this \
             request's own registry probe; shared: another request's probe in flight) and their verdict",
            m.probes.clone(),
        );
        r.register(
            "probe_refusals",
            "Probe requests the agent refused, by API error code (no probe ran)",
            m.refusals.clone(),
        );
        r.register(
            "upstream_requests",
            "HTTP requests the probes sent, by registry host and status",
            m.upstream.clone(),
        );
        r.register(
            "manifest_requests",
            "Manifest requests the probes sent, by registry host and kind: get (what Docker Hub \
             counts as a pull), head (free), get_avoided (a known digest needed no GET)",
            m.cost.clone(),
        );
        m
    }

    /// One probe request and how it was answered.
    pub fn observe_probe(&self, answer: &'static str, verdict: Verdict) {
        self.probes
            .get_or_create(&ProbeLabels {
                answer,
                verdict: verdict.as_str(),
            })
            .inc();
    }

    /// One probe request refused.
    pub fn observe_refusal(&self, kind: RefusalKind) {
        self.refusals
            .get_or_create(&RefusalLabels { code: kind.label() })
            .inc();
    }

    /// Every upstream exchange of a finished probe's attempts.
    pub fn observe_upstream(&self, attempts: &[Evidence]) {
        for evidence in attempts {
            for ex in &evidence.exchanges {
                self.observe_exchange(&ex.url, ex.status);
            }
            let spent = &evidence.spent;
            let registry = self.host_label(host_port(&evidence.host));
            for (kind, n) in [
                ("get", spent.manifest_gets),
                ("head", spent.manifest_heads),
                ("get_avoided", spent.gets_avoided),
            ] {
                if n > 0 {
                    self.cost
                        .get_or_create(&CostLabels {
                            registry: registry.clone(),
                            kind,
                        })
                        .inc_by(n);
                }
            }
        }
    }

    /// One upstream HTTP exchange: its URL and status (`None`: a transport failure).
    pub fn observe_exchange(&self, url: &str, status: Option<u16>) {
        let host = host_port(url);
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        let registry = self.host_label(host);
        self.upstream
            .get_or_create(&UpstreamLabels { registry, status })
            .inc();
    }

    fn host_label(&self, host: String) -> String {
        self.hosts.label(host)
    }
}

/// `host:port` of a URL (`unknown` when it does not parse).
fn host_port(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The OpenMetrics text of a registry.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_refusals_are_counted_apart() {
        let mut reg = Registry::default();
        let m = ProbeMetrics::register(&mut reg);
        m.observe_probe("cache_hit", Verdict::Ok);
        m.observe_refusal(RefusalKind::Saturated);
        let text = encode(&reg);
        assert!(text.contains("pullcheck_agent_probe_refusals_total{code=\"saturated\"} 1"));
        assert!(!text.contains("verdict=\"saturated\""), "{text}");
        assert!(
            text.contains("pullcheck_agent_probes_total{answer=\"cache_hit\",verdict=\"ok\"} 1")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn answers_are_named_for_what_happened() {
        use std::time::Duration;
        assert_eq!(answer_label(Served::Cached(Duration::ZERO)), "cache_hit");
        assert_eq!(answer_label(Served::Probed), "probed");
        assert_eq!(answer_label(Served::Coalesced), "shared");
    }

    #[test]
    fn registry_labels_are_capped() {
        let mut reg = Registry::default();
        let m = ProbeMetrics::register(&mut reg);
        for i in 0..MAX_REGISTRY_LABELS {
            assert_eq!(m.host_label(format!("h{i}:443")), format!("h{i}:443"));
        }
        assert_eq!(m.host_label("new:443".into()), "other");
        assert_eq!(m.host_label("h0:443".into()), "h0:443");
    }
}
