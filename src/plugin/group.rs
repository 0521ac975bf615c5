//! Grouping node results for people: nodes that got the same verdict, as the same identity,
//! for the same reason, in the same pool, make one line (`3 nodes in pool ng-2: forbidden as
//! role …/ng-2-node-role — ecr:BatchGetImage missing`); nodes that could not be asked are
//! grouped by why, and listed by name. Entry points: [`group`], [`FleetSummary::of`].

use super::outcome::{NodeResult, NodeStatus};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which part of the output a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The agent answered with a verdict other than `ok`.
    CannotPull,
    /// The node could not be asked.
    NotAsked,
    /// `ok`.
    CanPull,
}

/// Nodes with the same outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Where it goes.
    pub section: Section,
    /// How asking went.
    pub status: NodeStatus,
    /// The verdict, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The node pool, for answered groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The identity the verdict is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The agent's reason, or why the nodes could not be asked (the first node's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// The nodes, by name.
    pub nodes: Vec<String>,
    /// The one-line summary.
    pub line: String,
}

fn nodes_word(n: usize) -> String {
    if n == 1 {
        "1 node".into()
    } else {
        format!("{n} nodes")
    }
}

/// Groups results: cannot-pull groups first (largest first), then nodes not asked (by why),
/// then `ok` groups.
pub fn group(results: &[NodeResult]) -> Vec<Group> {
    type Key = (Section, NodeStatus, String, String, String, String);
    let mut by: BTreeMap<Key, Vec<&NodeResult>> = BTreeMap::new();
    for r in results {
        let key = match r.status {
            NodeStatus::Answered => (
                if r.cannot_pull() {
                    Section::CannotPull
                } else {
                    Section::CanPull
                },
                r.status,
                r.verdict
                    .as_ref()
                    .map_or_else(String::new, |v| v.as_str().to_string()),
                r.node.pool.clone().unwrap_or_default(),
                r.identity().unwrap_or_default().to_string(),
                r.reason().unwrap_or_default().to_string(),
            ),
            s => (
                Section::NotAsked,
                s,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        by.entry(key).or_default().push(r);
    }
    let mut groups: Vec<Group> = by
        .into_iter()
        .map(|((section, status, verdict, pool, identity, reason), rs)| {
            let first = rs[0];
            let n = rs.len();
            let nonempty = |s: String| (!s.is_empty()).then_some(s);
            let (line, reason) = match status {
                NodeStatus::Answered => {
                    let place = if pool.is_empty() {
                        format!("{} (no pool label)", nodes_word(n))
                    } else {
                        format!("{} in pool {pool}", nodes_word(n))
                    };
                    let who = if identity.is_empty() {
                        String::new()
                    } else {
                        format!(" as {identity}")
                    };
                    let why = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" — {reason}")
                    };
                    (format!("{place}: {verdict}{who}{why}"), nonempty(reason))
                }
                s => {
                    let msg = first.message.clone().unwrap_or_default();
                    let what = match s {
                        NodeStatus::NoAgent => "without an agent pod".to_string(),
                        NodeStatus::AgentNotReady => "whose agent pod is not ready".to_string(),
                        NodeStatus::Forbidden => format!("not asked: {msg}"),
                        NodeStatus::Timeout => format!("did not answer in time: {msg}"),
                        NodeStatus::Unreachable => format!("could not be reached: {msg}"),
                        NodeStatus::AgentError => format!("answered with an error: {msg}"),
                        NodeStatus::Answered => String::new(),
                    };
                    (format!("{} {what}", nodes_word(n)), Some(msg))
                }
            };
            Group {
                section,
                status,
                verdict: nonempty(verdict),
                pool: nonempty(pool),
                identity: nonempty(identity),
                reason,
                remediation: first.remediation().map(str::to_string),
                nodes: rs.iter().map(|r| r.node.name.clone()).collect(),
                line,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        (a.section, a.status, std::cmp::Reverse(a.nodes.len())).cmp(&(
            b.section,
            b.status,
            std::cmp::Reverse(b.nodes.len()),
        ))
    });
    groups
}

/// Counts over all nodes.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSummary {
    /// Nodes selected.
    pub nodes: usize,
    /// Nodes whose agent says `ok`.
    pub can_pull: usize,
    /// Nodes whose agent gives another verdict.
    pub cannot_pull: usize,
    /// Nodes not asked (no agent, not ready, forbidden, timeout, unreachable, agent error).
    pub not_asked: usize,
    /// Nodes per verdict.
    pub verdicts: BTreeMap<String, usize>,
    /// Nodes per status.
    pub statuses: BTreeMap<String, usize>,
}

