//! The manifest path of one probe: the `HEAD` that names the digest, what the prober already
//! knows of it (remembered, the state directory, the runtime's store), the `GET` when it must
//! be read (asked of the registry's budget first), reading the body within bounds, and what the
//! manifest says: index → the platform's manifest, schema checks, media types.

use super::run::Run;
use super::*;

/// What the `HEAD` of the manifest said.
pub(super) enum Head {
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

impl Run<'_> {
    /// HEAD of the manifest, answering a 401 challenge once. `None`: the probe ended (a
    /// transport failure or a failed token fetch, recorded).
    pub(super) async fn head(&mut self, client: &reqwest::Client, url: &str) -> Option<Head> {
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
    pub(super) async fn known(
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
    pub(super) fn stored(&mut self, digest: &str) -> Option<(String, Vec<u8>)> {
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
    pub(super) fn keep(&mut self, media_type: &str, body: &[u8]) {
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
    pub(super) async fn get_manifest(
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
    pub(super) fn spend(&mut self, method: &reqwest::Method) -> bool {
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

    pub(super) async fn manifest_request(
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

    /// Reads a manifest body (bounded) after a 2xx and checks it against `digest` (or the
    /// announced digest, else computes it); records the exchange. `None`: a terminal problem
    /// was recorded.
    pub(super) async fn read_body(
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
    pub(super) fn content_failure(&mut self, problem: ContentProblem) {
        self.ev.terminal = self.ev.exchanges.len().checked_sub(1);
        self.ev.content_problem = Some(problem);
    }

    /// Reads the manifest body of a 2xx GET (bounded, checked against `expected` or the
    /// announced digest), keeps it in the state directory, and goes on from it.
    pub(super) async fn read_manifest(
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
    pub(super) async fn interpret(
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
        if !self.host.fetches_empty_blobs {
            if let Some(p) = manifest::zero_size(&image) {
                return self.content_failure(p);
            }
        }
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
    pub(super) async fn read_platform_manifest(
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
        if descriptor.size == 0 && !self.host.fetches_empty_blobs {
            self.content_failure(ContentProblem::Malformed {
                detail: format!(
                    "the index names platform manifest {} with a size of 0: {}",
                    descriptor.digest,
                    manifest::ZERO_SIZE
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
}
