//! Finished probe answers, kept by verdict class ([`Class`]): `ok` for minutes (a digest-pinned
//! `ok` longer: a digest names immutable content), not-found / auth / rate-limit / TLS / content
//! answers briefly, network and registry failures for seconds. Values are the serialized
//! report, so a hit costs one lookup and a reference-count increment. `fresh=true` skips the
//! lookup (see the probe service).

use crate::bounded::ByteMap;
use crate::classify::{Family, Verdict};
use crate::report::summary::Summary;
use bytes::Bytes;
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

/// Bytes of answers the cache holds: a report is as large as the registry's answers make it
/// (see [`MAX_PLATFORMS_LISTED`](crate::probe::manifest::MAX_PLATFORMS_LISTED)), so entries alone do not bound it.
pub const ANSWER_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The answer cache, bounded to `max` entries and [`ANSWER_CACHE_BYTES`] (expired ones go
/// first, then the soonest to expire).
pub struct Cache<K> {
    map: Mutex<ByteMap<K, Entry>>,
    ttls: Ttls,
}

impl<K> std::fmt::Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("ttls", &self.ttls)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Cache<K> {
    /// An empty cache.
    pub fn new(ttls: Ttls, max: usize) -> Self {
        Self::with_budget(ttls, max, ANSWER_CACHE_BYTES)
    }

    /// An empty cache with its own byte budget.
    pub fn with_budget(ttls: Ttls, max: usize, bytes: usize) -> Self {
        Cache {
            map: Mutex::new(ByteMap::with_max_entries(bytes, max)),
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
        map.get(key, now).cloned()
    }

    /// Keeps an answer for its class's TTL (a zero TTL keeps nothing).
    pub fn put(&self, key: K, body: Bytes, summary: Arc<Summary>, by_digest: bool, now: Instant) {
        let verdict = summary.verdict;
        let ttl = Class::of(verdict, by_digest).ttl(&self.ttls);
        if ttl.is_zero() {
            return;
        }
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        // The summary repeats parts of the body; count it as large again.
        let weight = body.len().saturating_mul(2);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            key,
            Entry {
                body,
                verdict,
                summary,
                stored: now,
                expires,
            },
            weight,
            expires,
            now,
        );
    }

    /// Entries held (expired ones included until pushed out).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Drops every answer (the runtime they were predicted for changed).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, as weighed.
    pub fn bytes(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).bytes()
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

    #[test]
    fn bounded_in_bytes_whatever_the_entry_limit() {
        let c = Cache::with_budget(Ttls::default(), 100_000, 10 * 1024 * 1024);
        let t0 = Instant::now();
        let big = Bytes::from(vec![b'x'; 1024 * 1024]);
        for i in 0..200 {
            c.put(i, big.clone(), s(Verdict::PlatformMismatch), false, t0);
            assert!(c.bytes() <= 10 * 1024 * 1024);
        }
        assert!(c.get(&199, t0).is_some());
    }
}
