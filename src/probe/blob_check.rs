//! The config and layer blobs of the selected manifest: the config (its architecture and OS
//! against the platform), then each layer's first byte (8 at a time, redirects to the storage
//! host followed), skipping blobs checked within the hour.

use super::run::Run;
use super::*;

impl Run<'_> {
    /// This blob's cache key for this host, repository and credential.
    pub(super) fn blob_key(&self, digest: &str) -> [u8; 32] {
        blobs::key(&self.host.url, self.repo(), digest, self.cred)
    }

    /// Checks the blobs the runtime will fetch (config first, then the layers) that are not
    /// known good; records the facts, and the first failure as terminal.
    pub(super) async fn check_blobs(
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
            limit: self.limit(),
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
    pub(super) async fn read_config(
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
}
