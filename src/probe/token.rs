//! Bearer tokens fetched the way containerd fetches them: with credentials, OAuth2 POST
//! (password grant) first and GET with Basic auth as the fallback on 400/401/404/405; without,
//! an anonymous GET. Tokens are cached per registry × repository × credential, in
//! [`TOKEN_CACHE_BYTES`] (a token is as large as its realm makes it), for the lifetime the
//! realm gave clamped to [`MAX_TOKEN_LIFETIME`]: `expires_in` is the realm's number, not ours.

use super::evidence::{Exchange, Step};
use super::http::{self, Auth, Request};
use crate::bounded::ByteMap;
use crate::identity::RegistryAuth;
use crate::net::policy::AddressPolicy;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest token reply read (a registry may send more; the rest is not read).
pub const TOKEN_BODY_LIMIT: usize = 1024 * 1024;
/// Bytes of tokens (and their keys) kept between probes.
pub const TOKEN_CACHE_BYTES: usize = 8 * 1024 * 1024;
/// The longest a token is kept, whatever `expires_in` says.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The lifetime of a token that states none (the distribution spec's default).
const DEFAULT_LIFETIME_SECS: u64 = 60;

/// (host, repository, credential key) → token.
type TokenMap = ByteMap<(String, String, u64), String>;

/// Cached tokens, never logged or serialised.
pub struct TokenCache {
    map: Mutex<TokenMap>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            map: Mutex::new(ByteMap::new(TOKEN_CACHE_BYTES)),
        }
    }
}

/// How long to keep a token whose reply said `expires_in` (any JSON number, or none): the
/// stated lifetime less 5 s of margin, between 1 s and [`MAX_TOKEN_LIFETIME`]; a negative,
/// fractional-below-one or missing lifetime counts as the default 60 s.
pub fn lifetime(expires_in: Option<&serde_json::Number>) -> Duration {
    let secs = match expires_in {
        None => DEFAULT_LIFETIME_SECS,
        Some(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => u,
            (None, Some(f)) if f >= 1.0 => {
                if f >= MAX_TOKEN_LIFETIME.as_secs_f64() {
                    MAX_TOKEN_LIFETIME.as_secs()
                } else {
                    f as u64
                }
            }
            _ => DEFAULT_LIFETIME_SECS,
        },
    };
    Duration::from_secs(secs)
        .min(MAX_TOKEN_LIFETIME)
        .saturating_sub(Duration::from_secs(5))
        .max(Duration::from_secs(1))
}

impl TokenCache {
    /// A cached, unexpired token for host × repository × credential.
    pub fn get(&self, host: &str, repo: &str, cred: &RegistryAuth) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(
            &(host.to_string(), repo.to_string(), cred.cache_key()),
            Instant::now(),
        )
        .cloned()
    }

    fn put(&self, host: &str, repo: &str, cred: &RegistryAuth, token: String, ttl: Duration) {
        let now = Instant::now();
        // A lifetime past what an Instant can hold is kept for the longest we keep any token.
        let expires = now.checked_add(ttl.min(MAX_TOKEN_LIFETIME)).unwrap_or(now);
        let weight = host.len() + repo.len() + token.len();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            (host.to_string(), repo.to_string(), cred.cache_key()),
            token,
            weight,
            expires,
            now,
        );
    }

    /// Bytes of tokens held (for tests and the memory figures).
    pub fn bytes(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).bytes()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Number>,
}

/// A token reply as read: the token, how long it is kept, and the note for the evidence.
pub struct Reply {
    /// `token`, or `access_token` when `token` is empty.
    pub token: String,
    /// How long it is kept ([`lifetime`] of its `expires_in`).
    pub lifetime: Duration,
    /// What the evidence says of it (never the token).
    pub note: String,
}

