//! Who may pull: candidate credentials, each with its provenance, in the order the kubelet
//! tries them — pull secrets ([`keyring`] over [`docker_config`] files), the node's docker
//! config file ([`node_files`]), then credential-provider exec plugins ([`credential_provider`]), with
//! the kubelet's own process view ([`kubelet`]). [`node_identity::NodeIdentity`] gathers the node
//! side, and [`pull_order`] puts every source in the kubelet's order.
//! Secrets never reach `Debug`, logs, reports or errors.

pub mod cloud;
pub mod credential_provider;
pub mod crio_auth;
pub mod docker_config;
pub mod eks;
pub mod gke;
pub mod keyring;
pub mod kube_secrets;
pub mod kubelet;
pub mod node_files;
pub mod node_identity;
pub mod platform;
pub mod pull_order;
pub mod url_match;

use serde::Serialize;
use std::fmt;

/// Credentials as the runtime receives them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum RegistryAuth {
    /// No credentials.
    Anonymous,
    /// Username and password (or token as password).
    Basic {
        /// The user name (not secret; shown in reports).
        username: String,
        /// The password or token (secret).
        password: String,
    },
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
            RegistryAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl RegistryAuth {
    /// Whether any credential is carried.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, RegistryAuth::Anonymous)
    }

    /// A stable, non-reversible key for caches (never the secret itself).
    pub fn cache_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// Where a credential came from: shown in reports instead of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Source {
    /// No credentials at all.
    Anonymous,
    /// `--username` with `--password-stdin`.
    Flags {
        /// The user name.
        username: String,
    },
    /// An entry of a pull secret's docker config (`--docker-config FILE`).
    PullSecret {
        /// The file.
        path: String,
        /// The matching key of its `auths` map, as written.
        key: String,
        /// The user name in the entry (empty: containerd sends no credentials).
        username: String,
    },
    /// An entry of a pull secret read from the Kubernetes API (`kubernetes.io/dockerconfigjson`
    /// or `kubernetes.io/dockercfg`).
    Secret {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The matching key of its `auths` map, as written.
        key: String,
        /// The user name in the entry.
        username: String,
    },
    /// An entry of the node's docker config file (`<kubelet root>/config.json`, …).
    NodeFile {
        /// The file.
        path: String,
        /// The matching key of its `auths` map, as written.
        key: String,
        /// The user name in the entry.
        username: String,
    },
    /// An entry of CRI-O's `global_auth_file` (auth.json), which CRI-O uses when the kubelet
    /// sends no credentials, matched most specific key first.
    CrioAuthFile {
        /// The file.
        path: String,
        /// The matching key of its `auths` map, as written.
        key: String,
        /// The user name in the entry.
        username: String,
    },
    /// An entry of a credential-provider exec plugin's response.
    Plugin {
        /// The plugin's name (its binary in the bin dir).
        name: String,
        /// The matching key of its `auth` map.
        key: String,
        /// The user name it returned.
        username: String,
    },
    /// The EKS node identity: the EC2 instance role, exchanged for an ECR password.
    Eks {
        /// The instance role's name (from IMDS).
        role: String,
        /// The region asked (from the ECR host).
        region: String,
    },
    /// The GKE node identity: the node service account's access token (user `_token`).
    Gke {
        /// The service account's email.
        email: String,
    },
}

impl Source {
    /// Short words for the kind of source (`pull secret`, `node file`, …).
    pub fn kind_words(&self) -> &'static str {
        match self {
            Source::Anonymous => "anonymous",
            Source::Flags { .. } => "flags",
            Source::PullSecret { .. } | Source::Secret { .. } => "pull secret",
            Source::NodeFile { .. } => "node file",
            Source::CrioAuthFile { .. } => "CRI-O auth file",
            Source::Plugin { .. } => "plugin",
            Source::Eks { .. } => "EKS node role",
            Source::Gke { .. } => "GKE node service account",
        }
    }
}

