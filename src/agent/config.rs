//! The agent's configuration: flags and environment variables of the same names
//! ([`AgentArgs`]), an optional TOML file, defaults. [`Config::from_args`] validates all of it
//! before any port is bound; a bad value is an [`Error`] naming the key, the value, where it
//! came from and what is wrong (the process exits 64, `EX_USAGE`).

mod args;
mod parts;
mod sources;
mod summary;

use crate::duration::flag::within;
pub use args::{AgentArgs, KEYS};
pub use sources::ConfigOrigin;

use super::auth::Authz;
use crate::node_setup::NodeSettings;
use crate::service::budget::{self, Rate};
use crate::service::cache::Ttls;
use crate::service::guard::Cidr;
use parts::{authz, monitor_settings, probe_settings};
use sources::{addr, addr_or_off, count, dns_name, Sources};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The exit code for a configuration error (`EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// The default probe API address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8740";

/// The default metrics address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:8741";

/// A configuration problem; not retryable (the configuration must change).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value is unusable.
    #[error("invalid {key} {value:?} (from {origin}): {problem}")]
    Invalid {
        /// The key (flag name without `--`).
        key: String,
        /// The value given.
        value: String,
        /// Where it came from.
        origin: ConfigOrigin,
        /// What is wrong with it.
        problem: String,
    },
    /// Values that do not go together.
    #[error("{key}: {problem}")]
    Conflict {
        /// The key to change.
        key: &'static str,
        /// Why.
        problem: String,
    },
    /// The config file cannot be read or parsed.
    #[error("config file {}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Request and connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body.
    pub max_body_bytes: usize,
    /// Longest query string.
    pub max_query_bytes: usize,
    /// Open connections per listener.
    pub max_connections: usize,
    /// Time for the request head, and again for the body.
    pub client_timeout: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// Probe API (loopback).
    pub listen: SocketAddr,
    /// Authenticated network listener.
    pub network_listen: Option<SocketAddr>,
    /// Metrics listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Health-only listener (`/healthz`, `/readyz`).
    pub health_listen: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// kubeconfig path (else inferred).
    pub kubeconfig: Option<PathBuf>,
    /// This node's name.
    pub node_name: Option<String>,
    /// What network callers must be allowed.
    pub authz: Authz,
    /// Ranges a registry may be in despite the refused ones.
    pub allow_registry_cidr: Vec<Cidr>,
    /// Names (lower case) the API answers to in `Host` and `Origin` besides IP literals and
    /// `localhost`.
    pub allowed_hosts: Vec<String>,
    /// Only these registries (empty: any).
    pub only_registry: Vec<String>,
    /// Upstream probes at once.
    pub max_concurrent_probes: usize,
    /// Budget of registries without their own.
    pub default_registry_budget: Rate,
    /// Per-registry budgets.
    pub registry_budgets: Vec<(String, Rate)>,
    /// Cache lifetimes.
    pub ttls: Ttls,
    /// Cache size.
    pub cache_max_entries: usize,
    /// Request limits.
    pub limits: Limits,
    /// Drain deadline.
    pub shutdown_grace: Duration,
    /// Worker threads (`None`: one per CPU).
    pub worker_threads: Option<usize>,
    /// Probe settings.
    pub probe: NodeSettings,
    /// The drift monitor.
    pub monitor: crate::monitor::Settings,
}

const HOUR: Duration = Duration::from_secs(3600);
const MS: Duration = Duration::from_millis(1);

impl Config {
    /// Validates everything; the first bad value is the error.
    pub fn from_args(a: &AgentArgs) -> Result<Self, Error> {
        let s = Sources::read(a.config.as_deref(), KEYS)?;
        let listen = s.get("listen", a.listen.as_deref(), DEFAULT_LISTEN, |v| {
            let addr = addr(v)?;
            if !addr.ip().is_loopback() {
                return Err(
                    "must be a loopback address (127.0.0.1, [::1]); --network-listen serves \
                     other addresses, with Kubernetes authentication"
                        .into(),
                );
            }
            Ok(addr)
        })?;
        let network_listen = s.get(
            "network-listen",
            a.network_listen.as_deref(),
            "off",
            addr_or_off,
        )?;
        let health_listen = s.get(
            "health-listen",
            a.health_listen.as_deref(),
            "off",
            addr_or_off,
        )?;
        let metrics_listen = s.get(
            "metrics-listen",
            a.metrics_listen.as_deref(),
            DEFAULT_METRICS_LISTEN,
            addr_or_off,
        )?;
        let log_format = s.get("log-format", a.log_format.as_deref(), "text", |v| {
            match v.trim() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected text or json".into()),
            }
        })?;
        let node_name = s.opt("node-name", a.node_name.as_deref(), dns_name)?;
        let authz = authz(&s, a, node_name.as_deref())?;
        let ttl = within(Duration::ZERO, 24 * HOUR);
        let config = Config {
            file: a.config.clone(),
            listen,
            network_listen,
            metrics_listen,
            health_listen,
            log_format,
            kubeconfig: s.path("kubeconfig", a.kubeconfig.as_deref()),
            node_name,
            authz,
            allow_registry_cidr: s.parse_list(
                "allow-registry-cidr",
                &a.allow_registry_cidr,
                |v| Cidr::parse(v).map_err(|e| e.to_string()),
            )?,
            allowed_hosts: s.parse_list("allowed-host", &a.allowed_host, |v| {
                let v = v.trim().trim_end_matches('.').to_ascii_lowercase();
                let ok = !v.is_empty()
                    && v.len() <= 253
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if ok {
                    Ok(v)
                } else {
                    Err("expected a DNS name (no port, no scheme)".into())
                }
            })?,
            only_registry: s.parse_list("only-registry", &a.only_registry, |v| {
                let v = v.trim().to_ascii_lowercase();
                if v.is_empty() || v.contains('/') || v.contains(char::is_whitespace) {
                    return Err("expected host[:port] or *.suffix".into());
                }
                Ok(v)
            })?,
            max_concurrent_probes: s.get(
                "max-concurrent-probes",
                a.max_concurrent_probes.as_deref(),
                "32",
                count(1, 10_000),
            )?,
            default_registry_budget: s.get(
                "default-registry-budget",
                a.default_registry_budget.as_deref(),
                budget::DEFAULT_RATE,
                |v| Rate::parse(v).map_err(|e| e.to_string()),
            )?,
            registry_budgets: s.parse_list("registry-budget", &a.registry_budget, |v| {
                Rate::parse_for_registry(v).map_err(|e| e.to_string())
            })?,
            ttls: Ttls {
                ok: s.get("cache-ok-ttl", a.cache_ok_ttl.as_deref(), "5m", &ttl)?,
                digest: s.get(
                    "cache-digest-ttl",
                    a.cache_digest_ttl.as_deref(),
                    "1h",
                    &ttl,
                )?,
                denied: s.get(
                    "cache-denied-ttl",
                    a.cache_denied_ttl.as_deref(),
                    "30s",
                    &ttl,
                )?,
                network: s.get(
                    "cache-network-ttl",
                    a.cache_network_ttl.as_deref(),
                    "5s",
                    &ttl,
                )?,
            },
            cache_max_entries: s.get(
                "cache-max-entries",
                a.cache_max_entries.as_deref(),
                "10000",
                count(1, 10_000_000),
            )?,
            limits: Limits {
                max_body_bytes: s.get(
                    "max-body-bytes",
                    a.max_body_bytes.as_deref(),
                    "16384",
                    count(256, 16 * 1024 * 1024),
                )?,
                max_query_bytes: s.get(
                    "max-query-bytes",
                    a.max_query_bytes.as_deref(),
                    "4096",
                    count(256, 64 * 1024),
                )?,
                max_connections: s.get(
                    "max-connections",
                    a.max_connections.as_deref(),
                    "1024",
                    count(1, 1_000_000),
                )?,
                client_timeout: s.get(
                    "client-timeout",
                    a.client_timeout.as_deref(),
                    "10s",
                    within(10 * MS, HOUR),
                )?,
            },
            shutdown_grace: s.get(
                "shutdown-grace",
                a.shutdown_grace.as_deref(),
                "20s",
                within(Duration::ZERO, HOUR),
            )?,
            worker_threads: s.opt(
                "worker-threads",
                a.worker_threads.as_deref(),
                count(1, 1024),
            )?,
            probe: probe_settings(&s, a)?,
            monitor: monitor_settings(&s, a)?,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Error> {
        let mut seen = vec![("listen", self.listen)];
        seen.extend(self.network_listen.map(|a| ("network-listen", a)));
        seen.extend(self.metrics_listen.map(|a| ("metrics-listen", a)));
        seen.extend(self.health_listen.map(|a| ("health-listen", a)));
        for (i, (key, a)) in seen.iter().enumerate() {
            if a.port() == 0 {
                continue;
            }
            if let Some((other, _)) = seen[..i].iter().find(|(_, b)| b == a) {
                return Err(Error::Conflict {
                    key,
                    problem: format!("{a} is already the {other} address"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
