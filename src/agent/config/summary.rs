//! The effective configuration in one line, for the start-up log.

use super::Config;
use crate::service::budget::Budgets;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

impl Config {
    /// The per-registry budgets the agent runs with, `REGISTRY=N/PERIOD` sorted: those given
    /// and the defaults the probe service adds (Docker Hub's), read from the same
    /// [`Budgets`] the service builds, so the log cannot differ from what is enforced.
    pub fn budgets_in_force(&self) -> Vec<String> {
        Budgets::new(self.default_registry_budget, self.registry_budgets.clone())
            .states(Instant::now())
            .into_iter()
            .map(|b| format!("{}={}", b.registry, b.rate))
            .collect()
    }

    /// The effective configuration in one line, for the start-up log (there are no secrets
    /// in it: the kubeconfig is named, not read).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let opt = |v: Option<String>| v.unwrap_or_else(|| "off".into());
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or_else(|| "default".into(), |p| p.display().to_string())
        };
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(",")
            }
        };
        let _ = write!(
            s,
            "listen={} network-listen={} metrics-listen={} health-listen={} authz=\"{}\" kubeconfig={} node-name={} \
             allow-registry-cidr={} only-registry={} max-concurrent-probes={} \
             default-registry-budget={} registry-budget={} cache-ttl=ok:{},digest:{},denied:{},network:{} \
             cache-max-entries={} max-body-bytes={} max-query-bytes={} max-connections={} \
             client-timeout={} shutdown-grace={} timeout={} hosts-dir={} containerd-config={} \
             proc-root={} runtime-endpoint={} cloud-identity={} config-file={} allowed-host={}",
            self.listen,
            opt(self.network_listen.map(|a| a.to_string())),
            opt(self.metrics_listen.map(|a| a.to_string())),
            opt(self.health_listen.map(|a| a.to_string())),
            self.authz,
            path(&self.kubeconfig),
            self.node_name.as_deref().unwrap_or("unset"),
            list(self.allow_registry_cidr.iter().map(ToString::to_string).collect()),
            list(self.only_registry.clone()),
            self.max_concurrent_probes,
            self.default_registry_budget,
            list(self.budgets_in_force()),
            d(self.ttls.ok),
            d(self.ttls.digest),
            d(self.ttls.denied),
            d(self.ttls.network),
            self.cache_max_entries,
            self.limits.max_body_bytes,
            self.limits.max_query_bytes,
            self.limits.max_connections,
            d(self.limits.client_timeout),
            d(self.shutdown_grace),
            d(self.probe.timeout),
            path(&self.probe.hosts_dir),
            path(&self.probe.containerd_config),
            self.probe.proc_root.display(),
            self.probe
                .runtime_endpoint
                .as_ref()
                .map_or_else(|| "detect".into(), |e| e.url()),
            if self.probe.cloud_identity { "on" } else { "off" },
            path(&self.file),
            list(self.allowed_hosts.clone()),
        );
        let m = &self.monitor;
        let on = |b: bool| if b { "on" } else { "off" };
        let _ = write!(
            s,
            " monitor={} monitor-interval={} monitor-concurrency={} watch-list={} events={} \
             event-grace={} max-series={}",
            on(m.enabled),
            d(m.interval),
            m.concurrency,
            m.watch_list
                .as_ref()
                .map_or_else(|| "none".into(), |p| p.display().to_string()),
            on(m.events),
            d(m.event_grace),
            m.max_series,
        );
        s
    }
}
