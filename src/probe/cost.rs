//! What probing costs the registries, in the unit their quotas count: manifest requests. Docker
//! Hub counts a manifest `GET` as a pull (per address for anonymous callers, so a whole cluster
//! behind one NAT shares one allowance) and a `HEAD` as nothing; ECR and GAR count requests.
//!
//! [`Ledger`] keeps the running totals per registry host for `/v1/node` and the metrics;
//! [`Spent`] is one probe's share, carried in its evidence; [`GetGate`] is asked before every
//! manifest `GET`, so that a budget counts what the quota counts (the agent's budgets implement
//! it; the CLI has none).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most registry hosts tracked one by one; the rest are summed under [`OTHER`].
pub const MAX_HOSTS: usize = 256;
/// The row past [`MAX_HOSTS`].
pub const OTHER: &str = "(other)";

/// Manifest requests one probe (or one process) sent to one registry host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spent {
    /// Manifest `GET`s (Docker Hub: pulls).
    pub manifest_gets: u64,
    /// Manifest `HEAD`s (free on Docker Hub).
    pub manifest_heads: u64,
    /// Probes that needed no `GET` because the digest the `HEAD` named was known (remembered,
    /// in the state directory, or held by the runtime).
    pub gets_avoided: u64,
}

impl Spent {
    /// Whether nothing was spent or avoided.
    pub fn is_empty(&self) -> bool {
        *self == Spent::default()
    }

    /// Adds another count (saturating).
    pub fn add(&mut self, other: &Spent) {
        self.manifest_gets = self.manifest_gets.saturating_add(other.manifest_gets);
        self.manifest_heads = self.manifest_heads.saturating_add(other.manifest_heads);
        self.gets_avoided = self.gets_avoided.saturating_add(other.gets_avoided);
    }
}

/// One registry host's running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSpent {
    /// `scheme://host[:port]`, or [`OTHER`].
    pub host: String,
    /// Its totals.
    #[serde(flatten)]
    pub spent: Spent,
}

/// Running totals per registry host, bounded in hosts.
#[derive(Debug, Default)]
pub struct Ledger(Mutex<BTreeMap<String, Spent>>);

impl Ledger {
    /// Adds one probe's spending at `host`.
    pub fn record(&self, host: &str, spent: &Spent) {
        if spent.is_empty() {
            return;
        }
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = if m.contains_key(host) || m.len() < MAX_HOSTS {
            host
        } else {
            OTHER
        };
        m.entry(key.to_string()).or_default().add(spent);
    }

    /// The totals, by host.
    pub fn totals(&self) -> Vec<HostSpent> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .map(|(host, spent)| HostSpent {
                host: host.clone(),
                spent: *spent,
            })
            .collect()
    }
}

/// Why a manifest `GET` was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRefused {
    /// The budget's name (a registry, e.g. `docker.io`).
    pub budget: String,
    /// The budget, as configured (`50/6h`).
    pub rate: String,
    /// When a `GET` is allowed again, seconds.
    pub retry_after_secs: u64,
}

/// Asked before each manifest `GET`.
pub trait GetGate: Send + Sync + std::fmt::Debug {
    /// Takes one `GET` to `registry` (the image's registry name, e.g. `docker.io`, when the host
    /// is the registry itself; the host's `host[:port]` for a mirror).
    fn take_get(&self, registry: &str) -> Result<(), GetRefused>;
}

/// The name a budget goes by for a request to `host_url` while pulling from `registry`: the
/// registry's own name when the host is the registry's (Docker Hub's API host included), else
/// the mirror's `host[:port]`.
pub fn budget_name(registry: &str, host_url: &str) -> String {
    let host = host_url
        .split_once("://")
        .map_or(host_url, |(_, rest)| rest)
        .trim_end_matches('/');
    let own = host == registry
        || (registry == crate::reference::DOCKER_HUB
            && host == crate::reference::DOCKER_HUB_ENDPOINT);
    if own {
        registry.to_string()
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_sums_per_host_and_bounds_its_hosts() {
        let l = Ledger::default();
        let get = Spent {
            manifest_gets: 1,
            ..Spent::default()
        };
        l.record("https://a", &get);
        l.record("https://a", &get);
        l.record("https://b", &Spent::default());
        assert_eq!(l.totals().len(), 1);
        assert_eq!(l.totals()[0].spent.manifest_gets, 2);
        for i in 0..MAX_HOSTS + 10 {
            l.record(&format!("https://h{i}"), &get);
        }
        let t = l.totals();
        assert_eq!(t.len(), MAX_HOSTS + 1);
        assert!(t
            .iter()
            .any(|h| h.host == OTHER && h.spent.manifest_gets == 11));
        let mut big = Spent {
            manifest_gets: u64::MAX,
            ..Spent::default()
        };
        big.add(&get);
        assert_eq!(big.manifest_gets, u64::MAX);
    }

    #[test]
    fn a_mirror_spends_its_own_budget() {
        assert_eq!(
            budget_name("docker.io", "https://registry-1.docker.io"),
            "docker.io"
        );
        assert_eq!(
            budget_name("docker.io", "https://mirror.example:5000"),
            "mirror.example:5000"
        );
        assert_eq!(budget_name("quay.io", "https://quay.io"), "quay.io");
        assert_eq!(
            budget_name("127.0.0.1:5000", "http://127.0.0.1:5000"),
            "127.0.0.1:5000"
        );
    }
}
