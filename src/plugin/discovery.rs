//! Which nodes to ask and which agent pod answers for each: nodes by name, label selector or
//! all ([`NodeSelection`], [`nodes`]); agent pods by label in the agent namespace, mapped to
//! their node through `spec.nodeName` ([`agents`], [`Agents`]). Node facts used for grouping
//! ([`ClusterNode`]): pool, instance type, zone, architecture.

use super::cluster::api_message;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::Client;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Why the nodes or agents could not be found.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing nodes failed (RBAC, API server unreachable).
    #[error("cannot list nodes{}: {}{}", selector_note(.selector), api_message(.source), rbac_hint(.source, "list", "nodes", None))]
    ListNodes {
        /// The label selector, if any.
        selector: Option<String>,
        /// Why.
        source: kube::Error,
    },
    /// Reading one node failed (other than not found).
    #[error("cannot read node {name:?}: {}{}", api_message(.source), rbac_hint(.source, "get", "nodes", None))]
    GetNode {
        /// The node.
        name: String,
        /// Why.
        source: kube::Error,
    },
    /// `--node NAME` names no node.
    #[error("node {name:?} not found (see kubectl get nodes)")]
    UnknownNode {
        /// The node.
        name: String,
    },
    /// The selector matches no node.
    #[error("no node matches the label selector {selector:?}")]
    NoNodes {
        /// The selector.
        selector: String,
    },
    /// Listing the agent pods failed.
    #[error("cannot list the agent pods ({selector}) in namespace {namespace}: {}{}", api_message(.source), rbac_hint(.source, "list", "pods", Some(.namespace)))]
    ListAgents {
        /// The agent namespace.
        namespace: String,
        /// The agent selector.
        selector: String,
        /// Why.
        source: kube::Error,
    },
    /// No agent pod at all.
    #[error("the pullcheck agent is not installed: no pod matches {selector:?} in namespace {namespace}; {}", super::INSTALL_HINT)]
    NotInstalled {
        /// The agent namespace.
        namespace: String,
        /// The agent selector.
        selector: String,
    },
}

