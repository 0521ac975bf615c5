//! Short names as CRI-O resolves them (containers/image `pkg/shortnames`, with the short-name
//! mode forced to `disabled` as CRI-O's `CandidatesForPotentiallyShortImageName` does). The
//! kubelet hands CRI-O the pod spec's image as written (`nginx` becomes `nginx:latest`, not
//! `docker.io/library/nginx`), so a name without a registry is resolved on the node:
//!
//! 1. an alias for the name (tag and digest stripped), from the machine-generated
//!    `short-name-aliases.conf` first, then the `[aliases]` tables of registries.conf and its
//!    drop-ins (a later file overrides a name; an empty value resets it) — one candidate;
//! 2. else every `unqualified-search-registries` entry in order — one candidate each, tried
//!    until one pulls (the last failure is what CRI-O reports);
//! 3. else the pull fails: no alias and no search registries.
//!
//! [`ShortNames`] holds what the files set; [`ShortNames::resolve`] gives the candidates.

use super::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// containers/image's machine-generated alias file for root (CRI-O runs as root).
pub const DEFAULT_CACHE: &str = "/var/cache/containers/short-name-aliases.conf";

/// One alias, after the files were applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alias {
    /// The fully-qualified repository (docker.io names normalized); `None`: reset by an empty
    /// value, so the name falls through to the search registries.
    pub value: Option<String>,
    /// The file that set it.
    pub origin: String,
}

/// What the node's files say about short names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShortNames {
    /// `[aliases]` of registries.conf and its drop-ins, merged by name.
    pub aliases: BTreeMap<String, Alias>,
    /// The machine-generated alias file's entries (they win over `aliases`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cached: BTreeMap<String, Alias>,
    /// The machine-generated alias file read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_file: Option<String>,
    /// Why that file is unusable: containers/image then fails every short name (and only
    /// those: it reads the file only to resolve one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_error: Option<String>,
    /// `unqualified-search-registries`, in order.
    pub search: Vec<String>,
    /// The file containers/image names for `unqualified-search-registries`: registries.conf
    /// itself, or the last drop-in that set them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_origin: Option<String>,
    /// `short-name-mode` as written; CRI-O ignores it (it never prompts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// How a name was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rationale {
    /// By an alias.
    Alias,
    /// By the unqualified-search registries.
    SearchRegistries,
}

/// The candidates for one short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The name as the kubelet sends it (`:latest` added when it has neither tag nor digest).
    pub input: String,
    /// Alias or search.
    pub rationale: Rationale,
    /// The file that decided (the alias's, or the one that set the search registries).
    pub origin: String,
    /// Fully-qualified references, in the order CRI-O tries them.
    pub candidates: Vec<String>,
}

/// Why a short name has no candidate, in CRI-O's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The message CRI-O returns.
    pub message: String,
}

/// containers/image's short-name test: no registry part (the reference grammar's, as
/// [`crate::reference::split_domain`] reads it). `library/nginx` is short; `localhost/app` and
/// `quay.io/app` are not.
pub fn is_short(input: &str) -> bool {
    let name = input.split('@').next().unwrap_or(input);
    crate::reference::split_domain(name).is_none()
}

/// `name`, `:tag`, `@digest` of a short reference (the tag only after the last `/`).
fn split(input: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match input.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (input, None),
    };
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last..].find(':') {
        Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// `registry/repository` of a fully-qualified name, normalized as containers/image's
/// `ParseNormalizedNamed` does (`docker.io/x` → `docker.io/library/x`); `None` when it is short
/// or no valid reference.
fn qualified(name: &str) -> Option<String> {
    if is_short(name) {
        return None;
    }
    crate::reference::ImageRef::parse(name)
        .ok()
        .map(|r| r.name())
}

/// An alias's right-hand side: a repository with a registry, no tag, no digest.
fn parse_value(value: &str) -> std::result::Result<String, String> {
    if value.contains('@') {
        return Err(format!("invalid alias {value:?}: must not contain digest"));
    }
    let last = value.rfind('/').map_or(0, |i| i + 1);
    if value[last..].contains(':') {
        return Err(format!("invalid alias {value:?}: must not contain tag"));
    }
    qualified(value)
        .ok_or_else(|| format!("invalid alias {value:?}: must contain registry and repository"))
}

/// An alias's left-hand side: a short repository name, no tag, no digest.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.contains('@') {
        return Err(format!(
            "invalid short name {name:?}: must not contain digest"
        ));
    }
    if split(name).1.is_some() {
        return Err(format!("invalid short name {name:?}: must not contain tag"));
    }
    if !is_short(name) {
        return Err(format!(
            "invalid short name {name:?}: must not contain registry"
        ));
    }
    Ok(())
}

