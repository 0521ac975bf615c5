//! One `hosts.toml`, parsed as containerd parses it: `[host."…"]` tables in file order, then
//! `server` (default: the registry's own host); per host `capabilities`, `ca`, `client`,
//! `skip_verify`, `header`, `override_path`, `dial_timeout` (Go duration); relative paths are
//! relative to the file's directory. Keys containerd does not know are ignored, with a note.
//! See [`read`].

use super::{default_server, describe_toml_error, is_mirror, line_of, Error, Host, Result};
use crate::net::TlsSettings;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A parsed hosts.toml.
#[derive(Debug, Clone)]
pub struct HostsFile {
    /// Hosts in containerd's order: `[host]` tables in file order, then `server`.
    pub hosts: Vec<Host>,
    /// `server` is not set: the last host is the registry's default server.
    pub server_defaulted: bool,
    /// Keys containerd ignores (often typos).
    pub notes: Vec<String>,
    /// The file has a `host` table (`[host."…"]`, or an empty `[host]`). containerd 1.6 and
    /// 1.7 refuse a file without one ("failed to decode hosts.toml: invalid `host` tree": go-toml
    /// v1's `Get("host")` is nil) and fall back to the directory's certificate files; 2.x reads
    /// it.
    pub has_host_table: bool,
}

const HOST_KEYS: &[&str] = &[
    "capabilities",
    "ca",
    "client",
    "skip_verify",
    "header",
    "override_path",
    "dial_timeout",
];

#[derive(Deserialize, Default)]
struct HostFields {
    #[serde(default)]
    capabilities: Option<Vec<String>>,
    #[serde(default)]
    ca: Option<OneOrMany>,
    #[serde(default)]
    client: Option<toml::Value>,
    #[serde(default)]
    skip_verify: Option<bool>,
    #[serde(default)]
    header: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    override_path: Option<bool>,
    #[serde(default)]
    dial_timeout: Option<String>,
}

/// The file: top-level fields apply to `server` (spelt out, not flattened, so TOML errors
/// keep their line numbers).
#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    server: Option<Spanned<String>>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
    #[serde(default)]
    ca: Option<OneOrMany>,
    #[serde(default)]
    client: Option<toml::Value>,
    #[serde(default)]
    skip_verify: Option<bool>,
    #[serde(default)]
    header: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    override_path: Option<bool>,
    #[serde(default)]
    dial_timeout: Option<String>,
    /// `None`: no `host` table at all (which containerd 1.x refuses); `[host]` alone is
    /// `Some` and empty.
    #[serde(default)]
    host: Option<BTreeMap<Spanned<String>, HostFields>>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The largest hosts.toml read (a real one is a few hundred bytes).
pub const MAX_HOSTS_TOML_BYTES: u64 = 1024 * 1024;

/// Reads (regular files of at most [`MAX_HOSTS_TOML_BYTES`], from the node-file cache while
/// unchanged) and parses `file` for images of `registry`.
pub fn read(file: &Path, registry: &str) -> Result<HostsFile> {
    let text = crate::nodefile::cache()
        .read_string(file, MAX_HOSTS_TOML_BYTES)
        .map_err(|source| Error::Read {
            path: file.display().to_string(),
            source,
        })?;
    parse(&text, file, registry)
}

/// Parses hosts.toml text; `file` names it in errors and anchors relative paths.
pub fn parse(text: &str, file: &Path, registry: &str) -> Result<HostsFile> {
    let invalid = |detail: String| Error::Invalid {
        path: file.display().to_string(),
        detail,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| invalid(describe_toml_error(text, &e)))?;
    let dir = file.parent().unwrap_or(Path::new("."));

    // containerd keeps `[host]` tables in file order; the map sorted them, the spans restore it.
    let has_host_table = raw.host.is_some();
    let mut ordered: Vec<(Spanned<String>, HostFields)> =
        raw.host.unwrap_or_default().into_iter().collect();
    ordered.sort_by_key(|(k, _)| k.span().start);
    let mut hosts = Vec::new();
    for (key, fields) in ordered {
        let at = format!("line {}", line_of(text, key.span().start));
        let host = build_host(key.get_ref(), fields, dir, registry)
            .map_err(|e| invalid(format!("{at}: {e}")))?;
        hosts.push(host);
    }
    let server = raw.server.filter(|s| !s.get_ref().is_empty());
    let server_defaulted = server.is_none();
    let (server_url, at) = match &server {
        Some(s) => (
            s.get_ref().clone(),
            format!("line {}", line_of(text, s.span().start)),
        ),
        None => (default_server(registry), "top-level settings".to_string()),
    };
    let top = HostFields {
        capabilities: raw.capabilities,
        ca: raw.ca,
        client: raw.client,
        skip_verify: raw.skip_verify,
        header: raw.header,
        override_path: raw.override_path,
        dial_timeout: raw.dial_timeout,
    };
    let host =
        build_host(&server_url, top, dir, registry).map_err(|e| invalid(format!("{at}: {e}")))?;
    hosts.push(host);
    Ok(HostsFile {
        hosts,
        server_defaulted,
        notes: unknown_keys(text, file),
        has_host_table,
    })
}

