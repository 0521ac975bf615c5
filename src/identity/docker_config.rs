//! Docker config files (`config.json`, `.dockerconfigjson`, legacy `.dockercfg`) read as the
//! kubelet's keyring reads them: key normalisation, `URLsMatch`, reverse-sorted lookup and the
//! `index.docker.io` default for Docker Hub images. `credHelpers`, `credsStore` and
//! `identitytoken` are ignored, as the kubelet ignores them.

use super::{Credential, RegistryAuth, Source};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Why a docker config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("failed to read docker config {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a docker config.
    #[error("failed to parse docker config {path}: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong (never contains the file's content).
        detail: String,
    },
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

/// A keyring built from one docker config file.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    path: String,
    /// (normalised key, original key, auth), reverse-sorted by normalised key.
    entries: Vec<(String, String, RegistryAuth)>,
}

impl Keyring {
    /// Reads a `config.json` / `.dockerconfigjson` (with `auths`) or a legacy `.dockercfg` (a bare map).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: display.clone(),
            source,
        })?;
        Self::from_bytes(&display, &bytes)
    }

    /// Parses config bytes; `path` only labels provenance and errors.
    pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Self, Error> {
        let parse_err = |e: serde_json::Error| Error::Parse {
            path: path.to_string(),
            detail: format!(
                "{} at line {} column {}",
                classify_json(&e),
                e.line(),
                e.column()
            ),
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(parse_err)?;
        let auths: BTreeMap<String, Entry> = if value.get("auths").is_some() {
            serde_json::from_value::<ConfigJson>(value)
                .map_err(parse_err)?
                .auths
        } else {
            serde_json::from_value(value).map_err(parse_err)?
        };
        let mut entries = Vec::new();
        for (key, entry) in auths {
            let Some(auth) = entry_auth(&entry) else {
                continue;
            };
            if let Some(norm) = normalize_key(&key) {
                entries.push((norm, key, auth));
            }
        }
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        Ok(Keyring {
            path: path.to_string(),
            entries,
        })
    }

    /// The credentials the kubelet would try for `image_name` (`registry/repository`, no tag),
    /// in order.
    pub fn lookup(&self, image_name: &str) -> Vec<Credential> {
        let mut out: Vec<Credential> = self
            .entries
            .iter()
            .filter(|(key, _, _)| urls_match(key, image_name))
            .map(|(_, orig, auth)| self.credential(orig, auth))
            .collect();
        if out.is_empty() && is_default_registry(image_name) {
            if let Some((_, orig, auth)) =
                self.entries.iter().find(|(k, _, _)| k == "index.docker.io")
            {
                out.push(self.credential(orig, auth));
            }
        }
        out
    }

    fn credential(&self, key: &str, auth: &RegistryAuth) -> Credential {
        let username = match auth {
            RegistryAuth::Basic { username, .. } => username.clone(),
            RegistryAuth::Anonymous => String::new(),
        };
        Credential {
            auth: auth.clone(),
            source: Source::DockerConfig {
                path: self.path.clone(),
                key: key.to_string(),
                username,
            },
        }
    }
}

/// serde_json error category without echoing input.
fn classify_json(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected structure",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

fn entry_auth(entry: &Entry) -> Option<RegistryAuth> {
    if !entry.auth.is_empty() {
        let trimmed = entry.auth.trim_end_matches('=');
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, pass) = text.split_once(':')?;
        return Some(RegistryAuth::Basic {
            username: user.to_string(),
            password: pass.to_string(),
        });
    }
    if entry.username.is_empty() && entry.password.is_empty() {
        return None;
    }
    Some(RegistryAuth::Basic {
        username: entry.username.clone(),
        password: entry.password.clone(),
    })
}

/// Kubelet key normalisation: add `https://`, parse, strip a leading `/v1/` or `/v2/`, keep
/// `host[:port][/path]`.
pub fn normalize_key(key: &str) -> Option<String> {
    let with_scheme = if key.contains("://") {
        key.to_string()
    } else {
        format!("https://{key}")
    };
    let url = reqwest::Url::parse(&with_scheme).ok()?;
    let host = url.host_str()?;
    let mut out = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut path = url.path().to_string();
    for prefix in ["/v1/", "/v2/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            path = format!("/{rest}");
        }
    }
    let path = path.trim_end_matches('/');
    if !path.is_empty() {
        out.push_str(path);
    }
    Some(out)
}

