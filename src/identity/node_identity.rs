//! The node's own credentials, gathered once: the kubelet's view ([`KubeletView`]), its root
//! dir (`--kubelet-root-dir`, else the kubelet's `--root-dir`, else `/var/lib/kubelet`), the
//! node docker config file ([`super::node_files`]), and the credential-provider
//! plugins (`--image-credential-provider-config`/`--image-credential-provider-bin-dir`, else
//! the kubelet's own flags). [`NodeIdentity::lookup`] gives, for one image, the node-file
//! credentials then the plugin credentials, in kubelet order, with what happened to each
//! source. Paths given explicitly must be valid (the kubelet would not start otherwise); paths
//! found on the kubelet's command line only produce notes when they are not.

use super::credential_provider::config::ProviderConfig;
use super::credential_provider::{PluginOutcome, Plugins};
use super::keyring::Keyring;
use super::kubelet::KubeletView;
use super::node_files::{self, CheckedFile, NodeFiles};
use super::Credential;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kubelet's default `--root-dir`.
pub const DEFAULT_KUBELET_ROOT: &str = "/var/lib/kubelet";

/// Why the node's credential configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plugin config is invalid.
    #[error(transparent)]
    PluginConfig(#[from] super::credential_provider::config::Error),
    /// A config without a bin dir.
    #[error("--image-credential-provider-bin-dir is required with --image-credential-provider-config {config} (the kubelet refuses to start without it)")]
    MissingBinDir {
        /// The config path.
        config: String,
    },
    /// A bin dir without a config.
    #[error("--image-credential-provider-config is required with --image-credential-provider-bin-dir {bin_dir} (the kubelet refuses to start without it)")]
    MissingConfig {
        /// The bin dir.
        bin_dir: String,
    },
    /// The bin dir does not exist.
    #[error("plugin binary directory {path} is not usable (the kubelet refuses to start)")]
    BinDir {
        /// The bin dir.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SettingFrom {
    /// A pullcheck flag.
    Flag,
    /// The kubelet's command line.
    Kubelet,
    /// The kubelet's default.
    Default,
}

impl std::fmt::Display for SettingFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SettingFrom::Flag => "pullcheck flag",
            SettingFrom::Kubelet => "kubelet command line",
            SettingFrom::Default => "kubelet default",
        })
    }
}

/// A path setting and its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    /// The path.
    pub path: String,
    /// Where it came from.
    pub from: SettingFrom,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct NodeIdentityConfig {
    /// Where `/proc` is (the host's needs hostPID or a mount).
    pub proc_root: PathBuf,
    /// `--kubelet-root-dir`.
    pub kubelet_root_dir: Option<PathBuf>,
    /// `--image-credential-provider-config`.
    pub provider_config: Option<PathBuf>,
    /// `--image-credential-provider-bin-dir`.
    pub provider_bin_dir: Option<PathBuf>,
    /// Time limit per plugin run (the kubelet's is 60 s).
    pub plugin_timeout: Duration,
}

/// A configured provider, for reports (no args, no env values).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSummary {
    /// Its name.
    pub name: String,
    /// Its image patterns.
    pub match_images: Vec<String>,
    /// Its protocol version.
    pub api_version: String,
    /// `defaultCacheDuration`.
    pub default_cache_duration: String,
    /// Names of the extra environment variables it gets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_names: Vec<String>,
    /// Service-account token mode (a per-pod identity).
    pub service_account_token_mode: bool,
}

/// The plugin configuration, for reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfigSummary {
    /// The config path.
    pub config: Setting,
    /// The bin dir.
    pub bin_dir: Setting,
    /// The files read.
    pub files: Vec<String>,
    /// The providers in order.
    pub providers: Vec<ProviderSummary>,
}

/// The node side of the identity report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSources {
    /// The kubelet as seen.
    pub kubelet: super::kubelet::KubeletSummary,
    /// The kubelet root dir used.
    pub kubelet_root_dir: Setting,
    /// The node file the kubelet uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_file: Option<String>,
    /// Every node file looked at, in kubelet order.
    pub node_files: Vec<CheckedFile>,
    /// The plugin configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_config: Option<PluginConfigSummary>,
}

/// The node's credentials and how they were found.
#[derive(Debug)]
pub struct NodeIdentity {
    /// The kubelet as seen.
    pub kubelet: KubeletView,
    /// The kubelet root dir used.
    pub root_dir: Setting,
    /// The node-file search.
    pub node_files: NodeFiles,
    node_keyring: Keyring,
    /// The plugins, when configured.
    pub plugins: Option<Plugins>,
    plugin_summary: Option<PluginConfigSummary>,
    /// Remarks (fallbacks, ignored fields, unusable kubelet settings).
    pub notes: Vec<String>,
}

/// One image's node-side credentials, in kubelet order.
#[derive(Debug, Default)]
pub struct NodeCredentials {
    /// From the node file.
    pub node_file: Vec<Credential>,
    /// From plugins.
    pub plugins: Vec<Credential>,
    /// Per plugin.
    pub plugin_outcomes: Vec<PluginOutcome>,
    /// Invalid keys and ignored fields met.
    pub notes: Vec<String>,
}

fn setting(path: &Path, from: SettingFrom) -> Setting {
    Setting {
        path: path.display().to_string(),
        from,
    }
}

