//! `kubectl pullcheck nodes`: per node, the agent pod, its version (image tag) and readiness,
//! and whether the agent itself answers `/readyz` through a port-forward. Entry point:
//! [`presence`].

use super::discovery::{AgentPod, Agents, ClusterNode};
use super::transport::{self, AgentClient};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// One node's agent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// The node.
    #[serde(flatten)]
    pub node: ClusterNode,
    /// Its agent pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentPod>,
    /// `ready`, `draining`, `no_agent`, `pod_not_ready`, `forbidden`, `timeout`,
    /// `unreachable` or `error`.
    pub agent_status: String,
    /// The agent's `/readyz` answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readyz: Option<Value>,
    /// Why it is not ready, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Presence {
    /// The agent answers and is ready.
    pub fn ready(&self) -> bool {
        self.agent_status == "ready"
    }
}

/// Asks the agent on `node` for `/readyz` (when its pod is Running and Ready).
pub async fn presence(
    client: &AgentClient,
    agents: &Agents,
    node: ClusterNode,
    timeout: Duration,
) -> Presence {
    let agent = agents.on(&node.name).cloned();
    let mut p = Presence {
        node,
        agent: agent.clone(),
        agent_status: String::new(),
        readyz: None,
        message: None,
    };
    let Some(agent) = agent else {
        p.agent_status = "no_agent".into();
        p.message = Some(format!("no agent pod on node {}", p.node.name));
        return p;
    };
    if !agent.usable() {
        p.agent_status = "pod_not_ready".into();
        p.message = Some(format!(
            "pod {} is {} and not ready",
            agent.id(),
            agent.phase
        ));
        return p;
    }
    match tokio::time::timeout(timeout, client.get(&agent, "/readyz")).await {
        Err(_) => {
            p.agent_status = "timeout".into();
            p.message = Some(format!(
                "no answer in {} through the port-forward to {}",
                humantime::format_duration(timeout),
                agent.id()
            ));
        }
        Ok(Err(e)) => {
            p.agent_status = match e {
                transport::Error::Forbidden { .. } => "forbidden",
                _ => "unreachable",
            }
            .into();
            p.message = Some(crate::error_text::error_chain(&e));
        }
        Ok(Ok(a)) => match serde_json::from_slice::<Value>(&a.body) {
            Ok(v) => {
                p.agent_status = match v["status"].as_str() {
                    Some("ready") if a.status == 200 => "ready".into(),
                    Some("draining") => "draining".into(),
                    _ => "error".into(),
                };
                if p.agent_status == "error" {
                    p.message = Some(format!("/readyz answered HTTP {}: {v}", a.status));
                }
                p.readyz = Some(v);
            }
            Err(e) => {
                p.agent_status = "error".into();
                p.message = Some(format!(
                    "/readyz answered HTTP {} with a body that is not JSON: {e}",
                    a.status
                ));
            }
        },
    }
    p
}