/// Kubelet `URLsMatch`: equal ports, equal label counts, per-label glob, key path a prefix of
/// the image path.
pub fn urls_match(key: &str, image_name: &str) -> bool {
    let (k_host, k_path) = split_host_path(key);
    let (i_host, i_path) = split_host_path(image_name);
    let (k_name, k_port) = split_port(k_host);
    let (i_name, i_port) = split_port(i_host);
    if k_port != i_port {
        return false;
    }
    let k_labels: Vec<&str> = k_name.split('.').collect();
    let i_labels: Vec<&str> = i_name.split('.').collect();
    if k_labels.len() != i_labels.len() {
        return false;
    }
    if !k_labels
        .iter()
        .zip(&i_labels)
        .all(|(k, i)| glob_match(k, i))
    {
        return false;
    }
    i_path.starts_with(k_path)
}

fn split_host_path(s: &str) -> (&str, &str) {
    match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn split_port(host: &str) -> (&str, &str) {
    match host.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (host, ""),
    }
}

/// Go `filepath.Match` for one label: `*`, `?` and `[...]` classes, never crossing a `.`.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn is_default_registry(image_name: &str) -> bool {
    let first = image_name.split('/').next().unwrap_or("");
    first == "docker.io"
        || first == "index.docker.io"
        || !(first.contains('.') || first.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(json: &str) -> Keyring {
        Keyring::from_bytes("test.json", json.as_bytes()).unwrap()
    }

    fn users(creds: &[Credential]) -> Vec<String> {
        creds
            .iter()
            .map(|c| match &c.auth {
                RegistryAuth::Basic { username, .. } => username.clone(),
                RegistryAuth::Anonymous => "-".into(),
            })
            .collect()
    }

    #[test]
    fn normalises_keys_like_the_kubelet() {
        assert_eq!(
            normalize_key("https://index.docker.io/v1/").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            normalize_key("registry.io:5000").as_deref(),
            Some("registry.io:5000")
        );
        assert_eq!(
            normalize_key("http://registry.io/v2/team").as_deref(),
            Some("registry.io/team")
        );
        assert_eq!(normalize_key("*.gcr.io").as_deref(), Some("*.gcr.io"));
    }

    #[test]
    fn matches_ports_labels_globs_and_paths() {
        assert!(urls_match("registry.io", "registry.io/a/b"));
        assert!(!urls_match("registry.io", "registry.io:5000/a"));
        assert!(urls_match("registry.io:5000", "registry.io:5000/a"));
        assert!(urls_match("*.gcr.io", "eu.gcr.io/p/i"));
        assert!(!urls_match("*.gcr.io", "gcr.io/p/i"), "label counts differ");
        assert!(!urls_match("*.io", "a.b.io/x"));
        assert!(urls_match(
            "*.dkr.ecr.*.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
        ));
        assert!(urls_match("registry.io/team", "registry.io/team/app"));
        assert!(!urls_match("registry.io/team", "registry.io/other/app"));
        assert!(urls_match("reg[0-9].io", "reg1.io/x"));
    }

    #[test]
    fn auth_field_padded_or_not_and_index_docker_io_default() {
        let k = ring(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"},"ghcr.io":{"auth":"Z2g6cHc="}}}"#,
        );
        assert_eq!(users(&k.lookup("docker.io/library/nginx")), ["hub"]);
        assert_eq!(users(&k.lookup("ghcr.io/o/r")), ["gh"]);
        assert!(k.lookup("quay.io/o/r").is_empty());
        let legacy = ring(r#"{"registry.io":{"username":"u","password":"p"}}"#);
        assert_eq!(users(&legacy.lookup("registry.io/x")), ["u"]);
    }

    #[test]
    fn reverse_sorted_all_matches_in_order() {
        let k = ring(
            r#"{"auths":{"registry.io":{"username":"host"},"registry.io/team":{"username":"team"}}}"#,
        );
        assert_eq!(users(&k.lookup("registry.io/team/app")), ["team", "host"]);
        assert!(!format!("{:?}", k).contains("\"p\""));
    }

    #[test]
    fn bad_files_say_where_without_echoing_content() {
        let err = Keyring::from_bytes("x.json", b"{\"auths\": s3cr3t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.json") && err.contains("line 1"), "{err}");
        assert!(!err.contains("s3cr3t"));
    }
}
