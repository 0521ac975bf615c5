//! One listener's accept loop ([`serve`]): HTTP/1.1 through hyper with a time limit on request
//! heads (slow clients are cut off), a cap on open connections (excess connections wait in the
//! kernel's backlog), `TCP_NODELAY`, and graceful shutdown — once [`Shutdown`] triggers, the
//! listener closes, idle connections close, and requests in progress finish.

use super::config::Limits;
use super::shutdown::Shutdown;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Largest request head (request line and headers) a connection buffers.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` triggers and every connection is done.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: Shutdown,
    name: &'static str,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.client_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BYTES);
    loop {
        let slot = tokio::select! {
            _ = shutdown.triggered() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.triggered() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::debug!(
        listener = name,
        "stopped accepting; finishing open requests"
    );
    graceful.shutdown().await;
}
