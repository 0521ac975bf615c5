//! What every finished probe report says, as metrics beside the agent's own (registered under
//! `pullcheck_`): the rate-limit figures each registry last sent
//! (`pullcheck_ratelimit_remaining{registry}`, `pullcheck_ratelimit_limit{registry}`), when
//! the node credentials used expire (`pullcheck_credential_expiry_timestamp_seconds{source}`:
//! the EKS ECR token, the GKE access token) and how long probes take
//! (`pullcheck_probe_duration_seconds{registry}`). Registry and source label values are capped
//! ([`MAX_REGISTRY_LABELS`]): past the cap, new values count as `other`.
//!
//! A credential's expiry is exported only while probes keep using it: [`ReportMetrics::prune`]
//! drops a source not seen for [`EXPIRY_UNSEEN`], so that a credential nobody uses any more
//! does not look like one about to expire.

use super::metrics::{LabelCap, MAX_REGISTRY_LABELS};
use crate::report::summary::Summary;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a credential's expiry stays exported after the last probe that used it.
pub const EXPIRY_UNSEEN: Duration = Duration::from_secs(15 * 60);

/// `registry`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistryLabels {
    /// The host that sent the figures or was probed (`host:port` or `docker.io`).
    pub registry: String,
}

/// `source`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The credential's source (`eks:ROLE:REGION`, `gke:EMAIL`).
    pub source: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type Durations = Family<RegistryLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms … ~80 s.
    Histogram::new(exponential_buckets(0.005, 2.5, 12))
}

/// Metric handles fed from reports.
#[derive(Debug)]
pub struct ReportMetrics {
    remaining: Family<RegistryLabels, Gauge>,
    limit: Family<RegistryLabels, Gauge>,
    expiry: Family<SourceLabels, FloatGauge>,
    duration: Durations,
    registries: LabelCap,
    sources: LabelCap,
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl ReportMetrics {
    /// Registers the families in `registry` (prefix `pullcheck_`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = ReportMetrics {
            remaining: Family::default(),
            limit: Family::default(),
            expiry: Family::default(),
            duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            registries: LabelCap::new(MAX_REGISTRY_LABELS),
            sources: LabelCap::new(MAX_REGISTRY_LABELS),
            last_seen: Mutex::new(HashMap::new()),
        };
        let r = registry.sub_registry_with_prefix("pullcheck");
        r.register(
            "ratelimit_remaining",
            "Pulls left in the registry's current rate-limit window, as it last said (RateLimit-Remaining, ratelimit-remaining)",
            m.remaining.clone(),
        );
        r.register(
            "ratelimit_limit",
            "The registry's pull limit per window, as it last said",
            m.limit.clone(),
        );
        r.register(
            "credential_expiry_timestamp_seconds",
            "When a node credential used by the probes expires (ECR token, GKE access token), seconds since the Unix epoch",
            m.expiry.clone(),
        );
        r.register(
            "probe_duration_seconds",
            "Wall time of upstream probes, by registry",
            m.duration.clone(),
        );
        m
    }

    /// Records one finished probe.
    pub fn observe(&self, s: &Summary) {
        self.prune(Instant::now());
        if !s.registry.is_empty() {
            let registry = self.registries.label(s.registry.clone());
            self.duration
                .get_or_create(&RegistryLabels { registry })
                .observe(s.seconds);
        }
        if let Some((host, rl)) = &s.rate_limit {
            let labels = RegistryLabels {
                registry: self.registries.label(host.clone()),
            };
            if let Some(r) = rl.remaining {
                self.remaining
                    .get_or_create(&labels)
                    .set(i64::try_from(r).unwrap_or(i64::MAX));
            }
            if let Some(l) = rl.limit {
                self.limit
                    .get_or_create(&labels)
                    .set(i64::try_from(l).unwrap_or(i64::MAX));
            }
        }
        for (source, at) in &s.expiries {
            let source = self.sources.label(source.clone());
            self.last_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(source.clone(), Instant::now());
            self.expiry.get_or_create(&SourceLabels { source }).set(*at);
        }
    }

    /// Drops the expiry of credentials no probe used for [`EXPIRY_UNSEEN`].
    pub fn prune(&self, now: Instant) {
        let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|source, at| {
            let keep = now.saturating_duration_since(*at) < EXPIRY_UNSEEN;
            if !keep {
                self.expiry.remove(&SourceLabels {
                    source: source.clone(),
                });
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Verdict;
    use crate::probe::ratelimit::RateLimit;

    #[test]
    fn rate_limits_expiry_and_durations() {
        let mut reg = Registry::default();
        let m = ReportMetrics::register(&mut reg);
        let mut s = Summary::bare(Verdict::Ok, "");
        s.registry = "docker.io".into();
        s.seconds = 0.2;
        s.rate_limit = Some((
            "registry-1.docker.io:443".into(),
            RateLimit {
                limit: Some(100),
                remaining: Some(7),
                ..RateLimit::default()
            },
        ));
        s.expiries = vec![("eks:node-role:eu-west-1".into(), 1.9e9)];
        m.observe(&s);
        let text = super::super::metrics::encode(&reg);
        assert!(
            text.contains("pullcheck_ratelimit_remaining{registry=\"registry-1.docker.io:443\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("pullcheck_ratelimit_limit{registry=\"registry-1.docker.io:443\"} 100")
        );
        assert!(text.contains("pullcheck_credential_expiry_timestamp_seconds{source=\"eks:node-role:eu-west-1\"} 1900000000"));
        assert!(text.contains("pullcheck_probe_duration_seconds_count{registry=\"docker.io\"} 1"));
        m.prune(Instant::now());
        assert!(
            super::super::metrics::encode(&reg).contains("eks:node-role"),
            "recent: kept"
        );
        m.prune(Instant::now() + EXPIRY_UNSEEN);
        assert!(
            !super::super::metrics::encode(&reg).contains("eks:node-role"),
            "unused: dropped"
        );
    }
}
