//! The agent's output boundary: every HTTP answer (reports, `/v1/node`, `/v1/monitor`,
//! `/metrics`, errors) passes [`crate::secrets::scrub`] as its last step, whatever field a
//! registry's echo of a credential landed in. Answers are buffered whole for it; they are
//! bounded already (reports are summarised, the caches hold bytes).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// The middleware.
pub async fn answers(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "answer body failed");
            bytes::Bytes::new()
        }
    };
    let scrubbed = crate::secrets::scrub_bytes(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(scrubbed))
}
