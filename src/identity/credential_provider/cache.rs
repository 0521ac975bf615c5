//! The plugin response cache, as the kubelet keeps it per plugin: entries keyed by the image
//! (`cacheKeyType: Image`), its registry (`Registry`, the first path segment with any port) or
//! `global`, looked up in that order; `cacheDuration` `0` (or negative) stores nothing, a
//! missing one means the provider's `defaultCacheDuration` (where `0` stores nothing too).
//! Used by the long-running agent; the CLI starts empty. See [`ResponseCache`].

use super::run::{AuthEntry, CacheKeyType, Response};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The kubelet's key for `Global` responses.
pub const GLOBAL_KEY: &str = "global";

#[derive(Debug, Clone)]
struct Entry {
    auth: Vec<AuthEntry>,
    expires_at: Instant,
}

/// Cached responses of every plugin.
#[derive(Debug, Default)]
pub struct ResponseCache {
    entries: HashMap<(String, String), Entry>,
}

/// The kubelet's `parseRegistry`: the first `/`-separated segment.
pub fn registry_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

impl ResponseCache {
    /// The cached credentials of `plugin` for `repo`: image key, then registry, then global.
    /// Expired entries are dropped on the way.
    pub fn get(&mut self, plugin: &str, repo: &str, now: Instant) -> Option<Vec<AuthEntry>> {
        for key in [repo, registry_of(repo), GLOBAL_KEY] {
            let k = (plugin.to_string(), key.to_string());
            match self.entries.get(&k) {
                Some(e) if now <= e.expires_at => return Some(e.auth.clone()),
                Some(_) => {
                    self.entries.remove(&k);
                }
                None => {}
            }
        }
        None
    }

    /// Stores a response per its `cacheKeyType` and duration; returns how long it is kept
    /// (`None`: not cached).
    pub fn put(
        &mut self,
        plugin: &str,
        repo: &str,
        response: &Response,
        default: Duration,
        now: Instant,
    ) -> Option<Duration> {
        let ttl = match response.cache_duration {
            Some((true, _)) => return None,
            Some((false, d)) => d,
            None => default,
        };
        if ttl.is_zero() {
            return None;
        }
        let key = match response.cache_key_type {
            CacheKeyType::Image => repo,
            CacheKeyType::Registry => registry_of(repo),
            CacheKeyType::Global => GLOBAL_KEY,
        };
        self.entries.insert(
            (plugin.to_string(), key.to_string()),
            Entry {
                auth: response.auth.clone(),
                expires_at: now.checked_add(ttl)?,
            },
        );
        Some(ttl)
    }

    /// Number of entries (expired ones included until looked up).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(kind: CacheKeyType, duration: Option<(bool, Duration)>) -> Response {
        Response {
            cache_key_type: kind,
            cache_duration: duration,
            auth: vec![AuthEntry {
                key: "r.io".into(),
                username: "u".into(),
                password: "p".into(),
            }],
        }
    }

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn image_registry_and_global_keys() {
        let now = Instant::now();
        let mut c = ResponseCache::default();
        c.put(
            "p",
            "r.io:5000/a/b",
            &response(CacheKeyType::Image, None),
            H,
            now,
        );
        assert!(c.get("p", "r.io:5000/a/b", now).is_some());
        assert!(
            c.get("p", "r.io:5000/a/c", now).is_none(),
            "image key is exact"
        );
        assert!(c.get("other", "r.io:5000/a/b", now).is_none(), "per plugin");
        c.put(
            "p",
            "r.io:5000/a/b",
            &response(CacheKeyType::Registry, None),
            H,
            now,
        );
        assert!(
            c.get("p", "r.io:5000/x", now).is_some(),
            "registry with port"
        );
        assert!(c.get("p", "r.io/x", now).is_none());
        c.put("g", "r.io/a", &response(CacheKeyType::Global, None), H, now);
        assert!(c.get("g", "anything.io/z", now).is_some());
        assert_eq!(registry_of("docker.io/library/nginx"), "docker.io");
    }

    #[test]
    fn durations_zero_negative_default_and_expiry() {
        let now = Instant::now();
        let mut c = ResponseCache::default();
        let img = CacheKeyType::Image;
        assert_eq!(
            c.put(
                "p",
                "r/a",
                &response(img, Some((false, Duration::ZERO))),
                H,
                now
            ),
            None
        );
        assert_eq!(
            c.put("p", "r/a", &response(img, Some((true, H))), H, now),
            None
        );
        assert_eq!(
            c.put("p", "r/a", &response(img, None), Duration::ZERO, now),
            None
        );
        assert!(c.is_empty());
        let ttl = Duration::from_secs(60);
        assert_eq!(
            c.put("p", "r/a", &response(img, Some((false, ttl))), H, now),
            Some(ttl)
        );
        assert!(c.get("p", "r/a", now + Duration::from_secs(59)).is_some());
        assert!(c.get("p", "r/a", now + Duration::from_secs(61)).is_none());
        assert!(c.is_empty(), "expired entries are dropped");
        assert_eq!(c.put("p", "r/a", &response(img, None), H, now), Some(H));
        assert_eq!(c.len(), 1);
    }
}
