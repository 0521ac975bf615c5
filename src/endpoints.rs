//! Which hosts containerd on this node contacts for a registry, and how: a `certs.d` tree
//! (`DIR/<host>/hosts.toml`: `server`, ordered `[host."…"]`, `capabilities`, `ca`, `client`,
//! `skip_verify`, `header`, `override_path`), docker-style `*.crt`/`*.cert`/`*.key` files, and
//! containerd's default (HTTPS, system trust store) when no configuration exists.

use crate::reference::{ImageRef, DOCKER_HUB, DOCKER_HUB_ENDPOINT};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the registry configuration could not be read.
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
    /// hosts.toml is not valid TOML or has wrong types (the message carries line and column).
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

/// TLS settings for one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Extra CA files trusted on top of the system store.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
    /// Client certificate and key files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
    /// Certificate verification disabled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_verify: bool,
}

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
}

impl Host {
    /// The API root (`…/v2`), as containerd builds it.
    pub fn api_base(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if self.override_path {
            base.to_string()
        } else {
            format!("{base}/v2")
        }
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
struct HostsToml {
    #[serde(default)]
    server: Option<String>,
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
    #[serde(default)]
    host: BTreeMap<String, HostFields>,
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

/// The default server URL containerd uses for a registry when `server` is not set.
pub fn default_server(registry: &str) -> String {
    if registry == DOCKER_HUB {
        format!("https://{DOCKER_HUB_ENDPOINT}")
    } else {
        format!("https://{registry}")
    }
}

/// containerd's per-registry directory names, in lookup order.
fn dir_candidates(registry: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((h, p)) = registry.rsplit_once(':') {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            out.push(format!("{h}_{p}_"));
        }
    }
    out.push(registry.to_string());
    out.push("_default".to_string());
    out
}

/// Resolves the hosts for `image` from an optional `certs.d` root.
pub fn resolve(image: &ImageRef, hosts_dir: Option<&Path>) -> Result<Endpoints> {
    let mut notes = Vec::new();
    if let Some(root) = hosts_dir {
        for name in dir_candidates(&image.registry) {
            let dir = root.join(&name);
            if !dir.is_dir() {
                continue;
            }
            let file = dir.join("hosts.toml");
            if file.is_file() {
                let hosts = read_hosts_toml(&file, &image.registry)?;
                return Ok(Endpoints {
                    hosts,
                    source: Some(file.display().to_string()),
                    notes,
                });
            }
            let tls = docker_style_certs(&dir)?;
            let host = Host {
                url: default_server(&image.registry),
                resolve: true,
                pull: true,
                tls,
                headers: vec![],
                override_path: false,
                mirror: false,
            };
            return Ok(Endpoints {
                hosts: vec![host],
                source: Some(dir.display().to_string()),
                notes,
            });
        }
    }
    if image.is_loopback_registry() {
        notes.push(
            "containerd itself speaks to localhost/127.0.0.0/8 registries without hosts.toml over plain HTTP \
             with TLS verification off; this probe uses HTTPS with the system trust store"
                .into(),
        );
    }
    let host = Host {
        url: default_server(&image.registry),
        resolve: true,
        pull: true,
        tls: TlsSettings::default(),
        headers: vec![],
        override_path: false,
        mirror: false,
    };
    Ok(Endpoints {
        hosts: vec![host],
        source: None,
        notes,
    })
}

fn read_hosts_toml(file: &Path, registry: &str) -> Result<Vec<Host>> {
    let display = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
        path: display.clone(),
        source,
    })?;
    let invalid = |detail: String| Error::Invalid {
        path: display.clone(),
        detail,
    };
    let parsed: HostsToml =
        toml::from_str(&text).map_err(|e| invalid(describe_toml_error(&text, &e)))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let own_hosts = own_hosts(registry);

    // `[host]` tables keep file order: BTreeMap loses it, so re-read the order from the text.
    let mut ordered: Vec<(usize, String, HostFields)> = parsed
        .host
        .into_iter()
        .map(|(k, v)| (text.find(&format!("\"{k}\"")).unwrap_or(usize::MAX), k, v))
        .collect();
    ordered.sort_by_key(|(pos, _, _)| *pos);

    let mut hosts = Vec::new();
    for (_, url, fields) in ordered {
        hosts.push(build_host(&url, fields, dir, &own_hosts).map_err(invalid)?);
    }
    let server = parsed.server.unwrap_or_else(|| default_server(registry));
    let top = HostFields {
        capabilities: parsed.capabilities,
        ca: parsed.ca,
        client: parsed.client,
        skip_verify: parsed.skip_verify,
        header: parsed.header,
        override_path: parsed.override_path,
        dial_timeout: parsed.dial_timeout,
    };
    hosts.push(build_host(&server, top, dir, &own_hosts).map_err(invalid)?);
    Ok(hosts)
}

fn own_hosts(registry: &str) -> Vec<String> {
    if registry == DOCKER_HUB {
        vec![
            DOCKER_HUB.into(),
            DOCKER_HUB_ENDPOINT.into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![registry.to_string()]
    }
}

fn build_host(raw: &str, f: HostFields, dir: &Path, own: &[String]) -> Result<Host, String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("host {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("host {raw:?}: scheme must be http or https"));
    }
    let hostport = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Err(format!("host {raw:?}: no host name")),
    };
    let caps = f
        .capabilities
        .unwrap_or_else(|| vec!["pull".into(), "resolve".into(), "push".into()]);
    for c in &caps {
        if !matches!(c.as_str(), "pull" | "resolve" | "push") {
            return Err(format!("host {raw:?}: unknown capability {c:?}"));
        }
    }
    if let Some(t) = &f.dial_timeout {
        humantime::parse_duration(t)
            .map_err(|e| format!("host {raw:?}: dial_timeout {t:?}: {e}"))?;
    }
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
        mirror: !own.contains(&hostport),
    })
}