impl NodeIdentity {
    /// Reads the kubelet's view, the node file and the plugin config.
    pub fn load(cfg: &NodeIdentityConfig) -> Result<Self, Error> {
        let kubelet = KubeletView::detect(&cfg.proc_root);
        let mut notes = kubelet.notes.clone();
        let root_dir = match (&cfg.kubelet_root_dir, &kubelet.flags.root_dir) {
            (Some(p), _) => setting(&own_absolute(p), SettingFrom::Flag),
            (None, Some(p)) => setting(p, SettingFrom::Kubelet),
            (None, None) => setting(Path::new(DEFAULT_KUBELET_ROOT), SettingFrom::Default),
        };
        let node_files = node_files::search(Path::new(&root_dir.path), &kubelet);
        let node_keyring = node_files.keyring();
        notes.extend(node_keyring.notes().iter().cloned());
        notes.extend(
            node_keyring
                .invalid_keys()
                .iter()
                .map(|k| format!("node file key {k:?} is not a valid URL: the kubelet ignores it")),
        );
        let pick =
            |flag: &Option<PathBuf>, from_kubelet: &Option<PathBuf>| match (flag, from_kubelet) {
                (Some(p), _) => Some(setting(&own_absolute(p), SettingFrom::Flag)),
                (None, Some(p)) => Some(setting(p, SettingFrom::Kubelet)),
                (None, None) => None,
            };
        let config = pick(
            &cfg.provider_config,
            &kubelet.flags.image_credential_provider_config,
        );
        let bin_dir = pick(
            &cfg.provider_bin_dir,
            &kubelet.flags.image_credential_provider_bin_dir,
        );
        let explicit = cfg.provider_config.is_some() || cfg.provider_bin_dir.is_some();
        let (plugins, plugin_summary) = match load_plugins(
            config.as_ref(),
            bin_dir.as_ref(),
            &kubelet,
            cfg.plugin_timeout,
        ) {
            Ok(Some((p, s))) => (Some(p), Some(s)),
            Ok(None) => (None, None),
            Err(e) if explicit => return Err(e),
            Err(e) => {
                notes.push(format!(
                    "the kubelet's credential-provider settings are unusable, plugins not run: {}",
                    crate::error_text::error_chain(&e)
                ));
                (None, None)
            }
        };
        Ok(NodeIdentity {
            kubelet,
            root_dir,
            node_files,
            node_keyring,
            plugins,
            plugin_summary,
            notes,
        })
    }

    /// The node-file and plugin credentials for `repo` (`registry/repository`, no tag).
    pub async fn lookup(&self, repo: &str) -> NodeCredentials {
        let mut out = NodeCredentials {
            node_file: self.node_keyring.lookup(repo),
            ..NodeCredentials::default()
        };
        if let Some(p) = &self.plugins {
            let run = p.provide(repo).await;
            out.plugins = run.keyring.lookup(repo);
            out.notes.extend(
                run.keyring.invalid_keys().iter().map(|k| {
                    format!("plugin key {k:?} is not a valid URL: the kubelet ignores it")
                }),
            );
            out.plugin_outcomes = run.outcomes;
        }
        out
    }

    /// The node file's keys (normalised, reverse-sorted; not secret).
    pub fn node_keys(&self) -> &[String] {
        self.node_keyring.keys()
    }

    /// The plugin configuration, when plugins are configured.
    pub fn plugin_config(&self) -> Option<&PluginConfigSummary> {
        self.plugin_summary.as_ref()
    }

    /// The report-safe summary of the node side.
    pub fn sources(&self) -> NodeSources {
        NodeSources {
            kubelet: self.kubelet.summary(),
            kubelet_root_dir: self.root_dir.clone(),
            node_file: self.node_files.used_path().map(str::to_string),
            node_files: self.node_files.checked.clone(),
            plugin_config: self.plugin_summary.clone(),
        }
    }
}

/// A path given to pullcheck: relative to pullcheck's own working directory.
fn own_absolute(p: &Path) -> PathBuf {
    super::kubelet::clean(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

fn load_plugins(
    config: Option<&Setting>,
    bin_dir: Option<&Setting>,
    kubelet: &KubeletView,
    timeout: Duration,
) -> Result<Option<(Plugins, PluginConfigSummary)>, Error> {
    let (config, bin_dir) = match (config, bin_dir) {
        (None, None) => return Ok(None),
        (Some(c), None) => {
            return Err(Error::MissingBinDir {
                config: c.path.clone(),
            })
        }
        (None, Some(b)) => {
            return Err(Error::MissingConfig {
                bin_dir: b.path.clone(),
            })
        }
        (Some(c), Some(b)) => (c, b),
    };
    std::fs::metadata(&bin_dir.path).map_err(|source| Error::BinDir {
        path: bin_dir.path.clone(),
        source,
    })?;
    let parsed = ProviderConfig::read(Path::new(&config.path))?;
    let summary = PluginConfigSummary {
        config: config.clone(),
        bin_dir: bin_dir.clone(),
        files: parsed.files.clone(),
        providers: parsed
            .providers
            .iter()
            .map(|p| ProviderSummary {
                name: p.name.clone(),
                match_images: p.match_images.clone(),
                api_version: p.api_version.clone(),
                default_cache_duration: humantime::format_duration(
                    p.default_cache_duration.unwrap_or_default(),
                )
                .to_string(),
                env_names: p.env.iter().map(|e| e.name.clone()).collect(),
                service_account_token_mode: p.token_attributes.is_some(),
            })
            .collect(),
    };
    let plugins = Plugins::new(
        parsed,
        Path::new(&bin_dir.path),
        kubelet.env().to_vec(),
        kubelet.env_source.clone(),
        timeout,
    );
    Ok(Some((plugins, summary)))
}

#[cfg(test)]
mod tests;
