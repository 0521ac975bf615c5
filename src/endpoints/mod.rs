//! Which hosts containerd on this node contacts for a registry, and how. Entry point:
//! [`RegistryConfig::load`] reads containerd's `config.toml` ([`containerd_config`]) and picks
//! containerd's mode: a `config_path` list of `certs.d` roots ([`hosts_dir`], [`hosts_toml`],
//! [`certs`]), the deprecated `registry.mirrors` / `registry.configs` ([`legacy`]), or
//! containerd's defaults; it also reads the proxy environment of the runtime that pulls
//! (containerd or CRI-O: [`runtime_proxy`]). [`RegistryConfig::resolve`] then gives the ordered [`Host`]s for one image.

pub mod certs;
pub mod containerd_config;
pub mod containerd_process;
pub mod containers_certs;
pub mod crio_files;
pub mod hosts_dir;
pub mod hosts_toml;
pub mod legacy;
pub mod pull_mode;
pub mod registries_conf;
pub mod registry_config;
pub mod registry_dirs;
pub mod runtime_kind;
pub mod runtime_proxy;
pub mod short_names;
pub mod signature_policy;
pub mod version_rules;

pub use registry_config::{Mode, RegistryConfig};
pub use registry_dirs::{HostSummary, RegistryDir};

use crate::net::TlsSettings;
use crate::reference::{ImageRef, DOCKER_HUB, DOCKER_HUB_ENDPOINT};
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the registry configuration could not be read. Not retryable: the node's files must be
/// fixed (or the flag pointing at them).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML, has wrong types, or a setting containerd rejects (the detail
    /// carries the line).
    #[error("invalid {path}: {detail}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with its position.
        detail: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One host in containerd's ordered list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// `scheme://host[:port][/path]`.
    pub url: String,
    /// May resolve tags.
    pub resolve: bool,
    /// May pull by digest.
    pub pull: bool,
    /// TLS settings.
    pub tls: TlsSettings,
    /// Extra request headers (values are not shown in reports).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Use the URL path as the API root instead of appending `/v2`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub override_path: bool,
    /// Whether this is a mirror (a host other than the registry itself).
    pub mirror: bool,
    /// The `ns` query parameter containerd adds to every request to a mirror: the image's
    /// registry host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
    /// hosts.toml `dial_timeout` (containerd's default when unset: 30 s).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_duration"
    )]
    pub dial_timeout: Option<Duration>,
    /// containerd's `registry.configs."<host>".auth` exists for this host: containerd sends it
    /// only when the kubelet sent no credentials. The values are never read into pullcheck.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub node_auth: bool,
    /// containerd's HTTP fallback transport (1.7+, loopback): a plain-HTTP answer to TLS here
    /// is not an error, the next host (the same address over `http://`) answers instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub http_fallback: bool,
    /// The repository on this host when it is not the image's (a containers/image mirror whose
    /// `location` has a path: `mirror.example.com/hub` serves `docker.io/library/x` as
    /// `hub/library/x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// CRI-O does not send the kubelet's credentials here (a mirror on another domain than the
    /// image's): it uses its own auth file's entry for this host, if any.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub withhold_credentials: bool,
    /// What is sent here instead when [`withhold_credentials`](Self::withhold_credentials) is
    /// set (`None`: nothing, anonymous). Never serialized.
    #[serde(skip)]
    pub own_credential: Option<crate::identity::Credential>,
    /// The runtime fetches a blob (or a platform manifest) whose descriptor declares a size of
    /// 0: containers/image (CRI-O) does; containerd refuses one it does not already hold.
    #[serde(skip)]
    pub fetches_empty_blobs: bool,
}

impl Host {
    /// A host with containerd's defaults (all capabilities, system trust store); `mirror` and
    /// `ns` follow containerd's rule for `registry`.
    pub fn new(url: &str, registry: &str) -> Self {
        let mirror = authority(url).is_some_and(|a| is_mirror(registry, a));
        Host {
            url: url.to_string(),
            resolve: true,
            pull: true,
            tls: TlsSettings::default(),
            headers: vec![],
            override_path: false,
            mirror,
            ns: mirror.then(|| registry.to_string()),
            dial_timeout: None,
            node_auth: false,
            http_fallback: false,
            repository: None,
            withhold_credentials: false,
            own_credential: None,
            fetches_empty_blobs: false,
        }
    }

    /// The API root (`…/v2`), as containerd builds it: `/v2` is appended unless the path
    /// already ends with it or `override_path` is set.
    pub fn api_base(&self) -> String {
        let base = self.url.trim_end_matches('/');
        let path = reqwest::Url::parse(base)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        if self.override_path || path.ends_with("/v2") {
            base.to_string()
        } else {
            format!("{base}/v2")
        }
    }

    /// `host[:port]` as written in the URL.
    pub fn authority(&self) -> Option<&str> {
        authority(&self.url)
    }
}

pub(crate) fn serialize_duration<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}