impl Error {
    /// The plugin exit code for this error: unknown nodes are bad input, the rest cluster errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::UnknownNode { .. } | Error::NoNodes { .. } => super::exit::USAGE,
            _ => super::exit::CLUSTER,
        }
    }

    /// The Kubernetes API error behind it, when there is one.
    pub fn kube_source(&self) -> Option<&kube::Error> {
        match self {
            Error::ListNodes { source, .. }
            | Error::GetNode { source, .. }
            | Error::ListAgents { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn selector_note(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" matching {s:?}"))
        .unwrap_or_default()
}

/// `; you need "VERB" on RESOURCE …` after a 403, else nothing.
pub fn rbac_hint(e: &kube::Error, verb: &str, resource: &str, ns: Option<&str>) -> String {
    if super::cluster::api_code(e) != Some(403) {
        return String::new();
    }
    match ns {
        Some(ns) => format!("; you need {verb:?} on {resource} in namespace {ns}"),
        None => format!("; you need {verb:?} on {resource} (cluster-wide)"),
    }
}

/// Node labels naming the node pool, most specific first; the instance type is the fallback.
pub const POOL_LABELS: [&str; 7] = [
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "karpenter.sh/nodepool",
    "node.kubernetes.io/pool",
    "node.kubernetes.io/instance-type",
];
/// The instance type label.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
/// The zone label.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The architecture label.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// What grouping needs to know about a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNode {
    /// The node's name.
    pub name: String,
    /// Its pool: the first of [`POOL_LABELS`] present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The label the pool came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_label: Option<String>,
    /// `node.kubernetes.io/instance-type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// `topology.kubernetes.io/zone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// `kubernetes.io/arch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

impl ClusterNode {
    /// Facts from a node's name and labels.
    pub fn new(name: &str, labels: &BTreeMap<String, String>) -> Self {
        let pool = POOL_LABELS
            .iter()
            .find_map(|l| labels.get(*l).map(|v| (l.to_string(), v.clone())));
        ClusterNode {
            name: name.to_string(),
            pool: pool.as_ref().map(|p| p.1.clone()),
            pool_label: pool.map(|p| p.0),
            instance_type: labels.get(INSTANCE_TYPE_LABEL).cloned(),
            zone: labels.get(ZONE_LABEL).cloned(),
            arch: labels.get(ARCH_LABEL).cloned(),
        }
    }

    /// Facts of a Node object.
    pub fn from_node(node: &Node) -> Self {
        let empty = BTreeMap::new();
        ClusterNode::new(
            node.metadata.name.as_deref().unwrap_or(""),
            node.metadata.labels.as_ref().unwrap_or(&empty),
        )
    }
}

/// Which nodes `image` asks.
#[derive(Debug, Clone)]
pub enum NodeSelection {
    /// `--all-nodes`.
    All,
    /// `--node N` (repeatable), in the order given.
    Names(Vec<String>),
    /// `-l SELECTOR`.
    Selector(String),
}

/// The selected nodes, sorted by name (names in the order given).
pub async fn nodes(client: &Client, selection: &NodeSelection) -> Result<Vec<ClusterNode>> {
    let api: Api<Node> = Api::all(client.clone());
    match selection {
        NodeSelection::Names(names) => {
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                match api.get_opt(name).await {
                    Ok(Some(n)) => out.push(ClusterNode::from_node(&n)),
                    Ok(None) => return Err(Error::UnknownNode { name: name.clone() }),
                    Err(source) => {
                        return Err(Error::GetNode {
                            name: name.clone(),
                            source,
                        })
                    }
                }
            }
            Ok(out)
        }
        NodeSelection::All | NodeSelection::Selector(_) => {
            let selector = match selection {
                NodeSelection::Selector(s) => Some(s.clone()),
                _ => None,
            };
            let mut lp = ListParams::default();
            if let Some(s) = &selector {
                lp = lp.labels(s);
            }
            let list = api.list(&lp).await.map_err(|source| Error::ListNodes {
                selector: selector.clone(),
                source,
            })?;
            let mut out: Vec<ClusterNode> = list.items.iter().map(ClusterNode::from_node).collect();
            if out.is_empty() {
                if let Some(selector) = selector {
                    return Err(Error::NoNodes { selector });
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
    }
}

/// An agent pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.nodeName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod's Ready condition is True.
    pub ready: bool,
    /// `status.phase`.
    pub phase: String,
    /// The agent container's image tag (its version), when the image has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl AgentPod {
    /// From a Pod object.
    pub fn from_pod(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        AgentPod {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            ready,
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into()),
            version: image.as_deref().and_then(image_tag),
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Running and Ready: worth asking.
    pub fn usable(&self) -> bool {
        self.ready && self.phase == "Running"
    }
}

/// The tag of an image reference (`…/pullcheck:0.1.0` → `0.1.0`; digests and no tag → None).
fn image_tag(image: &str) -> Option<String> {
    let name = image.split('@').next()?;
    let last = name.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t.to_string())
}

/// The agent pod of each node: a ready one when a node has several (a rollout).
#[derive(Debug, Clone, Default)]
pub struct Agents {
    by_node: HashMap<String, AgentPod>,
}

impl Agents {
    /// Indexes pods by `spec.nodeName` (unscheduled pods are left out).
    pub fn index(pods: Vec<AgentPod>) -> Self {
        let mut by_node: HashMap<String, AgentPod> = HashMap::new();
        for p in pods {
            let Some(node) = p.node.clone() else { continue };
            let better = by_node
                .get(&node)
                .is_none_or(|cur| (p.usable(), p.ready) > (cur.usable(), cur.ready));
            if better {
                by_node.insert(node, p);
            }
        }
        Agents { by_node }
    }

    /// The agent pod on `node`.
    pub fn on(&self, node: &str) -> Option<&AgentPod> {
        self.by_node.get(node)
    }

    /// Number of nodes with an agent pod.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }

    /// No node has an agent pod.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

/// Lists the agent pods (on `node` only, when given). No agent pod in the namespace at all is
/// [`Error::NotInstalled`]; none on that node is an empty result.
pub async fn agents(
    client: &Client,
    namespace: &str,
    selector: &str,
    node: Option<&str>,
) -> Result<Agents> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let err = |source| Error::ListAgents {
        namespace: namespace.to_string(),
        selector: selector.to_string(),
        source,
    };
    let mut lp = ListParams::default().labels(selector);
    if let Some(n) = node {
        lp = lp.fields(&format!("spec.nodeName={n}"));
    }
    let list = api.list(&lp).await.map_err(err)?;
    if list.items.is_empty() {
        // None on this node, or none anywhere?
        let any = match node {
            Some(_) => !api
                .list(&ListParams::default().labels(selector).limit(1))
                .await
                .map_err(err)?
                .items
                .is_empty(),
            None => false,
        };
        if !any {
            return Err(Error::NotInstalled {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
            });
        }
    }
    Ok(Agents::index(
        list.items.iter().map(AgentPod::from_pod).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_pool_is_the_first_pool_label_present() {
        let f = ClusterNode::new(
            "n1",
            &labels(&[
                ("karpenter.sh/nodepool", "default"),
                ("eks.amazonaws.com/nodegroup", "ng-2"),
                (INSTANCE_TYPE_LABEL, "m5.large"),
                (ZONE_LABEL, "eu-west-1a"),
                (ARCH_LABEL, "arm64"),
            ]),
        );
        assert_eq!(f.pool.as_deref(), Some("ng-2"));
        assert_eq!(f.pool_label.as_deref(), Some("eks.amazonaws.com/nodegroup"));
        assert_eq!(f.instance_type.as_deref(), Some("m5.large"));
        assert_eq!(f.arch.as_deref(), Some("arm64"));
        // Only the instance type: it is the pool.
        let f = ClusterNode::new("n2", &labels(&[(INSTANCE_TYPE_LABEL, "e2-small")]));
        assert_eq!(f.pool.as_deref(), Some("e2-small"));
        assert_eq!(ClusterNode::new("n3", &BTreeMap::new()).pool, None);
    }

    fn agent(name: &str, node: Option<&str>, ready: bool) -> AgentPod {
        AgentPod {
            namespace: "pullcheck".into(),
            name: name.into(),
            node: node.map(str::to_string),
            ready,
            phase: "Running".into(),
            version: None,
        }
    }

    #[test]
    fn a_ready_agent_wins_on_its_node_and_unscheduled_ones_are_left_out() {
        let a = Agents::index(vec![
            agent("old", Some("n1"), false),
            agent("new", Some("n1"), true),
            agent("late", Some("n1"), false),
            agent("pending", None, false),
        ]);
        assert_eq!(a.len(), 1);
        assert_eq!(a.on("n1").unwrap().name, "new");
        assert!(a.on("n2").is_none());
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            image_tag("r:5000/pullcheck:0.1.0").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(image_tag("r:5000/pullcheck"), None);
        assert_eq!(image_tag("pullcheck:1@sha256:abc").as_deref(), Some("1"));
    }
}
