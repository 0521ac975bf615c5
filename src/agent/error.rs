//! The API's error answer: `{"code", "message", "status"}` with a stable snake_case [`Code`]
//! (callers branch on it), the HTTP status it maps to, and `Retry-After` on 429 and 503.
//! Client mistakes are always 4xx; 5xx means the agent or the node is at fault.

use crate::service::{Refusal, RefusalKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

/// Stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// A required parameter is absent (400).
    MissingParameter,
    /// A parameter's value is malformed (400).
    InvalidParameter,
    /// A query parameter the endpoint does not know (400).
    UnknownParameter,
    /// The image reference does not parse (400).
    InvalidImage,
    /// The body is not valid JSON for the endpoint, or has a field it does not know (400).
    InvalidJson,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is larger than `--max-body-bytes` (413).
    PayloadTooLarge,
    /// The query string is longer than `--max-query-bytes` (414).
    UriTooLong,
    /// The client sent its request too slowly (408).
    RequestTimeout,
    /// No such endpoint (404).
    NotFound,
    /// The endpoint does not take this method (405).
    MethodNotAllowed,
    /// No bearer token, or the cluster did not accept it (401).
    Unauthenticated,
    /// The cluster says the caller may not use this API (403).
    Forbidden,
    /// The registry is refused by the agent's registry policy (403).
    RegistryNotAllowed,
    /// Too many probes in flight; try again after `Retry-After` (429).
    Saturated,
    /// The registry's request budget is spent; try again after `Retry-After` (429).
    RegistryBudgetExhausted,
    /// `pod`/`secret` were given but the agent has no Kubernetes API access (422).
    KubernetesUnavailable,
    /// A pull secret holds invalid docker config JSON: the kubelet's lookup fails too (422).
    InvalidPullSecret,
    /// The pod does not exist (404).
    PodNotFound,
    /// The Kubernetes API failed or refused to answer (502).
    KubernetesError,
    /// The node's registry or credential configuration is unusable (500).
    NodeConfiguration,
    /// The agent is shutting down (503).
    ShuttingDown,
    /// The cluster could not be asked about the caller's token (503).
    AuthUnavailable,
    /// A bug: the agent could not produce an answer (500).
    Internal,
}

impl Code {
    /// The HTTP status for this code.
    pub fn status(self) -> StatusCode {
        use Code::*;
        match self {
            MissingParameter | InvalidParameter | UnknownParameter | InvalidImage | InvalidJson => {
                StatusCode::BAD_REQUEST
            }
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UriTooLong => StatusCode::URI_TOO_LONG,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            NotFound | PodNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Unauthenticated => StatusCode::UNAUTHORIZED,
            Forbidden | RegistryNotAllowed => StatusCode::FORBIDDEN,
            Saturated | RegistryBudgetExhausted => StatusCode::TOO_MANY_REQUESTS,
            KubernetesUnavailable | InvalidPullSecret => StatusCode::UNPROCESSABLE_ENTITY,
            KubernetesError => StatusCode::BAD_GATEWAY,
            NodeConfiguration | Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ShuttingDown | AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// The stable code.
    pub code: Code,
    /// One line for humans (no secrets).
    pub message: String,
    /// `Retry-After`, for 429 and 503.
    pub retry_after: Option<Duration>,
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: Code,
    /// Human-readable explanation.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
}

impl ApiError {
    /// An error with a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After` (rounded up to whole seconds, at least 1).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The `Retry-After` value in seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .map(|s| s.max(1))
    }
}

impl From<Refusal> for ApiError {
    /// The API error code of each refusal kind; the message and `Retry-After` carry over.
    fn from(r: Refusal) -> Self {
        let code = match r.kind {
            RefusalKind::RegistryNotAllowed => Code::RegistryNotAllowed,
            RefusalKind::Saturated => Code::Saturated,
            RefusalKind::RegistryBudgetExhausted => Code::RegistryBudgetExhausted,
            RefusalKind::KubernetesUnavailable => Code::KubernetesUnavailable,
            RefusalKind::PodNotFound => Code::PodNotFound,
            RefusalKind::InvalidPullSecret => Code::InvalidPullSecret,
            RefusalKind::InvalidReference => Code::InvalidParameter,
            RefusalKind::KubernetesError => Code::KubernetesError,
            RefusalKind::NodeConfiguration => Code::NodeConfiguration,
            RefusalKind::Internal => Code::Internal,
        };
        ApiError {
            code,
            message: r.message,
            retry_after: r.retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = ErrorBody {
            code: self.code,
            message: self.message.clone(),
            status: status.as_u16(),
        };
        let bytes = crate::term::json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == Code::Unauthenticated {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pullcheck\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx() {
        for c in [
            Code::MissingParameter,
            Code::InvalidParameter,
            Code::UnknownParameter,
            Code::InvalidImage,
            Code::InvalidJson,
            Code::UnsupportedMediaType,
            Code::PayloadTooLarge,
            Code::UriTooLong,
            Code::RequestTimeout,
            Code::NotFound,
            Code::MethodNotAllowed,
        ] {
            assert!(c.status().is_client_error(), "{c:?}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        let e = ApiError::new(Code::Saturated, "x").retry_after(Duration::from_millis(1500));
        assert_eq!(e.retry_after_secs(), Some(2));
        let e = ApiError::new(Code::Saturated, "x").retry_after(Duration::ZERO);
        assert_eq!(e.retry_after_secs(), Some(1));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
