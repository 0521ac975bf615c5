//! What the registry says, as containerd would hear it: manifest request (anonymous first,
//! then the challenge's scheme), token fetch, `tags/list` to tell a missing tag from a missing
//! repository, index → platform → the platform's manifest, config → architecture, then every
//! layer blob's first byte, redirects to the storage host followed ([`blobs`]). Every exchange
//! becomes [`Evidence`]; a 401 or a TLS failure is evidence, not an `Err`.
//!
//! Requests per cold probe: manifest GET (+ challenge round: token + retry) (+ the platform
//! manifest for an index) + config blob + one round of layer checks (N layers, 8 at a time,
//! each `Range: bytes=0-0`, plus its redirect hops). A warm probe (token cached, digest known,
//! blobs checked within the hour) is one HEAD.

mod auth_flow;
mod blob_check;
pub mod blobs;
pub mod challenge;
pub mod cost;
pub mod evidence;
mod fetch;
mod go_json;
pub mod http;
pub mod limit;
pub mod manifest;
pub mod oci_error;
pub mod ratelimit;
pub mod redact;
mod run;
pub mod store;
pub mod token;

pub use evidence::{
    BlobFacts, ClockSkew, ContentProblem, Evidence, Exchange, ManifestFacts, ManifestKind,
    ManifestOrigin, Step,
};

use crate::endpoints::Host;
use crate::identity::{Credential, RegistryAuth};
use crate::net::client::Clients;
use crate::net::policy::AddressPolicy;
use crate::net::proxy::ProxyEnv;
use crate::net::transport::TransportKind;
use crate::platform::Platform;
use crate::reference::ImageRef;
use http::{Auth, Request};
use run::Run;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Probe settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time limit for one probe's registry exchanges together (`--timeout`): each step (a
    /// request with its redirect hops and body) gets at most this, and what is left of the
    /// probe's deadline when [`Context::deadline`] is set.
    pub step_timeout: Duration,
    /// The platform the node pulls for.
    pub platform: Platform,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step_timeout: Duration::from_secs(10),
            platform: Platform::host(),
        }
    }
}

/// The media type a config body is kept under (the state directory stores bodies by digest).
const IMAGE_CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// Most bytes the remembered manifests may take (their strings and layer lists).
pub const MANIFEST_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// How long a remembered manifest stands (a warm probe checks its digest by HEAD anyway).
const MANIFEST_KEPT: Duration = Duration::from_secs(24 * 3600);

/// What a manifest (and its platform manifest and config) told, kept by reference and checked
/// again by the digest a `HEAD` returns.
#[derive(Clone)]
struct CachedManifest {
    digest: String,
    facts: ManifestFacts,
    warnings: Vec<String>,
    /// The blobs to check on the warm path: config first, then the layers (at most
    /// [`blobs::MAX_CHECKED`] of them).
    blobs: Vec<manifest::BlobRef>,
    /// Layers the manifest names, and config + layer sizes.
    layers: usize,
    compressed_bytes: u64,
}

impl CachedManifest {
    /// Bytes held, roughly (strings and the layer list).
    fn weight(&self) -> usize {
        let strings = self.digest.len()
            + self.facts.media_type.len()
            + self.facts.digest.len()
            + self.warnings.iter().map(String::len).sum::<usize>();
        let blobs: usize = self
            .blobs
            .iter()
            .map(|b| b.digest.len() + b.media_type.len() + 8)
            .sum();
        let platforms = self.facts.platforms.len() * 64;
        strings + blobs + platforms + 256
    }
}

/// Manifests by host × repository × reference, bounded in bytes.
type ManifestCache = crate::bounded::ByteMap<(String, String, String), CachedManifest>;

/// Probes registries; keeps clients, tokens and manifests (by digest) between probes.
pub struct Prober {
    options: Options,
    clients: Clients,
    policy: Option<Arc<dyn AddressPolicy>>,
    tokens: token::TokenCache,
    manifests: Mutex<ManifestCache>,
    blobs: blobs::BlobCache,
    store: Option<Arc<store::Store>>,
    ledger: cost::Ledger,
}

