//! The kubectl plugin's logic (`kubectl pullcheck`): find the agent pod on each node
//! ([`discovery`]), ask it through the API server's port-forward ([`transport`]), many nodes at
//! once with bounded concurrency ([`fanout`]), then group the answers by verdict and node pool
//! ([`group`]) and print them ([`render`]); [`pod`] reads a failing pod's containers and
//! classifies their waiting messages. The binary (`src/bin/kubectl-pullcheck/`) only parses
//! flags and wires these together.
//!
//! The plugin never contacts a registry or reads a credential itself: every verdict comes from
//! the agent on the node, which probes with the node's (and, given `pod=`, the pod's) identity.
//!
//! Exit codes ([`exit`]): 0 every node asked can pull; 1 at least one cannot; 2 usage or bad
//! input (flags, image reference, unknown node or pod); 3 nothing failed but some nodes could
//! not be asked (no agent, agent not ready, port-forward forbidden, timeout, unreachable);
//! 4 cluster error (kubeconfig, API server unreachable or refusing, agent not installed).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod discovery;
pub mod fanout;
pub mod group;
pub mod outcome;
pub mod pod;
pub mod presence;
pub mod render;
pub mod transport;

/// The plugin's exit codes.
pub mod exit {
    /// Every node asked can pull.
    pub const OK: u8 = 0;
    /// At least one node cannot pull (or the pod's image cannot be pulled).
    pub const CANNOT_PULL: u8 = 1;
    /// Bad flags or input: image reference, unknown node, unknown pod.
    pub const USAGE: u8 = 2;
    /// Nothing failed, but some nodes could not be asked.
    pub const NOT_ASKED: u8 = 3;
    /// The cluster could not be used: kubeconfig, API server, RBAC on lists, no agents.
    pub const CLUSTER: u8 = 4;
}

/// The agent's API port on the node (its `--listen` default, 127.0.0.1:8740 with hostNetwork).
pub const DEFAULT_AGENT_PORT: u16 = 8740;
/// The namespace the manifests and the chart install the agents in.
pub const DEFAULT_AGENT_NAMESPACE: &str = "pullcheck";
/// The label selector of the agent pods.
pub const DEFAULT_AGENT_SELECTOR: &str = "app.kubernetes.io/name=pullcheck";
/// How to install the agents, for "agent not installed" messages.
pub const INSTALL_HINT: &str = "install the agents from a pullcheck checkout with `kubectl apply -f deploy/pullcheck.yaml` (or deploy/pullcheck-{eks,gke,aks}.yaml, or the Helm chart deploy/helm/pullcheck)";

pub use crate::identity::error_chain;
