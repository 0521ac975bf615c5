//! The kubelet's `BasicDockerKeyring`: entries from one or more docker configs (all pull
//! secrets together; the node file; all plugins' responses together) under normalised keys,
//! a de-duplicated reverse-sorted index, and [`Keyring::lookup`], which concatenates the
//! credentials of every matching key, or falls back to the `index.docker.io` key for Docker Hub
//! images. Each credential keeps its [`Origin`] for reports. See [`super::url_match`].

use super::docker_config::{self, DockerConfig};
pub use super::url_match::display_key;
use super::url_match::{normalize_key, urls_match};
use super::{Credential, RegistryAuth, Source};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The kubelet's default-registry key.
pub const DEFAULT_REGISTRY_KEY: &str = "index.docker.io";

/// Where a keyring entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A pull secret's docker config (`--docker-config FILE`).
    PullSecret {
        /// The file.
        path: String,
    },
    /// A pull secret read from the Kubernetes API.
    Secret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The node's docker config file.
    NodeFile {
        /// The file.
        path: String,
    },
    /// A credential-provider exec plugin's response.
    Plugin {
        /// The plugin's name.
        name: String,
    },
}

#[derive(Clone)]
struct Item {
    /// The key as written (userinfo hidden).
    original: String,
    origin: Origin,
    username: String,
    password: String,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("key", &self.original)
            .field("origin", &self.origin)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A keyring: normalised key → credentials in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// De-duplicated, reverse-sorted keys.
    index: Vec<String>,
    creds: BTreeMap<String, Vec<Item>>,
    /// Keys Go's URL parser refuses (the kubelet logs and ignores them).
    invalid: Vec<String>,
    /// Ignored fields and other remarks, from [`DockerConfig::ignored`].
    notes: Vec<String>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a pull-secret style docker config file (shape sniffed) into a new keyring.
    pub fn from_file(path: &Path) -> Result<Self, docker_config::Error> {
        let display = path.display().to_string();
        let bytes = docker_config::read_file(path)?;
        Self::from_bytes(&display, &bytes)
    }

    /// Parses pull-secret style config bytes; `path` labels provenance and errors.
    pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Self, docker_config::Error> {
        let config = docker_config::parse_sniffed(path, bytes)?;
        let mut k = Keyring::new();
        k.add(
            Origin::PullSecret {
                path: path.to_string(),
            },
            &config,
        );
        Ok(k)
    }

    /// `BasicDockerKeyring.Add`: every entry under its normalised key.
    pub fn add(&mut self, origin: Origin, config: &DockerConfig) {
        for e in &config.entries {
            self.insert(origin.clone(), &e.key, &e.username, &e.password);
        }
        let label = match &origin {
            Origin::PullSecret { path } | Origin::NodeFile { path } => path.clone(),
            Origin::Secret { namespace, name } => format!("secret {namespace}/{name}"),
            Origin::Plugin { name } => format!("plugin {name}"),
        };
        self.notes.extend(
            config
                .ignored
                .iter()
                .map(|i| format!("{label}: ignored {i}")),
        );
        self.reindex();
    }

    /// Adds one entry (a plugin's `auth` map entry).
    pub fn add_entry(&mut self, origin: Origin, key: &str, username: &str, password: &str) {
        self.insert(origin, key, username, password);
        self.reindex();
    }

    fn insert(&mut self, origin: Origin, key: &str, username: &str, password: &str) {
        let Some(norm) = normalize_key(key) else {
            self.invalid.push(display_key(key));
            return;
        };
        self.creds.entry(norm.clone()).or_default().push(Item {
            original: display_key(key),
            origin,
            username: username.to_string(),
            password: password.to_string(),
        });
        self.index.push(norm);
    }

    fn reindex(&mut self) {
        self.index.sort_unstable_by(|a, b| b.cmp(a));
        self.index.dedup();
    }

    /// Whether it holds no credential.
    pub fn is_empty(&self) -> bool {
        self.creds.is_empty()
    }

    /// The normalised keys, reverse-sorted (not secret).
    pub fn keys(&self) -> &[String] {
        &self.index
    }

    /// Keys that were ignored because they do not parse as URLs.
    pub fn invalid_keys(&self) -> &[String] {
        &self.invalid
    }

    /// Remarks: ignored fields (names only).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// `Lookup(repo)`: the credentials of every key matching `repo` (`registry/repository`,
    /// no tag), most specific key first; if none matches and `repo` is on Docker Hub, those
    /// under `index.docker.io`.
    pub fn lookup(&self, repo: &str) -> Vec<Credential> {
        let mut out: Vec<Credential> = self
            .index
            .iter()
            .filter(|k| urls_match(k, repo))
            .flat_map(|k| self.creds[k].iter().map(credential))
            .collect();
        if out.is_empty() && is_default_registry_match(repo) {
            if let Some(items) = self.creds.get(DEFAULT_REGISTRY_KEY) {
                out.extend(items.iter().map(credential));
            }
        }
        out
    }
}

/// What containerd makes of an entry: `ParseAuth` sends nothing when the user name is empty.
fn credential(item: &Item) -> Credential {
    let auth = if item.username.is_empty() {
        RegistryAuth::Anonymous
    } else {
        RegistryAuth::Basic {
            username: item.username.clone(),
            password: item.password.clone(),
        }
    };
    let key = item.original.clone();
    let username = item.username.clone();
    let source = match &item.origin {
        Origin::PullSecret { path } => Source::PullSecret {
            path: path.clone(),
            key,
            username,
        },
        Origin::Secret { namespace, name } => Source::Secret {
            namespace: namespace.clone(),
            name: name.clone(),
            key,
            username,
        },
        Origin::NodeFile { path } => Source::NodeFile {
            path: path.clone(),
            key,
            username,
        },
        Origin::Plugin { name } => Source::Plugin {
            name: name.clone(),
            key,
            username,
        },
    };
    Credential { auth, source }
}

/// The kubelet's `isDefaultRegistryMatch`: a first path component that is `docker.io`,
/// `index.docker.io`, or has no `.` or `:`; a single component counts too.
pub fn is_default_registry_match(repo: &str) -> bool {
    let mut parts = repo.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() {
        return true;
    }
    first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':'])
}

#[cfg(test)]
mod tests;
