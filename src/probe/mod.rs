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

pub mod blobs;
pub mod challenge;
pub mod cost;
pub mod evidence;
pub mod http;
pub mod manifest;
pub mod oci_error;
pub mod ratelimit;
pub mod redact;
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Probe settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time limit for each step (connect, each request including its body).
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
}

/// What the `HEAD` of the manifest said.
enum Head {
    /// Not a 2xx: the `GET` that follows reads why.
    Failed,
    /// A 2xx without a usable digest or length: the manifest must be read with `GET`.
    NoDigest,
    /// A 2xx naming the digest.
    Digest {
        digest: String,
        media_type: String,
        size: u64,
    },
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
            ev: Evidence {
                host: host.url.clone(),
                authenticated: !cred.auth.is_anonymous(),
                exchanges: Vec::new(),
                terminal: None,
                repository_exists: None,
                tags_sample: Vec::new(),
                plain_http_confirmed: false,
                manifest: None,
                content_problem: None,
                rate_limit: None,
                warnings: Vec::new(),
                node_platform: self.options.platform.clone(),
                blobs: None,
                manifest_origin: None,
                spent: Default::default(),
                get_refused: None,
            },
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

struct Run<'a> {
    prober: &'a Prober,
    image: &'a ImageRef,
    host: &'a Host,
    ctx: Context<'a>,
    cred: &'a RegistryAuth,
    ev: Evidence,
    auth: Auth,
    /// Every credential value sent so far (scrubbed from the evidence at the end).
    secrets: redact::Secrets,
}

