//! Pull secrets read through the Kubernetes API the way the kubelet reads them: the pod's
//! `spec.imagePullSecrets` in order (a missing secret is a warning and is skipped; only
//! `kubernetes.io/dockerconfigjson` / `.dockerconfigjson` and `kubernetes.io/dockercfg` /
//! `.dockercfg` count), and `--secret NS/NAME`. The pod's ServiceAccount list is reported as
//! what was copied at admission — the kubelet never reads it.

use super::docker_config::{self, DockerConfig, Format};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Why the Kubernetes API could not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `NS/NAME` did not parse.
    #[error("invalid {what} {input:?}: expected NAMESPACE/NAME")]
    Reference {
        /// `--pod` or `--secret`.
        what: &'static str,
        /// What was given.
        input: String,
    },
    /// No usable client configuration (kubeconfig, in-cluster).
    #[error("failed to configure the Kubernetes client: {0}")]
    Config(String),
    /// The API call failed (unreachable, forbidden, …).
    #[error("failed to read {what} {namespace}/{name} from the Kubernetes API: {reason}")]
    Api {
        /// `pod`, `secret`, `serviceaccount`.
        what: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Why, from the API's status when it sent one.
        reason: String,
    },
    /// The pod does not exist.
    #[error("pod {namespace}/{name} not found")]
    PodNotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A secret of a docker-config type holds invalid JSON: the kubelet's whole lookup fails.
    #[error("secret {namespace}/{name}: {source}")]
    Invalid {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The parse error.
        #[source]
        source: docker_config::Error,
    },
}

/// `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// Parses `NAMESPACE/NAME` for `what` (`--pod`, `--secret`).
    pub fn parse(what: &'static str, input: &str) -> Result<Self, Error> {
        let bad = || Error::Reference {
            what,
            input: input.to_string(),
        };
        let (ns, name) = input.split_once('/').ok_or_else(bad)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        if !ok(ns) || !ok(name) {
            return Err(bad());
        }
        Ok(Self {
            namespace: ns.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One pull secret, read.
#[derive(Debug)]
pub struct PullSecret {
    /// Which secret.
    pub secret: ObjectRef,
    /// Its docker config (`None`: missing or of another type — see `warning`).
    pub config: Option<DockerConfig>,
    /// Why it contributes nothing, when it does not.
    pub warning: Option<String>,
}

/// What a pod references, as the kubelet sees it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReferences {
    /// `spec.imagePullSecrets` names, in order.
    pub image_pull_secrets: Vec<String>,
    /// The pod's ServiceAccount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The ServiceAccount's own `imagePullSecrets`: copied into the pod at admission only when
    /// the pod had none; the kubelet never reads this list.
    pub service_account_pull_secrets: Vec<String>,
}

/// A client from `--kubeconfig`, else `KUBECONFIG` / `~/.kube/config`, else in-cluster.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, Error> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| Error::Config(e.to_string()))
}

/// Time limit on each Kubernetes API read. The client's own read limit is kube's default
/// (295 s, meant for watches), so an API server that accepts and never answers would hold a
/// probe for minutes; a pod or secret GET answers in milliseconds when the API is healthy.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET` of one object (`None` when it does not exist) within [`API_TIMEOUT`].
async fn get_opt<K>(api: &Api<K>, what: &'static str, r: &ObjectRef) -> Result<Option<K>, Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    get_opt_within(api, what, r, API_TIMEOUT).await
}

async fn get_opt_within<K>(
    api: &Api<K>,
    what: &'static str,
    r: &ObjectRef,
    limit: Duration,
) -> Result<Option<K>, Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match tokio::time::timeout(limit, api.get_opt(&r.name)).await {
        Ok(found) => found.map_err(|e| api_error(what, r, e)),
        Err(_) => Err(Error::Api {
            what,
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            reason: format!(
                "no answer within {} (the API server accepted the connection and sent nothing)",
                humantime::format_duration(limit)
            ),
        }),
    }
}

fn api_error(what: &'static str, r: &ObjectRef, e: kube::Error) -> Error {
    let reason = match &e {
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        // The whole chain: kube's own text ("client error (Connect)") hides why — refused,
        // reset, no route, DNS.
        other => crate::error_text::error_chain(other),
    };
    Error::Api {
        what,
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        reason,
    }
}

