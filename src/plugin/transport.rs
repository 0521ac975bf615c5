//! Reaching an agent: the API server's port-forward to the agent pod (kube, WebSocket
//! `v4.channel.k8s.io`), then HTTP/1.1 over that stream (hyper's client connection). Entry
//! point: [`AgentClient::get`]. Each call opens one port-forward and closes it after the
//! answers; several paths share one connection ([`AgentClient::get_all`]).

use super::cluster::api_message;
use super::discovery::AgentPod;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};

/// Largest agent answer read (a report with every exchange is a few tens of KiB).
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// How long a failed exchange waits for the kubelet's error message (it is normally there
/// already).
const ERROR_CHANNEL_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Why an agent could not be asked (retryable except [`Error::Forbidden`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RBAC: no `get` (the WebSocket upgrade) or, since Kubernetes 1.35, no `create` on
    /// `pods/portforward`.
    #[error("port-forward to {pod} on node {node} forbidden: you need \"get\" and \"create\" on pods/portforward in namespace {namespace} (API server: {message})")]
    Forbidden {
        /// `namespace/name` of the agent pod.
        pod: String,
        /// Its node.
        node: String,
        /// The agent namespace.
        namespace: String,
        /// The API server's message.
        message: String,
    },
    /// The API server refused or failed the port-forward (pod gone, kubelet unreachable).
    #[error("port-forward to {pod} on node {node} failed: {message}")]
    PortForward {
        /// `namespace/name` of the agent pod.
        pod: String,
        /// Its node.
        node: String,
        /// Why.
        message: String,
    },
    /// The kubelet could not connect to the agent's port (the error channel's text).
    #[error(
        "the kubelet on node {node} could not reach the agent {pod} on port {port}: {message}"
    )]
    Refused {
        /// `namespace/name` of the agent pod.
        pod: String,
        /// Its node.
        node: String,
        /// The agent port.
        port: u16,
        /// The kubelet's message.
        message: String,
    },
    /// HTTP over the forwarded stream failed.
    #[error("HTTP to the agent {pod} on node {node} (GET {path}) failed")]
    Http {
        /// `namespace/name` of the agent pod.
        pod: String,
        /// Its node.
        node: String,
        /// The request path.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An agent's HTTP reply.
#[derive(Debug, Clone)]
pub struct AgentReply {
    /// HTTP status.
    pub status: u16,
    /// Body (at most [`MAX_ANSWER_BYTES`]).
    pub body: Bytes,
}

/// Asks agents through port-forwards.
#[derive(Clone)]
pub struct AgentClient {
    client: Client,
    port: u16,
}

impl AgentClient {
    /// A client for agents listening on `port` inside their pods' (host) network.
    pub fn new(client: Client, port: u16) -> Self {
        AgentClient { client, port }
    }

    /// `GET path_and_query` on the agent.
    pub async fn get(&self, agent: &AgentPod, path_and_query: &str) -> Result<AgentReply> {
        let mut all = self.get_all(agent, &[path_and_query]).await?;
        Ok(all.remove(0))
    }

    /// `GET` each path in turn over one port-forward and one HTTP connection.
    pub async fn get_all(&self, agent: &AgentPod, paths: &[&str]) -> Result<Vec<AgentReply>> {
        let node = agent.node.clone().unwrap_or_default();
        let pod_id = agent.id();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &agent.namespace);
        let pf = api
            .portforward(&agent.name, &[self.port])
            .await
            .map_err(|e| match &e {
                kube::Error::Api(s) if s.code == 403 => Error::Forbidden {
                    pod: pod_id.clone(),
                    node: node.clone(),
                    namespace: agent.namespace.clone(),
                    message: s.message.clone(),
                },
                other => Error::PortForward {
                    pod: pod_id.clone(),
                    node: node.clone(),
                    message: api_message(other),
                },
            })?;
        let mut pf = Forwarding(pf);
        let (Some(stream), Some(errors)) =
            (pf.0.take_stream(self.port), pf.0.take_error(self.port))
        else {
            return Err(Error::PortForward {
                pod: pod_id,
                node,
                message: "no stream for the agent port".into(),
            });
        };
        let http_err = |path: &str, source: Box<dyn std::error::Error + Send + Sync>| Error::Http {
            pod: pod_id.clone(),
            node: node.clone(),
            path: path.to_string(),
            source,
        };
        let refused = |message: String| Error::Refused {
            pod: pod_id.clone(),
            node: node.clone(),
            port: self.port,
            message,
        };
        let exchange = async {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| http_err(paths[0], Box::new(e)))?;
            let conn = tokio::spawn(conn);
            let mut answers = Vec::with_capacity(paths.len());
            for path in paths {
                let req = hyper::Request::get(*path)
                    .header(hyper::header::HOST, format!("127.0.0.1:{}", self.port))
                    .header(
                        hyper::header::USER_AGENT,
                        concat!("kubectl-pullcheck/", env!("CARGO_PKG_VERSION")),
                    )
                    .body(Empty::<Bytes>::new())
                    .map_err(|e| http_err(path, Box::new(e)))?;
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|e| http_err(path, Box::new(e)))?;
                let status = resp.status().as_u16();
                let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map_err(|e| http_err(path, e))?
                    .to_bytes();
                answers.push(AgentReply { status, body });
            }
            drop(sender);
            conn.abort();
            Ok::<_, Error>(answers)
        };
        // When the kubelet cannot connect to the port it writes to the error channel, then
        // closes the stream: the HTTP exchange may fail on the close first. The message came
        // before the close on the same WebSocket, so it is there by then (or the task ended
        // and the channel is closed): a failed exchange looks at the error channel first.
        tokio::pin!(errors);
        let result = tokio::select! {
            r = exchange => match r {
                Err(e) => match tokio::time::timeout(ERROR_CHANNEL_GRACE, &mut errors).await {
                    Ok(Some(message)) => Err(refused(message)),
                    _ => Err(e),
                },
                ok => ok,
            },
            Some(message) = &mut errors => Err(refused(message)),
        };
        drop(pf);
        result
    }
}

/// Aborts the port-forward's background task when dropped, so that an ask cut short by the
/// caller's time limit does not keep its WebSocket open.
struct Forwarding(kube::api::Portforwarder);

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.0.abort();
    }
}
