//! The blob path, as containerd walks it after the manifest: the config and every layer of the
//! selected image manifest are asked for at the host that resolved the reference, with the same
//! credentials, TLS settings and proxy, following redirects to the storage host (S3, Cloud
//! Storage, a CDN) as Go's client does (up to 10, `Authorization` only to the registry's own
//! origin, the address policy on every hop). A layer is asked for its first byte only
//! (`Range: bytes=0-0`; a registry that ignores `Range` is read for one chunk and cut off):
//! reachability and status, never a download. Layers are checked concurrently (bounded), in
//! manifest order, stopping at the first failure as the runtime's pull does.
//!
//! Good answers are remembered per host × repository × blob × credential in [`BlobCache`], for
//! [`RECHECK_AFTER`]: a warm probe of a known digest asks nothing on the blob path.

use super::evidence::{ClockSkew, Exchange, Step};
use super::http::{self, Auth, Request};
use super::limit::{self, Limit};
use crate::bounded::ByteMap;
use crate::identity::RegistryAuth;
use crate::net::policy::AddressPolicy;
use crate::net::proxy::ProxyEnv;
use crate::net::transport::{self, TransportKind};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Layer checks in flight at once for one probe (containerd downloads 3 at a time; the checks
/// are cheaper, so a cold probe of an N-layer image costs about one extra round trip).
pub const CONCURRENCY: usize = 8;
/// Layers checked per image; the rest are counted as unchecked (a manifest may name 10,000).
pub const MAX_CHECKED: usize = 256;
/// How long a good blob answer stands before the blob is asked for again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(3600);
/// A difference between the node's clock and a server's `Date` worth reporting, seconds.
pub const SKEW_WORTH_SAYING: i64 = 300;
/// Bytes the cache holds: keys are 32-byte hashes and values at most one host name of at
/// most [`MAX_HOST_BYTES`].
pub const BLOB_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// Longest storage host name kept (DNS names are at most 253 bytes).
pub const MAX_HOST_BYTES: usize = 255;

/// Blobs known to be reachable: host × repository × digest × credential → the storage host
/// that served them.
pub struct BlobCache {
    map: Mutex<ByteMap<[u8; 32], Option<Box<str>>>>,
}

impl Default for BlobCache {
    fn default() -> Self {
        BlobCache {
            map: Mutex::new(ByteMap::new(BLOB_CACHE_BYTES)),
        }
    }
}

/// The cache key of one blob for one credential (a hash: no secret is kept).
pub fn key(host: &str, repo: &str, digest: &str, cred: &RegistryAuth) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [host, repo, digest] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(cred.cache_key().to_le_bytes());
    h.finalize().into()
}

impl BlobCache {
    /// A fresh good answer: `Some(storage host)`.
    pub fn get(&self, key: &[u8; 32]) -> Option<Option<String>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key, Instant::now())
            .map(|storage| storage.as_deref().map(str::to_string))
    }

    /// Remembers a good answer for [`RECHECK_AFTER`].
    pub fn put(&self, key: [u8; 32], storage: Option<&str>) {
        let storage: Option<Box<str>> =
            storage.filter(|s| s.len() <= MAX_HOST_BYTES).map(Box::from);
        let weight = 32 + storage.as_deref().map_or(0, str::len);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, storage, weight, now + RECHECK_AFTER, now);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where and how to ask for blobs: the resolving host's client, credentials and settings.
pub(super) struct Target<'a> {
    pub client: &'a reqwest::Client,
    pub auth: &'a Auth,
    pub headers: &'a [(String, String)],
    pub limit: Limit,
    pub policy: Option<&'a dyn AddressPolicy>,
    pub proxy: &'a ProxyEnv,
    /// The registry host URL (`scheme://host[:port]`), to tell storage hosts from it.
    pub registry: &'a str,
}

/// One blob's answer.
pub(super) struct Checked {
    /// The exchanges (redirect hops included); the last is the answer.
    pub exchanges: Vec<Exchange>,
    /// Whether the blob is reachable.
    pub ok: bool,
    /// The host that answered, when it is not the registry.
    pub storage: Option<String>,
}

/// Asks for each blob URL's first byte, [`CONCURRENCY`] at a time, in order; stops at the
/// first failure (the rest are not asked, as a failing pull stops).
pub(super) async fn check_all(t: &Target<'_>, urls: Vec<String>) -> Vec<Checked> {
    let mut answers =
        futures_util::stream::iter(urls.into_iter().map(|u| check(t, u))).buffered(CONCURRENCY);
    let mut out = Vec::new();
    while let Some(c) = answers.next().await {
        let failed = !c.ok;
        out.push(c);
        if failed {
            break;
        }
    }
    out
}

