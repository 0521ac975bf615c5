//! The node side every probe shares ([`NodeContext`]): the node's credential sources, the CRI
//! client, the proxy environment of the runtime that pulls, the Kubernetes API client when there
//! is one, the cloud identities' endpoints and the probe settings ([`ProbeSettings`]). The agent
//! loads it once from its configuration, before binding any port; the probe service, the drift
//! monitor and `/v1/node` read it.

use super::watch::CloudWatch;
use crate::identity::cloud::CloudSettings;
use crate::identity::node_identity::NodeIdentity;
use crate::net::proxy::ProxyEnv;
use crate::runtime::{RuntimeClient, RuntimeEndpoint};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Node-side settings the probes use (the same as `pullcheck probe`'s flags).
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// Time limit per probe step.
    pub timeout: Duration,
    /// containerd certs.d root override.
    pub hosts_dir: Option<PathBuf>,
    /// containerd's config file.
    pub containerd_config: Option<PathBuf>,
    /// The host's /proc.
    pub proc_root: PathBuf,
    /// The kubelet's root dir.
    pub kubelet_root_dir: Option<PathBuf>,
    /// Credential provider config.
    pub image_credential_provider_config: Option<PathBuf>,
    /// Credential provider binaries.
    pub image_credential_provider_bin_dir: Option<PathBuf>,
    /// Time limit per plugin run.
    pub credential_provider_timeout: Duration,
    /// CRI endpoint (`None`: detect).
    pub runtime_endpoint: Option<RuntimeEndpoint>,
    /// Time limit per CRI call.
    pub runtime_timeout: Duration,
    /// Time limit for PullImage.
    pub runtime_pull_timeout: Duration,
    /// IMDS endpoint for EKS.
    pub imds_endpoint: Option<String>,
    /// GCE metadata host for GKE.
    pub gce_metadata_host: Option<String>,
    /// Time limit per metadata request.
    pub metadata_timeout: Duration,
    /// Whether the built-in cloud identities (EKS, GKE) are consulted.
    pub cloud_identity: bool,
    /// The node's cloud (`--cloud`, or DMI): only its identity is asked.
    pub cloud: crate::identity::platform::Cloud,
    /// Where manifest and config bodies are kept across restarts (`None`: memory only).
    pub state_dir: Option<PathBuf>,
    /// Whose pull path to follow (`None`: the runtime's own).
    pub runtime_kind: Option<crate::endpoints::runtime_kind::RuntimeKind>,
    /// CRI-O's files.
    pub crio: crate::endpoints::crio_files::CrioFiles,
}

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
    /// containerd's proxy environment.
    pub proxy: ProxyEnv,
    /// The built-in cloud identities' endpoints (`None`: `--no-cloud-identity`).
    pub cloud: Option<CloudSettings>,
    /// What the cloud identities said last, for `/v1/node`.
    pub cloud_seen: CloudWatch,
    /// The probe settings from the configuration.
    pub settings: ProbeSettings,
}

impl NodeContext {
    /// The CRI client for a runtime pull: the detected one, else the default socket (its
    /// absence then shows as `runtime_unavailable`, as in the CLI).
    pub fn runtime_for_pull(&self, timeout: std::time::Duration) -> RuntimeClient {
        match &self.runtime {
            Ok(c) => c.clone(),
            Err(_) => RuntimeClient::new(
                RuntimeEndpoint {
                    path: crate::runtime::endpoint::KNOWN_SOCKETS[0].1.into(),
                },
                timeout,
            ),
        }
    }
}