/// The hosts to try for one registry, in order, and where that came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Hosts in containerd's order: `[host]` entries in file order, then `server`.
    pub hosts: Vec<Host>,
    /// The configuration file or directory used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Notes on how containerd differs for this registry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The proxy settings the probe used, and where they came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<crate::net::proxy::ProxySummary>,
    /// When no host serves the image, the last host's error is the runtime's (containers/image
    /// reports the registry's own error, the mirrors' appended); otherwise containerd's rule:
    /// the first error that is not a 404.
    #[serde(skip)]
    pub last_error_decides: bool,
    /// containerd 2.1+: the CRI's pull path, which decides how `config_path` is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_mode: Option<pull_mode::PullPath>,
}

impl Endpoints {
    /// Whether the hosts come from a hosts.toml (not from containerd's defaults, with or
    /// without a directory's certificate files).
    pub fn from_hosts_toml(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|s| s.ends_with("/hosts.toml"))
    }
}

/// The default server URL containerd uses for a registry when `server` is not set: Docker
/// Hub's endpoint for `docker.io`; plain HTTP for localhost and 127.0.0.0/8 (containerd 1.6/1.7
/// `ConfigureHosts`: scheme `http`, verification off); HTTPS otherwise.
pub fn default_server(registry: &str) -> String {
    if registry == DOCKER_HUB {
        format!("https://{DOCKER_HUB_ENDPOINT}")
    } else if crate::reference::is_loopback_host(registry) {
        format!("http://{registry}")
    } else {
        format!("https://{registry}")
    }
}

/// containerd's `isProxy`: a host is a mirror unless it is the image's registry itself
/// (`registry-1.docker.io` counts as `docker.io`). `authority` is `host[:port]` as written.
pub fn is_mirror(registry: &str, authority: &str) -> bool {
    authority != registry && !(registry == DOCKER_HUB && authority == DOCKER_HUB_ENDPOINT)
}

/// `host[:port]` of a URL exactly as written (Go keeps an explicit default port, so must we).
pub fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    (!auth.is_empty()).then_some(auth)
}

/// Resolves the hosts for `image` from one optional `certs.d` root (`--hosts-dir` alone, no
/// containerd config). [`RegistryConfig::resolve`] is the full version.
pub fn resolve(image: &ImageRef, hosts_dir: Option<&Path>) -> Result<Endpoints> {
    let roots: Vec<PathBuf> = hosts_dir.map(Path::to_path_buf).into_iter().collect();
    hosts_dir::resolve(image, &roots)
}

/// A TOML error with line and column, kept to one line.
pub(crate) fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => format!("{}: {msg}", position(text, span.start)),
        None => msg,
    }
}

/// `line L, column C` of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {col}")
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..floor_char_boundary(text, offset)]
        .matches('\n')
        .count()
        + 1
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rule_is_containerds_is_proxy() {
        assert!(!is_mirror("docker.io", "registry-1.docker.io"));
        assert!(is_mirror("docker.io", "index.docker.io"));
        assert!(!is_mirror("reg.example:5000", "reg.example:5000"));
        assert!(
            is_mirror("reg.example", "reg.example:443"),
            "Go keeps the explicit port"
        );
        let h = Host::new("https://mirror.example", "ghcr.io");
        assert!(h.mirror);
        assert_eq!(h.ns.as_deref(), Some("ghcr.io"));
        let h = Host::new("https://ghcr.io", "ghcr.io");
        assert!(!h.mirror && h.ns.is_none());
    }

    #[test]
    fn authority_as_written() {
        assert_eq!(authority("https://a.example:443/v2"), Some("a.example:443"));
        assert_eq!(authority("http://u:p@a.example"), Some("a.example"));
        assert_eq!(authority("a.example:5000"), Some("a.example:5000"));
        assert_eq!(authority("https://"), None);
    }

    #[test]
    fn api_base_appends_v2_once() {
        let mut h = Host::new("https://m.example/v2", "r.example");
        assert_eq!(h.api_base(), "https://m.example/v2");
        h.url = "https://m.example/prefix".into();
        assert_eq!(h.api_base(), "https://m.example/prefix/v2");
        h.override_path = true;
        assert_eq!(h.api_base(), "https://m.example/prefix");
        h.url = "https://v2".into();
        h.override_path = false;
        assert_eq!(h.api_base(), "https://v2/v2");
    }

    #[test]
    fn positions_are_one_based_and_char_safe() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 6), "line 2, column 1");
        assert_eq!(line_of(text, 8), 2, "offset inside a multi-byte char");
        assert_eq!(line_of(text, 999), 3);
    }

    #[test]
    fn host_serialisation_skips_new_fields_when_empty() {
        let h = Host::new("https://ghcr.io", "ghcr.io");
        let j = serde_json::to_value(&h).unwrap();
        assert!(j.get("ns").is_none() && j.get("dialTimeout").is_none());
        assert!(j.get("nodeAuth").is_none());
        let mut m = Host::new("https://m.example", "ghcr.io");
        m.dial_timeout = Some(Duration::from_millis(1500));
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["ns"], "ghcr.io");
        assert_eq!(j["dialTimeout"], "1s 500ms");
    }
}
