//! One listener's accept loop ([`serve`]): HTTP/1.1 through hyper with a time limit on request
//! heads (slow clients are cut off), a cap on open connections (excess connections wait in the
//! kernel's backlog), a cap per client address for clients off the node (one caller cannot take
//! every slot of the network listener), at most [`MAX_REQUESTS_PER_CONNECTION`] requests per
//! connection (then `Connection: close`, so a keep-alive client returns its slot),
//! `TCP_NODELAY`, and graceful shutdown — once [`Shutdown`] triggers, the listener closes, idle
//! connections close, and requests in progress finish.

use super::config::Limits;
use super::shutdown::Shutdown;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Largest request head (request line and headers) a connection buffers.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Requests one connection may send before the agent closes it.
pub const MAX_REQUESTS_PER_CONNECTION: usize = 1000;

/// The share of a listener's connections one client address off the node may hold: a quarter
/// (at least one). Loopback clients are the node's own (the kubelet, port-forwards) and share
/// one address, so they are not counted per address.
pub fn per_client_limit(max_connections: usize) -> usize {
    (max_connections / 4).max(1)
}

/// Connections held per client address.
#[derive(Default)]
struct Clients(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One counted connection; uncounted when dropped.
struct Held(Arc<Clients>, std::net::IpAddr);

impl Clients {
    fn admit(self: &Arc<Self>, ip: std::net::IpAddr, limit: usize) -> Option<Held> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Held(self.clone(), ip))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` triggers and every connection is done.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: Shutdown,
    name: &'static str,
) {
    let graceful = GracefulShutdown::new();
    let clients = Arc::new(Clients::default());
    let per_client = per_client_limit(limits.max_connections);
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
                Ok(accepted) => accepted,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let held = if peer.ip().to_canonical().is_loopback() {
            None
        } else {
            match clients.admit(peer.ip(), per_client) {
                Some(h) => Some(h),
                None => {
                    tracing::debug!(listener = name, client = %peer.ip(), "per-client connection limit: closed");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let served = Arc::new(AtomicUsize::new(0));
        let router = ServiceExt::<hyper::Request<hyper::body::Incoming>>::map_response(
            router.clone(),
            move |mut resp: axum::response::Response| {
                if served.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_REQUESTS_PER_CONNECTION {
                    resp.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
                resp
            },
        );
        let service = TowerToHyperService::new(router);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, error = %e, "connection ended with an error");
            }
            drop(slot);
            drop(held);
        });
    }
    drop(listener);
    tracing::debug!(
        listener = name,
        "stopped accepting; finishing open requests"
    );
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_address_holds_at_most_its_share() {
        let clients = Arc::new(Clients::default());
        let ip: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        let limit = per_client_limit(16);
        assert_eq!(limit, 4);
        let held: Vec<Held> = (0..limit)
            .filter_map(|_| clients.admit(ip, limit))
            .collect();
        assert_eq!(held.len(), 4);
        assert!(clients.admit(ip, limit).is_none(), "the fifth is refused");
        assert!(
            clients.admit("10.0.0.8".parse().unwrap(), limit).is_some(),
            "others are not"
        );
        drop(held);
        assert!(
            clients.admit(ip, limit).is_some(),
            "closing returns the slots"
        );
        assert_eq!(per_client_limit(1), 1);
    }
}