/// `client` forms containerd accepts: "cert", ["cert", "key"], or [["cert", "key"], …].
fn parse_client(
    v: Option<toml::Value>,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Vec<(PathBuf, Option<PathBuf>)>, String> {
    use toml::Value;
    let Some(v) = v else { return Ok(vec![]) };
    let pair = |items: &[Value]| -> Result<(PathBuf, Option<PathBuf>), String> {
        match items {
            [Value::String(c)] => Ok((resolve(c), None)),
            [Value::String(c), Value::String(k)] => Ok((resolve(c), Some(resolve(k)))),
            _ => Err("expected [\"cert\", \"key\"]".into()),
        }
    };
    match v {
        Value::String(c) => Ok(vec![(resolve(&c), None)]),
        Value::Array(items) if items.iter().all(|i| matches!(i, Value::Array(_))) => items
            .iter()
            .map(|i| match i {
                Value::Array(p) => pair(p),
                _ => unreachable!("checked above"),
            })
            .collect(),
        Value::Array(items) => Ok(vec![pair(&items)?]),
        _ => Err("expected a path or [cert, key] pairs".into()),
    }
}

/// Docker-style certs.d: `*.crt` are CAs, `*.cert` + `*.key` client pairs.
fn docker_style_certs(dir: &Path) -> Result<TlsSettings> {
    let read_err = |source| Error::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut tls = TlsSettings::default();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => tls.ca.push(p),
            Some("cert") => {
                let key = p.with_extension("key");
                tls.client.push((p, key.is_file().then_some(key)));
            }
            _ => {}
        }
    }
    Ok(tls)
}

/// A TOML error with line and column (toml's own message already carries them; keep it to one line).
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let col = span.start
                - text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1)
                + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("hosts.toml"), text).unwrap();
    }

    #[test]
    fn default_is_https_registry_and_docker_hub_endpoint() {
        let e = resolve(&image("nginx"), None).unwrap();
        assert_eq!(e.hosts[0].url, "https://registry-1.docker.io");
        assert_eq!(e.hosts[0].api_base(), "https://registry-1.docker.io/v2");
        assert!(!e.hosts[0].mirror);
        let e = resolve(&image("localhost:5000/a"), None).unwrap();
        assert_eq!(e.hosts[0].url, "https://localhost:5000");
        assert!(!e.notes.is_empty());
    }

    #[test]
    fn reads_hosts_toml_in_containerd_order() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "reg.example_5000_",
            r#"server = "http://reg.example:5000"
ca = "ca.crt"
[host."https://mirror-b.example"]
  capabilities = ["pull"]
  skip_verify = true
[host."https://mirror-a.example/prefix"]
  override_path = true
  client = [["c.pem", "k.pem"]]
  [host."https://mirror-a.example/prefix".header]
  x-token = "abc"
"#,
        );
        let e = resolve(&image("reg.example:5000/app"), Some(d.path())).unwrap();
        let urls: Vec<&str> = e.hosts.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://mirror-b.example",
                "https://mirror-a.example/prefix",
                "http://reg.example:5000"
            ]
        );
        assert!(
            e.hosts[0].pull
                && !e.hosts[0].resolve
                && e.hosts[0].tls.skip_verify
                && e.hosts[0].mirror
        );
        assert_eq!(e.hosts[1].api_base(), "https://mirror-a.example/prefix");
        assert_eq!(
            e.hosts[1].tls.client[0].1.as_deref(),
            Some(d.path().join("reg.example_5000_/k.pem").as_path())
        );
        assert_eq!(
            e.hosts[1].headers,
            [("x-token".to_string(), "abc".to_string())]
        );
        assert_eq!(
            e.hosts[2].tls.ca,
            [d.path().join("reg.example_5000_/ca.crt")]
        );
        assert!(!e.hosts[2].mirror);
    }

    #[test]
    fn falls_back_to_host_colon_port_then_default() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "_default",
            "server = \"https://fallback.example\"\n",
        );
        let e = resolve(&image("ghcr.io/o/r"), Some(d.path())).unwrap();
        assert_eq!(e.hosts.last().unwrap().url, "https://fallback.example");
        write(
            d.path(),
            "ghcr.io",
            "server = \"https://ghcr.io\"\nskip_verify = true\n",
        );
        let e = resolve(&image("ghcr.io/o/r"), Some(d.path())).unwrap();
        assert!(e.hosts[0].tls.skip_verify);
    }

    #[test]
    fn docker_style_cert_files() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("reg.example");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.crt", "client.cert", "client.key"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let e = resolve(&image("reg.example/app"), Some(d.path())).unwrap();
        assert_eq!(e.hosts[0].tls.ca, [dir.join("ca.crt")]);
        assert_eq!(
            e.hosts[0].tls.client,
            [(dir.join("client.cert"), Some(dir.join("client.key")))]
        );
    }

    #[test]
    fn bad_hosts_toml_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "reg.example",
            "server = \"https://x\"\nskip_verify = \"yes\"\n",
        );
        let err = resolve(&image("reg.example/app"), Some(d.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hosts.toml") && err.contains("line 2"),
            "{err}"
        );
        write(d.path(), "reg.example", "server = \"ftp://x\"\n");
        let err = resolve(&image("reg.example/app"), Some(d.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheme"), "{err}");
        write(
            d.path(),
            "reg.example",
            "[host.\"https://m\"]\ncapabilities = [\"fly\"]\n",
        );
        assert!(resolve(&image("reg.example/app"), Some(d.path())).is_err());
        write(d.path(), "reg.example", "server = [\n");
        assert!(resolve(&image("reg.example/app"), Some(d.path())).is_err());
    }
}
