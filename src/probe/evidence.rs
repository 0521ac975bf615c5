//! What the probe saw, step by step: every HTTP exchange (URL, status, headers that matter,
//! OCI errors, transport failure) and the facts read from manifests. No judgement here.

use super::challenge::Challenge;
use super::oci_error::OciError;
use super::ratelimit::RateLimit;
use crate::net::transport::TransportFailure;
use crate::platform::Platform;
use serde::Serialize;
use std::collections::BTreeMap;

/// The protocol step an exchange belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `GET /v2/`.
    Ping,
    /// HEAD/GET of the manifest or index.
    Manifest,
    /// Token fetch from the Bearer realm.
    Token,
    /// `GET …/tags/list`, to tell a missing tag from a missing repository.
    Tags,
    /// GET of the platform's manifest an index names (by digest).
    PlatformManifest,
    /// GET of the image config blob (architecture of a single-platform image).
    Config,
    /// `GET` of a layer blob's first byte (`Range: bytes=0-0`), redirects to the storage host
    /// followed: reachability and status, not a download.
    Layer,
    /// Plain-HTTP check after a TLS failure that looked like an HTTP answer.
    PlainHttpCheck,
}

/// One HTTP exchange.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    /// Protocol step.
    pub step: Step,
    /// HTTP method.
    pub method: String,
    /// URL (never with credentials).
    pub url: String,
    /// Status code when a response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wall time of the exchange, milliseconds.
    pub elapsed_ms: f64,
    /// Which credential form was sent: `none`, `basic`, `bearer`.
    pub auth: &'static str,
    /// Response headers that matter for diagnosis.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Parsed `WWW-Authenticate` challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
    /// OCI error envelope entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oci_errors: Vec<OciError>,
    /// Start of a body that is not an OCI envelope (bounded, lossy UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
    /// Failure below HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportFailure>,
    /// A remark from the probe (e.g. "via proxy …", "redirect not followed").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Exchange {
    /// An exchange about to be made.
    pub fn new(step: Step, method: &str, url: &str, auth: &'static str) -> Self {
        Exchange {
            step,
            method: method.to_string(),
            url: url.to_string(),
            status: None,
            elapsed_ms: 0.0,
            auth,
            headers: BTreeMap::new(),
            challenge: None,
            oci_errors: Vec::new(),
            body_excerpt: None,
            transport: None,
            note: None,
        }
    }

    /// Text of all OCI error codes and messages, and the body excerpt, for rule matching.
    pub fn error_text(&self) -> String {
        let mut s: String = self
            .oci_errors
            .iter()
            .map(|e| format!("{} {} ", e.code, e.message))
            .collect();
        if let Some(b) = &self.body_excerpt {
            s.push_str(b);
        }
        s
    }

    /// Whether the envelope carries this OCI code.
    pub fn has_code(&self, code: &str) -> bool {
        self.oci_errors
            .iter()
            .any(|e| e.code.eq_ignore_ascii_case(code))
    }
}

/// What kind of manifest the reference resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestKind {
    /// An image index / manifest list.
    Index,
    /// A single image manifest.
    Manifest,
}

/// Facts read from the manifest (and config) the registry returned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFacts {
    /// Content-Type of the manifest.
    pub media_type: String,
    /// Digest of the manifest body.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Index or single manifest.
    pub kind: ManifestKind,
    /// Platforms an index offers (attestation entries skipped), or the single image's platform:
    /// distinct ones, at most [`MAX_PLATFORMS_LISTED`](super::manifest::MAX_PLATFORMS_LISTED),
    /// names cut to [`MAX_PLATFORM_FIELD`](super::manifest::MAX_PLATFORM_FIELD) characters.
    pub platforms: Vec<Platform>,
    /// Distinct platforms past those listed (an index may name 10,000).
    #[serde(skip_serializing_if = "is_zero")]
    pub platforms_omitted: usize,
    /// The platform that would be pulled on this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<Platform>,
}

/// A content problem that makes the pull fail even though the registry answered 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContentProblem {
    /// A body exceeded its size limit.
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// Not a parseable manifest/config.
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// Digest of the content differs from the one asked for or announced.
    DigestMismatch {
        /// The digest expected.
        expected: String,
        /// The digest computed.
        actual: String,
    },
    /// Docker schema1.
    Schema1 {
        /// The media type seen.
        media_type: String,
    },
    /// A media type that is not a container image.
    UnknownMediaType {
        /// The media type seen.
        media_type: String,
    },
    /// The index has no entry for the node's platform.
    PlatformMissing {
        /// The node's platform.
        wanted: Platform,
    },
}

/// Everything the probe learnt from one host with one credential.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The host probed (`scheme://host[:port]`).
    pub host: String,
    /// Whether a credential was offered.
    pub authenticated: bool,
    /// Every exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// Index into `exchanges` of the exchange that ended the probe with a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<usize>,
    /// From `tags/list` after a 404: does the repository exist?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_exists: Option<bool>,
    /// Tags seen in that listing (first few), as a hint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_sample: Vec<String>,
    /// After a TLS failure, the host answered plain HTTP.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plain_http_confirmed: bool,
    /// Manifest facts when one was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestFacts>,
    /// Content problem, when the content itself fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_problem: Option<ContentProblem>,
    /// The latest rate-limit figures seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Warnings that do not fail the pull (e.g. exec-format risk).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The platform the node pulls for.
    pub node_platform: Platform,
    /// What the blob checks (config and layers of the selected manifest) found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobFacts>,
    /// Where the manifest body came from, once the registry's `HEAD` named its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_origin: Option<ManifestOrigin>,
    /// The manifest requests this probe sent (what registry quotas count).
    #[serde(skip_serializing_if = "super::cost::Spent::is_empty")]
    pub spent: super::cost::Spent,
    /// A manifest `GET` that was needed and not sent: the agent's budget for it is spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_refused: Option<super::cost::GetRefused>,
}