impl Source {
    /// A short, stable label for metrics and events: `anonymous`, `flags`,
    /// `pull-secret-file:PATH`, `secret:NS/NAME`, `node-file:PATH`, `plugin:NAME`,
    /// `eks:ROLE`, `gke:EMAIL`. Never a secret; no user names (they change with rotation).
    pub fn label(&self) -> String {
        match self {
            Source::Anonymous => "anonymous".into(),
            Source::Flags { .. } => "flags".into(),
            Source::PullSecret { path, .. } => format!("pull-secret-file:{path}"),
            Source::Secret {
                namespace, name, ..
            } => format!("secret:{namespace}/{name}"),
            Source::NodeFile { path, .. } => format!("node-file:{path}"),
            Source::CrioAuthFile { path, .. } => format!("crio-auth-file:{path}"),
            Source::Plugin { name, .. } => format!("plugin:{name}"),
            Source::Eks { role, .. } => format!("eks:{role}"),
            Source::Gke { email } => format!("gke:{email}"),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |f: &mut fmt::Formatter<'_>, username: &str| {
            if username.is_empty() {
                f.write_str("no user name (containerd sends no credentials)")
            } else {
                write!(f, "user {username:?}")
            }
        };
        match self {
            Source::Anonymous => f.write_str("anonymous"),
            Source::Flags { username } => write!(f, "user {username:?} (command-line flags)"),
            Source::PullSecret {
                path,
                key,
                username,
            } => {
                who(f, username)?;
                write!(f, " from pull secret {path} (auths[{key:?}])")
            }
            Source::Secret {
                namespace,
                name,
                key,
                username,
            } => {
                who(f, username)?;
                write!(f, " from secret {namespace}/{name} (auths[{key:?}])")
            }
            Source::NodeFile {
                path,
                key,
                username,
            } => {
                who(f, username)?;
                write!(f, " from node file {path} (auths[{key:?}])")
            }
            Source::CrioAuthFile {
                path,
                key,
                username,
            } => {
                who(f, username)?;
                write!(f, " from CRI-O's global_auth_file {path} (auths[{key:?}])")
            }
            Source::Plugin {
                name,
                key,
                username,
            } => {
                who(f, username)?;
                write!(f, " from credential plugin {name} (auth[{key:?}])")
            }
            Source::Eks { role, region } => {
                write!(
                    f,
                    "EKS instance role {role} (ECR GetAuthorizationToken in {region})"
                )
            }
            Source::Gke { email } => write!(f, "GKE node service account {email} (user _token)"),
        }
    }
}

/// Where the candidate credentials of one probe came from, for reports: the pull-secret
/// files, the node side (kubelet view, node files, plugin config) and each plugin's outcome.
/// Never any secret.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySources {
    /// `--docker-config` files, in order (one keyring, like the kubelet's pull secrets).
    pub pull_secrets: Vec<String>,
    /// The node side, when consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<node_identity::NodeSources>,
    /// Each configured plugin's outcome for this image, in config order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<credential_provider::PluginOutcome>,
    /// Pull secrets read through the Kubernetes API (`namespace/name`), in kubelet order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// What the pod references (`--pod`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<kube_secrets::PodReferences>,
    /// The built-in cloud identity consulted, when no plugin covers the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<cloud::CloudOutcome>,
    /// Remarks: fallbacks, ignored fields, invalid keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One candidate credential and its provenance.
#[derive(Debug, Clone)]
pub struct Credential {
    /// What is sent.
    pub auth: RegistryAuth,
    /// Where it came from.
    pub source: Source,
}

impl Credential {
    /// The anonymous candidate.
    pub fn anonymous() -> Self {
        Credential {
            auth: RegistryAuth::Anonymous,
            source: Source::Anonymous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let a = RegistryAuth::Basic {
            username: "u".into(),
            password: "s3cr3t-planted".into(),
        };
        let dbg = format!(
            "{a:?} {:?}",
            Credential {
                auth: a.clone(),
                source: Source::Flags {
                    username: "u".into()
                }
            }
        );
        assert!(!dbg.contains("s3cr3t-planted"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert_ne!(a.cache_key(), RegistryAuth::Anonymous.cache_key());
    }
}
