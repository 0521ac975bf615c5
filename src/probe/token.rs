//! Bearer tokens fetched the way containerd fetches them: with credentials, OAuth2 POST
//! (password grant) first and GET with Basic auth as the fallback on 400/401/404/405; without,
//! an anonymous GET. Tokens are cached per registry × repository × credential.

use super::evidence::{Exchange, Step};
use super::http::{self, Auth, Request};
use super::policy::AddressPolicy;
use crate::identity::RegistryAuth;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOKEN_BODY_LIMIT: usize = 1024 * 1024;

/// (host, repository, credential key) → (token, expiry).
type TokenMap = HashMap<(String, String, u64), (String, Instant)>;

/// Cached tokens, never logged or serialised.
#[derive(Default)]
pub struct TokenCache {
    map: Mutex<TokenMap>,
}

impl TokenCache {
    /// A cached, unexpired token for host × repository × credential.
    pub fn get(&self, host: &str, repo: &str, cred: &RegistryAuth) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(host.to_string(), repo.to_string(), cred.cache_key()))
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(t, _)| t.clone())
    }

    fn put(&self, host: &str, repo: &str, cred: &RegistryAuth, token: String, ttl: Duration) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 4096 {
            map.retain(|_, (_, exp)| *exp > Instant::now());
        }
        map.insert(
            (host.to_string(), repo.to_string(), cred.cache_key()),
            (token, Instant::now() + ttl),
        );
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Inputs of one token fetch.
pub struct TokenRequest<'a> {
    /// The registry host URL (cache key).
    pub host: &'a str,
    /// Repository (cache key and scope).
    pub repo: &'a str,
    /// The challenge's realm.
    pub realm: &'a str,
    /// The challenge's service.
    pub service: Option<&'a str>,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// The credential.
    pub cred: &'a RegistryAuth,
    /// Proxy in use for the realm.
    pub proxy: Option<String>,
    /// Step timeout.
    pub timeout: Duration,
    /// Addresses that must not be connected to.
    pub policy: Option<&'a dyn AddressPolicy>,
}

impl TokenCache {
    /// Fetches a token, recording each exchange; `None` when it failed (the last exchange says how).
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        req: TokenRequest<'_>,
        out: &mut Vec<Exchange>,
    ) -> Option<String> {
        let realm = match reqwest::Url::parse(req.realm) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                let mut ex = Exchange::new(Step::Token, "GET", req.realm, "none");
                ex.note = Some(format!(
                    "the registry's Bearer realm {:?} is not an http(s) URL",
                    req.realm
                ));
                out.push(ex);
                return None;
            }
        };
        let (token, ttl) = if let RegistryAuth::Basic { username, password } = req.cred {
            let mut form = vec![
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), username.clone()),
                ("password".to_string(), password.clone()),
                ("client_id".to_string(), "pullcheck".to_string()),
                ("scope".to_string(), req.scopes.join(" ")),
            ];
            if let Some(s) = req.service {
                form.push(("service".to_string(), s.to_string()));
            }
            let post = http::send(
                client,
                Request {
                    step: Step::Token,
                    method: reqwest::Method::POST,
                    url: realm.to_string(),
                    auth: &Auth::None,
                    accept: Some("application/json"),
                    headers: &[],
                    range: None,
                    form: Some(form),
                    proxy: req.proxy.clone(),
                    timeout: req.timeout,
                    policy: req.policy,
                },
            )
            .await;
            match self.finish(post, out).await {
                Ok(t) => t,
                Err(Some(400 | 401 | 404 | 405)) => {
                    let get = self
                        .request_get(client, &realm, &req, &Auth::Basic(req.cred.clone()))
                        .await;
                    self.finish(get, out).await.ok()?
                }
                Err(_) => return None,
            }
        } else {
            let get = self.request_get(client, &realm, &req, &Auth::None).await;
            self.finish(get, out).await.ok()?
        };
        self.put(req.host, req.repo, req.cred, token.clone(), ttl);
        Some(token)
    }

    async fn request_get(
        &self,
        client: &reqwest::Client,
        realm: &reqwest::Url,
        req: &TokenRequest<'_>,
        auth: &Auth,
    ) -> http::Sent {
        let mut url = realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = req.service {
                q.append_pair("service", s);
            }
            for s in &req.scopes {
                q.append_pair("scope", s);
            }
        }
        http::send(
            client,
            Request {
                step: Step::Token,
                method: reqwest::Method::GET,
                url: url.to_string(),
                auth,
                accept: Some("application/json"),
                headers: &[],
                range: None,
                form: None,
                proxy: req.proxy.clone(),
                timeout: req.timeout,
                policy: req.policy,
            },
        )
        .await
    }

    /// Reads a token reply. `Err(Some(status))` for an HTTP failure, `Err(None)` otherwise.
    async fn finish(
        &self,
        sent: http::Sent,
        out: &mut Vec<Exchange>,
    ) -> Result<(String, Duration), Option<u16>> {
        let http::Sent {
            mut exchanges,
            response,
        } = sent;
        let Some(mut resp) = response else {
            out.append(&mut exchanges);
            return Err(None);
        };
        let mut ex = exchanges.pop().expect("a response has an exchange");
        out.append(&mut exchanges);
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            http::read_error_body(&mut resp, &mut ex).await;
            out.push(ex);
            return Err(Some(status));
        }
        let parsed = match http::read_limited(&mut resp, TOKEN_BODY_LIMIT).await {
            Ok(body) => serde_json::from_slice::<TokenResponse>(&body)
                .map_err(|e| format!("token reply is not JSON: {e}")),
            Err(http::BodyError::TooLarge) => {
                Err(format!("token reply larger than {TOKEN_BODY_LIMIT} bytes"))
            }
            Err(http::BodyError::Transport(t)) => {
                ex.transport = Some(t);
                out.push(ex);
                return Err(None);
            }
        };
        match parsed {
            Ok(t) if !t.token.is_empty() || !t.access_token.is_empty() => {
                let token = if t.token.is_empty() {
                    t.access_token
                } else {
                    t.token
                };
                let ttl = Duration::from_secs(t.expires_in.unwrap_or(60).max(1))
                    .saturating_sub(Duration::from_secs(5));
                ex.note = Some(format!(
                    "token issued, expires in {} s",
                    t.expires_in.unwrap_or(60)
                ));
                out.push(ex);
                Ok((token, ttl.max(Duration::from_secs(1))))
            }
            Ok(_) => {
                ex.note = Some("token reply has neither token nor access_token".into());
                out.push(ex);
                Err(None)
            }
            Err(detail) => {
                ex.note = Some(detail);
                out.push(ex);
                Err(None)
            }
        }
    }
}
