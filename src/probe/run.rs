//! One probe of one host with one credential ([`Run`]): the exchanges in containerd's order
//! — the manifest (HEAD, then GET when the digest is not known), the challenge round, the
//! platform manifest, the config and the layers — each recorded as it is sent, redirect hops
//! included, and the follow-ups that tell causes apart (`tags/list` after a 404, `/v2/` and a
//! plain-HTTP check after a TLS failure). The steps live beside it: [`super::fetch`] (the
//! manifest path), [`super::auth_flow`] (the challenge) and [`super::blob_check`] (config and
//! layers).

use super::fetch::Head;
use super::*;

/// The state of one probe: what has been sent and heard so far.
pub(super) struct Run<'a> {
    pub(super) prober: &'a Prober,
    pub(super) image: &'a ImageRef,
    pub(super) host: &'a Host,
    pub(super) ctx: Context<'a>,
    pub(super) cred: &'a RegistryAuth,
    pub(super) ev: Evidence,
    pub(super) auth: Auth,
    /// Every credential value sent so far (scrubbed from the evidence at the end).
    pub(super) secrets: redact::Secrets,
}

impl Run<'_> {
    pub(super) fn push(&mut self, ex: Exchange) {
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

    pub(super) fn push_terminal(&mut self, ex: Exchange) {
        self.push(ex);
        self.ev.terminal = Some(self.ev.exchanges.len() - 1);
    }

    pub(super) fn proxy_for(&self, url: &str) -> Option<String> {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| self.prober.clients.proxy().for_url(&u))
    }

    /// A repository URL under the host's API root, with containerd's `ns` for mirrors.
    pub(super) fn api(&self, path: &str) -> String {
        self.with_ns(format!("{}/{}/{}", self.host.api_base(), self.repo(), path))
    }

    /// The repository on this host (a containers/image mirror may rewrite it).
    pub(super) fn repo(&self) -> &str {
        self.host
            .repository
            .as_deref()
            .unwrap_or(&self.image.repository)
    }

    /// The limit of the next step: the step's own, and what is left of the probe's deadline.
    pub(super) fn limit(&self) -> limit::Limit {
        limit::Limit {
            step: self.prober.options.step_timeout,
            until: self.ctx.deadline,
        }
    }

    pub(super) fn with_ns(&self, url: String) -> String {
        with_ns(url, self.host.ns.as_deref())
    }

    pub(super) async fn send(
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
                limit: self.limit(),
                policy: self.prober.policy.as_deref(),
            },
        )
        .await
    }

    /// Records redirect hops and returns the final exchange and response (or records a
    /// terminal transport failure and returns `None`).
    pub(super) async fn settle(
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

    pub(super) async fn go(&mut self, client: &reqwest::Client) {
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

    /// After a manifest 404: does the repository exist (`tags/list`), and is this a registry at all?
    pub(super) async fn follow_up_404(&mut self, client: &reqwest::Client) {
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
    pub(super) fn record_hops(
        &mut self,
        sent: http::Sent,
    ) -> Option<(Exchange, reqwest::Response)> {
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
    pub(super) async fn ping(&mut self, client: &reqwest::Client) {
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
    pub(super) async fn check_plain_http(&mut self, client: &reqwest::Client, https_url: &str) {
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
