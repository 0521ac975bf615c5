//! The network listener's gate, as kube-rbac-proxy does it: the caller's
//! `Authorization: Bearer` token goes to a TokenReview (who is this?), the user it names to a
//! SubjectAccessReview for the configured verb and resource ([`Authz`]; default `get
//! nodes/proxy` on this node — what `kubectl get --raw /api/v1/nodes/NODE/proxy/…` needs).
//! Decisions are kept for a few seconds under the token's SHA-256, never the token. The agent's
//! service account needs `system:auth-delegator` for the reviews.
//!
//! The loopback listener has no gate: reaching it takes node access or a port-forward, which
//! Kubernetes RBAC already gates.

use super::error::{ApiError, Code};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cluster could not be asked. Retryable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TokenReview call failed.
    #[error("TokenReview failed")]
    TokenReview(#[source] kube::Error),
    /// The SubjectAccessReview call failed.
    #[error("SubjectAccessReview failed")]
    AccessReview(#[source] kube::Error),
    /// The reviews took longer than [`REVIEW_TIMEOUT`].
    #[error("the token reviews did not finish in {0:?}")]
    Timeout(Duration),
}

/// Time limit for the TokenReview and SubjectAccessReview together.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// What a network caller must be allowed to do (SubjectAccessReview resource attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authz {
    /// Verb (`get`).
    pub verb: String,
    /// API group (`""` for core).
    pub group: String,
    /// Resource (`nodes`).
    pub resource: String,
    /// Subresource (`proxy`).
    pub subresource: Option<String>,
    /// Namespace, for namespaced resources.
    pub namespace: Option<String>,
    /// Object name (this node's name by default).
    pub name: Option<String>,
}

impl std::fmt::Display for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(s) = &self.subresource {
            write!(f, "/{s}")?;
        }
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        if let Some(n) = &self.name {
            write!(f, " named {n}")?;
        }
        Ok(())
    }
}

/// The outcome for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Authenticated and allowed.
    Allowed {
        /// Who.
        user: String,
    },
    /// The cluster does not accept the token.
    Unauthenticated {
        /// Why (the TokenReview's error, when it gave one).
        reason: String,
    },
    /// Authenticated, not allowed.
    Forbidden {
        /// Who.
        user: String,
        /// The review's reason.
        reason: String,
    },
}

const ALLOWED_TTL: Duration = Duration::from_secs(10);
const DENIED_TTL: Duration = Duration::from_secs(2);
const MAX_CACHED: usize = 1024;

/// TokenReview + SubjectAccessReview against the cluster.
pub struct Authenticator {
    client: kube::Client,
    authz: Authz,
    cache: Mutex<HashMap<[u8; 32], (AuthDecision, Instant)>>,
}

impl Authenticator {
    /// An authenticator asking `client`'s cluster.
    pub fn new(client: kube::Client, authz: Authz) -> Self {
        Authenticator {
            client,
            authz,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The decision for a bearer token.
    pub async fn decide(&self, token: &str) -> Result<AuthDecision, Error> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some((d, until)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if *until > now {
                return Ok(d.clone());
            }
        }
        let decision = tokio::time::timeout(REVIEW_TIMEOUT, self.review(token))
            .await
            .map_err(|_| Error::Timeout(REVIEW_TIMEOUT))??;
        let ttl = match decision {
            AuthDecision::Allowed { .. } => ALLOWED_TTL,
            _ => DENIED_TTL,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (decision.clone(), now + ttl));
        Ok(decision)
    }

    async fn review(&self, token: &str) -> Result<AuthDecision, Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(Error::TokenReview)?;
        let status = reviewed.status.unwrap_or_default();
        let user = status.user.unwrap_or_default();
        let name = user.username.clone().unwrap_or_default();
        if !status.authenticated.unwrap_or(false) || name.is_empty() {
            return Ok(AuthDecision::Unauthenticated {
                reason: status
                    .error
                    .unwrap_or_else(|| "the cluster did not accept the token".into()),
            });
        }
        let a = &self.authz;
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(a.verb.clone()),
                    group: Some(a.group.clone()),
                    resource: Some(a.resource.clone()),
                    subresource: a.subresource.clone(),
                    namespace: a.namespace.clone(),
                    name: a.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviewed = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &sar)
            .await
            .map_err(Error::AccessReview)?;
        let status = reviewed.status.unwrap_or_default();
        if status.allowed && !status.denied.unwrap_or(false) {
            Ok(AuthDecision::Allowed { user: name })
        } else {
            Ok(AuthDecision::Forbidden {
                user: name,
                reason: status.reason.unwrap_or_default(),
            })
        }
    }

    /// The resource attributes asked for.
    pub fn authz(&self) -> &Authz {
        &self.authz
    }
}

/// Paths served without a token (probes of the agent itself; they reveal nothing).
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz"];

/// Middleware for the network listener's router.
pub async fn require(State(auth): State<Arc<Authenticator>>, req: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::new(
            Code::Unauthenticated,
            "a bearer token is required on this listener (Authorization: Bearer …)",
        )
        .into_response();
    };
    match auth.decide(token).await {
        Ok(AuthDecision::Allowed { user }) => {
            tracing::debug!(%user, path = req.uri().path(), "network caller allowed");
            next.run(req).await
        }
        Ok(AuthDecision::Unauthenticated { reason }) => ApiError::new(
            Code::Unauthenticated,
            format!("token not accepted: {reason}"),
        )
        .into_response(),
        Ok(AuthDecision::Forbidden { user, reason }) => {
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            ApiError::new(
                Code::Forbidden,
                format!("{user} may not {}{why}", auth.authz()),
            )
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %crate::error_text::error_chain(&e), "could not review a network caller's token");
            ApiError::new(
                Code::AuthUnavailable,
                "the Kubernetes API could not review the token; try again",
            )
            .retry_after(Duration::from_secs(5))
            .into_response()
        }
    }
}
