//! CRI-O's registry configuration, as containers/image (`sysregistriesv2`) applies it:
//! `registries.conf` (version 2) and its drop-ins (`registries.conf.d/*.conf`, lexical order; a
//! `[[registry]]` with a prefix seen before replaces it, top-level keys that are set replace
//! earlier ones). [`RegistriesConf::resolve`] gives, for one image, the longest matching
//! `prefix` and the hosts containers/image tries in order: the mirrors that apply (by
//! `mirror-by-digest-only` and each mirror's `pull-from-mirror`), then the location — or that
//! the registry is `blocked`, with the file and line.
//!
//! The short-name settings (`unqualified-search-registries`, `[aliases]`, `short-name-mode`) are
//! collected into [`ShortNames`], which resolves names without a registry. Not modelled: the v1
//! format (`[registries.search]`), refused with a note as containers/image ≥ 5 deprecates it.

use super::crio_files::CrioFiles;
use super::short_names::ShortNames;
use super::{containers_certs, Endpoints, Error, Host, Result};
use crate::net::TlsSettings;
use crate::reference::{ImageRef, DOCKER_HUB, DOCKER_HUB_ENDPOINT};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// CRI-O's default file.
pub const DEFAULT_FILE: &str = "/etc/containers/registries.conf";
/// The drop-in directory of the default file.
pub const DEFAULT_DROP_INS: &str = "/etc/containers/registries.conf.d";

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    aliases: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    /// The v1 format's table.
    registries: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    prefix: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    insecure: Option<bool>,
    blocked: Option<Spanned<bool>>,
    mirror_by_digest_only: Option<bool>,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    location: String,
    insecure: Option<bool>,
    pull_from_mirror: Option<String>,
}

/// When a mirror is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullFromMirror {
    /// Tags and digests (the default).
    All,
    /// Only pulls by digest.
    DigestOnly,
    /// Only pulls by tag.
    TagOnly,
}

/// One mirror of a registry entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    /// `host[:port][/path]`.
    pub location: String,
    /// TLS unverified, plain HTTP allowed.
    pub insecure: bool,
    /// When it is used.
    pub pull_from_mirror: PullFromMirror,
}

/// One `[[registry]]` entry after the drop-ins were applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    /// What it matches (`host[:port][/path]`, or `*.domain`).
    pub prefix: String,
    /// Where it pulls from (the prefix itself when unset; empty for a wildcard).
    pub location: String,
    /// TLS unverified, plain HTTP allowed.
    pub insecure: bool,
    /// Pulls are refused.
    pub blocked: bool,
    /// Mirrors only for pulls by digest.
    pub mirror_by_digest_only: bool,
    /// Mirrors, in order.
    pub mirrors: Vec<Mirror>,
    /// `file:line` of the entry.
    pub defined_at: String,
    /// `file:line` of `blocked = true`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_at: Option<String>,
}

/// The merged configuration.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistriesConf {
    /// Files read, in order (the main file, then the drop-ins).
    pub files: Vec<String>,
    /// The entries, in the order they were first defined.
    pub registries: Vec<Registry>,
    /// `unqualified-search-registries`, `[aliases]` and `short-name-mode`, merged.
    pub short_names: ShortNames,
    /// Drop-ins that replaced an entry, and other remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// certs.d roots, in order.
    pub certs_roots: Vec<PathBuf>,
}

/// What containers/image does for one image.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// The hosts, in order.
    Hosts(Endpoints),
    /// The matching entry is blocked.
    Blocked {
        /// Its prefix.
        prefix: String,
        /// `file:line` of `blocked = true`.
        at: String,
    },
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

fn invalid(path: &Path, detail: String) -> Error {
    Error::Invalid {
        path: path.display().to_string(),
        detail: format!("{detail} (CRI-O refuses to start with this file)"),
    }
}

