//! containerd's `config.toml`, reduced to the CRI registry table: `config_path`, `mirrors`,
//! `configs` (TLS, and whether `auth` exists), the deprecated `auths`, and `headers`; and the
//! image keys that decide containerd 2.1+'s pull path ([`PullKeys`]). The table depends on the
//! file's `version`: 3 (containerd 2.x) `plugins."io.containerd.cri.v1.images"`, 2
//! `plugins."io.containerd.grpc.v1.cri"`, 1 (or none) `plugins.cri` (2.x migrates the last two
//! into the first). Everything else in the file is ignored. See [`load`].

use super::legacy::{HostConfig, Legacy, LegacyTls, MirrorEndpoint};
use super::{authority, describe_toml_error, line_of, Error, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Where containerd reads its configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/containerd/config.toml";

/// The registry settings of one config file.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// `config_path` (non-empty) and its line.
    pub config_path: Option<(String, usize)>,
    /// `mirrors`, `configs` and `auths`.
    pub legacy: Legacy,
    /// `headers`, sent to every host (values may be secrets: never shown).
    pub headers: Vec<(String, String)>,
}

impl RegistrySettings {
    /// No registry option at all: containerd's defaults apply.
    pub fn is_empty(&self) -> bool {
        self.config_path.is_none()
            && self.legacy.mirrors.is_empty()
            && self.legacy.configs.is_empty()
            && self.headers.is_empty()
    }
}

/// The CRI image keys that decide whether containerd 2.1+ pulls through the transfer service
/// or falls back to the local pull ([`super::pull_mode`]), each as set with its line; `None`:
/// not set (containerd's default). Read from the images plugin (version 3), or from where a
/// version 1/2 file keeps them, which containerd 2.x migrates there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullKeys {
    /// `use_local_image_pull` (version 3 only).
    pub use_local_image_pull: Option<(bool, usize)>,
    /// `disable_snapshot_annotations` (default true; version 1/2: under `containerd`).
    pub disable_snapshot_annotations: Option<(bool, usize)>,
    /// `discard_unpacked_layers` (version 1/2: under `containerd`).
    pub discard_unpacked_layers: Option<(bool, usize)>,
    /// `max_concurrent_downloads` (default 3).
    pub max_concurrent_downloads: Option<(i64, usize)>,
    /// `image_pull_with_sync_fs`.
    pub image_pull_with_sync_fs: Option<(bool, usize)>,
}

/// What pullcheck reads from a containerd config file.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// The file.
    pub path: PathBuf,
    /// Its `version` (1 when absent, as containerd assumes).
    pub version: i64,
    /// The table the registry settings came from, when there is one.
    pub section: Option<String>,
    /// The registry settings.
    pub registry: RegistrySettings,
    /// The keys that decide 2.1+'s pull path.
    pub pull: PullKeys,
    /// What pullcheck does not apply, or containerd versions disagree on.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    imports: Vec<String>,
    #[serde(default)]
    plugins: RawPlugins,
}

#[derive(Deserialize, Default)]
struct RawPlugins {
    #[serde(rename = "io.containerd.cri.v1.images", default)]
    images: Option<RawPlugin>,
    #[serde(rename = "io.containerd.grpc.v1.cri", default)]
    grpc_cri: Option<RawPlugin>,
    #[serde(default)]
    cri: Option<RawPlugin>,
}

#[derive(Deserialize, Default)]
struct RawPlugin {
    #[serde(default)]
    registry: Option<RawRegistry>,
    #[serde(default)]
    use_local_image_pull: Option<Spanned<bool>>,
    #[serde(default)]
    disable_snapshot_annotations: Option<Spanned<bool>>,
    #[serde(default)]
    discard_unpacked_layers: Option<Spanned<bool>>,
    #[serde(default)]
    max_concurrent_downloads: Option<Spanned<i64>>,
    #[serde(default)]
    image_pull_with_sync_fs: Option<Spanned<bool>>,
    /// Version 1/2: `[plugins."io.containerd.grpc.v1.cri".containerd]`.
    #[serde(default)]
    containerd: Option<RawCriContainerd>,
}

#[derive(Deserialize, Default)]
struct RawCriContainerd {
    #[serde(default)]
    disable_snapshot_annotations: Option<Spanned<bool>>,
    #[serde(default)]
    discard_unpacked_layers: Option<Spanned<bool>>,
}

impl RawPlugin {
    /// The pull keys where this table keeps them: at its top (version 3's images plugin), or
    /// the snapshot keys under `containerd` (versions 1 and 2).
    fn pull_keys(&self, text: &str, v3: bool) -> PullKeys {
        fn at<T: Copy>(text: &str, v: &Option<Spanned<T>>) -> Option<(T, usize)> {
            v.as_ref()
                .map(|s| (*s.get_ref(), line_of(text, s.span().start)))
        }
        let nested = self.containerd.as_ref();
        let (annotations, discard) = if v3 {
            (
                at(text, &self.disable_snapshot_annotations),
                at(text, &self.discard_unpacked_layers),
            )
        } else {
            (
                nested.and_then(|c| at(text, &c.disable_snapshot_annotations)),
                nested.and_then(|c| at(text, &c.discard_unpacked_layers)),
            )
        };
        PullKeys {
            use_local_image_pull: if v3 {
                at(text, &self.use_local_image_pull)
            } else {
                None
            },
            disable_snapshot_annotations: annotations,
            discard_unpacked_layers: discard,
            max_concurrent_downloads: at(text, &self.max_concurrent_downloads),
            image_pull_with_sync_fs: at(text, &self.image_pull_with_sync_fs),
        }
    }
}

