//! The agent's own health: `/healthz` (alive), `/readyz` (configured and not draining; the
//! runtime's state reported, not required), `/openapi.json`, and the metrics listener's router
//! ([`metrics_router`]: `/metrics` in OpenMetrics text, plus the two health endpoints, served
//! while the API drains).

use super::routes::{json, json_response, method_not_allowed, not_found, AppState};
use crate::service::RuntimeState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

/// The health listener (`--health-listen`): `/healthz` and `/readyz` only, on connections of
/// its own, so a storm of API connections cannot make the liveness probe fail.
pub fn health_router(state: AppState) -> Router {
    health_only(Router::new(), state)
}

/// The metrics listener: `/metrics`, plus `/healthz` and `/readyz` (it keeps serving while
/// the API drains, so readiness reports `draining`).
pub fn metrics_router(state: AppState) -> Router {
    let metrics = Router::new().route("/metrics", get(metrics_text));
    health_only(metrics, state).layer(axum::middleware::from_fn(super::scrub::answers))
}

/// `routes` plus the two health endpoints, the JSON 404/405 answers and the Host/Origin check.
fn health_only(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.allowed_hosts.clone(),
            super::origin::guard,
        ))
        .with_state(state)
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        super::metrics::encode(&st.registry),
    )
        .into_response()
}

/// `/healthz` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok" })
}

/// `/readyz` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Whether the agent takes probes.
    pub ready: bool,
    /// `ready` or `draining`.
    pub status: &'static str,
    /// The container runtime's state (reported, not required).
    pub runtime: RuntimeState,
}

/// Readiness: configuration loaded and not shutting down; the runtime's state is reported
/// but does not make the agent unready.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Ready),
              (status = 503, description = "Shutting down", body = Ready)))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let runtime = st.runtime.state(&st.ctx).await;
    let draining = st.shutdown.is_triggered();
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json(
        status,
        &Ready {
            ready: !draining,
            status: if draining { "draining" } else { "ready" },
            runtime,
        },
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI description of this API", content_type = "application/json")))]
pub async fn openapi_json(State(st): State<AppState>) -> Response {
    json_response(StatusCode::OK, st.openapi.clone())
}
