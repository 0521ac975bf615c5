//! The credentials the kubelet would try for one image, in its order ([`candidates`]): explicit
//! flags, then the pull secrets — the `--docker-config` files and the pod's `imagePullSecrets`
//! and `--secret`s read through the Kubernetes API, all in one keyring as
//! `getPullSecretsForPod` builds it — then the node file, the credential providers, and the
//! built-in cloud identity when no provider covers the registry; anonymous only when there is
//! none (the kubelet never falls back to anonymous after a credential fails). And which failed
//! node identity explains an auth failure ([`unavailable_identity`]).

use super::cloud::{self, CloudSettings};
use super::credential_provider::PluginStatus;
use super::keyring::{Keyring, Origin};
use super::kube_secrets::{self, ObjectRef};
use super::node_identity::NodeIdentity;
use super::{docker_config, Credential, IdentitySources, RegistryAuth, Source};
use crate::reference::ImageRef;
use std::path::PathBuf;

/// Why the candidates could not be gathered (the kubelet fails the whole lookup too).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pull-secret docker config file is unusable.
    #[error(transparent)]
    DockerConfig(#[from] docker_config::Error),
    /// The pod or a pull secret could not be read from the Kubernetes API.
    #[error(transparent)]
    Kube(#[from] kube_secrets::Error),
}

/// Where to look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// Explicit credentials (`--username`/`--password-stdin`).
    pub basic: Option<&'a RegistryAuth>,
    /// Pull-secret docker config files, in pod-spec order.
    pub docker_configs: &'a [PathBuf],
    /// Pull secrets from the Kubernetes API.
    pub kube: Option<&'a KubeRequest>,
    /// The node's own credentials (node file, credential providers).
    pub node: Option<&'a NodeIdentity>,
    /// The built-in cloud identities.
    pub cloud: Option<&'a CloudSettings>,
}

/// The candidates, where they came from, and warnings about the cloud identity.
#[derive(Debug)]
pub struct Candidates {
    /// In kubelet order (at least one: anonymous).
    pub credentials: Vec<Credential>,
    /// Where they came from.
    pub sources: IdentitySources,
    /// Warnings (e.g. a cloud token about to expire).
    pub warnings: Vec<String>,
}

/// Which pull secrets to read through the Kubernetes API.
#[derive(Clone)]
pub struct KubeRequest {
    /// The API client.
    pub client: kube::Client,
    /// The pod whose `imagePullSecrets` the kubelet would use (`--pod NS/NAME`).
    pub pod: Option<ObjectRef>,
    /// More secrets, after the pod's (`--secret NS/NAME`, repeatable).
    pub secrets: Vec<ObjectRef>,
}

impl std::fmt::Debug for KubeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRequest")
            .field("pod", &self.pod)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// Candidate credentials in kubelet order: explicit flags, then the pull secrets (one keyring
/// over every `--docker-config` file), the node file, the credential plugins; anonymous only
/// when there is none (no anonymous fallback after a credential fails).
pub async fn candidates(image: &ImageRef, req: &Asked<'_>) -> Result<Candidates, Error> {
    let repo = image.name();
    let mut out = Vec::new();
    let mut sources = IdentitySources::default();
    if let Some(auth @ RegistryAuth::Basic { username, .. }) = req.basic {
        out.push(Credential {
            auth: auth.clone(),
            source: Source::Flags {
                username: username.clone(),
            },
        });
    }
    let mut secrets = Keyring::new();
    for path in req.docker_configs {
        let display = path.display().to_string();
        let bytes = docker_config::read_file(path)?;
        let config = docker_config::parse_sniffed(&display, &bytes)?;
        secrets.add(
            Origin::PullSecret {
                path: display.clone(),
            },
            &config,
        );
        sources.pull_secrets.push(display);
    }
    if let Some(k) = req.kube {
        read_api_secrets(k, &mut secrets, &mut sources).await?;
    }
    out.extend(secrets.lookup(&repo));
    sources.notes.extend(secrets.notes().iter().cloned());
    sources.notes.extend(
        secrets
            .invalid_keys()
            .iter()
            .map(|k| format!("pull secret key {k:?} is not a valid URL: the kubelet ignores it")),
    );
    if let Some(node) = req.node {
        let found = node.lookup(&repo).await;
        out.extend(found.node_file);
        out.extend(found.plugins);
        sources.plugins = found.plugin_outcomes;
        sources.notes.extend(node.notes.iter().cloned());
        sources.notes.extend(found.notes);
        sources.node = Some(node.sources());
    }
    // The node's provider for ECR / Google registries, when no plugin is configured for them.
    let mut warnings = Vec::new();
    let plugin_covers = sources
        .plugins
        .iter()
        .any(|p| p.status != PluginStatus::NotMatched);
    if let (Some(settings), false) = (req.cloud, plugin_covers) {
        if let Some(found) = cloud::lookup(settings, &image.registry).await {
            out.extend(found.credential);
            warnings.extend(found.warnings);
            sources.cloud = Some(found.outcome);
        }
    }
    if out.is_empty() {
        out.push(Credential::anonymous());
    }
    Ok(Candidates {
        credentials: out,
        sources,
        warnings,
    })
}

/// Reads the pod's `imagePullSecrets` (in order) and the `--secret` refs into the pull-secret
/// keyring, as the kubelet's `getPullSecretsForPod` does.
async fn read_api_secrets(
    k: &KubeRequest,
    secrets: &mut Keyring,
    sources: &mut IdentitySources,
) -> Result<(), Error> {
    let mut refs = Vec::new();
    if let Some(pod) = &k.pod {
        let pod_refs = kube_secrets::pod_references(&k.client, pod).await?;
        refs.extend(pod_refs.image_pull_secrets.iter().map(|name| ObjectRef {
            namespace: pod.namespace.clone(),
            name: name.clone(),
        }));
        if !pod_refs.service_account_pull_secrets.is_empty() {
            sources.notes.push(format!(
                "ServiceAccount {} lists imagePullSecrets [{}]: copied into a pod at admission only when the pod had none; the kubelet uses the pod's list",
                pod_refs.service_account.as_deref().unwrap_or("default"),
                pod_refs.service_account_pull_secrets.join(", ")
            ));
        }
        sources.pod = Some(pod_refs);
    }
    refs.extend(k.secrets.iter().cloned());
    for r in refs {
        let read = kube_secrets::read_pull_secret(&k.client, &r).await?;
        sources.secrets.push(r.to_string());
        if let Some(w) = read.warning {
            sources.notes.push(w);
        }
        if let Some(config) = read.config {
            secrets.add(
                Origin::Secret {
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                },
                &config,
            );
        }
    }
    Ok(())
}

/// When every credential failed (or there was none) and a node identity source failed, the
/// reason to report: a failed plugin or cloud identity is the likely cause of an auth error.
pub fn unavailable_identity(
    sources: &IdentitySources,
    candidates: &[Credential],
) -> Option<String> {
    let only_anonymous = candidates
        .iter()
        .all(|c| matches!(c.source, Source::Anonymous));
    if !only_anonymous {
        return None;
    }
    if let Some(cloud) = &sources.cloud {
        if let Some(e) = cloud.error() {
            return Some(format!("the {} gave no credentials: {e}", cloud.name()));
        }
    }
    sources
        .plugins
        .iter()
        .find(|p| p.status == PluginStatus::Failed)
        .map(|p| {
            format!(
                "credential plugin {} gave no credentials: {}",
                p.name,
                p.reason.as_deref().unwrap_or("it failed")
            )
        })
}
