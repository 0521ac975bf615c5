//! Printing: the grouped text view, `-o wide` (a row per node, then the groups), and the
//! machine-readable documents (`-o json`, `-o yaml`) of `image` ([`ImageCheck`]), `pod`
//! ([`pod_text`]) and `nodes` ([`nodes_table`]).

use super::group::{FleetSummary, Group, Section};
use super::outcome::NodeResult;
use super::pod::PodCheck;
use super::presence::Presence;
use crate::term::{escape, escape_view};
use serde::Serialize;
use std::fmt::Write;

/// Why a document could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// JSON encoding failed.
    #[error("cannot encode the result as JSON")]
    Json(#[source] serde_json::Error),
    /// YAML encoding failed.
    #[error("cannot encode the result as YAML")]
    Yaml(#[source] serde_saphyr::SerializeError),
}

/// Output formats (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Grouped lines for people.
    Text,
    /// A row per node, then the groups.
    Wide,
    /// JSON document.
    Json,
    /// YAML document.
    Yaml,
}

/// `-o json` of `image`: summary, groups and every node's result with the agent's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageCheck {
    /// `pullcheck.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `ImageCheck`.
    pub kind: &'static str,
    /// The image asked about.
    pub image: String,
    /// Counts.
    pub summary: FleetSummary,
    /// Grouped outcomes.
    pub groups: Vec<Group>,
    /// Every node, in name order.
    pub nodes: Vec<NodeResult>,
    /// The exit code.
    pub exit_code: u8,
}

impl ImageCheck {
    /// The document for these results.
    pub fn new(image: &str, nodes: Vec<NodeResult>) -> Self {
        ImageCheck {
            api_version: crate::report::API_VERSION,
            kind: "ImageCheck",
            image: image.to_string(),
            summary: FleetSummary::of(&nodes),
            groups: super::group::group(&nodes),
            exit_code: super::outcome::exit_code(&nodes),
            nodes,
        }
    }
}

/// A document as JSON or YAML; `None` for the text formats.
pub fn encode<T: Serialize>(doc: &T, format: Format) -> Result<Option<String>, Error> {
    match format {
        Format::Json => crate::term::json::to_string_pretty(doc)
            .map(|s| Some(s + "\n"))
            .map_err(Error::Json),
        Format::Yaml => serde_saphyr::to_string(doc).map(Some).map_err(Error::Yaml),
        Format::Text | Format::Wide => Ok(None),
    }
}

/// Most node names listed under a group in the text view (`-o wide` and JSON list all).
pub const NAMES_SHOWN: usize = 12;

/// The text (and, with `wide`, wide) view of `image`.
pub fn image_text(doc: &ImageCheck, wide: bool) -> String {
    let mut s = String::new();
    if wide {
        let rows: Vec<Vec<String>> = doc
            .nodes
            .iter()
            .map(|r| {
                vec![
                    r.node.name.clone(),
                    dash(r.node.pool.as_deref()),
                    dash(r.node.instance_type.as_deref()),
                    dash(r.node.zone.as_deref()),
                    dash(r.node.arch.as_deref()),
                    dash(r.agent_pod.as_deref()),
                    r.verdict
                        .as_ref()
                        .map_or_else(|| r.status.as_str().to_string(), |v| v.as_str().to_string()),
                    dash(r.identity()),
                    dash(r.reason().or(r.message.as_deref())),
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "NODE",
                "POOL",
                "INSTANCE-TYPE",
                "ZONE",
                "ARCH",
                "AGENT",
                "VERDICT",
                "IDENTITY",
                "REASON",
            ],
            &rows,
        ));
        s.push('\n');
    }
    let sm = &doc.summary;
    let _ = writeln!(
        s,
        "{} on {} node{}: {} can pull, {} cannot, {} not asked",
        doc.image,
        sm.nodes,
        if sm.nodes == 1 { "" } else { "s" },
        sm.can_pull,
        sm.cannot_pull,
        sm.not_asked
    );
    for (section, title) in [
        (Section::CannotPull, "CANNOT PULL"),
        (Section::NotAsked, "NOT ASKED"),
        (Section::CanPull, "CAN PULL"),
    ] {
        let groups: Vec<&Group> = doc.groups.iter().filter(|g| g.section == section).collect();
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}");
        for g in groups {
            let _ = writeln!(s, "  {}", g.line);
            if section == Section::CannotPull {
                if let Some(r) = &g.remediation {
                    let _ = writeln!(s, "    fix: {r}");
                }
            }
            let names = if wide || g.nodes.len() <= NAMES_SHOWN {
                g.nodes.join(", ")
            } else {
                format!(
                    "{}, … and {} more (-o wide lists all)",
                    g.nodes[..NAMES_SHOWN].join(", "),
                    g.nodes.len() - NAMES_SHOWN
                )
            };
            let _ = writeln!(s, "    nodes: {names}");
        }
    }
    escape_view(&s).into_owned()
}