impl FleetSummary {
    /// Counts `results`.
    pub fn of(results: &[NodeResult]) -> Self {
        let mut s = FleetSummary {
            nodes: results.len(),
            ..FleetSummary::default()
        };
        for r in results {
            *s.statuses.entry(r.status.as_str().to_string()).or_default() += 1;
            match (&r.verdict, r.status) {
                (Some(v), NodeStatus::Answered) => {
                    *s.verdicts.entry(v.as_str().to_string()).or_default() += 1;
                    if v.is_ok() {
                        s.can_pull += 1;
                    } else {
                        s.cannot_pull += 1;
                    }
                }
                _ => s.not_asked += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::discovery::ClusterNode;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn answered(name: &str, pool: &str, verdict: &str, who: &str, reason: &str) -> NodeResult {
        let labels: BTreeMap<String, String> =
            [("eks.amazonaws.com/nodegroup".to_string(), pool.to_string())].into();
        NodeResult {
            node: ClusterNode::new(name, &labels),
            agent_pod: Some(format!("pullcheck/agent-{name}")),
            status: NodeStatus::Answered,
            verdict: Some(crate::plugin::outcome::AgentVerdict::parse(verdict)),
            message: None,
            report: Some(
                crate::plugin::agent_report::AgentReport::parse(
                    json!({"verdict": verdict, "reason": reason, "remediation": "fix it",
                                "identity": {"description": who}}),
                )
                .unwrap(),
            ),
            duration_ms: 1,
        }
    }

    #[test]
    fn same_verdict_identity_reason_and_pool_make_one_line() {
        let role = "role arn:aws:iam::1:role/ng-2-node-role";
        let results = vec![
            answered("a", "ng-1", "ok", "anonymous", "readable"),
            answered("b", "ng-2", "forbidden", role, "ecr:BatchGetImage missing"),
            answered("c", "ng-2", "forbidden", role, "ecr:BatchGetImage missing"),
            answered("d", "ng-2", "forbidden", role, "ecr:BatchGetImage missing"),
            answered("e", "ng-1", "ok", "anonymous", "readable"),
            NodeResult::not_asked(
                ClusterNode::new("f", &BTreeMap::new()),
                None,
                NodeStatus::NoAgent,
                "no agent pod on node f".into(),
            ),
        ];
        let g = group(&results);
        assert_eq!(g.len(), 3);
        assert_eq!(
            g[0].line,
            format!("3 nodes in pool ng-2: forbidden as {role} — ecr:BatchGetImage missing")
        );
        assert_eq!(g[0].nodes, ["b", "c", "d"]);
        assert_eq!(g[0].section, Section::CannotPull);
        assert_eq!(g[1].line, "1 node without an agent pod");
        assert_eq!(g[1].nodes, ["f"]);
        assert_eq!(
            g[2].line,
            "2 nodes in pool ng-1: ok as anonymous — readable"
        );
        let s = FleetSummary::of(&results);
        assert_eq!(
            (s.nodes, s.can_pull, s.cannot_pull, s.not_asked),
            (6, 2, 3, 1)
        );
        assert_eq!(s.verdicts["forbidden"], 3);
        // Three nodes forbidden: the auth family's code, as `pullcheck probe` exits.
        assert_eq!(crate::plugin::outcome::exit_code(&results), 5);
        assert_eq!(crate::plugin::outcome::exit_code(&results[..1]), 0);
        assert_eq!(crate::plugin::outcome::exit_code(&results[4..]), 13);
    }
}
