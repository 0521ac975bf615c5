//! Request budgets: a token bucket per registry ([`Budgets`]; conservative for Docker Hub, whose
//! anonymous pulls are counted per address) and a limit on concurrent upstream probes
//! ([`Limiter`]). A caller over either gets 429 with `Retry-After`; the agent itself never retries
//! an upstream 429.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Docker Hub's default budget: half of the anonymous quota (100 manifest GETs per 6 h per
/// address), leaving the other half for the node's real pulls.
pub const DOCKER_HUB_DEFAULT: &str = "docker.io=50/6h";

/// The budget of every other registry.
pub const DEFAULT_RATE: &str = "300/1m";

/// A malformed budget.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not `N/DURATION` (or `REGISTRY=N/DURATION`).
    #[error("invalid budget {input:?}: {why} (expected N/DURATION, e.g. 300/1m, or REGISTRY=N/DURATION)")]
    Invalid {
        /// What was given.
        input: String,
        /// What is wrong.
        why: String,
    },
}

/// `N` probes per `per`, `N` at once at most (the bucket's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Bucket size and refill per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// Parses `300/1m`, `50/6h`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::Invalid {
            input: input.to_string(),
            why,
        };
        let (n, d) = input
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("no '/'".into()))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| bad(format!("{n:?} is not a positive count")))?;
        let per = humantime::parse_duration(d.trim()).map_err(|e| bad(e.to_string()))?;
        if per.is_zero() {
            return Err(bad("the period must be positive".into()));
        }
        Ok(Rate { count, per })
    }

    /// Parses `REGISTRY=N/DURATION`.
    pub fn parse_for_registry(input: &str) -> Result<(String, Self), Error> {
        let (registry, rate) = input.split_once('=').ok_or_else(|| Error::Invalid {
            input: input.to_string(),
            why: "no '=' after the registry".into(),
        })?;
        let registry = registry.trim().to_ascii_lowercase();
        if registry.is_empty() {
            return Err(Error::Invalid {
                input: input.to_string(),
                why: "empty registry".into(),
            });
        }
        Ok((registry, Rate::parse(rate)?))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Most registries with a bucket at once; full buckets are dropped first (a full bucket is
/// the same as none).
const MAX_BUCKETS: usize = 4096;

/// One token bucket per registry.
#[derive(Debug)]
pub struct Budgets {
    default: Rate,
    rates: HashMap<String, Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A registry's budget and what is left of it (for `/v1/node`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetState {
    /// Registry (`docker.io`, `ghcr.io`, `host:port`).
    pub registry: String,
    /// `N/period`.
    pub rate: String,
    /// Manifest GETs that can be sent now.
    pub available: u32,
}

impl Budgets {
    /// Budgets with a default rate and per-registry rates (`docker.io`'s default added unless
    /// given).
    pub fn new(default: Rate, per_registry: Vec<(String, Rate)>) -> Self {
        let mut rates: HashMap<String, Rate> = per_registry.into_iter().collect();
        if let Ok((hub, rate)) = Rate::parse_for_registry(DOCKER_HUB_DEFAULT) {
            rates.entry(hub).or_insert(rate);
        }
        Budgets {
            default,
            rates,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The rate for a registry.
    pub fn rate(&self, registry: &str) -> Rate {
        self.rates.get(registry).copied().unwrap_or(self.default)
    }

    /// Takes one manifest GET from `registry`'s bucket; `Err(retry_after)` when it is empty.
    pub fn take(&self, registry: &str, now: Instant) -> Result<(), Duration> {
        self.take_leaving(registry, now, 0.0)
    }

    /// Takes one probe only if `keep` (a fraction of the bucket's size) is left after it;
    /// `Err(retry_after)` until then. Background work uses this to leave room for callers.
    pub fn take_leaving(&self, registry: &str, now: Instant, keep: f64) -> Result<(), Duration> {
        let rate = self.rate(registry);
        let reserve = (keep.clamp(0.0, 1.0) * f64::from(rate.count)).floor();
        let per_token = rate.per.as_secs_f64() / f64::from(rate.count);
        let cap = f64::from(rate.count);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(registry) {
            buckets.retain(|r, b| refill(b, self.rate(r), now) < f64::from(self.rate(r).count));
        }
        let b = buckets.entry(registry.to_string()).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let tokens = refill(b, rate, now);
        if tokens >= 1.0 + reserve {
            *b = Bucket {
                tokens: tokens - 1.0,
                last: now,
            };
            Ok(())
        } else {
            *b = Bucket { tokens, last: now };
            Err(Duration::from_secs_f64(
                (1.0 + reserve - tokens) * per_token,
            ))
        }
    }

    /// Every configured registry and every registry with a bucket, with what is left.
    pub fn states(&self, now: Instant) -> Vec<BudgetState> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = self.rates.keys().chain(buckets.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|r| {
                let rate = self.rate(r);
                let available = buckets
                    .get(r)
                    .map_or(f64::from(rate.count), |b| refill(b, rate, now));
                BudgetState {
                    registry: r.clone(),
                    rate: rate.to_string(),
                    available: available.floor() as u32,
                }
            })
            .collect()
    }
}

/// The budgets as the prober's gate: each manifest `GET` (what Docker Hub counts as a pull)
/// takes one token; a `HEAD` takes none. Background probes leave `keep` of each bucket to
/// callers.
#[derive(Debug)]
pub struct GetBudget {
    /// The agent's budgets.
    pub budgets: Arc<Budgets>,
    /// The share of each bucket to leave (0 for callers).
    pub keep: f64,
}

impl crate::probe::cost::GetGate for GetBudget {
    fn take_get(&self, registry: &str) -> Result<(), crate::probe::cost::GetRefused> {
        self.budgets
            .take_leaving(registry, Instant::now(), self.keep)
            .map_err(|after| crate::probe::cost::GetRefused {
                budget: registry.to_string(),
                rate: self.budgets.rate(registry).to_string(),
                retry_after_secs: after
                    .as_secs()
                    .saturating_add(u64::from(after.subsec_nanos() > 0)),
            })
    }
}

/// Tokens in `b` at `now` (not stored).
fn refill(b: &Bucket, rate: Rate, now: Instant) -> f64 {
    let per_token = rate.per.as_secs_f64() / f64::from(rate.count);
    let gained = now.saturating_duration_since(b.last).as_secs_f64() / per_token;
    (b.tokens + gained).min(f64::from(rate.count))
}

/// The limit on upstream probes running at once.
#[derive(Debug, Clone)]
pub struct Limiter {
    sem: Arc<Semaphore>,
    max: usize,
}

impl Limiter {
    /// At most `max` at once.
    pub fn new(max: usize) -> Self {
        Limiter {
            sem: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot, or `None` when all are taken (the caller answers 429).
    pub fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().try_acquire_owned().ok()
    }

    /// Probes running now.
    pub fn in_use(&self) -> usize {
        self.max - self.sem.available_permits()
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            Rate::parse("300/1m").unwrap(),
            Rate {
                count: 300,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(Rate::parse("50/6h").unwrap().to_string(), "50/6h");
        let (r, rate) = Rate::parse_for_registry("GHCR.io=10/1s").unwrap();
        assert_eq!((r.as_str(), rate.count), ("ghcr.io", 10));
        for bad in ["300", "0/1m", "x/1m", "5/0s", "5/soon", "=5/1m"] {
            assert!(
                Rate::parse(bad).is_err() || Rate::parse_for_registry(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bucket_empties_and_refills() {
        let b = Budgets::new(Rate::parse("2/10s").unwrap(), vec![]);
        let t0 = Instant::now();
        assert!(b.take("r", t0).is_ok());
        assert!(b.take("r", t0).is_ok());
        let wait = b.take("r", t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(4) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        assert!(b.take("r", t0 + Duration::from_secs(5)).is_ok());
        // Other registries have their own bucket.
        assert!(b.take("other", t0).is_ok());
    }

    #[test]
    fn background_probes_leave_half_the_bucket() {
        let b = Budgets::new(Rate::parse("10/1m").unwrap(), vec![]);
        let t0 = Instant::now();
        for _ in 0..5 {
            b.take_leaving("r", t0, 0.5).unwrap();
        }
        let wait = b.take_leaving("r", t0, 0.5).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6), "one token's refill");
        for _ in 0..5 {
            b.take("r", t0).unwrap();
        }
        assert!(b.take("r", t0).is_err());
    }

    #[test]
    fn docker_hub_is_conservative_by_default() {
        let b = Budgets::new(Rate::parse(DEFAULT_RATE).unwrap(), vec![]);
        assert_eq!(b.rate("docker.io").to_string(), "50/6h");
        assert_eq!(b.rate("ghcr.io").to_string(), "300/1m");
        let b = Budgets::new(
            Rate::parse(DEFAULT_RATE).unwrap(),
            vec![("docker.io".into(), Rate::parse("5/1m").unwrap())],
        );
        assert_eq!(b.rate("docker.io").count, 5);
        let states = b.states(Instant::now());
        assert_eq!(states[0].registry, "docker.io");
        assert_eq!(states[0].available, 5);
    }

    #[test]
    fn limiter_counts_slots() {
        let l = Limiter::new(1);
        let p = l.try_acquire().unwrap();
        assert_eq!(l.in_use(), 1);
        assert!(l.try_acquire().is_none());
        drop(p);
        assert!(l.try_acquire().is_some());
    }
}