/// containerd decodes hosts.toml leniently: unknown keys are dropped without a word.
fn unknown_keys(text: &str, file: &Path) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return vec![];
    };
    let mut notes = Vec::new();
    let mut note = |key: &str, table: &str| {
        notes.push(format!(
            "{}: unknown key `{key}`{table} is ignored by containerd",
            file.display()
        ))
    };
    for (k, v) in &table {
        match k.as_str() {
            "server" => {}
            "host" => {
                for (h, fields) in v.as_table().into_iter().flatten() {
                    for f in fields.as_table().into_iter().flatten().map(|(f, _)| f) {
                        if !HOST_KEYS.contains(&f.as_str()) {
                            note(f, &format!(" in [host.\"{h}\"]"));
                        }
                    }
                }
            }
            k if HOST_KEYS.contains(&k) => {}
            k => note(k, ""),
        }
    }
    notes
}

fn build_host(raw: &str, f: HostFields, dir: &Path, registry: &str) -> Result<Host, String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| format!("host {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("host {raw:?}: scheme must be http or https"));
    }
    let authority = super::authority(&with_scheme)
        .filter(|_| url.host_str().is_some())
        .ok_or_else(|| format!("host {raw:?}: no host name"))?;
    let caps: Vec<String> = f
        .capabilities
        .unwrap_or_else(|| vec!["pull".into(), "resolve".into(), "push".into()])
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if let Some(c) = caps
        .iter()
        .find(|c| !matches!(c.as_str(), "pull" | "resolve" | "push"))
    {
        return Err(format!("host {raw:?}: unknown capability {c:?}"));
    }
    let dial_timeout = match f.dial_timeout.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(
            crate::duration::go::parse(t)
                .map_err(|e| format!("host {raw:?}: dial_timeout: {e}"))?,
        ),
        None => None,
    };
    let resolve_path = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let ca =
        f.ca.map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|p| resolve_path(p))
            .collect();
    let client =
        parse_client(f.client, &resolve_path).map_err(|e| format!("host {raw:?}: client: {e}"))?;
    let headers = f
        .header
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(k, v)| v.into_vec().into_iter().map(move |v| (k.clone(), v)))
        .collect();
    let mut base = url.to_string();
    if url.path() == "/" {
        base = base.trim_end_matches('/').to_string();
    }
    let mirror = is_mirror(registry, authority);
    Ok(Host {
        url: base,
        resolve: caps.iter().any(|c| c == "resolve"),
        pull: caps.iter().any(|c| c == "pull"),
        tls: TlsSettings {
            ca,
            client,
            skip_verify: f.skip_verify.unwrap_or(false),
        },
        headers,
        override_path: f.override_path.unwrap_or(false),
        mirror,
        ns: mirror.then(|| registry.to_string()),
        dial_timeout,
        node_auth: false,
        http_fallback: false,
        repository: None,
        withhold_credentials: false,
        own_credential: None,
        fetches_empty_blobs: false,
    })
}

/// `client` forms containerd accepts: `"file"` (certificate and key in one file), a list of
/// such files, or `["cert", "key"]` pairs inside the list (`""` key: in the certificate file).
fn parse_client(
    v: Option<toml::Value>,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Vec<(PathBuf, Option<PathBuf>)>, String> {
    use toml::Value;
    let Some(v) = v else { return Ok(vec![]) };
    let items = match v {
        Value::String(c) => return Ok(vec![(resolve(&c), None)]),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "invalid type {} (expected a path or a list)",
                other.type_str()
            ))
        }
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(c) => Ok((resolve(c), None)),
            Value::Array(pair) => match pair.as_slice() {
                [Value::String(c), Value::String(k)] => {
                    Ok((resolve(c), (!k.is_empty()).then(|| resolve(k))))
                }
                _ => Err("invalid pair (expected [\"cert\", \"key\"])".to_string()),
            },
            other => Err(format!("invalid type {} in the list", other.type_str())),
        })
        .collect()
}

#[cfg(test)]
mod tests;