/// Reads a token reply body (at most [`TOKEN_BODY_LIMIT`] bytes, read by the caller); the
/// error is the evidence note.
pub fn read_reply(body: &[u8]) -> Result<Reply, String> {
    let t = serde_json::from_slice::<TokenResponse>(body)
        .map_err(|e| format!("token reply is not JSON: {e}"))?;
    let token = match (t.token.is_empty(), t.access_token.is_empty()) {
        (false, _) => t.token,
        (true, false) => t.access_token,
        (true, true) => return Err("token reply has neither token nor access_token".into()),
    };
    let lifetime = lifetime(t.expires_in.as_ref());
    let note = match &t.expires_in {
        Some(n) => format!(
            "token issued, expires in {} s (kept {} s)",
            crate::bounded::clip(&n.to_string(), 40),
            lifetime.as_secs()
        ),
        None => format!(
            "token issued, no expires_in (kept {} s)",
            lifetime.as_secs()
        ),
    };
    Ok(Reply {
        token,
        lifetime,
        note,
    })
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
    /// The step's time limit and the probe's deadline.
    pub limit: super::limit::Limit,
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
                    limit: req.limit,
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
                limit: req.limit,
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
        let body = match http::read_limited(&mut resp, TOKEN_BODY_LIMIT).await {
            Ok(body) => body,
            Err(http::BodyError::TooLarge) => {
                ex.note = Some(format!("token reply larger than {TOKEN_BODY_LIMIT} bytes"));
                out.push(ex);
                return Err(None);
            }
            Err(http::BodyError::Transport(t)) => {
                ex.transport = Some(t);
                out.push(ex);
                return Err(None);
            }
        };
        let read = read_reply(&body);
        ex.note = Some(match &read {
            Ok(reply) => reply.note.clone(),
            Err(detail) => detail.clone(),
        });
        out.push(ex);
        read.map(|r| (r.token, r.lifetime)).map_err(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(json: &str) -> serde_json::Number {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_lifetime_a_hostile_realm_can_write_is_bounded_and_cacheable() {
        let cache = TokenCache::default();
        let cred = RegistryAuth::Anonymous;
        for text in crate::bounded::hostile_numbers() {
            let json = format!(r#"{{"token":"t","expires_in":{text}}}"#);
            // Not every form is JSON (`+5`, `0x10`): those replies are refused, never a panic.
            let Ok(reply) = read_reply(json.as_bytes()) else {
                continue;
            };
            assert!(reply.note.len() < 120, "{}", reply.note);
            let life = reply.lifetime;
            assert!(
                (Duration::from_secs(1)..=MAX_TOKEN_LIFETIME).contains(&life),
                "expires_in {text} gave {life:?}"
            );
            cache.put("r", &text, &cred, "t".into(), life);
            assert_eq!(cache.get("r", &text, &cred).as_deref(), Some("t"), "{text}");
        }
    }

    #[test]
    fn any_lifetime_a_realm_states_is_clamped() {
        let cases = [
            (
                "18446744073709551615",
                MAX_TOKEN_LIFETIME - Duration::from_secs(5),
            ),
            (
                "9223372036854775807",
                MAX_TOKEN_LIFETIME - Duration::from_secs(5),
            ),
            ("1e300", MAX_TOKEN_LIFETIME - Duration::from_secs(5)),
            ("-1", Duration::from_secs(55)),
            ("-9223372036854775808", Duration::from_secs(55)),
            ("0", Duration::from_secs(1)),
            ("0.5", Duration::from_secs(55)),
            ("3", Duration::from_secs(1)),
            ("300", Duration::from_secs(295)),
            ("299.9", Duration::from_secs(294)),
        ];
        for (json, want) in cases {
            assert_eq!(lifetime(Some(&number(json))), want, "expires_in {json}");
        }
        assert_eq!(lifetime(None), Duration::from_secs(55));
        // A negative or huge number is still a token reply (it used to fail as u64).
        for json in [
            r#"{"token":"t","expires_in":-5}"#,
            r#"{"token":"t","expires_in":1e300}"#,
        ] {
            let reply: TokenResponse = serde_json::from_str(json).unwrap();
            assert!(lifetime(reply.expires_in.as_ref()) <= MAX_TOKEN_LIFETIME);
        }
    }

    #[test]
    fn a_huge_ttl_does_not_panic_and_is_kept_at_most_an_hour() {
        let cache = TokenCache::default();
        let cred = RegistryAuth::Anonymous;
        cache.put("h", "r", &cred, "tok".into(), Duration::MAX);
        assert_eq!(cache.get("h", "r", &cred).as_deref(), Some("tok"));
        cache.put(
            "h",
            "r2",
            &cred,
            "tok".into(),
            Duration::from_secs(u64::MAX),
        );
        assert!(cache.get("h", "r2", &cred).is_some());
    }

    #[test]
    fn megabyte_tokens_for_many_repositories_stay_inside_the_byte_budget() {
        let cache = TokenCache::default();
        let cred = RegistryAuth::Anonymous;
        let big = "x".repeat(1024 * 1024);
        for i in 0..400 {
            cache.put(
                "h",
                &format!("repo{i}"),
                &cred,
                big.clone(),
                MAX_TOKEN_LIFETIME,
            );
            assert!(cache.bytes() <= TOKEN_CACHE_BYTES);
        }
        assert!(
            cache.get("h", "repo399", &cred).is_some(),
            "the newest is kept"
        );
    }
}