impl RegistriesConf {
    /// Reads `file` (`None`: CRI-O's default, where a missing file means no entries) and its
    /// drop-ins (`FILE.d/` for a given file, as containers/image does; the default's
    /// `/etc/containers/registries.conf.d/`), and the certs.d roots (`certs_dir`, else CRI-O's).
    pub fn read(file: Option<&Path>, certs_dir: Option<&Path>) -> Result<Self> {
        let (main, drop_ins, required) = match file {
            Some(f) => {
                let mut d = f.as_os_str().to_owned();
                d.push(".d");
                (f.to_path_buf(), PathBuf::from(d), true)
            }
            None => (
                PathBuf::from(DEFAULT_FILE),
                PathBuf::from(DEFAULT_DROP_INS),
                false,
            ),
        };
        let mut conf = RegistriesConf {
            certs_roots: match certs_dir {
                Some(d) => vec![d.to_path_buf()],
                None => containers_certs::DEFAULT_ROOTS
                    .iter()
                    .map(PathBuf::from)
                    .collect(),
            },
            ..Default::default()
        };
        match std::fs::read_to_string(&main) {
            Ok(text) => conf.merge(&main, &text, true)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(source) => {
                return Err(Error::Read {
                    path: main.display().to_string(),
                    source,
                })
            }
        }
        let mut extra: Vec<PathBuf> = match std::fs::read_dir(&drop_ins) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
                .collect(),
            Err(_) => Vec::new(),
        };
        extra.sort();
        for p in extra {
            let text = std::fs::read_to_string(&p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })?;
            conf.merge(&p, &text, false)?;
        }
        conf.check_conflicts(&main)?;
        Ok(conf)
    }

    /// [`read`](Self::read) with the paths of a node's [`CrioFiles`], plus the machine-generated
    /// short-name alias file.
    pub fn read_for_node(files: &CrioFiles) -> Result<Self> {
        let mut conf = Self::read(
            files.registries_conf.as_deref(),
            files.containers_certs_dir.as_deref(),
        )?;
        conf.short_names
            .read_cache(files.short_name_aliases.as_deref());
        Ok(conf)
    }

    /// containers/image's post-processing: entries for one location (a wildcard: its prefix)
    /// must agree on `insecure` and `blocked`, whichever files they come from.
    fn check_conflicts(&self, main: &Path) -> Result<()> {
        let key = |r: &Registry| {
            if r.location.is_empty() {
                r.prefix.clone()
            } else {
                r.location.clone()
            }
        };
        for (i, a) in self.registries.iter().enumerate() {
            for b in &self.registries[..i] {
                if key(a) != key(b) {
                    continue;
                }
                let setting = if a.insecure != b.insecure {
                    "insecure"
                } else if a.blocked != b.blocked {
                    "blocked"
                } else {
                    continue;
                };
                return Err(invalid(
                    main,
                    format!(
                        "registry '{}' is defined multiple times with conflicting '{setting}' setting ({} and {})",
                        a.location, b.defined_at, a.defined_at
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parses one file (`main`: registries.conf itself, else a drop-in) and applies it over what
    /// was read before.
    fn merge(&mut self, path: &Path, text: &str, main: bool) -> Result<()> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            invalid(path, format!("{at}{}", e.message()))
        })?;
        if raw.registries.is_some() {
            return Err(invalid(
                path,
                "the v1 format ([registries.search] / [registries.insecure]) is not read: \
                 rewrite it as [[registry]] entries (version 2)"
                    .into(),
            ));
        }
        self.files.push(path.display().to_string());
        self.short_names
            .merge(
                raw.aliases.as_ref(),
                raw.unqualified_search_registries.as_deref(),
                raw.short_name_mode.as_deref(),
                &path.display().to_string(),
                main,
            )
            .map_err(|e| invalid(path, e))?;
        let mut seen_here: Vec<String> = Vec::new();
        for r in raw.registry {
            let at = |offset: usize| format!("{}:{}", path.display(), line_of(text, offset));
            let location = r.location.as_ref().map(|l| l.get_ref().trim().to_string());
            let (prefix, defined) = match (&r.prefix, &r.location) {
                (Some(p), _) => (p.get_ref().trim().to_string(), p.span().start),
                (None, Some(l)) => (l.get_ref().trim().to_string(), l.span().start),
                (None, None) => {
                    return Err(invalid(
                        path,
                        "a [[registry]] entry has neither prefix nor location".into(),
                    ))
                }
            };
            let prefix = prefix.trim_end_matches('/').to_string();
            let wildcard = prefix.starts_with("*.");
            let location = location.unwrap_or_default();
            if wildcard && !location.is_empty() {
                return Err(invalid(
                    path,
                    format!(
                        "line {}: wildcarded prefix {prefix:?} must not have a location",
                        line_of(text, defined)
                    ),
                ));
            }
            if !wildcard && location.is_empty() && r.prefix.is_some() && r.location.is_some() {
                return Err(invalid(
                    path,
                    format!(
                        "line {}: invalid location: cannot be empty",
                        line_of(text, defined)
                    ),
                ));
            }
            if seen_here.contains(&prefix) {
                // containers/image keeps the first entry of a prefix and ignores the rest.
                self.notes.push(format!(
                    "{}: a second [[registry]] for prefix {prefix:?} in the same file is ignored (the first wins)",
                    at(defined)
                ));
                continue;
            }
            seen_here.push(prefix.clone());
            let mut mirrors = Vec::new();
            for m in r.mirror {
                let pull_from_mirror = match m.pull_from_mirror.as_deref() {
                    None | Some("" | "all") => PullFromMirror::All,
                    Some("digest-only") => PullFromMirror::DigestOnly,
                    Some("tag-only") => PullFromMirror::TagOnly,
                    Some(other) => {
                        return Err(invalid(
                            path,
                            format!("unsupported pull-from-mirror value {other:?} for mirror {:?} (all, digest-only or tag-only)", m.location),
                        ))
                    }
                };
                if pull_from_mirror != PullFromMirror::All && r.mirror_by_digest_only == Some(true)
                {
                    return Err(invalid(
                        path,
                        format!("mirror {:?}: pull-from-mirror cannot be set when mirror-by-digest-only is true", m.location),
                    ));
                }
                mirrors.push(Mirror {
                    location: m.location.trim().trim_end_matches('/').to_string(),
                    insecure: m.insecure.unwrap_or(false),
                    pull_from_mirror,
                });
            }
            let blocked = r.blocked.as_ref().is_some_and(|b| *b.get_ref());
            let entry = Registry {
                location: if wildcard {
                    String::new()
                } else if location.is_empty() {
                    prefix.clone()
                } else {
                    location.trim_end_matches('/').to_string()
                },
                prefix: prefix.clone(),
                insecure: r.insecure.unwrap_or(false),
                blocked,
                mirror_by_digest_only: r.mirror_by_digest_only.unwrap_or(false),
                mirrors,
                defined_at: at(defined),
                blocked_at: r
                    .blocked
                    .as_ref()
                    .filter(|b| *b.get_ref())
                    .map(|b| at(b.span().start)),
            };
            match self.registries.iter_mut().find(|e| e.prefix == prefix) {
                Some(old) => {
                    self.notes.push(format!(
                        "{} replaces the entry for prefix {prefix:?} from {}",
                        entry.defined_at, old.defined_at
                    ));
                    *old = entry;
                }
                None => self.registries.push(entry),
            }
        }
        Ok(())
    }

    /// The entry containers/image uses for `name` (`registry/repository`): the longest prefix
    /// that matches it whole or up to a `/`.
    pub fn find(&self, name: &str) -> Option<&Registry> {
        self.registries
            .iter()
            .filter(|r| matches_prefix(name, &r.prefix))
            .max_by_key(|r| r.prefix.len())
    }

    /// The hosts containers/image tries for `image`, in order, or the block that stops it.
    pub fn resolve(&self, image: &ImageRef) -> Result<Resolution> {
        let name = image.name();
        let by_digest = image.digest.is_some();
        let Some(reg) = self.find(&name) else {
            let hosts = self.host(&image.registry, &image.repository, false, false, image)?;
            return Ok(Resolution::Hosts(Endpoints {
                hosts,
                source: self.source(),
                notes: vec![format!(
                    "CRI-O (containers/image): no [[registry]] entry matches {name}: the registry itself, over HTTPS"
                )],
                proxy: None,
                last_error_decides: true,
                pull_mode: None,
            }));
        };
        let rest = if reg.prefix.starts_with("*.") {
            ""
        } else {
            &name[reg.prefix.len()..]
        };
        // Each source's rewritten name is looked up again: the entry it matches decides
        // whether it is blocked (containers/image's newDockerClient), so a blocked registry's
        // mirrors still serve it.
        let blocked_by = |rewritten: &str| self.find(rewritten).filter(|r| r.blocked);
        let mut hosts = Vec::new();
        let mut order = Vec::new();
        let mut notes = Vec::new();
        let mut skipped = 0;
        for m in &reg.mirrors {
            let used = match m.pull_from_mirror {
                PullFromMirror::All => by_digest || !reg.mirror_by_digest_only,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            };
            if !used {
                skipped += 1;
                continue;
            }
            let location = format!("{}{rest}", m.location);
            let (host, repo) = split_location(&location);
            if let Some(b) = blocked_by(&location) {
                notes.push(format!(
                    "mirror {host} is blocked by prefix {:?} ({}): not tried",
                    b.prefix,
                    b.blocked_at.as_deref().unwrap_or(&b.defined_at)
                ));
                continue;
            }
            order.push(format!("mirror {host}"));
            hosts.extend(self.host(host, repo, m.insecure, true, image)?);
        }
        let location = if reg.location.is_empty() {
            name.clone()
        } else {
            format!("{}{rest}", reg.location)
        };
        let (host, repo) = split_location(&location);
        match blocked_by(&location) {
            Some(b) if hosts.is_empty() => {
                return Ok(Resolution::Blocked {
                    prefix: b.prefix.clone(),
                    at: b.blocked_at.clone().unwrap_or_else(|| b.defined_at.clone()),
                });
            }
            Some(b) => notes.push(format!(
                "{host} itself is blocked by prefix {:?} ({}): only the mirrors are tried, and \
                 when they all fail CRI-O reports the block",
                b.prefix,
                b.blocked_at.as_deref().unwrap_or(&b.defined_at)
            )),
            None => {
                order.push(format!("then {host}"));
                hosts.extend(self.host(host, repo, reg.insecure, false, image)?);
            }
        }
        notes.insert(
            0,
            format!(
                "CRI-O (containers/image): [[registry]] prefix {:?} ({}): {}{}",
                reg.prefix,
                reg.defined_at,
                order.join(", "),
                if skipped > 0 {
                    format!(
                        "; {skipped} mirror(s) not used for a pull by {}",
                        if by_digest { "digest" } else { "tag" }
                    )
                } else {
                    String::new()
                }
            ),
        );
        notes.extend(self.notes.iter().cloned());
        Ok(Resolution::Hosts(Endpoints {
            hosts,
            source: self.source(),
            notes,
            proxy: None,
            last_error_decides: true,
            pull_mode: None,
        }))
    }

    fn source(&self) -> Option<String> {
        (!self.files.is_empty()).then(|| self.files.join(", "))
    }

    /// The host entries for one endpoint: HTTPS with its certs.d settings; an insecure one
    /// skips verification and falls back to plain HTTP, as containers/image pings.
    fn host(
        &self,
        authority: &str,
        repository: &str,
        insecure: bool,
        mirror: bool,
        image: &ImageRef,
    ) -> Result<Vec<Host>> {
        let dial = if authority == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            authority
        };
        let tls = containers_certs::for_host(&self.certs_roots, authority)?;
        let https = Host {
            tls: TlsSettings {
                skip_verify: insecure,
                ..tls
            },
            mirror,
            ns: None,
            http_fallback: insecure,
            repository: (repository != image.repository).then(|| repository.to_string()),
            // containers/image clears the kubelet's credentials for a mirror on another domain.
            withhold_credentials: mirror && authority != image.registry,
            // skopeo 1.9.3 pulls a layer declared `"size": -0` (0): tests/bed/containers_image.rs.
            fetches_empty_blobs: true,
            ..Host::new(&format!("https://{dial}"), &image.registry)
        };
        let mut out = vec![https.clone()];
        if insecure {
            // containers/image pings both schemes with one client, verification off: a
            // redirect from the plain-HTTP registry to an https storage host is not verified
            // either (skopeo pulls through a storage host with an unknown CA).
            out.push(Host {
                url: format!("http://{dial}"),
                http_fallback: false,
                ..https
            });
        }
        Ok(out)
    }

    /// One line per entry, for `pullcheck node`.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.registries {
            let mut flags = Vec::new();
            if r.blocked {
                flags.push("blocked".to_string());
            }
            if r.insecure {
                flags.push("insecure".to_string());
            }
            if r.mirror_by_digest_only {
                flags.push("mirror-by-digest-only".to_string());
            }
            let mirrors: Vec<String> = r
                .mirrors
                .iter()
                .map(|m| {
                    let mut s = m.location.clone();
                    if m.insecure {
                        s.push_str(" (insecure)");
                    }
                    match m.pull_from_mirror {
                        PullFromMirror::All => {}
                        PullFromMirror::DigestOnly => s.push_str(" (digest-only)"),
                        PullFromMirror::TagOnly => s.push_str(" (tag-only)"),
                    }
                    s
                })
                .collect();
            out.push(format!(
                "{} → {}{}{} [{}]",
                r.prefix,
                if mirrors.is_empty() {
                    String::new()
                } else {
                    format!("mirrors {}, then ", mirrors.join(", "))
                },
                if r.location.is_empty() {
                    "the matched host"
                } else {
                    &r.location
                },
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                },
                r.defined_at
            ));
        }
        out.extend(self.short_names.summary_lines());
        out
    }
}

/// `host[:port]` and the repository path of a location with the rest of the name appended.
fn split_location(location: &str) -> (&str, &str) {
    location.split_once('/').unwrap_or((location, ""))
}

/// containers/image's `refMatchesPrefix`, plus `*.domain` wildcards on the host part.
fn matches_prefix(name: &str, prefix: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or("");
        return host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.';
    }
    match name.len().cmp(&prefix.len()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => name == prefix,
        std::cmp::Ordering::Greater => {
            name.starts_with(prefix) && matches!(name.as_bytes()[prefix.len()], b'/' | b':' | b'@')
        }
    }
}

#[cfg(test)]
mod tests;
