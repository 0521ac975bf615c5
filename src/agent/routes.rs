//! The HTTP API ([`router`]): handlers for `/v1/probe` (GET and POST), `/v1/node` and
//! `/v1/monitor`, the JSON 404/405 answers (`/metrics` asked here names the metrics listener), and the middleware every request passes (query-length limit, metrics, a
//! debug log line); `/healthz`, `/readyz`, `/openapi.json` and the metrics listener are in
//! [`super::health`]. The network listener adds the TokenReview/SubjectAccessReview gate
//! ([`super::auth::require`]) in front of the same routes.

use super::auth::{self, Authenticator};
use super::config::Limits;
use super::error::{ApiError, Code, ErrorBody};
use super::health;
use super::metrics::Metrics;
use super::node_view::{self, AgentState, NodeView};
use super::openapi::{NodeDoc, ReportDoc};
use super::origin::{self, AllowedHosts};
use super::params::{self, ProbeBody, ProbeQuery};
use super::shutdown::Shutdown;
use crate::service::rate_limits::RateLimitBoard;
use crate::service::{NodeContext, ProbeRequest, ProbeService, RuntimeWatch, Served};
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The probe pipeline.
    pub service: Arc<ProbeService>,
    /// The node side.
    pub ctx: Arc<NodeContext>,
    /// Rate limits seen.
    pub seen: Arc<RateLimitBoard>,
    /// Runtime state for `/readyz`.
    pub runtime: Arc<RuntimeWatch>,
    /// The drift monitor (its state for `/v1/monitor`).
    pub monitor: Arc<crate::monitor::Monitor>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The registry `/metrics` encodes (the agent's metrics and whatever else registered).
    pub registry: Arc<prometheus_client::registry::Registry>,
    /// Request limits.
    pub limits: Limits,
    /// Shutdown state.
    pub shutdown: Shutdown,
    /// `/openapi.json`, rendered once.
    pub openapi: Bytes,
    /// The names `Host` and `Origin` may carry ([`super::origin`]).
    pub allowed_hosts: AllowedHosts,
    /// The metrics listener's bound address (`None`: `--metrics-listen=off`), named by the
    /// API's `/metrics` answer.
    pub metrics_at: Option<String>,
}

/// The API on the loopback listener (`auth: None`) or the network listener.
pub fn router(state: AppState, auth: Option<Arc<Authenticator>>) -> Router {
    let mut api = Router::new()
        .route("/v1/probe", get(probe_get).post(probe_post))
        .route("/v1/node", get(node))
        .route("/v1/monitor", get(monitor))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(health::openapi_json))
        .route("/metrics", get(metrics_elsewhere))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    if let Some(auth) = auth {
        api = api.layer(middleware::from_fn_with_state(auth, auth::require));
    }
    api.layer(middleware::from_fn_with_state(
        state.allowed_hosts.clone(),
        origin::guard,
    ))
    .layer(middleware::from_fn(super::scrub::answers))
    .layer(middleware::from_fn_with_state(state, track))
}

/// The route label for metrics (a fixed set: callers cannot create labels).
fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/probe" => "/v1/probe",
        "/v1/node" => "/v1/node",
        "/v1/monitor" => "/v1/monitor",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/openapi.json" => "/openapi.json",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(req.uri().path());
    let too_long = req
        .uri()
        .query()
        .is_some_and(|q| q.len() > st.limits.max_query_bytes);
    let method = req.method().clone();
    let resp = if too_long {
        ApiError::new(
            Code::UriTooLong,
            format!(
                "the query string is longer than {} bytes",
                st.limits.max_query_bytes
            ),
        )
        .into_response()
    } else {
        next.run(req).await
    };
    let status = resp.status().as_u16();
    let took = started.elapsed();
    st.metrics.observe_http(route, status, took);
    tracing::debug!(%method, route, status, took_us = took.as_micros() as u64, "request");
    resp
}

pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match crate::term::json::to_vec(value) {
        Ok(v) => json_response(status, Bytes::from(v)),
        Err(e) => {
            ApiError::new(Code::Internal, format!("encoding the answer: {e}")).into_response()
        }
    }
}

async fn answer(st: &AppState, params: ProbeRequest) -> Response {
    match st.service.probe(params).await {
        Ok(a) => {
            let mut resp = json_response(StatusCode::OK, a.body);
            let h = resp.headers_mut();
            h.insert(
                "x-pullcheck-cache",
                HeaderValue::from_static(a.served.as_str()),
            );
            if let Served::Cached(age) = a.served {
                h.insert(header::AGE, HeaderValue::from(age.as_secs()));
            }
            resp
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Can this node pull the image? The same report as `pullcheck probe -o json`. A probe that
/// also pulls through the runtime (`runtimePull`) is POST-only.
#[utoipa::path(
    get,
    path = "/v1/probe",
    tag = "probe",
    params(ProbeQuery),
    responses(
        (status = 200, description = "The report (its `verdict` says whether the node can pull)", body = ReportDoc,
            headers(("x-pullcheck-cache" = String, description = "hit, miss or coalesced"),
                    ("age" = u64, description = "Seconds since a cached answer was made"))),
        (status = 400, description = "Missing, invalid or unknown parameter", body = ErrorBody),
        (status = 405, description = "runtimePull=true, which acts on the node: POST only", body = ErrorBody),
        (status = 401, description = "Network listener: no or rejected bearer token", body = ErrorBody),
        (status = 403, description = "Registry refused by policy, or caller not authorised", body = ErrorBody),
        (status = 404, description = "The pod does not exist", body = ErrorBody),
        (status = 414, description = "Query string too long", body = ErrorBody),
        (status = 422, description = "pod/secret without Kubernetes API access, or an invalid pull secret", body = ErrorBody),
        (status = 429, description = "Too many probes in flight, or the registry's budget is spent",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 500, description = "The node's registry configuration is unusable", body = ErrorBody),
        (status = 502, description = "The Kubernetes API failed", body = ErrorBody),
        (status = 503, description = "Network listener: the token could not be reviewed", body = ErrorBody),
    )
)]
pub async fn probe_get(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    match params::from_query(q.as_deref().unwrap_or("")) {
        // A GET must not act on the node: a link or an <img> could send it cross-site.
        Ok(params) if params.runtime_pull => ApiError::new(
            Code::MethodNotAllowed,
            "runtimePull=true starts a pull on the node: send it as POST /v1/probe with a JSON \
             body, e.g. {\"image\": \"…\", \"runtimePull\": true}",
        )
        .into_response(),
        Ok(params) => answer(&st, params).await,
        Err(e) => e.into_response(),
    }
}

/// The same as `GET /v1/probe`, with the parameters as a JSON body.
#[utoipa::path(
    post,
    path = "/v1/probe",
    tag = "probe",
    request_body(content = ProbeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The report", body = ReportDoc,
            headers(("x-pullcheck-cache" = String, description = "hit, miss or coalesced"))),
        (status = 400, description = "Invalid JSON, unknown field, or invalid value", body = ErrorBody),
        (status = 401, description = "Network listener: no or rejected bearer token", body = ErrorBody),
        (status = 403, description = "Registry refused by policy, or caller not authorised", body = ErrorBody),
        (status = 404, description = "The pod does not exist", body = ErrorBody),
        (status = 408, description = "The body arrived too slowly", body = ErrorBody),
        (status = 413, description = "Body larger than --max-body-bytes", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 422, description = "pod/secret without Kubernetes API access, or an invalid pull secret", body = ErrorBody),
        (status = 429, description = "Too many probes in flight, or the registry's budget is spent",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 500, description = "The node's registry configuration is unusable", body = ErrorBody),
        (status = 502, description = "The Kubernetes API failed", body = ErrorBody),
        (status = 503, description = "Network listener: the token could not be reviewed", body = ErrorBody),
    )
)]
pub async fn probe_post(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match read_json_body(&st.limits, &headers, body).await {
        Ok(bytes) => match params::from_json(&bytes) {
            Ok(params) => answer(&st, params).await,
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// A JSON body within the size and time limits.
async fn read_json_body(
    limits: &Limits,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "expected Content-Type: application/json, got {:?}",
                ctype.chars().take(64).collect::<String>()
            ),
        ));
    }
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("the body is larger than {} bytes", limits.max_body_bytes),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let read = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.client_timeout, read).await {
        Err(_) => Err(ApiError::new(
            Code::RequestTimeout,
            format!(
                "the body did not arrive within {}",
                humantime::format_duration(limits.client_timeout)
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            Code::InvalidJson,
            format!("the body could not be read: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// What this node pulls with, and what the agent has seen.
#[utoipa::path(
    get,
    path = "/v1/node",
    tag = "node",
    responses(
        (status = 200, description = "Node facts, identities, registry configuration, rate limits seen, budgets", body = NodeDoc),
        (status = 401, description = "Network listener: no or rejected bearer token", body = ErrorBody),
        (status = 403, description = "Network listener: caller not authorised", body = ErrorBody),
        (status = 503, description = "Network listener: the token could not be reviewed", body = ErrorBody),
    )
)]
pub async fn node(State(st): State<AppState>) -> Response {
    let facts = node_view::facts(&st.ctx).await;
    let view = NodeView {
        facts,
        rate_limits: st.seen.all(),
        budgets: st.service.budgets().states(Instant::now()),
        registry_cost: st.service.state(),
        agent: AgentState {
            probes_in_flight: st.service.in_flight(),
            max_concurrent_probes: st.service.max_concurrent(),
            cached_answers: st.service.cached(),
        },
    };
    json(StatusCode::OK, &view)
}

/// The drift monitor's state: the pod watch, the watch list, every watched image × credential
/// set with its verdict, the containers failing to pull and the events published.
#[utoipa::path(
    get,
    path = "/v1/monitor",
    tag = "node",
    responses(
        (status = 200, description = "The drift monitor's state", body = crate::monitor::status::MonitorStatus),
        (status = 401, description = "Network listener: no or rejected bearer token", body = ErrorBody),
        (status = 403, description = "Network listener: caller not authorised", body = ErrorBody),
        (status = 503, description = "Network listener: the token could not be reviewed", body = ErrorBody),
    )
)]
pub async fn monitor(State(st): State<AppState>) -> Response {
    json(StatusCode::OK, &st.monitor.status())
}

/// `/metrics` asked of the API: 404, naming the listener that serves it.
async fn metrics_elsewhere(State(st): State<AppState>) -> Response {
    ApiError::new(
        Code::NotFound,
        metrics_elsewhere_message(st.metrics_at.as_deref()),
    )
    .into_response()
}

fn metrics_elsewhere_message(metrics_at: Option<&str>) -> String {
    match metrics_at {
        Some(addr) => format!(
            "/metrics is not served on the API port: the metrics listener serves it at \
             http://{addr}/metrics (--metrics-listen)"
        ),
        None => "/metrics is not served on the API port, and the metrics listener is off \
                 (--metrics-listen=off): set --metrics-listen ADDRESS:PORT to serve it"
            .to_string(),
    }
}

pub(super) async fn not_found(req: Request) -> Response {
    ApiError::new(
        Code::NotFound,
        format!(
            "no endpoint {} (see /openapi.json)",
            req.uri().path().chars().take(128).collect::<String>()
        ),
    )
    .into_response()
}

pub(super) async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        Code::MethodNotAllowed,
        format!(
            "{} is not allowed on {}",
            req.method(),
            route_label(req.uri().path())
        ),
    )
    .into_response()
}
