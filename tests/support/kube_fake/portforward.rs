//! The port-forward subresource as the kubelet's streaming server speaks it over WebSocket
//! (`v4.channel.k8s.io`): [`portforward`] answers the upgrade, [`relay`] moves bytes between
//! the channels and one TCP connection per port.

use super::{forbidden, not_found, object_key, query_param, reply, status, Forward, State, Target};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The kubelet's v4 binary channel protocol for port-forward.
pub const PORTFORWARD_PROTOCOL: &str = "v4.channel.k8s.io";

pub(super) async fn portforward(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
    t: &Target,
    name: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let ns = t.namespace.clone().unwrap_or_default();
    let (exists, behaviour) = {
        let st = state.lock().unwrap();
        (
            st.objects.contains_key(&object_key(t, name)),
            st.forwards.get(&format!("{ns}/{name}")).cloned(),
        )
    };
    if !exists {
        return not_found("pods", name);
    }
    match behaviour {
        Some(Forward::Forbidden) => {
            return forbidden("get", "pods/portforward", Some(name), Some(&ns));
        }
        Some(Forward::Hang) => {
            std::future::pending::<()>().await;
        }
        _ => {}
    }
    let ports: Result<Vec<u16>, _> = query_param(query, "ports")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().parse::<u16>())
        .collect();
    let ports = match ports {
        Ok(p) if !p.is_empty() && !p.contains(&0) => p,
        _ => {
            return reply(
                400,
                &status(
                    400,
                    "BadRequest",
                    "query parameter \"ports\" is required",
                    json!({}),
                ),
            )
        }
    };
    let headers = req.headers();
    let upgrade = headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec());
    let offered = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .any(|p| p.trim() == PORTFORWARD_PROTOCOL);
    let (Some(key), true, true) = (key, upgrade, offered) else {
        return reply(400, &status(400, "BadRequest", "unable to upgrade connection: expected a WebSocket upgrade offering v4.channel.k8s.io", json!({})));
    };
    let targets: Vec<Option<SocketAddr>> = ports
        .iter()
        .map(|p| match &behaviour {
            Some(Forward::To(a)) => Some(*a),
            Some(Forward::Ports(m)) => m.get(p).copied(),
            _ => None,
        })
        .collect();
    let pod = format!("{ns}/{name}");
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        relay(ws, ports, targets, pod).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header(
            "sec-websocket-accept",
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key),
        )
        .header("sec-websocket-protocol", PORTFORWARD_PROTOCOL)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

/// One WebSocket ↔ one TCP connection per port, until either side closes.
async fn relay(
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    ports: Vec<u16>,
    targets: Vec<Option<SocketAddr>>,
    pod: String,
) {
    let (mut sink, mut stream) = ws.split();
    let (to_ws, mut from_tcp) = tokio::sync::mpsc::channel::<Message>(64);
    let mut writers = Vec::new();
    for (i, (port, target)) in ports.iter().zip(&targets).enumerate() {
        let (data, err) = (2 * i as u8, 2 * i as u8 + 1);
        // The first message on each channel carries the port, little-endian.
        for ch in [data, err] {
            if sink.send(framed(ch, &port.to_le_bytes())).await.is_err() {
                return;
            }
        }
        let conn = match target {
            Some(a) => tokio::net::TcpStream::connect(a).await.ok(),
            None => None,
        };
        let Some(conn) = conn else {
            let text = format!(
                "error forwarding port {port} to pod {pod}, uid : failed to connect to localhost:{port} inside namespace {pod}: connection refused"
            );
            let _ = sink.send(framed(err, text.as_bytes())).await;
            writers.push(None);
            continue;
        };
        let _ = conn.set_nodelay(true);
        let (mut r, w) = conn.into_split();
        writers.push(Some(w));
        let to_ws = to_ws.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to_ws.send(framed(data, &buf[..n])).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // The pod closed its side: end the stream (v4 has no half-close).
            let _ = to_ws.send(Message::Close(None)).await;
        });
    }
    drop(to_ws);
    loop {
        tokio::select! {
            out = from_tcp.recv() => {
                let Some(msg) = out else { break };
                let close = msg.is_close();
                if sink.send(msg).await.is_err() || close {
                    break;
                }
            }
            inc = stream.next() => {
                match inc {
                    Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                        let ch = b[0] as usize;
                        if ch.is_multiple_of(2) {
                            if let Some(Some(w)) = writers.get_mut(ch / 2) {
                                if w.write_all(&b[1..]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                }
            }
        }
    }
    for w in writers.iter_mut().flatten() {
        let _ = w.shutdown().await;
    }
    let _ = sink.close().await;
}
