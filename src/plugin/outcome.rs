//! What one node said: [`NodeResult`] (node facts, agent pod, [`NodeStatus`], the agent's full
//! report) and how a result is made from an agent's answer or a failure to ask
//! ([`NodeResult::from_answer`], [`NodeResult::not_asked`]).

use super::agent_report::AgentReport;
use super::discovery::{AgentPod, ClusterNode};
use super::transport;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// How asking a node went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// The agent answered with a report.
    Answered,
    /// No agent pod on the node.
    NoAgent,
    /// The agent pod is not Running and Ready.
    AgentNotReady,
    /// RBAC forbids the port-forward.
    Forbidden,
    /// No answer within `--timeout`.
    Timeout,
    /// The port-forward or the HTTP exchange failed.
    Unreachable,
    /// The agent answered with an error (e.g. it could not read the pod).
    AgentError,
}

impl NodeStatus {
    /// Stable name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Answered => "answered",
            NodeStatus::NoAgent => "no_agent",
            NodeStatus::AgentNotReady => "agent_not_ready",
            NodeStatus::Forbidden => "forbidden",
            NodeStatus::Timeout => "timeout",
            NodeStatus::Unreachable => "unreachable",
            NodeStatus::AgentError => "agent_error",
        }
    }
}

/// One node's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResult {
    /// The node and its pool labels.
    #[serde(flatten)]
    pub node: ClusterNode,
    /// `namespace/name` of the agent pod asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_pod: Option<String>,
    /// How asking went.
    pub status: NodeStatus,
    /// The agent's verdict (`ok`, `unauthorized`, …), when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<AgentVerdict>,
    /// Why it could not be asked, or the agent's error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The agent's full report (`pullcheck probe -o json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AgentReport>,
    /// Time to ask, milliseconds.
    pub duration_ms: u64,
}

impl NodeResult {
    /// A node that was not asked, or whose asking failed, with why.
    pub fn not_asked(
        node: ClusterNode,
        agent: Option<&AgentPod>,
        status: NodeStatus,
        message: String,
    ) -> Self {
        NodeResult {
            node,
            agent_pod: agent.map(AgentPod::id),
            status,
            verdict: None,
            message: Some(message),
            report: None,
            duration_ms: 0,
        }
    }

    /// From what asking the agent gave.
    pub fn from_answer(
        node: ClusterNode,
        agent: &AgentPod,
        answer: transport::Result<transport::AgentReply>,
        took: Duration,
    ) -> Self {
        let mut r = match answer {
            Err(e) => {
                let status = match e {
                    transport::Error::Forbidden { .. } => NodeStatus::Forbidden,
                    _ => NodeStatus::Unreachable,
                };
                NodeResult::not_asked(
                    node,
                    Some(agent),
                    status,
                    crate::error_text::error_chain(&e),
                )
            }
            Ok(a) => match serde_json::from_slice::<Value>(&a.body) {
                Ok(v) => {
                    // A 200 naming a verdict is the report; anything else is the agent's error.
                    let parsed = if a.status == 200 {
                        AgentReport::parse(v)
                    } else {
                        Err(v)
                    };
                    match parsed {
                        Ok(report) => NodeResult {
                            node,
                            agent_pod: Some(agent.id()),
                            status: NodeStatus::Answered,
                            verdict: Some(report.verdict().clone()),
                            message: None,
                            report: Some(report),
                            duration_ms: 0,
                        },
                        Err(v) => {
                            let msg = v["message"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string());
                            NodeResult::not_asked(
                                node,
                                Some(agent),
                                NodeStatus::AgentError,
                                format!("agent {} answered HTTP {}: {msg}", agent.id(), a.status),
                            )
                        }
                    }
                }
                Err(e) => NodeResult::not_asked(
                    node,
                    Some(agent),
                    NodeStatus::AgentError,
                    format!(
                        "agent {} answered HTTP {} with a body that is not JSON: {e}",
                        agent.id(),
                        a.status
                    ),
                ),
            },
        };
        r.duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        r
    }

    /// The agent answered and the verdict is not `ok`.
    pub fn cannot_pull(&self) -> bool {
        self.status == NodeStatus::Answered
            && !self.verdict.as_ref().is_some_and(AgentVerdict::is_ok)
    }

    /// The report's reason, when the agent answered one.
    pub fn reason(&self) -> Option<&str> {
        self.report.as_ref()?.reason()
    }

    /// The report's remediation.
    pub fn remediation(&self) -> Option<&str> {
        self.report.as_ref()?.remediation()
    }

    /// The identity the verdict is for (`identity.description`), when the report has one.
    pub fn identity(&self) -> Option<&str> {
        self.report.as_ref()?.identity()
    }
}

/// A verdict as an agent names it: one this build knows, or a newer agent's, kept by name (it
/// counts as `unknown` for the exit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentVerdict {
    /// A verdict of this build's taxonomy.
    Known(crate::classify::Verdict),
    /// A name this build does not know.
    Newer(String),
}

impl AgentVerdict {
    /// The verdict named `name`.
    pub fn parse(name: &str) -> Self {
        crate::classify::Verdict::from_name(name).map_or_else(
            || AgentVerdict::Newer(name.to_string()),
            AgentVerdict::Known,
        )
    }

    /// Its snake_case name.
    pub fn as_str(&self) -> &str {
        match self {
            AgentVerdict::Known(v) => v.as_str(),
            AgentVerdict::Newer(n) => n,
        }
    }

    /// Pullable.
    pub fn is_ok(&self) -> bool {
        *self == AgentVerdict::Known(crate::classify::Verdict::Ok)
    }
}

impl serde::Serialize for AgentVerdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The exit code for a set of results: the failing verdicts' family code (or MIXED) when any
/// node cannot pull, else NOT_ASKED when any node was not asked, else OK.
pub fn exit_code(results: &[NodeResult]) -> u8 {
    if results.iter().any(NodeResult::cannot_pull) {
        super::exit::cannot_pull(
            results
                .iter()
                .filter(|r| r.cannot_pull())
                .map(|r| r.verdict.as_ref().map_or("unknown", AgentVerdict::as_str)),
        )
    } else if results.iter().any(|r| r.status != NodeStatus::Answered) {
        super::exit::NOT_ASKED
    } else {
        super::exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_agent_s_verdict_is_kept_by_name_and_counts_as_unknown() {
        let known = AgentVerdict::parse("unauthorized");
        assert_eq!(
            known,
            AgentVerdict::Known(crate::classify::Verdict::Unauthorized)
        );
        assert!(AgentVerdict::parse("ok").is_ok());
        let newer = AgentVerdict::parse("quantum_entangled");
        assert_eq!(newer.as_str(), "quantum_entangled");
        assert!(!newer.is_ok());
        assert_eq!(serde_json::to_value(&newer).unwrap(), "quantum_entangled");
        assert_eq!(super::super::exit::cannot_pull([newer.as_str()]), 1);
    }
}