/// Where a probe took the manifest it judged from. Every origin but `registry` cost no manifest
/// `GET` (Docker Hub counts a `GET` as a pull; the `HEAD` that named the digest is free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestOrigin {
    /// Read with `GET` in this probe.
    Registry,
    /// Read earlier by this process, the same digest confirmed by `HEAD`.
    Remembered,
    /// The node's state directory, by the digest the `HEAD` named (verified by hash).
    StateDir,
    /// The runtime already holds this digest: its platform was unpacked on this node and no
    /// layer will be fetched.
    Runtime,
}

impl ManifestOrigin {
    /// Whether this origin cost a manifest `GET`.
    pub fn cost_a_get(self) -> bool {
        self == ManifestOrigin::Registry
    }
}

/// The blob path of the selected image manifest: its size, where the blobs come from, and how
/// many were checked now or known good from an earlier check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobFacts {
    /// Layers the manifest names.
    pub layers: usize,
    /// Config plus layer sizes as the manifest declares them (compressed), bytes.
    pub compressed_bytes: u64,
    /// Blobs asked for in this probe.
    pub checked: usize,
    /// Blobs known reachable from an earlier check (same host, repository and credential).
    pub cached: usize,
    /// Layers beyond the check limit, not asked for.
    #[serde(skip_serializing_if = "is_zero")]
    pub unchecked: usize,
    /// Hosts other than the registry that served blobs (after redirects): the storage or CDN
    /// hosts the node must reach too.
    pub storage_hosts: Vec<String>,
    /// The node's clock against the `Date` of a registry or storage answer, when they differ
    /// by more than a few minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<ClockSkew>,
}

/// How far the node's clock is from a server's `Date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockSkew {
    /// The host whose `Date` was compared.
    pub host: String,
    /// Node time minus server time, seconds (positive: the node is ahead).
    pub node_ahead_seconds: i64,
}

impl Evidence {
    /// Nothing learnt yet from `host`, probed for `node_platform` with a credential
    /// (`authenticated`) or without.
    pub fn new(host: impl Into<String>, authenticated: bool, node_platform: Platform) -> Self {
        Evidence {
            host: host.into(),
            authenticated,
            exchanges: Vec::new(),
            terminal: None,
            repository_exists: None,
            tags_sample: Vec::new(),
            plain_http_confirmed: false,
            manifest: None,
            content_problem: None,
            rate_limit: None,
            warnings: Vec::new(),
            node_platform,
            blobs: None,
            manifest_origin: None,
            spent: Default::default(),
            get_refused: None,
        }
    }

    /// The exchange that ended the probe with a failure.
    pub fn terminal_exchange(&self) -> Option<&Exchange> {
        self.terminal.and_then(|i| self.exchanges.get(i))
    }

    /// Number of HTTP requests made.
    pub fn request_count(&self) -> usize {
        self.exchanges.len()
    }

    /// A manifest request got a 2xx: the host resolved the reference (containerd stops here,
    /// whatever the content turns out to be).
    pub fn manifest_resolved(&self) -> bool {
        self.exchanges
            .iter()
            .any(|x| x.step == Step::Manifest && x.status.is_some_and(|s| (200..300).contains(&s)))
    }

    /// The probe ended on a manifest 404 (containerd tries the next host and, if none has it,
    /// reports "not found" rather than an error).
    pub fn manifest_not_found(&self) -> bool {
        self.terminal_exchange()
            .is_some_and(|x| x.step == Step::Manifest && x.status == Some(404))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(exchanges: Vec<Exchange>, terminal: Option<usize>) -> Evidence {
        Evidence {
            exchanges,
            terminal,
            ..Evidence::new("https://r.example", false, Platform::host())
        }
    }

    fn ex(step: Step, status: Option<u16>) -> Exchange {
        let mut x = Exchange::new(step, "GET", "https://r.example/v2/a/manifests/1", "none");
        x.status = status;
        x
    }

    #[test]
    fn resolved_and_not_found() {
        let ok = ev(
            vec![
                ex(Step::Manifest, Some(401)),
                ex(Step::Token, Some(200)),
                ex(Step::Manifest, Some(200)),
            ],
            None,
        );
        assert!(ok.manifest_resolved() && !ok.manifest_not_found());
        let missing = ev(
            vec![ex(Step::Manifest, Some(404)), ex(Step::Tags, Some(200))],
            Some(0),
        );
        assert!(missing.manifest_not_found() && !missing.manifest_resolved());
        let denied = ev(
            vec![ex(Step::Manifest, Some(401)), ex(Step::Token, Some(403))],
            Some(1),
        );
        assert!(!denied.manifest_not_found() && !denied.manifest_resolved());
        let refused = ev(vec![ex(Step::Manifest, None)], Some(0));
        assert!(!refused.manifest_not_found() && !refused.manifest_resolved());
    }
}
