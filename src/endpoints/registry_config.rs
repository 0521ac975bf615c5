//! The registry configuration in force on this node: containerd's config file, the mode it puts
//! containerd in (`hosts_dir`, `legacy`, `default`), the `certs.d` roots and what they hold,
//! legacy mirrors and configs, and the proxy environment. `pullcheck node` prints it;
//! [`RegistryConfig::resolve`] gives the hosts for one image, and
//! [`RegistryConfig::resolve_for`] those containerd 2.1+'s pull path reads ([`pull_mode`]).
//! See [`RegistryConfig::load`].

use super::containerd_config::{self, ContainerdConfig, PullKeys, RegistrySettings};
use super::hosts_dir::{self, Hostless, DEFAULT_ROOTS};
use super::legacy::Legacy;
use super::pull_mode::{self, PullMode};
use super::registry_dirs::{list_dirs, RegistryDir};
use super::runtime_proxy;
use super::{Endpoints, Error, Result};
use crate::net::proxy::{ProxyEnv, ProxySummary};
use crate::reference::ImageRef;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The containerd version a resolution predicts for: MAJOR.MINOR, and whether it is only
/// assumed (no runtime to ask and no `--runtime-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Assumed, not known.
    pub assumed: bool,
}

/// How containerd finds a registry's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `config_path` (or `--hosts-dir`): `certs.d` roots with hosts.toml or cert files.
    HostsDir,
    /// `config_path` unset, `registry.mirrors` / `registry.configs` set.
    Legacy,
    /// No registry option at all: containerd's default roots.
    Default,
}

/// The registry configuration in force.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryConfig {
    /// The containerd config file read (none: it does not exist, containerd defaults apply).
    pub containerd_config: Option<PathBuf>,
    /// Its `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_version: Option<i64>,
    /// The table the registry settings came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_section: Option<String>,
    /// How containerd finds hosts.
    pub mode: Mode,
    /// The `certs.d` roots, in search order (hosts_dir and default modes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_path: Vec<PathBuf>,
    /// What the roots hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<RegistryDir>,
    /// `registry.mirrors` and `registry.configs` (TLS, and whether `auth` exists).
    #[serde(flatten)]
    pub legacy: Legacy,
    /// Names of `registry.headers` sent to every host (values are not shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_names: Vec<String>,
    /// The proxy environment containerd uses (when it was looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySummary>,
    /// What pullcheck does not apply, and containerd version differences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip)]
    headers: Vec<(String, String)>,
    #[serde(skip)]
    proxy_env: Option<ProxyEnv>,
    /// `config_path` as written (2.1+'s transfer service reads it whole).
    #[serde(skip)]
    config_path_set: Option<String>,
    /// Whether `--hosts-dir` replaced `config_path`.
    #[serde(skip)]
    hosts_dir_override: bool,
    /// The keys that decide 2.1+'s pull path.
    #[serde(skip)]
    pull_keys: PullKeys,
}

