//! What the `certs.d` roots hold, for the node summary: every per-registry directory, its hosts
//! in containerd's order (or the error that makes it unusable), and whether an earlier root or
//! name shadows it so containerd never reads it. See [`RegistryDir`].

use super::{hosts_dir, hosts_toml, Host};
use crate::net::TlsSettings;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One host of a registry directory, for the node summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSummary {
    /// `scheme://host[:port][/path]`, or `(the image's registry)` for `_default` without `server`.
    pub url: String,
    /// `resolve` and/or `pull`.
    pub capabilities: Vec<&'static str>,
    /// TLS settings.
    #[serde(skip_serializing_if = "is_default_tls")]
    pub tls: TlsSettings,
    /// `override_path`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub override_path: bool,
    /// `dial_timeout`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::serialize_duration"
    )]
    pub dial_timeout: Option<Duration>,
    /// Names of extra headers (values are not shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_names: Vec<String>,
}

fn is_default_tls(t: &TlsSettings) -> bool {
    *t == TlsSettings::default()
}

impl HostSummary {
    fn of(h: &Host) -> Self {
        let mut capabilities = Vec::new();
        if h.resolve {
            capabilities.push("resolve");
        }
        if h.pull {
            capabilities.push("pull");
        }
        let mut header_names: Vec<String> = h.headers.iter().map(|(k, _)| k.clone()).collect();
        header_names.dedup();
        HostSummary {
            url: h.url.clone(),
            capabilities,
            tls: h.tls.clone(),
            override_path: h.override_path,
            dial_timeout: h.dial_timeout,
            header_names,
        }
    }
}

/// One per-registry directory under a `certs.d` root.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryDir {
    /// The root it is under.
    pub root: PathBuf,
    /// The directory name (`host_port_`, `host:port`, `host`, `_default`).
    pub name: String,
    /// The registry it serves; none for `_default` (every registry without its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// hosts.toml, or the directory when it holds docker-style certificate files.
    pub source: PathBuf,
    /// Hosts in containerd's order.
    pub hosts: Vec<HostSummary>,
    /// An earlier root (or name) wins for this registry: containerd never reads this one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadowed: bool,
    /// Keys containerd ignores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the directory is unusable (e.g. invalid hosts.toml, with its line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every registry directory under the roots, and which ones containerd would never read.
pub(crate) fn list_dirs(
    roots: &[PathBuf],
    note_missing: bool,
    notes: &mut Vec<String>,
) -> Vec<RegistryDir> {
    let mut out = Vec::new();
    let mut default_seen = false;
    for root in roots {
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(root) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect(),
            Err(e) => {
                if note_missing {
                    notes.push(format!("config_path root {}: {e}", root.display()));
                }
                continue;
            }
        };
        dirs.sort();
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let registry = hosts_dir::registry_of_dir(&name);
            let shadowed = match &registry {
                Some(r) => hosts_dir::find(roots, r).as_deref() != Some(dir.as_path()),
                None => std::mem::replace(&mut default_seen, true),
            };
            out.push(describe_dir(root, &dir, name, registry, shadowed));
        }
    }
    out
}

fn describe_dir(
    root: &Path,
    dir: &Path,
    name: String,
    registry: Option<String>,
    shadowed: bool,
) -> RegistryDir {
    let mut entry = RegistryDir {
        root: root.to_path_buf(),
        name,
        registry: registry.clone(),
        source: dir.to_path_buf(),
        hosts: vec![],
        shadowed,
        notes: vec![],
        error: None,
    };
    let file = dir.join("hosts.toml");
    let reg = registry.as_deref().unwrap_or("_default");
    if std::fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
        entry.source = file.clone();
        match hosts_toml::read(&file, reg) {
            Ok(parsed) => {
                entry.hosts = parsed.hosts.iter().map(HostSummary::of).collect();
                if parsed.server_defaulted && registry.is_none() {
                    if let Some(last) = entry.hosts.last_mut() {
                        last.url = "(the image's registry)".into();
                    }
                }
                entry.notes = parsed.notes;
            }
            Err(e) => entry.error = Some(e.to_string()),
        }
        return entry;
    }
    match hosts_dir::from_dir(dir, reg, hosts_dir::Hostless::Read) {
        Ok(e) => {
            entry.hosts = e.hosts.iter().map(HostSummary::of).collect();
            if registry.is_none() {
                if let Some(last) = entry.hosts.last_mut() {
                    last.url = "(the image's registry)".into();
                }
            }
        }
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_dirs_and_missing_roots() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("reg.example_5000_");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), "x").unwrap();
        std::fs::create_dir_all(d.path().join("_default")).unwrap();
        std::fs::write(d.path().join("stray-file"), "x").unwrap();
        let roots = [
            PathBuf::from("/nonexistent/certs.d"),
            d.path().to_path_buf(),
        ];
        let mut notes = vec![];
        let dirs = list_dirs(&roots, true, &mut notes);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("/nonexistent/certs.d"));
        assert_eq!(dirs.len(), 2);
        assert_eq!(dirs[0].name, "_default");
        assert_eq!(dirs[0].hosts[0].url, "(the image's registry)");
        let reg = &dirs[1];
        assert_eq!(reg.registry.as_deref(), Some("reg.example:5000"));
        assert_eq!(reg.source, dir);
        assert_eq!(reg.hosts[0].url, "https://reg.example:5000");
        assert_eq!(reg.hosts[0].tls.ca, [dir.join("ca.crt")]);
        assert!(!reg.shadowed);
        let mut quiet = vec![];
        list_dirs(&roots, false, &mut quiet);
        assert!(quiet.is_empty(), "default roots may be missing silently");
    }
}
