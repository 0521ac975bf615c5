//! The agent's own metrics ([`Metrics::register`]), served in OpenMetrics text on
//! `--metrics-listen`: `pullcheck_build_info`, the process's resources
//! ([`super::process_metrics`]), API requests by route and status and their latency, probes by
//! how they were answered (cache hit, leader, follower) and their verdict, probe requests the
//! agent refused by API error code, and upstream HTTP requests by registry host and status. Other components register beside these in the same
//! [`prometheus_client::registry::Registry`] (e.g. under a `sub_registry_with_prefix`) before
//! the agent starts serving it.
//!
//! Label values that callers influence (registry hosts) are capped: past
//! [`MAX_REGISTRY_LABELS`] distinct hosts, new ones count as `other`.

use super::report_metrics::ReportMetrics;
use crate::report::Report;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// Distinct registry hosts labelled by name; the rest are `other`.
pub const MAX_REGISTRY_LABELS: usize = 200;

/// `route`, `status`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/v1/probe`, or `other`).
    pub route: &'static str,
    /// The HTTP status code.
    pub status: u16,
}

/// `route`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template.
    pub route: &'static str,
}

/// `answer`, `verdict`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// `cache_hit`, `leader`, `follower`.
    pub answer: &'static str,
    /// The verdict (verdicts only: refusals are counted apart).
    pub verdict: &'static str,
}

/// `code`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The API error code (`registry_not_allowed`, `saturated`, …).
    pub code: &'static str,
}

/// `version`, `revision`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: &'static str,
    /// The source revision the release was built from (`unknown` for a local build).
    pub revision: &'static str,
}

/// The build's labels: the version, and the revision a release build names in
/// `PULLCHECK_REVISION`.
pub fn build_labels() -> BuildLabels {
    BuildLabels {
        version: env!("CARGO_PKG_VERSION"),
        revision: option_env!("PULLCHECK_REVISION").unwrap_or("unknown"),
    }
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

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The agent's metric handles.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily,
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

fn latency_histogram() -> Histogram {
    // 50 µs … ~13 s.
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

impl Metrics {
    /// Registers the agent's metrics (prefixed `pullcheck_agent_`) and returns their handles.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            probes: Family::default(),
            refusals: Family::default(),
            upstream: Family::default(),
            cost: Family::default(),
            hosts: LabelCap::new(MAX_REGISTRY_LABELS),
            reports: ReportMetrics::register(registry),
        };
        registry.register(
            "pullcheck_build",
            "The running build: version and source revision",
            prometheus_client::metrics::info::Info::new(build_labels()),
        );
        registry.register_collector(Box::new(super::process_metrics::ProcessCollector));
        let r = registry.sub_registry_with_prefix("pullcheck_agent");
        r.register(
            "http_requests",
            "API requests by route and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "API request latency by route",
            m.latency.clone(),
        );
        r.register(
            "probes",
            "Probe requests by how they were answered and their verdict",
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

    /// One API request.
    pub fn observe_http(&self, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&HttpLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    /// One probe request and how it was answered.
    pub fn observe_probe(&self, answer: &'static str, verdict: crate::classify::Verdict) {
        self.probes
            .get_or_create(&ProbeLabels {
                answer,
                verdict: verdict.as_str(),
            })
            .inc();
    }

    /// One probe request refused with an API error.
    pub fn observe_refusal(&self, code: &'static str) {
        self.refusals.get_or_create(&RefusalLabels { code }).inc();
    }

    /// Every upstream exchange in a finished report.
    pub fn observe_upstream(&self, report: &Report) {
        for attempt in &report.attempts {
            for ex in &attempt.evidence.exchanges {
                self.observe_exchange(&ex.url, ex.status);
            }
            let spent = &attempt.evidence.spent;
            let registry = self.host_label(host_port(&attempt.evidence.host));
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
    fn registers_and_encodes() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        m.observe_http("/v1/probe", 200, Duration::from_millis(2));
        m.observe_probe("cache_hit", crate::classify::Verdict::Ok);
        m.observe_refusal("saturated");
        let text = encode(&reg);
        assert!(text.contains("pullcheck_agent_probe_refusals_total{code=\"saturated\"} 1"));
        assert!(!text.contains("verdict=\"saturated\""), "{text}");
        assert!(
            text.contains(&format!(
                "pullcheck_build_info{{version=\"{}\",revision=\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        assert!(text
            .contains("pullcheck_agent_http_requests_total{route=\"/v1/probe\",status=\"200\"} 1"));
        assert!(text.contains("pullcheck_agent_http_request_duration_seconds_bucket"));
        assert!(
            text.contains("pullcheck_agent_probes_total{answer=\"cache_hit\",verdict=\"ok\"} 1")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn registry_labels_are_capped() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        for i in 0..MAX_REGISTRY_LABELS {
            assert_eq!(m.host_label(format!("h{i}:443")), format!("h{i}:443"));
        }
        assert_eq!(m.host_label("new:443".into()), "other");
        assert_eq!(m.host_label("h0:443".into()), "h0:443");
    }
}
