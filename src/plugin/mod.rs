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
//! Exit codes ([`exit`], one table with `pullcheck`'s): 0 every node asked can pull; 2 usage or
//! bad input (flags, image reference, unknown node or pod); 1 and 3–11 the family of the
//! failing nodes' verdict, as `pullcheck probe` exits; 12 failing nodes in different families;
//! 13 nothing failed but some nodes could not be asked (no agent, agent not ready,
//! port-forward forbidden, timeout, unreachable); 14 cluster error (kubeconfig, API server
//! unreachable or refusing, agent not installed).
#![forbid(unsafe_code)]

pub mod agent_report;
pub mod cluster;
pub mod discovery;
pub mod fanout;
pub mod group;
pub mod outcome;
pub mod pod;
pub mod presence;
pub mod render;
pub mod transport;

pub mod exit {
    //! One table with `pullcheck`'s: 0 and 2 mean the same in both programs, a node that
    //! cannot pull exits with its verdict's family code (1, 3–11, as `pullcheck probe` does),
    //! and the plugin's own outcomes take 12–14, which `pullcheck` never uses.

    use crate::classify::Verdict;

    /// Every node asked can pull.
    pub const OK: u8 = 0;
    /// Bad flags or input: image reference, unknown node, unknown pod.
    pub const USAGE: u8 = 2;
    /// Nodes cannot pull for reasons in different families (the output lists each node's).
    pub const MIXED: u8 = 12;
    /// Nothing failed, but some nodes could not be asked.
    pub const NOT_ASKED: u8 = 13;
    /// The cluster could not be used: kubeconfig, API server, RBAC on lists, no agents.
    pub const CLUSTER: u8 = 14;

    /// The exit code for the verdicts of the nodes that cannot pull: their family's code when
    /// they share one (a verdict this build does not know counts as `unknown`), else [`MIXED`].
    pub fn cannot_pull<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> u8 {
        let mut codes = verdicts.into_iter().map(|v| {
            let family =
                Verdict::from_name(v).map_or(crate::classify::Family::Unknown, |v| v.family());
            u8::try_from(family.exit_code()).unwrap_or(MIXED)
        });
        let Some(first) = codes.next() else {
            return OK;
        };
        if codes.all(|c| c == first) {
            first
        } else {
            MIXED
        }
    }
    #[cfg(test)]
    mod tests {
        #[test]
        fn failing_nodes_exit_with_their_family_or_mixed() {
            assert_eq!(super::cannot_pull(["unauthorized", "forbidden"]), 5);
            assert_eq!(super::cannot_pull(["manifest_unknown"]), 4);
            assert_eq!(
                super::cannot_pull(["unauthorized", "timeout"]),
                super::MIXED
            );
            assert_eq!(super::cannot_pull(["a_verdict_from_a_newer_agent"]), 1);
            assert_eq!(super::cannot_pull([]), super::OK);
        }
    }
}

/// The agent's API port on the node (its `--listen` default, 127.0.0.1:8740 with hostNetwork).
pub const DEFAULT_AGENT_PORT: u16 = 8740;
/// The namespace the manifests and the chart install the agents in.
pub const DEFAULT_AGENT_NAMESPACE: &str = "pullcheck";
/// The label selector of the agent pods.
pub const DEFAULT_AGENT_SELECTOR: &str = "app.kubernetes.io/name=pullcheck";
/// How to install the agents, for "agent not installed" messages.
pub const INSTALL_HINT: &str = "install the agents: `helm install pullcheck oci://ghcr.io/pullcheck/charts/pullcheck -n pullcheck --create-namespace`, or from a pullcheck checkout `kubectl apply -f deploy/pullcheck.yaml` (or deploy/pullcheck-{eks,gke,aks,openshift}.yaml)";