/// One file's `[aliases]` table, checked as containers/image checks it (every bad entry named).
pub fn parse_aliases(
    table: &BTreeMap<String, String>,
    origin: &str,
) -> std::result::Result<BTreeMap<String, Alias>, String> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, value) in table {
        if let Err(e) = check_name(name) {
            errors.push(e);
        }
        let value = if value.is_empty() {
            None
        } else {
            match parse_value(value) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        };
        out.insert(
            name.clone(),
            Alias {
                value,
                origin: origin.to_string(),
            },
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

#[derive(serde::Deserialize)]
struct CacheFile {
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

impl ShortNames {
    /// Applies one file's settings over the earlier files' (`main`: registries.conf itself,
    /// which names the search registries' origin whether it sets them or not).
    pub fn merge(
        &mut self,
        aliases: Option<&BTreeMap<String, String>>,
        search: Option<&[String]>,
        mode: Option<&str>,
        origin: &str,
        main: bool,
    ) -> std::result::Result<(), String> {
        if let Some(m) = mode.filter(|m| !m.is_empty()) {
            if !matches!(m, "disabled" | "enforcing" | "permissive") {
                return Err(format!("invalid short-name mode: {m:?}"));
            }
            self.mode = Some(m.to_string());
        }
        if let Some(table) = aliases {
            let parsed = parse_aliases(table, origin)
                .map_err(|e| format!("validating short-name aliases: {e}"))?;
            self.aliases.extend(parsed);
        }
        if main || search.is_some() {
            self.search_origin = Some(origin.to_string());
        }
        if let Some(s) = search {
            self.search = s.to_vec();
        }
        Ok(())
    }

    /// Reads the machine-generated alias file (`None`: [`DEFAULT_CACHE`]; missing is empty).
    /// An unusable file is kept as [`cache_error`](Self::cache_error): only short names fail.
    pub fn read_cache(&mut self, path: Option<&Path>) {
        let path = path.unwrap_or(Path::new(DEFAULT_CACHE));
        self.cache_file = Some(path.display().to_string());
        if let Err(e) = self.load_cache(path) {
            self.cache_error = Some(crate::error_text::error_chain(&e));
        }
    }

    fn load_cache(&mut self, path: &Path) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let invalid = |detail: String| {
            Error::Invalid {
            path: path.display().to_string(),
            detail: format!(
                "loading short-name aliases config file: {detail} (CRI-O fails every short-name pull with this file)"
            ),
        }
        };
        let file: CacheFile = toml::from_str(&text).map_err(|e| invalid(e.message().into()))?;
        self.cached = parse_aliases(&file.aliases, &path.display().to_string()).map_err(invalid)?;
        Ok(())
    }

    /// The alias for `name`: the generated file first, then registries.conf. `Some(None)`: an
    /// empty value reset it.
    fn alias(&self, name: &str) -> Option<&Alias> {
        self.cached.get(name).or_else(|| self.aliases.get(name))
    }

    /// The candidates CRI-O pulls for `input` in order; `Ok(None)` when `input` is not a short
    /// name (it is pulled as written).
    pub fn resolve(&self, input: &str) -> std::result::Result<Option<Resolved>, Unresolved> {
        if !is_short(input) {
            return Ok(None);
        }
        if let Some(e) = &self.cache_error {
            return Err(Unresolved { message: e.clone() });
        }
        let (name, tag, digest) = split(input);
        // The kubelet's applyDefaultImageTag.
        let sent = if tag.is_none() && digest.is_none() {
            format!("{input}:latest")
        } else {
            input.to_string()
        };
        let suffix = |base: &str| {
            let mut s = base.to_string();
            // CRI-O strips the tag of a reference that has a digest too.
            match (tag, digest) {
                (_, Some(d)) => {
                    s.push('@');
                    s.push_str(d);
                }
                (Some(t), None) => {
                    s.push(':');
                    s.push_str(t);
                }
                (None, None) => s.push_str(":latest"),
            }
            s
        };
        if let Some(a) = self.alias(name) {
            if let Some(v) = &a.value {
                return Ok(Some(Resolved {
                    input: sent,
                    rationale: Rationale::Alias,
                    origin: a.origin.clone(),
                    candidates: vec![suffix(v)],
                }));
            }
        }
        if self.search.is_empty() {
            let message = match &self.search_origin {
                Some(o) => format!(
                    "short-name {sent:?} did not resolve to an alias and no unqualified-search registries are defined in {o:?}"
                ),
                None => format!(
                    "short-name {sent:?} did not resolve to an alias and no containers-registries.conf(5) was found"
                ),
            };
            return Err(Unresolved { message });
        }
        let mut candidates = Vec::new();
        for reg in &self.search {
            let Some(full) = qualified(&format!("{reg}/{name}")) else {
                return Err(Unresolved {
                    message: format!(
                        "creating reference with unqualified-search registry {reg:?}: invalid reference format"
                    ),
                });
            };
            candidates.push(suffix(&full));
        }
        Ok(Some(Resolved {
            input: sent,
            rationale: Rationale::SearchRegistries,
            origin: self.search_origin.clone().unwrap_or_default(),
            candidates,
        }))
    }

    /// Lines for `pullcheck node`.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.search.is_empty() {
            out.push(
                "unqualified-search-registries: none (a short name without an alias fails on CRI-O)"
                    .to_string(),
            );
        } else {
            out.push(format!(
                "unqualified-search-registries: {} ({}; CRI-O tries each in order for a short name without an alias)",
                self.search.join(", "),
                self.search_origin.as_deref().unwrap_or("")
            ));
        }
        let live = |m: &BTreeMap<String, Alias>| m.values().filter(|a| a.value.is_some()).count();
        let cache = self.cache_file.as_deref().unwrap_or(DEFAULT_CACHE);
        if !self.aliases.is_empty() || !self.cached.is_empty() {
            out.push(format!(
                "short-name aliases: {} from registries.conf files, {} from {cache}",
                live(&self.aliases),
                live(&self.cached),
            ));
        }
        if let Some(e) = &self.cache_error {
            out.push(format!(
                "{cache} is unusable, so every short name fails: {e}"
            ));
        }
        if let Some(m) = &self.mode {
            out.push(format!(
                "short-name-mode = {m:?}: CRI-O ignores it (it never prompts, every candidate is tried)"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