impl Run<'_> {
    fn push(&mut self, ex: Exchange) {
        let pairs: Vec<(&str, &str)> = ex
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(rl) = ratelimit::from_headers(pairs) {
            self.ev.rate_limit = Some(rl);
        }
        self.ev.exchanges.push(ex);
    }

    fn push_terminal(&mut self, ex: Exchange) {
        self.push(ex);
        self.ev.terminal = Some(self.ev.exchanges.len() - 1);
    }

    fn proxy_for(&self, url: &str) -> Option<String> {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| self.prober.clients.proxy().for_url(&u))
    }

    /// A repository URL under the host's API root, with containerd's `ns` for mirrors.
    fn api(&self, path: &str) -> String {
        self.with_ns(format!("{}/{}/{}", self.host.api_base(), self.repo(), path))
    }

    /// The repository on this host (a containers/image mirror may rewrite it).
    fn repo(&self) -> &str {
        self.host
            .repository
            .as_deref()
            .unwrap_or(&self.image.repository)
    }

    fn with_ns(&self, url: String) -> String {
        with_ns(url, self.host.ns.as_deref())
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        step: Step,
        method: reqwest::Method,
        url: String,
        accept: Option<&str>,
    ) -> http::Sent {
        let proxy = self.proxy_for(&url);
        http::send(
            client,
            Request {
                step,
                method,
                url,
                auth: &self.auth,
                accept,
                headers: &self.host.headers,
                range: None,
                form: None,
                proxy,
                timeout: self.prober.options.step_timeout,
                policy: self.prober.policy.as_deref(),
            },
        )
        .await
    }

    /// Records redirect hops and returns the final exchange and response (or records a
    /// terminal transport failure and returns `None`).
    async fn settle(
        &mut self,
        client: &reqwest::Client,
        sent: http::Sent,
    ) -> Option<(Exchange, reqwest::Response)> {
        if let Some(done) = self.record_hops(sent) {
            return Some(done);
        }
        // No response: the failure was recorded last; it ends the probe.
        let last = self.ev.exchanges.last()?;
        let not_tls = last
            .transport
            .as_ref()
            .is_some_and(|t| t.kind == TransportKind::TlsNotTls);
        let url = last.url.clone();
        self.ev.terminal = Some(self.ev.exchanges.len() - 1);
        if not_tls {
            self.check_plain_http(client, &url).await;
        }
        None
    }

    async fn go(&mut self, client: &reqwest::Client) {
        let reference = self.image.manifest_reference().to_string();
        let host_key = self.host.url.clone();
        let repo = self.repo().to_string();
        if let Some(t) = self.prober.tokens.get(&host_key, &repo, self.cred) {
            self.secrets.add(&t);
            self.auth = Auth::Bearer(t);
        }
        let cache_key = (host_key, repo, reference.clone());
        let url = self.api(&format!("manifests/{reference}"));
        // Resolved as containerd resolves: HEAD first (free of Docker Hub's pull count). A GET
        // follows only for a digest this node has never read, or to read why the HEAD failed.
        let Some(head) = self.head(client, &url).await else {
            return;
        };
        let (get_url, expected) = match head {
            Head::Failed => (url, self.image.digest.clone()),
            Head::NoDigest => {
                self.ev.warnings.push(format!(
                    "the registry answered HEAD {url} without a Docker-Content-Digest header (or \
                     without a length), so the manifest was read with GET, as containerd does too; \
                     on Docker Hub every such GET counts as a pull"
                ));
                (url, self.image.digest.clone())
            }
            Head::Digest {
                digest,
                media_type,
                size,
            } => {
                if self
                    .known(client, &cache_key, &digest, &media_type, size)
                    .await
                {
                    self.ev.spent.gets_avoided = 1;
                    return;
                }
                (self.api(&format!("manifests/{digest}")), Some(digest))
            }
        };
        self.get_manifest(client, &get_url, &cache_key, expected)
            .await;
    }

    /// HEAD of the manifest, answering a 401 challenge once. `None`: the probe ended (a
    /// transport failure or a failed token fetch, recorded).
    async fn head(&mut self, client: &reqwest::Client, url: &str) -> Option<Head> {
        let (mut ex, mut resp) = self
            .manifest_request(client, reqwest::Method::HEAD, url)
            .await?;
        if resp.status().as_u16() == 401 {
            let challenge = ex.challenge.clone();
            self.push(ex);
            if !self.authenticate(client, challenge.as_ref()).await {
                // A refused token ended the probe; otherwise the GET reads the registry's why.
                return self.ev.terminal.is_none().then_some(Head::Failed);
            }
            (ex, resp) = self
                .manifest_request(client, reqwest::Method::HEAD, url)
                .await?;
        }
        if resp.status().as_u16() == 429 {
            // Never retried: a GET now would only spend more of the quota that ran out.
            self.push_terminal(ex);
            return None;
        }
        let ok = resp.status().is_success();
        // containerd trusts the header only with a length; a pinned reference is its own digest.
        let header = ex
            .headers
            .get("docker-content-digest")
            .filter(|d| manifest::is_sha256_digest(d))
            .cloned();
        let size = ex
            .headers
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let media_type = ex.headers.get("content-type").cloned().unwrap_or_default();
        self.push(ex);
        Some(match (ok, self.image.digest.clone().or(header), size) {
            (false, _, _) => Head::Failed,
            (true, Some(digest), Some(size)) => Head::Digest {
                digest,
                media_type,
                size,
            },
            (true, _, _) => Head::NoDigest,
        })
    }

    /// Answers from what the node already knows of `digest` (this process's memory, the
    /// runtime's image store, the state directory); `false` when a GET is needed.
    async fn known(
        &mut self,
        client: &reqwest::Client,
        key: &(String, String, String),
        digest: &str,
        media_type: &str,
        size: u64,
    ) -> bool {
        let remembered = self
            .prober
            .manifests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key, Instant::now())
            .filter(|c| c.digest == digest)
            .cloned();
        if let Some(c) = remembered {
            self.ev.manifest_origin = Some(ManifestOrigin::Remembered);
            self.ev.manifest = Some(c.facts);
            self.ev.warnings.extend(c.warnings);
            self.check_blobs(client, &c.blobs, c.layers, c.compressed_bytes)
                .await;
            return true;
        }
        let held = format!("{}@{digest}", self.image.name());
        if self.ctx.held.contains(&held) {
            let node = self.prober.options.platform.clone();
            let index = [manifest::OCI_INDEX, manifest::DOCKER_LIST]
                .iter()
                .any(|t| media_type.starts_with(t));
            self.ev.manifest_origin = Some(ManifestOrigin::Runtime);
            self.ev.manifest = Some(ManifestFacts {
                media_type: crate::bounded::clip(media_type, 255),
                digest: digest.to_string(),
                size,
                kind: if index {
                    ManifestKind::Index
                } else {
                    ManifestKind::Manifest
                },
                platforms: vec![],
                platforms_omitted: 0,
                selected: Some(node),
            });
            return true;
        }
        match self.stored(digest) {
            Some((media_type, body)) => {
                self.ev.manifest_origin = Some(ManifestOrigin::StateDir);
                self.interpret(client, key, digest.to_string(), body, media_type)
                    .await;
                true
            }
            None => false,
        }
    }

    /// The state directory's body for `digest` (verified by hash; an untrusted copy is noted).
    fn stored(&mut self, digest: &str) -> Option<(String, Vec<u8>)> {
        match self.prober.store.as_ref()?.get(digest) {
            store::Lookup::Found { media_type, body } => Some((media_type, body)),
            store::Lookup::Missing => None,
            store::Lookup::Dropped(note) => {
                self.ev.warnings.push(note);
                None
            }
        }
    }

    /// Keeps a body the registry sent (its digest verified) in the state directory.
    fn keep(&mut self, media_type: &str, body: &[u8]) {
        let Some(store) = self.prober.store.as_ref() else {
            return;
        };
        if let Err(e) = store.put(media_type, body) {
            self.ev.warnings.push(format!(
                "{e}; a restarted agent will GET this manifest again"
            ));
        }
    }

    /// GET of the manifest (by the digest the HEAD named, else by the reference); a 401 is
    /// answered once, a 404 followed up with `tags/list`.
    async fn get_manifest(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        key: &(String, String, String),
        expected: Option<String>,
    ) {
        let Some((mut ex, mut resp)) = self
            .manifest_request(client, reqwest::Method::GET, url)
            .await
        else {
            return;
        };
        if resp.status().as_u16() == 401 {
            http::read_error_body(&mut resp, &mut ex).await;
            let challenge = ex.challenge.clone();
            self.push(ex);
            if !self.authenticate(client, challenge.as_ref()).await {
                if self.ev.terminal.is_none() {
                    self.ev.terminal = Some(self.ev.exchanges.len() - 1);
                }
                return;
            }
            let Some(next) = self
                .manifest_request(client, reqwest::Method::GET, url)
                .await
            else {
                return;
            };
            (ex, resp) = next;
        }
        let status = resp.status();
        if status.is_success() {
            self.ev.manifest_origin = Some(ManifestOrigin::Registry);
            self.read_manifest(client, ex, resp, key, expected).await;
            return;
        }
        http::read_error_body(&mut resp, &mut ex).await;
        self.push_terminal(ex);
        if status.as_u16() == 404 {
            self.follow_up_404(client).await;
        }
    }

    /// Counts a manifest request; asks the budget before a GET. `false`: the budget refused
    /// it (recorded; the probe ends).
    fn spend(&mut self, method: &reqwest::Method) -> bool {
        if *method == reqwest::Method::HEAD {
            self.ev.spent.manifest_heads = self.ev.spent.manifest_heads.saturating_add(1);
            return true;
        }
        if let Some(gate) = self.ctx.gets {
            let name = cost::budget_name(&self.image.registry, &self.host.url);
            if let Err(refused) = gate.take_get(&name) {
                self.ev.get_refused = Some(refused);
                return false;
            }
        }
        self.ev.spent.manifest_gets = self.ev.spent.manifest_gets.saturating_add(1);
        true
    }

    async fn manifest_request(
        &mut self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> Option<(Exchange, reqwest::Response)> {
        if !self.spend(&method) {
            return None;
        }
        let sent = self
            .send(
                client,
                Step::Manifest,
                method,
                url.to_string(),
                Some(manifest::ACCEPT),
            )
            .await;
        self.settle(client, sent).await
    }

    /// Answers a 401 challenge; `false` when there is nothing (more) to try. A failed token
    /// fetch marks its last exchange terminal.
    async fn authenticate(
        &mut self,
        client: &reqwest::Client,
        challenge: Option<&challenge::Challenge>,
    ) -> bool {
        if !matches!(self.auth, Auth::None) {
            return false; // credentials or a token were already sent and refused
        }
        match challenge {
            Some(ch) if ch.is_bearer() => {
                let Some(realm) = ch.realm.clone() else {
                    return false;
                };
                let mut scopes = vec![format!("repository:{}:pull", self.repo())];
                if let Some(s) = &ch.scope {
                    if !scopes.contains(s) && s.starts_with("repository:") {
                        scopes.push(s.clone());
                    }
                }
                let request = token::TokenRequest {
                    host: &self.host.url,
                    repo: self.repo(),
                    realm: &realm,
                    service: ch.service.as_deref(),
                    scopes,
                    cred: self.cred,
                    proxy: self.proxy_for(&realm),
                    timeout: self.prober.options.step_timeout,
                    policy: self.prober.policy.as_deref(),
                };
                let mut out = Vec::new();
                let token = self.prober.tokens.fetch(client, request, &mut out).await;
                for ex in out {
                    self.push(ex);
                }
                match token {
                    Some(t) => {
                        self.secrets.add(&t);
                        self.auth = Auth::Bearer(t);
                        true
                    }
                    None => {
                        self.ev.terminal = Some(self.ev.exchanges.len() - 1);
                        false
                    }
                }
            }
            Some(ch) if ch.scheme == "basic" && !self.cred.is_anonymous() => {
                self.auth = Auth::Basic(self.cred.clone());
                true
            }
            _ => false,
        }
    }

    /// Reads a manifest body (bounded) after a 2xx and checks it against `digest` (or the
    /// announced digest, else computes it); records the exchange. `None`: a terminal problem
    /// was recorded.
    async fn read_body(
        &mut self,
        mut ex: Exchange,
        mut resp: reqwest::Response,
        digest: Option<String>,
    ) -> Option<(String, Vec<u8>, String)> {
        let content_type = ex.headers.get("content-type").cloned().unwrap_or_default();
        let body = match http::read_limited(&mut resp, manifest::MANIFEST_LIMIT).await {
            Ok(b) => b,
            Err(http::BodyError::TooLarge) => {
                ex.note = Some(format!(
                    "manifest larger than the {} MiB limit",
                    manifest::MANIFEST_LIMIT / (1024 * 1024)
                ));
                self.push_terminal(ex);
                self.ev.content_problem = Some(ContentProblem::TooLarge {
                    limit: manifest::MANIFEST_LIMIT as u64,
                });
                return None;
            }
            Err(http::BodyError::Transport(t)) => {
                ex.transport = Some(t);
                self.push_terminal(ex);
                return None;
            }
        };
        let expected = digest.or_else(|| ex.headers.get("docker-content-digest").cloned());
        let digest = match expected
            .as_deref()
            .map(|d| manifest::verify_digest(&body, d))
        {
            Some(Err(p)) => {
                self.push_terminal(ex);
                self.ev.content_problem = Some(p);
                return None;
            }
            Some(Ok(d)) => d,
            None => manifest::sha256(&body),
        };
        self.push(ex);
        Some((digest, body, content_type))
    }

    /// Ends the probe on a content problem found in the last exchange.
    fn content_failure(&mut self, problem: ContentProblem) {
        self.ev.terminal = self.ev.exchanges.len().checked_sub(1);
        self.ev.content_problem = Some(problem);
    }

    /// Reads the manifest body of a 2xx GET (bounded, checked against `expected` or the
    /// announced digest), keeps it in the state directory, and goes on from it.
    async fn read_manifest(
        &mut self,
        client: &reqwest::Client,
        ex: Exchange,
        resp: reqwest::Response,
        key: &(String, String, String),
        expected: Option<String>,
    ) {
        let Some((digest, body, content_type)) = self.read_body(ex, resp, expected).await else {
            return;
        };
        self.keep(&content_type, &body);
        self.interpret(client, key, digest, body, content_type)
            .await;
    }

    /// What a manifest body (from the registry or the state directory) means for this node:
    /// the platform an index selects, its manifest and config, then the blob path. Remembered
    /// for the next probe whatever the blobs say.
    async fn interpret(
        &mut self,
        client: &reqwest::Client,
        key: &(String, String, String),
        digest: String,
        body: Vec<u8>,
        content_type: String,
    ) {
        let (kind, media_type, parsed) = match manifest::parse(&content_type, &body) {
            Ok(p) => p,
            Err(p) => return self.content_failure(p),
        };
        let size = body.len() as u64;
        drop(body);
        let node = self.prober.options.platform.clone();
        let mut facts = ManifestFacts {
            media_type,
            digest: digest.clone(),
            size,
            kind,
            platforms: vec![],
            platforms_omitted: 0,
            selected: None,
        };
        let (image, config_read) = match parsed {
            manifest::Parsed::Index(entries) => {
                (facts.platforms, facts.platforms_omitted) =
                    manifest::listed_platforms(entries.iter().filter_map(|e| e.platform.as_ref()));
                let Some((platform, entry)) = manifest::select(&node, &entries) else {
                    self.ev.manifest = Some(facts);
                    return self.content_failure(ContentProblem::PlatformMissing { wanted: node });
                };
                facts.selected = Some(platform);
                let descriptor = entry.descriptor.clone();
                drop(entries);
                self.ev.manifest = Some(facts.clone());
                let Some(image) = self.read_platform_manifest(client, &descriptor).await else {
                    return;
                };
                let Some((_, read)) = self.read_config(client, &image.config.digest).await else {
                    return;
                };
                (image, read)
            }
            manifest::Parsed::Manifest(image) => {
                let Some((platform, read)) = self.read_config(client, &image.config.digest).await
                else {
                    return;
                };
                if !node.accepts(&platform) {
                    self.ev.warnings.push(format!(
                        "single-platform image built for {platform}; this node is {node}: containerd pulls it, \
                         but the container will fail with \"exec format error\""
                    ));
                }
                facts.selected = node.accepts(&platform).then(|| platform.clone());
                (facts.platforms, facts.platforms_omitted) =
                    manifest::listed_platforms([&platform]);
                (image, read)
            }
        };
        self.ev.manifest = Some(facts.clone());
        let (layers, total) = match image.blobs() {
            Ok(b) => b,
            Err(p) => return self.content_failure(p),
        };
        let config = manifest::BlobRef {
            digest: image.config.digest.clone(),
            media_type: image.config.media_type.clone(),
            size: u64::try_from(image.config.size).unwrap_or(0),
        };
        if config_read {
            // The config was just read in full from the registry: it is reachable.
            let storage = self
                .ev
                .exchanges
                .iter()
                .rev()
                .find(|x| x.step == Step::Config)
                .and_then(|x| blobs::storage_host(&self.host.url, &x.url));
            self.prober
                .blobs
                .put(self.blob_key(&config.digest), storage.as_deref());
        }
        let layer_count = layers.len();
        let mut to_check = Vec::with_capacity(layer_count.min(blobs::MAX_CHECKED) + 1);
        to_check.push(config);
        to_check.extend(layers.into_iter().take(blobs::MAX_CHECKED));
        let cached = CachedManifest {
            digest,
            facts,
            warnings: self.ev.warnings.clone(),
            blobs: to_check,
            layers: layer_count,
            compressed_bytes: total,
        };
        self.check_blobs(client, &cached.blobs, layer_count, total)
            .await;
        // Kept whatever the blobs said: the warm path checks them again by HEAD + blob cache.
        let weight = cached.weight() + key.0.len() + key.1.len() + key.2.len();
        let now = Instant::now();
        self.prober
            .manifests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key.clone(),
                cached,
                weight,
                now.checked_add(MANIFEST_KEPT).unwrap_or(now),
                now,
            );
    }

    /// GET of the platform manifest an index names, by digest (containerd asks the hosts with
    /// `pull`; the resolving host here).
    async fn read_platform_manifest(
        &mut self,
        client: &reqwest::Client,
        descriptor: &manifest::Descriptor,
    ) -> Option<manifest::Image> {
        if !manifest::is_sha256_digest(&descriptor.digest) {
            self.content_failure(ContentProblem::Malformed {
                detail: format!(
                    "the index names a platform manifest with an invalid digest {:?}",
                    descriptor.digest.chars().take(80).collect::<String>()
                ),
            });
            return None;
        }
        let (body, content_type) = match self.stored(&descriptor.digest) {
            Some((media_type, body)) => (body, media_type),
            None => {
                if !self.spend(&reqwest::Method::GET) {
                    return None;
                }
                let url = self.api(&format!("manifests/{}", descriptor.digest));
                let sent = self
                    .send(
                        client,
                        Step::PlatformManifest,
                        reqwest::Method::GET,
                        url,
                        Some(manifest::ACCEPT),
                    )
                    .await;
                let (mut ex, mut resp) = self.settle(client, sent).await?;
                if !resp.status().is_success() {
                    http::read_error_body(&mut resp, &mut ex).await;
                    self.push_terminal(ex);
                    return None;
                }
                let (_, body, content_type) = self
                    .read_body(ex, resp, Some(descriptor.digest.clone()))
                    .await?;
                self.keep(&content_type, &body);
                (body, content_type)
            }
        };
        let content_type = if content_type.is_empty() {
            descriptor.media_type.clone()
        } else {
            content_type
        };
        match manifest::parse(&content_type, &body) {
            Ok((_, _, manifest::Parsed::Manifest(image))) => Some(image),
            Ok((_, _, manifest::Parsed::Index(_))) => {
                self.content_failure(ContentProblem::Malformed {
                    detail: "the index names another index for this platform".into(),
                });
                None
            }
            Err(p) => {
                self.content_failure(p);
                None
            }
        }
    }

    /// This blob's cache key for this host, repository and credential.
    fn blob_key(&self, digest: &str) -> [u8; 32] {
        blobs::key(&self.host.url, self.repo(), digest, self.cred)
    }

    /// Checks the blobs the runtime will fetch (config first, then the layers) that are not
    /// known good; records the facts, and the first failure as terminal.
    async fn check_blobs(
        &mut self,
        client: &reqwest::Client,
        wanted: &[manifest::BlobRef],
        layers: usize,
        compressed_bytes: u64,
    ) {
        let mut facts = BlobFacts {
            layers,
            compressed_bytes,
            unchecked: layers.saturating_sub(blobs::MAX_CHECKED),
            ..BlobFacts::default()
        };
        let mut hosts: Vec<String> = Vec::new();
        let add_host = |hosts: &mut Vec<String>, h: Option<String>| {
            if let Some(h) = h {
                if !hosts.contains(&h) && hosts.len() < 8 {
                    hosts.push(h);
                }
            }
        };
        let mut todo = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // A blob named twice is fetched once (by digest), so it is checked once.
        for b in wanted.iter().filter(|b| seen.insert(b.digest.as_str())) {
            let key = self.blob_key(&b.digest);
            match self.prober.blobs.get(&key) {
                Some(storage) => {
                    facts.cached += 1;
                    add_host(&mut hosts, storage);
                }
                None => todo.push((key, self.api(&format!("blobs/{}", b.digest)))),
            }
        }
        let urls = todo.iter().map(|(_, u)| u.clone()).collect();
        let target = blobs::Target {
            client,
            auth: &self.auth,
            headers: &self.host.headers,
            timeout: self.prober.options.step_timeout,
            policy: self.prober.policy.as_deref(),
            proxy: self.prober.clients.proxy(),
            registry: &self.host.url,
        };
        let answers = blobs::check_all(&target, urls).await;
        let mut skew = blobs::clock_skew(
            self.ev
                .exchanges
                .iter()
                .chain(answers.iter().flat_map(|a| a.exchanges.iter())),
        );
        let mut shown = false;
        for ((key, _), answer) in todo.iter().zip(answers) {
            facts.checked += 1;
            if answer.ok {
                self.prober.blobs.put(*key, answer.storage.as_deref());
                add_host(&mut hosts, answer.storage);
                // The first layer's exchanges show the path (redirect hops, storage answer).
                if !shown {
                    shown = true;
                    for ex in answer.exchanges {
                        self.push(ex);
                    }
                }
                continue;
            }
            add_host(&mut hosts, answer.storage);
            for ex in answer.exchanges {
                self.push(ex);
            }
            self.ev.terminal = self.ev.exchanges.len().checked_sub(1);
        }
        facts.storage_hosts = hosts;
        facts.clock_skew = skew.take();
        self.ev.blobs = Some(facts);
    }

    /// The image config's platform, from the state directory or read in full from the
    /// registry (`true`: read now, so the config blob is reachable).
    async fn read_config(
        &mut self,
        client: &reqwest::Client,
        digest: &str,
    ) -> Option<(Platform, bool)> {
        if let Some((_, body)) = self.stored(digest) {
            match manifest::config_platform(&body) {
                Ok(p) => return Some((p, false)),
                Err(p) => {
                    self.content_failure(p);
                    return None;
                }
            }
        }
        let url = self.api(&format!("blobs/{digest}"));
        let sent = self
            .send(client, Step::Config, reqwest::Method::GET, url, None)
            .await;
        let (mut ex, mut resp) = self.settle(client, sent).await?;
        if !resp.status().is_success() {
            http::read_error_body(&mut resp, &mut ex).await;
            self.push_terminal(ex);
            return None;
        }
        let problem = match http::read_limited(&mut resp, manifest::CONFIG_LIMIT).await {
            Ok(body) => match manifest::verify_digest(&body, digest)
                .and_then(|_| manifest::config_platform(&body))
            {
                Ok(p) => {
                    self.push(ex);
                    self.keep(IMAGE_CONFIG_TYPE, &body);
                    return Some((p, true));
                }
                Err(p) => p,
            },
            Err(http::BodyError::TooLarge) => ContentProblem::TooLarge {
                limit: manifest::CONFIG_LIMIT as u64,
            },
            Err(http::BodyError::Transport(t)) => {
                ex.transport = Some(t);
                self.push_terminal(ex);
                return None;
            }
        };
        self.push_terminal(ex);
        self.ev.content_problem = Some(problem);
        None
    }

    /// After a manifest 404: does the repository exist (`tags/list`), and is this a registry at all?
    async fn follow_up_404(&mut self, client: &reqwest::Client) {
        let terminal = self.ev.terminal_exchange().cloned();
        if terminal
            .as_ref()
            .is_some_and(|t| t.has_code("NAME_UNKNOWN"))
        {
            self.ev.repository_exists = Some(false);
            return;
        }
        let url = self.api("tags/list?n=20");
        let sent = self
            .send(
                client,
                Step::Tags,
                reqwest::Method::GET,
                url,
                Some("application/json"),
            )
            .await;
        let Some((mut ex, mut resp)) = self.record_hops(sent) else {
            return;
        };
        let status = resp.status().as_u16();
        if status == 200 {
            if let Ok(body) = http::read_limited(&mut resp, 256 * 1024).await {
                #[derive(serde::Deserialize)]
                struct Tags {
                    tags: Option<Vec<String>>,
                }
                if let Ok(t) = serde_json::from_slice::<Tags>(&body) {
                    self.ev.repository_exists = Some(true);
                    self.ev.tags_sample = t.tags.unwrap_or_default().into_iter().take(10).collect();
                }
            }
        } else {
            http::read_error_body(&mut resp, &mut ex).await;
            if status == 404 && ex.has_code("NAME_UNKNOWN") {
                self.ev.repository_exists = Some(false);
            }
        }
        let bare_404 = status == 404
            && ex.oci_errors.is_empty()
            && terminal.as_ref().is_some_and(|t| t.oci_errors.is_empty());
        self.push(ex);
        if bare_404 {
            self.ping(client).await;
        }
    }

    /// Records redirect hops; returns the final exchange (not yet recorded) and response, or
    /// records the failed exchange and returns `None`.
    fn record_hops(&mut self, sent: http::Sent) -> Option<(Exchange, reqwest::Response)> {
        let http::Sent {
            mut exchanges,
            response,
        } = sent;
        let last = exchanges.pop()?;
        for ex in exchanges {
            self.push(ex);
        }
        match response {
            Some(r) => Some((last, r)),
            None => {
                self.push(last);
                None
            }
        }
    }

    /// `GET /v2/`: is there a registry API here at all?
    async fn ping(&mut self, client: &reqwest::Client) {
        let url = self.with_ns(format!("{}/", self.host.api_base()));
        let sent = self
            .send(client, Step::Ping, reqwest::Method::GET, url, None)
            .await;
        if let Some((mut ex, mut resp)) = self.record_hops(sent) {
            http::read_error_body(&mut resp, &mut ex).await;
            self.push(ex);
        }
    }

    /// After a TLS failure that looked like plain HTTP, ask the same port over http://.
    async fn check_plain_http(&mut self, client: &reqwest::Client, https_url: &str) {
        let Ok(mut url) = reqwest::Url::parse(https_url) else {
            return;
        };
        if url.scheme() != "https" || url.set_scheme("http").is_err() {
            return;
        }
        if url.port().is_none() {
            let _ = url.set_port(Some(443));
        }
        url.set_path("/v2/");
        url.set_query(None);
        let saved = std::mem::replace(&mut self.auth, Auth::None);
        let sent = self
            .send(
                client,
                Step::PlainHttpCheck,
                reqwest::Method::GET,
                url.to_string(),
                None,
            )
            .await;
        self.auth = saved;
        if let Some((mut ex, _resp)) = self.record_hops(sent) {
            self.ev.plain_http_confirmed = true;
            ex.note = Some("the registry answers plain HTTP on its HTTPS port".into());
            self.push(ex);
        }
    }
}

/// containerd adds `ns=<image registry>` (query-escaped) to every request it sends to a mirror.
fn with_ns(url: String, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}ns={}", http::urlencode(ns))
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_query_for_mirrors_only() {
        let u = |s: &str| s.to_string();
        assert_eq!(
            with_ns(u("https://r/v2/a/manifests/1"), None),
            "https://r/v2/a/manifests/1"
        );
        assert_eq!(
            with_ns(u("https://m/v2/a/manifests/1"), Some("docker.io")),
            "https://m/v2/a/manifests/1?ns=docker.io"
        );
        assert_eq!(
            with_ns(u("https://m/v2/a/tags/list?n=20"), Some("localhost:5000")),
            "https://m/v2/a/tags/list?n=20&ns=localhost%3A5000"
        );
    }
}