/// Asks for one blob's first byte.
async fn check(t: &Target<'_>, url: String) -> Checked {
    let proxy = reqwest::Url::parse(&url)
        .ok()
        .and_then(|u| t.proxy.for_url(&u));
    let sent = http::send(
        t.client,
        Request {
            step: Step::Layer,
            method: reqwest::Method::GET,
            url,
            auth: t.auth,
            accept: None,
            headers: t.headers,
            range: Some("bytes=0-0"),
            form: None,
            proxy: proxy.clone(),
            limit: t.limit,
            policy: t.policy,
        },
    )
    .await;
    let mut exchanges = sent.exchanges;
    let storage = exchanges
        .last()
        .and_then(|last| storage_host(t.registry, &last.url));
    // No answer (the failing hop — a storage host that does not resolve, refuses or fails
    // TLS — is the last exchange and must stay in the evidence: it decides the verdict).
    let Some(mut resp) = sent.response else {
        return Checked {
            exchanges,
            ok: false,
            storage,
        };
    };
    let Some(mut last) = exchanges.pop() else {
        return Checked {
            exchanges,
            ok: false,
            storage,
        };
    };
    let status = resp.status().as_u16();
    // 416: a zero-length blob has no byte 0; it exists all the same.
    let mut ok = (200..300).contains(&status) || status == 416;
    if ok && status != 416 {
        // One chunk proves the body flows; the rest (a registry ignoring Range may send
        // gigabytes) is cut off by dropping the response.
        if let Err(e) = resp.chunk().await {
            let mut failure = transport::classify(&e, proxy.as_deref());
            if failure.kind == TransportKind::Timeout {
                failure.message = if t.limit.deadline_passed() {
                    limit::DEADLINE_CUT.into()
                } else {
                    "timed out before the first byte of the blob arrived".into()
                };
            }
            last.transport = Some(failure);
            ok = false;
        }
    } else if !ok {
        http::read_error_body(&mut resp, &mut last).await;
    }
    exchanges.push(last);
    Checked {
        exchanges,
        ok,
        storage,
    }
}

/// `host[:port]` of `url` when its origin is not the registry's (`registry` is
/// `scheme://host[:port]`).
pub fn storage_host(registry: &str, url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let r = reqwest::Url::parse(registry).ok()?;
    let same = u.scheme() == r.scheme()
        && u.host_str() == r.host_str()
        && u.port_or_known_default() == r.port_or_known_default();
    if same {
        return None;
    }
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// The largest difference between the node's clock and the `Date` of these answers, when it is
/// worth saying.
pub(super) fn clock_skew<'a>(exchanges: impl Iterator<Item = &'a Exchange>) -> Option<ClockSkew> {
    let now = SystemTime::now();
    exchanges
        .filter_map(|ex| {
            let date = httpdate::parse_http_date(ex.headers.get("date")?).ok()?;
            let ahead = match now.duration_since(date) {
                Ok(d) => i64::try_from(d.as_secs()).ok()?,
                Err(e) => i64::try_from(e.duration().as_secs()).ok()?.checked_neg()?,
            };
            let host = reqwest::Url::parse(&ex.url).ok()?.host_str()?.to_string();
            Some(ClockSkew {
                host,
                node_ahead_seconds: ahead,
            })
        })
        .filter(|s| s.node_ahead_seconds.unsigned_abs() > SKEW_WORTH_SAYING as u64)
        .max_by_key(|s| s.node_ahead_seconds.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_hosts_are_other_origins() {
        let r = "https://123.dkr.ecr.eu-west-1.amazonaws.com";
        assert_eq!(storage_host(r, &format!("{r}/v2/a/blobs/sha256:1")), None);
        assert_eq!(
            storage_host(r, "https://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com/x?X-Amz-Signature=1"),
            Some("prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com".into())
        );
        assert_eq!(
            storage_host("http://localhost:5000", "http://localhost:5001/v2/"),
            Some("localhost:5001".into())
        );
    }

    #[test]
    fn cache_keys_separate_credentials_and_entries_expire_by_age() {
        let anon = RegistryAuth::Anonymous;
        let user = RegistryAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let a = key("https://r", "app", "sha256:1", &anon);
        let b = key("https://r", "app", "sha256:1", &user);
        let c = key("https://r", "other", "sha256:1", &anon);
        assert!(a != b && a != c);
        let cache = BlobCache::default();
        assert!(cache.get(&a).is_none());
        cache.put(a, Some("cdn.example.com"));
        cache.put(b, None);
        assert_eq!(cache.get(&a), Some(Some("cdn.example.com".into())));
        assert_eq!(cache.get(&b), Some(None));
        // An absurd host name is not kept (bounded bytes), the answer is.
        cache.put(c, Some(&"x".repeat(10_000)));
        assert_eq!(cache.get(&c), Some(None));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn skew_is_said_only_when_large() {
        let at = |secs_ago: i64| {
            let mut ex = Exchange::new(Step::Layer, "GET", "https://cdn.example.com/x", "none");
            let t = if secs_ago >= 0 {
                SystemTime::now() - Duration::from_secs(secs_ago as u64)
            } else {
                SystemTime::now() + Duration::from_secs(secs_ago.unsigned_abs())
            };
            ex.headers.insert("date".into(), httpdate::fmt_http_date(t));
            ex
        };
        assert!(clock_skew([at(3)].iter()).is_none());
        let s = clock_skew([at(2), at(-3600)].iter()).unwrap();
        assert_eq!(s.host, "cdn.example.com");
        assert!((-3602..=-3598).contains(&s.node_ahead_seconds), "{s:?}");
        let mut garbage = at(0);
        garbage
            .headers
            .insert("date".into(), "\u{1b}[2J yesterday".into());
        assert!(clock_skew([garbage].iter()).is_none());
    }
}
