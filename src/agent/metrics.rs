//! The agent's own metrics ([`Metrics::register`]), served in OpenMetrics text on
//! `--metrics-listen`: `pullcheck_build_info`, the process's resources
//! ([`super::process_metrics`]), API requests by route and status and their latency, and the
//! probe service's ([`ProbeMetrics`]). Other components register beside these in the same
//! [`prometheus_client::registry::Registry`] (e.g. under a `sub_registry_with_prefix`) before
//! the agent starts serving it.

pub use crate::service::metrics::encode;
use crate::service::metrics::ProbeMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

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

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The agent's metric handles.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily,
    /// The probe service's.
    pub probes: Arc<ProbeMetrics>,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~13 s.
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

impl Metrics {
    /// Registers the agent's metrics (prefixed `pullcheck_agent_`) and the probe service's, and
    /// returns their handles.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            probes: Arc::new(ProbeMetrics::register(registry)),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_encodes() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        m.observe_http("/v1/probe", 200, Duration::from_millis(2));
        m.probes
            .observe_probe("cache_hit", crate::classify::Verdict::Ok);
        let text = encode(&reg);
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
}
