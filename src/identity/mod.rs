//! Who may pull: candidate credentials, each with its provenance, in the order the kubelet
//! tries them. Secrets never reach `Debug`, logs, reports or errors.

pub mod docker_config;

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
    /// An entry of a docker config file (`--docker-config`, a pull secret's `.dockerconfigjson`).
    DockerConfig {
        /// The file.
        path: String,
        /// The matching key of its `auths` map.
        key: String,
        /// The user name in the entry.
        username: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Anonymous => f.write_str("anonymous"),
            Source::Flags { username } => write!(f, "user {username:?} (command-line flags)"),
            Source::DockerConfig {
                path,
                key,
                username,
            } => {
                write!(f, "user {username:?} from {path} (auths[{key:?}])")
            }
        }
    }
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