/// The pod's `imagePullSecrets` and ServiceAccount (whose own list is read for the report).
pub async fn pod_references(client: &Client, pod: &ObjectRef) -> Result<PodReferences, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let found = get_opt(&pods, "pod", pod)
        .await?
        .ok_or_else(|| Error::PodNotFound {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
        })?;
    let spec = found.spec.unwrap_or_default();
    let image_pull_secrets = spec
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .filter(|n| !n.is_empty())
        .collect();
    let service_account = spec.service_account_name.filter(|s| !s.is_empty());
    let mut service_account_pull_secrets = Vec::new();
    if let Some(sa) = &service_account {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &pod.namespace);
        // Shown for context only; a failure to read it changes nothing.
        let sa_ref = ObjectRef {
            namespace: pod.namespace.clone(),
            name: sa.clone(),
        };
        if let Ok(Some(sa)) = get_opt(&sas, "serviceaccount", &sa_ref).await {
            service_account_pull_secrets = sa
                .image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name)
                .collect();
        }
    }
    Ok(PodReferences {
        image_pull_secrets,
        service_account,
        service_account_pull_secrets,
    })
}

/// Reads one pull secret. Missing secrets and other types are warnings (the kubelet skips
/// them); invalid JSON in a docker-config secret is an error (the kubelet's lookup fails).
pub async fn read_pull_secret(client: &Client, secret: &ObjectRef) -> Result<PullSecret, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
    let found = get_opt(&api, "secret", secret).await?;
    let skipped = |warning: String| PullSecret {
        secret: secret.clone(),
        config: None,
        warning: Some(warning),
    };
    let Some(found) = found else {
        return Ok(skipped(format!(
            "secret {secret} not found: the kubelet warns and pulls without it"
        )));
    };
    let kind = found.type_.clone().unwrap_or_default();
    let (key, format) = match kind.as_str() {
        "kubernetes.io/dockerconfigjson" => (".dockerconfigjson", Format::ConfigJson),
        "kubernetes.io/dockercfg" => (".dockercfg", Format::Dockercfg),
        other => {
            return Ok(skipped(format!(
                "secret {secret} has type {other:?}: the kubelet uses only kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg"
            )))
        }
    };
    let Some(bytes) = found.data.as_ref().and_then(|d| d.get(key)) else {
        return Ok(skipped(format!("secret {secret} has no {key} key")));
    };
    let label = format!("secret {secret}");
    let config =
        docker_config::parse(&label, &bytes.0, format).map_err(|source| Error::Invalid {
            namespace: secret.namespace.clone(),
            name: secret.name.clone(),
            source,
        })?;
    Ok(PullSecret {
        secret: secret.clone(),
        config: Some(config),
        warning: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs() {
        let r = ObjectRef::parse("--pod", "team-a/web-0").unwrap();
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("team-a", "web-0"));
        assert_eq!(r.to_string(), "team-a/web-0");
        for bad in ["web-0", "/x", "x/", "A/b", "a/b/c", "a b/c"] {
            assert!(
                ObjectRef::parse("--pod", bad)
                    .unwrap_err()
                    .to_string()
                    .contains("NAMESPACE/NAME"),
                "{bad}"
            );
        }
    }

    /// An API server that accepts and never answers: the read ends at the limit with a reason
    /// naming the object, instead of kube's 295-second read timeout.
    #[tokio::test]
    async fn a_silent_api_server_is_bounded() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = std::thread::spawn(move || listener.accept().map(|(c, _)| c));
        let config = Config::new(url.parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let api: Api<Secret> = Api::namespaced(client, "team-a");
        let r = ObjectRef::parse("--secret", "team-a/pull").unwrap();
        let started = std::time::Instant::now();
        let err = get_opt_within(&api, "secret", &r, Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secret team-a/pull") && err.contains("no answer within 300ms"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "bounded");
        drop(held.join());
    }

    /// A closed API port: the reason says the connection was refused, not only "Connect".
    #[tokio::test]
    async fn a_refused_connection_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
        let api: Api<Pod> = Api::namespaced(Client::try_from(config).unwrap(), "team-a");
        let r = ObjectRef::parse("--pod", "team-a/web").unwrap();
        let err = get_opt_within(&api, "pod", &r, Duration::from_secs(20))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pod team-a/web") && err.to_lowercase().contains("refused"),
            "{err}"
        );
    }
}
