//! What the agent loads once, before binding any port ([`load`]): the node's credential
//! sources (kubelet view, node file, credential plugins), containerd's registry configuration
//! (its file found here — given, or the one containerd's command line names — checked, and
//! re-read by every probe so edits apply without a restart), the CRI client, the
//! proxy the runtime uses, and the Kubernetes API client when one can be had, as the probe
//! service's [`NodeContext`]. A problem with any of these is a configuration error naming its
//! key.

use super::config::{Config, ConfigOrigin, Error};
use crate::endpoints::RegistryConfig;
use crate::identity::kube_secrets;
use crate::service::NodeContext;
use std::sync::Arc;

fn invalid(key: &str, value: String, problem: String) -> Error {
    Error::Invalid {
        key: key.to_string(),
        value,
        origin: ConfigOrigin::Args,
        problem,
    }
}

/// Loads everything; must run inside the tokio runtime (the CRI channel spawns there).
pub async fn load(c: &Config) -> Result<NodeContext, Error> {
    let p = &c.probe;
    let identity = p.node_identity().map_err(|e| {
        invalid(
            "image-credential-provider-config",
            p.image_credential_provider_config
                .as_ref()
                .map_or_else(|| "(the kubelet's)".into(), |p| p.display().to_string()),
            crate::error_text::error_chain(&e),
        )
    })?;
    let containerd_config = p.containerd_config_path();
    RegistryConfig::read(containerd_config.as_deref(), p.hosts_dir.as_deref()).map_err(|e| {
        let (key, value) = match &p.hosts_dir {
            Some(h) => ("hosts-dir", h.display().to_string()),
            None => (
                "containerd-config",
                containerd_config.as_ref().map_or_else(
                    || "/etc/containerd/config.toml".into(),
                    |c| c.display().to_string(),
                ),
            ),
        };
        invalid(key, value, crate::error_text::error_chain(&e))
    })?;
    let runtime = p.runtime_client();
    let (kube, kube_missing) = match kube_secrets::client(c.kubeconfig.as_deref()).await {
        Ok(client) => (Some(client), None),
        Err(e) if c.kubeconfig.is_some() => {
            return Err(invalid(
                "kubeconfig",
                c.kubeconfig
                    .as_ref()
                    .map(|k| k.display().to_string())
                    .unwrap_or_default(),
                e.to_string(),
            ))
        }
        Err(e) => (None, Some(e.to_string())),
    };
    if let (Some(addr), None) = (c.network_listen, &kube) {
        return Err(Error::Conflict {
            key: "network-listen",
            problem: format!(
                "{addr} needs the Kubernetes API to authenticate callers (TokenReview), \
                     and none is configured: {}",
                kube_missing.as_deref().unwrap_or("no client")
            ),
        });
    }
    // The pulling runtime's proxy environment: CRI-O's on a CRI-O node.
    let proxy = p.proxy(&runtime);
    Ok(NodeContext {
        identity: Arc::new(identity),
        runtime,
        kube,
        kube_missing,
        proxy,
        cloud_seen: Default::default(),
        // containerd's config file, as found here, for every probe of this process.
        settings: crate::node_setup::NodeSettings {
            containerd_config,
            ..p.clone()
        },
    })
}