/// What one probe knows beyond the prober's own state: the node's runtime and the budget.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// The runtime's repo digests of this image (`name@sha256:…`, CRI `ImageStatus`): a digest
    /// among them is unpacked on this node already, and its pull fetches no layer.
    pub held: &'a [String],
    /// Asked before each manifest `GET`.
    pub gets: Option<&'a dyn cost::GetGate>,
    /// When the whole probe (every host and credential it tries) must be done
    /// ([`limit::Limit`]).
    pub deadline: Option<Instant>,
}

impl Prober {
    /// A prober with proxies from pullcheck's own environment.
    pub fn new(options: Options) -> Self {
        Self::with_proxy(options, ProxyEnv::from_env())
    }

    /// A prober with the given proxy settings (e.g. containerd's, from
    /// [`endpoints::runtime_proxy::detect`](crate::endpoints::runtime_proxy::detect)).
    pub fn with_proxy(options: Options, proxy: ProxyEnv) -> Self {
        let clients = Clients::new(options.step_timeout, proxy);
        Prober {
            options,
            clients,
            policy: None,
            tokens: token::TokenCache::default(),
            manifests: Mutex::new(ManifestCache::new(MANIFEST_CACHE_BYTES)),
            blobs: blobs::BlobCache::default(),
            store: None,
            ledger: cost::Ledger::default(),
        }
    }

    /// Keeps the manifest and config bodies read in the node's state directory, and reads
    /// them from there by the digest a `HEAD` names (`--state-dir`).
    pub fn with_store(mut self, store: Arc<store::Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The state directory in use.
    pub fn store(&self) -> Option<&store::Store> {
        self.store.as_deref()
    }

    /// Manifest requests sent so far, per registry host.
    pub fn spent(&self) -> Vec<cost::HostSpent> {
        self.ledger.totals()
    }

    /// Connects only to addresses `policy` allows, for every request, redirect and token
    /// realm (the agent's registry policy).
    pub fn with_policy(mut self, policy: Arc<dyn AddressPolicy>) -> Self {
        self.clients.set_policy(policy.clone());
        self.policy = Some(policy);
        self
    }

    /// The settings in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The proxy settings requests go through, and where they came from.
    pub fn proxy(&self) -> &ProxyEnv {
        self.clients.proxy()
    }

    /// Probes one host of the registry with one credential.
    pub async fn probe(&self, image: &ImageRef, host: &Host, cred: &Credential) -> Evidence {
        self.probe_in(image, host, cred, Context::default()).await
    }

    /// Probes one host of the registry with one credential, knowing what `ctx` tells.
    pub async fn probe_in(
        &self,
        image: &ImageRef,
        host: &Host,
        cred: &Credential,
        ctx: Context<'_>,
    ) -> Evidence {
        let mut run = Run {
            prober: self,
            image,
            host,
            ctx,
            cred: &cred.auth,
            ev: Evidence::new(
                host.url.clone(),
                !cred.auth.is_anonymous(),
                self.options.platform.clone(),
            ),
            auth: Auth::None,
            secrets: redact::Secrets::of(&cred.auth),
        };
        match self.clients.get(&host.tls, host.dial_timeout) {
            Ok(c) => run.go(&c).await,
            Err(e) => {
                let mut ex = Exchange::new(Step::Manifest, "GET", &host.url, "none");
                ex.transport = Some(crate::net::transport::TransportFailure {
                    kind: TransportKind::TlsOther,
                    message: e.to_string(),
                });
                run.push_terminal(ex);
            }
        }
        // Nothing a registry echoed of the credentials leaves the prober.
        run.secrets.scrub_evidence(&mut run.ev);
        self.ledger.record(&host.url, &run.ev.spent);
        run.ev
    }
}