/// The text view of `pod`.
pub fn pod_text(doc: &PodCheck, agent_pod: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Pod {} on node {}{}",
        doc.pod,
        doc.node.as_deref().unwrap_or("(not scheduled)"),
        agent_pod
            .map(|a| format!(" (agent {a})"))
            .unwrap_or_default()
    );
    if !doc.failing {
        let _ = writeln!(
            s,
            "No container is waiting on an image pull; checking every container's image."
        );
    }
    for c in &doc.containers {
        let kind = if c.init {
            "Init container"
        } else {
            "Container"
        };
        let _ = writeln!(s, "\n{kind} {} — image {}", c.name, c.image);
        let mut line = |k: &str, v: &str| {
            let label = format!("{k}:");
            let _ = if v.is_empty() {
                writeln!(s, "  {label}")
            } else {
                writeln!(s, "  {label:<15}{}", escape(v))
            };
        };
        if let Some(r) = &c.waiting_reason {
            line("Waiting", r);
        }
        if let Some(m) = &c.waiting_message {
            line("Message", m);
        }
        if let Some(d) = &c.message_classification {
            line(
                "Message says",
                &format!("{} — {}", d.verdict.as_str(), d.reason),
            );
        }
        match &c.agent {
            Some(a) if a.report.is_some() => {
                line(
                    "Agent says",
                    a.verdict
                        .as_ref()
                        .map_or("?", crate::plugin::outcome::AgentVerdict::as_str),
                );
                if let Some(i) = a.identity() {
                    line("As", i);
                }
                if let Some(r) = a.reason() {
                    line("Reason", r);
                }
                let ev = a
                    .report
                    .as_ref()
                    .map(|r| r.evidence_lines())
                    .unwrap_or_default();
                if !ev.is_empty() {
                    line("Evidence", "");
                    for e in ev {
                        let _ = writeln!(s, "    {e}");
                    }
                }
                if !a
                    .verdict
                    .as_ref()
                    .is_some_and(crate::plugin::outcome::AgentVerdict::is_ok)
                {
                    if let Some(r) = a.remediation() {
                        let _ = writeln!(s, "  {:<15}{r}", "Remediation:");
                    }
                }
            }
            Some(a) => {
                line(
                    "Agent",
                    &format!("not asked: {}", a.message.as_deref().unwrap_or("")),
                );
                // From the message alone: what it says fixes it, which secrets the pod
                // names, and what only an agent could check.
                if let Some(d) = &c.message_classification {
                    if d.verdict != crate::classify::Verdict::Ok && !d.remediation.is_empty() {
                        line("Remediation", &d.remediation);
                    }
                    let secrets = if doc.image_pull_secrets.is_empty() {
                        "none (the pod names no imagePullSecrets, and its service account added none)"
                            .to_string()
                    } else {
                        doc.image_pull_secrets.join(", ")
                    };
                    line("Pull secrets", &secrets);
                    let unchecked = if doc.image_pull_secrets.is_empty() {
                        crate::plugin::pod::UNCHECKED_WITHOUT_AGENT.to_string()
                    } else {
                        format!(
                            "{}, {}",
                            crate::plugin::pod::UNCHECKED_WITHOUT_AGENT,
                            crate::plugin::pod::SECRETS_UNCHECKED_WITHOUT_AGENT
                        )
                    };
                    line("Not checked", &unchecked);
                }
            }
            None => line("Agent", "not asked"),
        }
    }
    escape_view(&s).into_owned()
}

/// The table of `nodes`.
pub fn nodes_table(rows: &[Presence]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.node.name.clone(),
                dash(p.node.pool.as_deref()),
                dash(p.node.arch.as_deref()),
                dash(p.agent.as_ref().map(|a| a.name.as_str())),
                dash(p.agent.as_ref().and_then(|a| a.version.as_deref())),
                match &p.agent {
                    Some(a) if a.ready => "True".into(),
                    Some(_) => "False".into(),
                    None => "-".into(),
                },
                p.agent_status.clone(),
                dash(p.message.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "NODE",
            "POOL",
            "ARCH",
            "AGENT-POD",
            "VERSION",
            "POD-READY",
            "AGENT",
            "MESSAGE",
        ],
        &rows,
    )
}

/// A table cell: the value, or `-`.
fn dash(o: Option<&str>) -> String {
    o.unwrap_or("-").to_string()
}

/// Left-aligned columns, kubectl style (three spaces between columns).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    // Cells hold node, pod and registry text: escaped first, so a newline or an escape
    // sequence neither breaks the table nor reaches the terminal.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut s = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 3));
            }
        }
        s.push('\n');
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    escape_view(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_answered_from_its_message_alone_says_the_fix_and_the_secrets() {
        use crate::plugin::discovery::ClusterNode;
        use crate::plugin::outcome::{NodeResult, NodeStatus};
        use crate::plugin::pod::{containers, pull_secrets, PodCheck};
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {"nodeName": "n1", "imagePullSecrets": [{"name": "regcred"}, {"name": "ghcr"}],
                     "containers": [{"name": "app", "image": "r.example/app:v1"}]},
            "status": {"containerStatuses": [{"name": "app", "image": "r.example/app:v1", "imageID": "",
                "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull",
                "message": "failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": unexpected status from HEAD request to https://r.example/v2/app/manifests/v1: 401 Unauthorized"}}}]}
        }))
        .unwrap();
        let (mut checks, failing) = containers(&pod, false);
        for c in &mut checks {
            c.agent = Some(NodeResult::not_asked(
                ClusterNode::new("n1", &Default::default()),
                None,
                NodeStatus::NoAgent,
                "no agent pod on node n1".into(),
            ));
        }
        let doc = PodCheck::new(
            "team-a/web".into(),
            Some("n1".into()),
            (failing, pull_secrets(&pod)),
            checks,
        );
        let text = pod_text(&doc, None);
        let remediation = &doc.containers[0]
            .message_classification
            .as_ref()
            .unwrap()
            .remediation;
        assert!(!remediation.is_empty());
        assert!(
            text.contains(&format!("  Remediation:   {remediation}")),
            "{text}"
        );
        assert!(text.contains("  Pull secrets:  regcred, ghcr\n"), "{text}");
        assert!(
            text.contains("nor whether these pull secrets exist"),
            "{text}"
        );
        assert_eq!(doc.image_pull_secrets, ["regcred", "ghcr"]);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["imagePullSecrets"][1], "ghcr");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A     BB\nxxx   y\n");
    }
}