#[derive(Deserialize, Default)]
struct RawRegistry {
    #[serde(default)]
    config_path: Option<Spanned<String>>,
    #[serde(default)]
    mirrors: BTreeMap<String, RawMirror>,
    #[serde(default)]
    configs: BTreeMap<String, RawHostConfig>,
    #[serde(default)]
    auths: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    headers: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize, Default)]
struct RawMirror {
    #[serde(default)]
    endpoint: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
struct RawHostConfig {
    #[serde(default)]
    tls: Option<Spanned<RawTls>>,
    /// Presence only: the values are credentials and are never kept.
    #[serde(default)]
    auth: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct RawTls {
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    insecure_skip_verify: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

const IMAGES: &str = "plugins.\"io.containerd.cri.v1.images\".registry";
const GRPC_CRI: &str = "plugins.\"io.containerd.grpc.v1.cri\".registry";
const V1_CRI: &str = "plugins.cri.registry";

/// Reads the explicit file (missing = error), or the default path (missing = `None`:
/// containerd runs on its built-in defaults).
pub fn load(explicit: Option<&Path>) -> Result<Option<ContainerdConfig>> {
    match explicit {
        Some(p) => read(p).map(Some),
        None => match read(Path::new(DEFAULT_PATH)) {
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            other => other.map(Some),
        },
    }
}

/// The largest config.toml (or imported file) read.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Reads (regular files of at most [`MAX_CONFIG_BYTES`], from the node-file cache while
/// unchanged) and parses one config file.
pub fn read(path: &Path) -> Result<ContainerdConfig> {
    let text = crate::nodefile::cache()
        .read_string(path, MAX_CONFIG_BYTES)
        .map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
    parse(&text, path)
}

/// Parses config.toml text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<ContainerdConfig> {
    let invalid = |detail: String| Error::Invalid {
        path: path.display().to_string(),
        detail,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| invalid(describe_toml_error(text, &e)))?;
    let version = raw.version.unwrap_or(1);
    let mut notes = Vec::new();
    if !raw.imports.is_empty() {
        notes.push(format!(
            "{} imports {}: registry settings in imported files are not read by pullcheck",
            path.display(),
            raw.imports.join(", ")
        ));
    }
    let mut plugins = raw.plugins;
    let pull = match version {
        3 => plugins.images.as_ref().map(|p| p.pull_keys(text, true)),
        2 => plugins.grpc_cri.as_ref().map(|p| p.pull_keys(text, false)),
        _ => plugins.cri.as_ref().map(|p| p.pull_keys(text, false)),
    }
    .unwrap_or_default();
    let grpc = plugins.grpc_cri.take().and_then(|p| p.registry);
    let images = plugins.images.take().and_then(|p| p.registry);
    let (section, chosen) = match version {
        3 => {
            if grpc.is_some() {
                notes.push(format!(
                    "{GRPC_CRI} in a version 3 file is ignored by containerd 2.x; it reads {IMAGES}"
                ));
            }
            (IMAGES, images)
        }
        2 => match (grpc, images) {
            (Some(g), _) => (GRPC_CRI, Some(g)),
            (None, Some(i)) => {
                notes.push(format!(
                    "{IMAGES} in a version 2 file is read by containerd 2.x only; containerd 1.x reads {GRPC_CRI}"
                ));
                (IMAGES, Some(i))
            }
            (None, None) => (GRPC_CRI, None),
        },
        1 => (V1_CRI, plugins.cri.and_then(|p| p.registry)),
        v => {
            return Err(invalid(format!(
                "unsupported version {v} (containerd knows 1, 2 and 3)"
            )))
        }
    };
    let registry = match chosen {
        Some(r) => settings(text, r),
        None => RegistrySettings::default(),
    };
    Ok(ContainerdConfig {
        path: path.to_path_buf(),
        version,
        section: (!registry.is_empty()).then(|| section.to_string()),
        registry,
        pull,
        notes,
    })
}

fn settings(text: &str, r: RawRegistry) -> RegistrySettings {
    let config_path = r
        .config_path
        .filter(|p| !p.get_ref().is_empty())
        .map(|p| (p.get_ref().clone(), line_of(text, p.span().start)));
    let mirrors = r
        .mirrors
        .into_iter()
        .map(|(host, m)| {
            let eps = m
                .endpoint
                .into_iter()
                .map(|e| MirrorEndpoint {
                    line: line_of(text, e.span().start),
                    url: e.into_inner(),
                })
                .collect();
            (host, eps)
        })
        .collect();
    let mut configs: BTreeMap<String, HostConfig> = r
        .configs
        .into_iter()
        .map(|(host, c)| {
            let tls = c.tls.map(|t| {
                let line = line_of(text, t.span().start);
                let t = t.into_inner();
                LegacyTls {
                    ca_file: t.ca_file.filter(|s| !s.is_empty()).map(PathBuf::from),
                    cert_file: t.cert_file.filter(|s| !s.is_empty()).map(PathBuf::from),
                    key_file: t.key_file.filter(|s| !s.is_empty()).map(PathBuf::from),
                    insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
                    line,
                }
            });
            let auth = c.auth.is_some();
            (host, HostConfig { tls, auth })
        })
        .collect();
    // containerd maps the deprecated `auths."https://host"` onto `configs."host".auth`.
    for url in r.auths.into_keys() {
        let host = if url.contains("://") {
            authority(&url).unwrap_or(&url).to_string()
        } else {
            url
        };
        configs.entry(host).or_default().auth = true;
    }
    let headers = r
        .headers
        .into_iter()
        .flat_map(|(k, v)| {
            let values = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            values.into_iter().map(move |v| (k.clone(), v))
        })
        .collect();
    RegistrySettings {
        config_path,
        legacy: Legacy { mirrors, configs },
        headers,
    }
}

#[cfg(test)]
mod tests;
