//! Finished probe answers, kept by verdict class ([`Class`]): `ok` for minutes (a digest-pinned
//! `ok` longer: a digest names immutable content), not-found / auth / rate-limit / TLS / content
//! answers briefly, network and registry failures for seconds. Values are the serialized
//! report, so a hit costs one lookup and a reference-count increment. `fresh=true` skips the
//! lookup (see the probe service).

use crate::classify::{Family, Verdict};
use crate::report::summary::Summary;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long each class of answer is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    /// `ok` for a tag.
    pub ok: Duration,
    /// `ok` for a digest-pinned reference.
    pub digest: Duration,
    /// Not found, auth, rate limited, TLS, content: the caller's next step is a change.
    pub denied: Duration,
    /// Network, registry, node and unknown failures: likely to change by themselves.
    pub network: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Ttls {
            ok: Duration::from_secs(300),
            digest: Duration::from_secs(3600),
            denied: Duration::from_secs(30),
            network: Duration::from_secs(5),
        }
    }
}

/// The caching class of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Pullable, by tag.
    Ok,
    /// Pullable, by digest.
    Digest,
    /// A definite refusal.
    Denied,
    /// A transient failure.
    Network,
}

impl Class {
    /// The class of a verdict for a reference pinned by digest or not.
    pub fn of(verdict: Verdict, by_digest: bool) -> Self {
        match (verdict.family(), verdict) {
            (Family::Ok, _) if by_digest => Class::Digest,
            (Family::Ok, _) => Class::Ok,
            (_, Verdict::IdentityUnavailable) => Class::Network,
            (
                Family::Reference
                | Family::NotFound
                | Family::Auth
                | Family::RateLimit
                | Family::Tls
                | Family::Content,
                _,
            ) => Class::Denied,
            (Family::Network | Family::Registry | Family::Node | Family::Unknown, _) => {
                Class::Network
            }
        }
    }

    /// How long `ttls` keeps this class.
    pub fn ttl(self, ttls: &Ttls) -> Duration {
        match self {
            Class::Ok => ttls.ok,
            Class::Digest => ttls.digest,
            Class::Denied => ttls.denied,
            Class::Network => ttls.network,
        }
    }
}

/// One kept answer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The serialized report.
    pub body: Bytes,
    /// Its verdict.
    pub verdict: Verdict,
    /// The report in brief.
    pub summary: Arc<Summary>,
    /// When it was stored (for `Age`).
    pub stored: Instant,
    /// When it stops being served.
    pub expires: Instant,
}

/// The answer cache, bounded to `max` entries (expired ones go first, then the soonest to
/// expire).
#[derive(Debug)]
pub struct Cache<K> {
    map: Mutex<HashMap<K, Entry>>,
    max: usize,
    ttls: Ttls,
}

impl<K: Hash + Eq + Clone> Cache<K> {
    /// An empty cache.
    pub fn new(ttls: Ttls, max: usize) -> Self {
        Cache {
            map: Mutex::new(HashMap::new()),
            max: max.max(1),
            ttls,
        }
    }

    /// The TTLs in force.
    pub fn ttls(&self) -> &Ttls {
        &self.ttls
    }

    /// An unexpired answer.
    pub fn get(&self, key: &K, now: Instant) -> Option<Entry> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|e| e.expires > now).cloned()
    }

    /// Keeps an answer for its class's TTL (a zero TTL keeps nothing).
    pub fn put(&self, key: K, body: Bytes, summary: Arc<Summary>, by_digest: bool, now: Instant) {
        let verdict = summary.verdict;
        let ttl = Class::of(verdict, by_digest).ttl(&self.ttls);
        if ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, e| e.expires > now);
            if map.len() >= self.max {
                let soonest = map
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            key,
            Entry {
                body,
                verdict,
                summary,
                stored: now,
                expires: now + ttl,
            },
        );
    }

    /// Entries held (expired ones included until pushed out).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(Class::of(Verdict::Ok, false), Class::Ok);
        assert_eq!(Class::of(Verdict::Ok, true), Class::Digest);
        for v in [
            Verdict::ManifestUnknown,
            Verdict::NotFoundOrUnauthorized,
            Verdict::Unauthorized,
            Verdict::Forbidden,
            Verdict::RateLimited,
            Verdict::TlsUnknownAuthority,
            Verdict::PlatformMismatch,
        ] {
            assert_eq!(Class::of(v, false), Class::Denied, "{v}");
        }
        for v in [
            Verdict::Timeout,
            Verdict::ConnectionRefused,
            Verdict::DnsFailure,
            Verdict::RegistryError,
            Verdict::IdentityUnavailable,
            Verdict::RuntimeUnavailable,
            Verdict::Unknown,
        ] {
            assert_eq!(Class::of(v, false), Class::Network, "{v}");
        }
    }

    fn s(v: Verdict) -> Arc<Summary> {
        Arc::new(Summary::bare(v, ""))
    }

    #[test]
    fn entries_expire_by_class() {
        let c = Cache::new(Ttls::default(), 10);
        let t0 = Instant::now();
        c.put("ok", Bytes::from_static(b"1"), s(Verdict::Ok), false, t0);
        c.put(
            "net",
            Bytes::from_static(b"2"),
            s(Verdict::Timeout),
            false,
            t0,
        );
        c.put("pin", Bytes::from_static(b"3"), s(Verdict::Ok), true, t0);
        let later = t0 + Duration::from_secs(10);
        assert!(c.get(&"ok", later).is_some());
        assert!(c.get(&"net", later).is_none());
        let much_later = t0 + Duration::from_secs(600);
        assert!(c.get(&"ok", much_later).is_none());
        assert_eq!(c.get(&"pin", much_later).unwrap().body, "3");
    }

    #[test]
    fn bounded() {
        let c = Cache::new(Ttls::default(), 2);
        let t0 = Instant::now();
        c.put(1, Bytes::new(), s(Verdict::Timeout), false, t0);
        c.put(2, Bytes::new(), s(Verdict::Ok), false, t0);
        c.put(3, Bytes::new(), s(Verdict::Ok), false, t0);
        assert_eq!(c.len(), 2);
        assert!(c.get(&1, t0).is_none(), "the soonest to expire went first");
        assert!(c.get(&3, t0).is_some());
    }
}
