//! The kubelet's `CredentialProviderConfig` (`--image-credential-provider-config`): one file,
//! or a directory whose `*.json`, `*.yaml` and `*.yml` files are read in lexicographic order
//! and merged (a provider name seen twice is an error). Decoded like the kubelet's strict
//! decoder — JSON when the text starts with `{`, else YAML converted to JSON; unknown fields,
//! duplicate fields and wrong types are errors — then validated like
//! `validateCredentialProviderConfig`. Errors name the file and field, never env values or
//! args. See [`ProviderConfig::read`].

use super::decode::decode;
pub use super::decode::redact;
use crate::identity::url_match::parse_go_url;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The config's accepted `apiVersion`s (group `kubelet.config.k8s.io`).
pub const CONFIG_API_VERSIONS: [&str; 3] = [
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];

/// The plugin protocol's `apiVersion`s.
pub const PLUGIN_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
];

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why the credential-provider config is unusable (the kubelet would refuse to start).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path cannot be stat'ed.
    #[error("unable to access credential provider config {path}")]
    Access {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A config file cannot be read (or the directory listed).
    #[error("unable to read credential provider config {path}")]
    Read {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A directory without `*.json`, `*.yaml` or `*.yml` files.
    #[error("no configuration files (*.json, *.yaml, *.yml) found in directory {path}")]
    NoFiles {
        /// The directory.
        path: String,
    },
    /// A file is not a valid `CredentialProviderConfig`.
    #[error("error decoding credential provider config {path}: {detail}")]
    Decode {
        /// The file.
        path: String,
        /// What is wrong (quoted values redacted).
        detail: String,
    },
    /// Two providers share a name.
    #[error("duplicate provider name {name:?} found in credential provider config {path}")]
    Duplicate {
        /// The name.
        name: String,
        /// The file where it appeared the second time.
        path: String,
    },
    /// Validation failed.
    #[error("invalid credential provider config {path}: {}", errors.join("; "))]
    Invalid {
        /// The file or directory.
        path: String,
        /// Every problem, kubelet style (`providers.name: …`).
        errors: Vec<String>,
    },
}

/// One `env` entry (the value may be secret: redacted in `Debug`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// The variable name.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub name: String,
    /// Its value.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub value: String,
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvVar({}=<redacted>)", self.name)
    }
}

/// KEP-4412 service-account token mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenAttributes {
    /// The token's audience.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub service_account_token_audience: String,
    /// `ServiceAccount` or `Token`.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub cache_type: String,
    /// Whether a pod without a service account skips the plugin.
    #[serde(default)]
    pub require_service_account: Option<bool>,
    /// Annotations that must be on the service account.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub required_service_account_annotation_keys: Vec<String>,
    /// Annotations passed when present.
    #[serde(default, deserialize_with = "super::decode::nullable")]
    pub optional_service_account_annotation_keys: Vec<String>,
}

/// One configured plugin.
#[derive(Clone)]
pub struct Provider {
    /// The binary's name in the bin dir.
    pub name: String,
    /// Image patterns it serves (kubelet `URLsMatch` globs).
    pub match_images: Vec<String>,
    /// `defaultCacheDuration`; `None` when missing or negative (a validation error).
    pub default_cache_duration: Option<Duration>,
    /// The plugin protocol version.
    pub api_version: String,
    /// Arguments (may hold secrets: not reported).
    pub args: Vec<String>,
    /// Extra environment (values may be secret: not reported).
    pub env: Vec<EnvVar>,
    /// Service-account token mode.
    pub token_attributes: Option<TokenAttributes>,
    /// The file it came from.
    pub file: String,
    /// `defaultCacheDuration` was negative.
    pub(super) negative_default: bool,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("match_images", &self.match_images)
            .field("default_cache_duration", &self.default_cache_duration)
            .field("api_version", &self.api_version)
            .field("args", &format_args!("<{} redacted>", self.args.len()))
            .field("env", &self.env)
            .field("token_attributes", &self.token_attributes)
            .field("file", &self.file)
            .finish()
    }
}

/// The merged, validated configuration.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The path given (file or directory).
    pub path: PathBuf,
    /// The files read, in order.
    pub files: Vec<String>,
    /// The providers in config order.
    pub providers: Vec<Provider>,
}

impl ProviderConfig {
    /// Reads, merges and validates the config at `path` (file or directory).
    pub fn read(path: &Path) -> Result<Self, Error> {
        let display = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| Error::Access {
            path: display.clone(),
            source,
        })?;
        let files = if meta.is_dir() {
            config_files(path)?
        } else {
            vec![path.to_path_buf()]
        };
        let mut providers: Vec<Provider> = Vec::new();
        let mut names = Vec::new();
        for file in &files {
            let label = file.display().to_string();
            let bytes = read_bounded(file).map_err(|source| Error::Read {
                path: label.clone(),
                source,
            })?;
            for p in decode(&label, &bytes)? {
                if names.contains(&p.name) {
                    return Err(Error::Duplicate {
                        name: p.name,
                        path: label,
                    });
                }
                names.push(p.name.clone());
                providers.push(p);
            }
        }
        let config = ProviderConfig {
            path: path.to_path_buf(),
            files: files.iter().map(|f| f.display().to_string()).collect(),
            providers,
        };
        let errors = super::validate::validate(&config);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(Error::Invalid {
                path: display,
                errors,
            })
        }
    }

    /// Parses one document (tests and single files); not validated.
    pub fn decode_one(label: &str, bytes: &[u8]) -> Result<Vec<Provider>, Error> {
        decode(label, bytes)
    }
}

impl Provider {
    /// Whether `defaultCacheDuration` was negative (a validation error).
    pub fn negative_default_cache_duration(&self) -> bool {
        self.negative_default
    }
}

/// `*.json|*.yaml|*.yml` entries that are not directories (Go's `DirEntry.IsDir`, which does
/// not follow symlinks), sorted.
fn config_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let display = dir.display().to_string();
    let read_err = |source| Error::Read {
        path: display.clone(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let is_dir = entry.file_type().map_err(read_err)?.is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ext = name.rfind('.').map_or("", |i| &name[i..]);
        if !is_dir && matches!(ext, ".json" | ".yaml" | ".yml") {
            files.push(dir.join(&name));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::NoFiles { path: display });
    }
    Ok(files)
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::nodefile::read(path, MAX_CONFIG_BYTES)
}

/// Whether `p` parses as the kubelet's `ParseSchemelessURL` (a `matchImages` entry).
pub(super) fn match_image_error(p: &str) -> Option<String> {
    parse_go_url(&format!("https://{p}")).err()
}

#[cfg(test)]
mod tests;
