//! The node side every probe shares ([`NodeContext`]): the node's credential sources, the CRI
//! client, the proxy environment of the runtime that pulls, the Kubernetes API client when there
//! is one, the cloud identities' endpoints and the probe settings ([`NodeSettings`]). The agent
//! loads it once from its configuration, before binding any port; the probe service, the drift
//! monitor and `/v1/node` read it.

use super::watch::CloudWatch;
use crate::identity::cloud::CloudSettings;
use crate::identity::node_identity::NodeIdentity;
use crate::net::proxy::ProxyEnv;
use crate::node_setup::NodeSettings;
use crate::runtime::RuntimeClient;
use std::sync::Arc;

/// The node side every probe shares.
pub struct NodeContext {
    /// Node credential sources.
    pub identity: Arc<NodeIdentity>,
    /// The CRI client, or why there is none.
    pub runtime: Result<RuntimeClient, String>,
    /// The Kubernetes API (pull secrets; TokenReview and SubjectAccessReview).
    pub kube: Option<kube::Client>,
    /// Why there is no Kubernetes API client, when there is none.
    pub kube_missing: Option<String>,
    /// The pulling runtime's proxy environment (CRI-O's on a CRI-O node).
    pub proxy: ProxyEnv,
    /// What the cloud identities said last, for `/v1/node`.
    pub cloud_seen: CloudWatch,
    /// The probe settings from the configuration.
    pub settings: NodeSettings,
}

impl NodeContext {
    /// The built-in cloud identities' endpoints (`None`: `--no-cloud-identity`).
    pub fn cloud(&self) -> Option<CloudSettings> {
        self.settings.cloud_settings()
    }

    /// The CRI client for a runtime pull ([`NodeSettings::runtime_for_pull`]).
    pub fn runtime_for_pull(&self) -> RuntimeClient {
        self.settings.runtime_for_pull(&self.runtime)
    }
}