impl RegistryConfig {
    /// The human view for `pullcheck node`: one line per fact.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let file = self.containerd_config.as_ref().map_or_else(
            || "no containerd config file (containerd defaults)".to_string(),
            |p| p.display().to_string(),
        );
        let mode = match self.mode {
            Mode::HostsDir => "hosts.toml directories (config_path)",
            Mode::Legacy => "legacy registry.mirrors / registry.configs",
            Mode::Default => "containerd defaults",
        };
        out.push(format!("{mode}; from {file}"));
        if !self.config_path.is_empty() {
            let roots: Vec<String> = self
                .config_path
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            out.push(format!("config_path {}", roots.join(":")));
        }
        for dir in &self.registries {
            let who = dir
                .registry
                .as_deref()
                .unwrap_or("_default (every registry)");
            let mut line = format!("{who} → ");
            if let Some(e) = &dir.error {
                line.push_str(&format!("error: {e}"));
            } else {
                let hosts: Vec<String> = dir
                    .hosts
                    .iter()
                    .map(|h| format!("{} [{}]", h.url, h.capabilities.join(",")))
                    .collect();
                line.push_str(&hosts.join(", "));
            }
            if dir.shadowed {
                line.push_str(" (shadowed by an earlier root)");
            }
            out.push(line);
        }
        for (registry, endpoints) in &self.legacy.mirrors {
            let urls: Vec<&str> = endpoints.iter().map(|e| e.url.as_str()).collect();
            out.push(format!("mirror {registry} → {}", urls.join(", ")));
        }
        for (registry, c) in &self.legacy.configs {
            let mut parts = Vec::new();
            if c.tls.is_some() {
                parts.push("tls settings");
            }
            if c.auth {
                parts.push("node-level auth (used when the kubelet sends none)");
            }
            out.push(format!("config {registry}: {}", parts.join(", ")));
        }
        if !self.header_names.is_empty() {
            out.push(format!(
                "headers sent to every host: {}",
                self.header_names.join(", ")
            ));
        }
        if let Some(p) = &self.proxy {
            out.push(p.description.clone());
        }
        out.extend(self.notes.iter().cloned());
        out
    }

    /// Reads containerd's config (`containerd_config`, or the default path when `None`),
    /// applies `--hosts-dir` (a root used instead of `config_path`), and reads containerd's
    /// proxy environment under `proc_root`.
    pub fn load(
        containerd_config: Option<&Path>,
        hosts_dir_override: Option<&Path>,
        proc_root: &Path,
    ) -> Result<Self> {
        let mut config = Self::read(containerd_config, hosts_dir_override)?;
        let env = runtime_proxy::detect(proc_root);
        config.proxy = Some(env.summary());
        config.proxy_env = Some(env);
        Ok(config)
    }

    /// [`load`](Self::load) without looking at processes (the proxy stays unknown).
    pub fn read(
        containerd_config: Option<&Path>,
        hosts_dir_override: Option<&Path>,
    ) -> Result<Self> {
        let file = containerd_config::load(containerd_config)?;
        Self::from_config(file, hosts_dir_override)
    }

    /// The configuration an already-parsed config file (or none) puts containerd in.
    pub fn from_config(
        file: Option<ContainerdConfig>,
        hosts_dir_override: Option<&Path>,
    ) -> Result<Self> {
        let (path, version, section, reg, pull_keys, mut notes) = match file {
            Some(c) => (
                Some(c.path),
                Some(c.version),
                c.section,
                c.registry,
                c.pull,
                c.notes,
            ),
            None => (
                None,
                None,
                None,
                RegistrySettings::default(),
                PullKeys::default(),
                vec![],
            ),
        };
        let shown = path.as_deref().map_or_else(
            || containerd_config::DEFAULT_PATH.to_string(),
            |p| p.display().to_string(),
        );
        let (mode, roots) = if let Some(dir) = hosts_dir_override {
            notes.push(format!(
                "--hosts-dir {}: used instead of containerd's config_path",
                dir.display()
            ));
            if reg.config_path.is_some() && !reg.legacy.mirrors.is_empty() {
                notes.push(format!("{shown}: `mirrors` next to `config_path`: containerd refuses to load its CRI plugin"));
            }
            (Mode::HostsDir, vec![dir.to_path_buf()])
        } else if let Some((value, line)) = &reg.config_path {
            if let Some(m) = reg.legacy.mirrors.values().flatten().next() {
                return Err(Error::Invalid {
                    path: shown,
                    detail: format!(
                        "line {line}: `mirrors` cannot be set when `config_path` is provided (mirrors at line {}): \
                         containerd refuses to load its CRI plugin and the kubelet can pull nothing; move the \
                         mirrors into hosts.toml files under config_path",
                        m.line
                    ),
                });
            }
            if reg.legacy.has_tls() {
                notes.push(format!(
                    "{shown}: registry.configs.*.tls next to config_path: containerd 1.x refuses to load its CRI \
                     plugin (`configs.tls` cannot be set when `config_path` is provided); containerd 2.x ignores these"
                ));
            }
            (Mode::HostsDir, hosts_dir::split_config_path(value))
        } else if reg.is_empty() {
            (
                Mode::Default,
                DEFAULT_ROOTS.iter().map(PathBuf::from).collect(),
            )
        } else {
            (Mode::Legacy, vec![])
        };
        let registries = list_dirs(&roots, mode != Mode::Default, &mut notes);
        let config_path_set = reg.config_path.as_ref().map(|(v, _)| v.clone());
        let mut header_names: Vec<String> = reg.headers.iter().map(|(k, _)| k.clone()).collect();
        header_names.dedup();
        Ok(RegistryConfig {
            containerd_config: path,
            config_version: version,
            config_section: section,
            mode,
            config_path: roots,
            registries,
            legacy: reg.legacy,
            header_names,
            proxy: None,
            notes,
            headers: reg.headers,
            proxy_env: None,
            config_path_set,
            hosts_dir_override: hosts_dir_override.is_some(),
            pull_keys,
        })
    }

    /// The proxy environment found by [`load`](Self::load).
    pub fn proxy_env(&self) -> Option<&ProxyEnv> {
        self.proxy_env.as_ref()
    }

    /// The hosts containerd MAJOR.MINOR contacts for `image`. From 2.1 on, its pull path
    /// ([`pull_mode::decide`]) decides how `config_path` is read: the local pull splits it into
    /// roots, the transfer service reads it whole, as ONE directory, and since 2.2 an unset one
    /// is `/etc/containerd/certs.d:/etc/docker/certs.d`. The endpoints carry the path and a
    /// note saying why, and name a hosts.toml the pull leaves unread with the fix. Before 2.1,
    /// with `--hosts-dir`, and with legacy mirrors/configs (always the local pull, which reads
    /// them as parsed): [`resolve`](Self::resolve), except that 1.x refuses a hosts.toml
    /// without a `host` table ([`Hostless`]; only noted when the version is assumed).
    pub fn resolve_for(&self, image: &ImageRef, version: ForVersion) -> Result<Endpoints> {
        let ForVersion {
            major,
            minor,
            assumed,
        } = version;
        let hostless = match (major < 2, assumed) {
            (true, false) => Hostless::Refused,
            (true, true) => Hostless::Noted,
            (false, _) => Hostless::Read,
        };
        if !pull_mode::chooses(major, minor) || self.hosts_dir_override || self.mode == Mode::Legacy
        {
            return self.resolve_with(image, None, hostless);
        }
        let path = pull_mode::decide(&self.pull_keys, &self.legacy);
        let effective =
            pull_mode::config_path(minor, self.config_path_set.as_deref(), &self.legacy);
        let roots = match (path.mode, effective.as_deref()) {
            (_, None) => vec![],
            (PullMode::Transfer, Some(p)) => vec![PathBuf::from(p)],
            (PullMode::Local, Some(p)) => hosts_dir::split_config_path(p),
        };
        let mut e = self.resolve_with(image, Some(&roots), Hostless::Read)?;
        let label = format!("containerd {major}.{minor}");
        let how = match path.mode {
            PullMode::Transfer => "pulls through the transfer service",
            PullMode::Local => "uses the local pull",
        };
        e.notes.insert(0, format!("{label} {how}: {}", path.why));
        // A registry directory the runtime leaves unread: the one the roots as written give
        // (only looked up when the pull reads none of them).
        let unread = || {
            let written = match effective.as_deref() {
                Some(p) => hosts_dir::split_config_path(p),
                None => DEFAULT_ROOTS.iter().map(PathBuf::from).collect(),
            };
            let dir = hosts_dir::find(&written, &image.registry)?;
            let file = dir.join("hosts.toml");
            Some(
                if file.is_file() { file } else { dir }
                    .display()
                    .to_string(),
            )
        };
        let shown = effective.as_deref().unwrap_or("");
        let default = if self.config_path_set.is_none() {
            format!(" ({label}'s default)")
        } else {
            String::new()
        };
        if path.mode == PullMode::Transfer && roots.len() == 1 && shown.contains(':') {
            let unread = unread();
            e.notes.push(format!(
                "the transfer service reads config_path \"{shown}\"{default} as ONE directory, which does not exist: \
                 no hosts.toml applies{} (containerd#12808); fix: set config_path to a single directory \
                 (config_path = \"/etc/containerd/certs.d\"), or use_local_image_pull = true",
                unread.as_deref().map_or_else(String::new, |u| format!(", so {u} is not read (its mirrors, CAs and plain-HTTP settings are ignored)"))
            ));
        } else if let (None, Some(u)) = (effective.as_deref(), unread()) {
            e.notes.push(format!(
                "{label} has no default config_path: {u} is not read; fix: config_path = \"/etc/containerd/certs.d\""
            ));
        }
        e.pull_mode = Some(path);
        Ok(e)
    }

    /// The hosts containerd contacts for `image`, in order, read live (containerd rereads
    /// hosts.toml on every pull).
    pub fn resolve(&self, image: &ImageRef) -> Result<Endpoints> {
        self.resolve_with(image, None, Hostless::Read)
    }

    /// The hosts for `image` under `roots` (`None`: this configuration's own roots and mode),
    /// reading a hosts.toml without a `host` table as `hostless` says.
    fn resolve_with(
        &self,
        image: &ImageRef,
        roots: Option<&[PathBuf]>,
        hostless: Hostless,
    ) -> Result<Endpoints> {
        let mut e = match (roots, self.mode) {
            (Some(roots), _) => hosts_dir::resolve_as(image, roots, hostless)?,
            (None, Mode::HostsDir | Mode::Default) => {
                hosts_dir::resolve_as(image, &self.config_path, hostless)?
            }
            (None, Mode::Legacy) => {
                let file = self
                    .containerd_config
                    .as_deref()
                    .unwrap_or(Path::new(containerd_config::DEFAULT_PATH));
                self.legacy.resolve(image, file)?
            }
        };
        if roots.is_none() && self.mode == Mode::Default && e.source.is_some() {
            e.notes.push(
                "this directory is read because containerd 2.x defaults config_path to \
                 /etc/containerd/certs.d:/etc/docker/certs.d; containerd 1.x has no default and ignores it"
                    .into(),
            );
        }
        for h in &mut e.hosts {
            h.node_auth = h.authority().is_some_and(|a| self.legacy.node_auth(a));
            if h.node_auth {
                e.notes.push(format!(
                    "registry.configs.\"{}\".auth is set: containerd sends it to {} only when the kubelet sends no credentials",
                    h.authority().unwrap_or_default(),
                    h.url
                ));
            }
            if !self.headers.is_empty() {
                let own = std::mem::take(&mut h.headers);
                h.headers = self.headers.iter().cloned().chain(own).collect();
            }
        }
        e.notes.extend(self.notes.iter().cloned());
        e.proxy = self.proxy.clone();
        Ok(e)
    }
}

#[cfg(test)]
mod tests;
