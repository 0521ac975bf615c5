//! containerd's deprecated CRI registry settings, used when `config_path` is unset:
//! `registry.mirrors."<host>".endpoint` (or `"*"`) in order, then the registry's default host
//! unless an endpoint already is that host; per contacted host, `registry.configs."<host>".tls`
//! (`ca_file`, `cert_file`, `key_file`, `insecure_skip_verify`) and whether an `auth` table
//! exists (its values are never read). See [`Legacy::resolve`].

use super::{authority, Endpoints, Error, Host, Result};
use crate::net::TlsSettings;
use crate::reference::{ImageRef, DOCKER_HUB, DOCKER_HUB_ENDPOINT};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `endpoint` entry as written, with its line in config.toml.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct MirrorEndpoint {
    /// The URL as written (the scheme may be missing).
    pub url: String,
    /// Line in the config file.
    #[serde(skip)]
    pub line: usize,
}

/// `registry.configs."<host>".tls`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyTls {
    /// `ca_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// `cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// `key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// `insecure_skip_verify`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// Line of the `tls` table in the config file.
    #[serde(skip)]
    pub line: usize,
}

/// `registry.configs."<host>"`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostConfig {
    /// TLS settings for this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<LegacyTls>,
    /// An `auth` table (or a deprecated `registry.auths` entry) exists for this host.
    pub auth: bool,
}

/// The legacy settings of one config file.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Legacy {
    /// `registry.mirrors`: registry (or `*`) → endpoints in order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, Vec<MirrorEndpoint>>,
    /// `registry.configs`: contacted host (`host[:port]`) → settings.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, HostConfig>,
}

impl Legacy {
    /// Whether any TLS setting exists (containerd 1.x refuses them next to `config_path`).
    pub fn has_tls(&self) -> bool {
        self.configs.values().any(|c| c.tls.is_some())
    }

    /// Whether a node-level credential is configured for this contacted host.
    pub fn node_auth(&self, authority: &str) -> bool {
        self.configs.get(authority).is_some_and(|c| c.auth)
    }

    /// The hosts containerd contacts for `image` in legacy mode; `file` names the config file.
    pub fn resolve(&self, image: &ImageRef, file: &Path) -> Result<Endpoints> {
        let registry = image.registry.as_str();
        let invalid = |detail: String| Error::Invalid {
            path: file.display().to_string(),
            detail,
        };
        let (key, listed) = match self.mirrors.get(registry) {
            Some(l) => (registry, l.as_slice()),
            None => match self.mirrors.get("*") {
                Some(l) => ("*", l.as_slice()),
                None => (registry, &[][..]),
            },
        };
        let mut urls = Vec::new();
        for ep in listed {
            let url = with_default_scheme(&ep.url);
            reqwest::Url::parse(&url)
                .ok()
                .filter(|u| u.host_str().is_some())
                .ok_or_else(|| {
                    invalid(format!(
                        "line {}: registry.mirrors.\"{key}\".endpoint {:?} is not a URL",
                        ep.line, ep.url
                    ))
                })?;
            urls.push(url);
        }
        let mut notes = Vec::new();
        if !listed.is_empty() && key == "*" {
            notes.push(format!(
                "no mirrors for {registry}: containerd uses registry.mirrors.\"*\""
            ));
        }
        // containerd appends the default host unless an endpoint's host is the registry itself.
        if !urls.iter().any(|u| authority(u) == Some(registry)) {
            let host = if registry == DOCKER_HUB {
                DOCKER_HUB_ENDPOINT
            } else {
                registry
            };
            let default = format!("{}://{host}", default_scheme(host));
            if urls.contains(&default) {
                notes.push(format!(
                    "containerd tries {default} twice (listed, then appended as the default host); probed once"
                ));
            } else {
                urls.push(default);
            }
        }
        let mut hosts = Vec::new();
        for url in urls {
            hosts.push(self.host(&url, registry).map_err(&invalid)?);
        }
        Ok(Endpoints {
            hosts,
            source: Some(format!(
                "{} (registry.mirrors / registry.configs)",
                file.display()
            )),
            notes,
            proxy: None,
            last_error_decides: false,
            pull_mode: None,
        })
    }

    fn host(&self, url: &str, registry: &str) -> Result<Host, String> {
        let auth = authority(url).unwrap_or_default();
        let mut host = Host::new(url, registry);
        // A legacy endpoint's path is used verbatim as the API root; `/v2` only when it has none.
        host.override_path = has_path(url);
        if let Some(tls) = self.configs.get(auth).and_then(|c| c.tls.as_ref()) {
            host.tls = tls_settings(auth, tls)?;
        }
        Ok(host)
    }
}

/// containerd's `getTLSConfig` rules: a certificate needs its key and the reverse.
fn tls_settings(auth: &str, t: &LegacyTls) -> Result<TlsSettings, String> {
    let client = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => vec![(c.clone(), Some(k.clone()))],
        (None, None) => vec![],
        (Some(c), None) => {
            return Err(format!(
                "line {}: registry.configs.\"{auth}\".tls: cert_file {} without key_file (containerd fails the pull)",
                t.line,
                c.display()
            ))
        }
        (None, Some(k)) => {
            return Err(format!(
                "line {}: registry.configs.\"{auth}\".tls: key_file {} without cert_file (containerd fails the pull)",
                t.line,
                k.display()
            ))
        }
    };
    Ok(TlsSettings {
        ca: t.ca_file.iter().cloned().collect(),
        client,
        skip_verify: t.insecure_skip_verify,
    })
}

/// `http` for localhost and loopback addresses, `https` otherwise (containerd's `defaultScheme`).
fn default_scheme(host: &str) -> &'static str {
    if crate::reference::is_loopback_host(host) {
        "http"
    } else {
        "https"
    }
}

fn with_default_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        let host = authority(endpoint).unwrap_or(endpoint);
        format!("{}://{endpoint}", default_scheme(host))
    }
}

/// Whether the URL has a path as Go's `url.Parse` sees it (anything after the authority).
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find(['/', '?', '#'])
        .is_some_and(|i| rest[i..].starts_with('/'))
}

#[cfg(test)]
mod tests;
