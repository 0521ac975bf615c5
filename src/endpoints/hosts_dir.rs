//! containerd's `config_path`: a list of `certs.d` roots searched in order. Within a root the
//! first existing directory of `host_port_`, `host:port`, `_default` wins, and the first root
//! with any of them wins outright. A directory with a non-empty `hosts.toml` uses it
//! ([`hosts_toml`]); otherwise its docker-style files ([`certs`]), and so does containerd 1.x
//! when the hosts.toml has no `host` table ([`Hostless`]). See [`resolve`].

use super::{certs, default_server, hosts_toml, Endpoints, Host, Result};
use crate::reference::ImageRef;
use std::path::{Path, PathBuf};

/// containerd's default roots when no registry option is set (containerd 2.x).
pub const DEFAULT_ROOTS: &[&str] = &["/etc/containerd/certs.d", "/etc/docker/certs.d"];

/// Splits a `config_path` value into roots, as Go's `filepath.SplitList` (empty parts dropped).
pub fn split_config_path(value: &str) -> Vec<PathBuf> {
    value
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// containerd's per-registry directory names, in lookup order (`hostDirectory`: the last `:`
/// becomes `_…_`).
pub fn dir_candidates(registry: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(i) = registry.rfind(':').filter(|&i| i > 0) {
        out.push(format!("{}_{}_", &registry[..i], &registry[i + 1..]));
    }
    out.push(registry.to_string());
    out.push("_default".to_string());
    out
}

/// The registry a directory name stands for (`host_port_` → `host:port`); `None` for `_default`.
pub fn registry_of_dir(name: &str) -> Option<String> {
    if name == "_default" {
        return None;
    }
    if let Some(stem) = name.strip_suffix('_') {
        if let Some((h, p)) = stem.rsplit_once('_') {
            if !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                return Some(format!("{h}:{p}"));
            }
        }
    }
    Some(name.to_string())
}

/// The directory containerd uses for `registry`, if any root has one.
pub fn find(roots: &[PathBuf], registry: &str) -> Option<PathBuf> {
    let names = dir_candidates(registry);
    roots
        .iter()
        .find_map(|root| names.iter().map(|n| root.join(n)).find(|d| d.is_dir()))
}

/// How a hosts.toml without a `host` table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostless {
    /// Read (containerd 2.x).
    Read,
    /// Refused, the directory's certificate files used instead (containerd 1.6 and 1.7).
    Refused,
    /// Read, with a note that 1.x refuses it (the version is only assumed).
    Noted,
}

/// Resolves the hosts for `image` under `roots`; containerd's default host when none applies.
/// A hosts.toml without a `host` table is read, as containerd 2.x does.
pub fn resolve(image: &ImageRef, roots: &[PathBuf]) -> Result<Endpoints> {
    resolve_as(image, roots, Hostless::Read)
}

/// [`resolve`], reading a hosts.toml without a `host` table as `hostless` says.
pub fn resolve_as(image: &ImageRef, roots: &[PathBuf], hostless: Hostless) -> Result<Endpoints> {
    let registry = image.registry.as_str();
    if let Some(dir) = find(roots, registry) {
        return from_dir(&dir, registry, hostless);
    }
    let mut notes = Vec::new();
    if image.is_loopback_registry() {
        notes.push(
            "containerd speaks plain HTTP to localhost/127.0.0.0/8 registries that have no hosts.toml \
             naming an https server, and so does this probe; under another name the same registry is \
             spoken to over HTTPS"
                .into(),
        );
    }
    Ok(Endpoints {
        hosts: vec![Host::new(&default_server(registry), registry)],
        source: None,
        notes,
        proxy: None,
        last_error_decides: false,
        pull_mode: None,
    })
}

/// containerd (seen on 1.6.20) follows an `https://` loopback host that has no TLS settings
/// (no `ca`, `client` or `skip_verify`) with a plain-HTTP attempt at the same address: its log
/// says "trying next host" after the TLS error, and the kubelet sees the HTTP answer.
fn localhost_http_fallback(hosts: Vec<Host>, notes: &mut Vec<String>) -> Vec<Host> {
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        let fallback = h
            .url
            .strip_prefix("https://")
            .filter(|rest| {
                let authority = rest.split('/').next().unwrap_or_default();
                crate::reference::is_loopback_host(authority)
            })
            .filter(|_| h.tls == crate::net::TlsSettings::default())
            .map(|rest| format!("http://{rest}"));
        let extra = fallback.map(|url| {
            notes.push(format!(
                "{} has no TLS settings and is a loopback address: containerd falls back to {url} after a TLS failure",
                h.url
            ));
            Host { url, ..h.clone() }
        });
        out.push(h);
        out.extend(extra);
    }
    out
}

/// The hosts one registry directory gives.
pub fn from_dir(dir: &Path, registry: &str, hostless: Hostless) -> Result<Endpoints> {
    let file = dir.join("hosts.toml");
    let mut refused = None;
    if has_content(&file) {
        let parsed = hosts_toml::read(&file, registry)?;
        let refusal = || {
            format!(
                "containerd 1.x refuses {} (no [host] table; its log: \"failed to decode hosts.toml\" \
                 error=\"invalid `host` tree\") and uses only the directory's certificate files: its \
                 server and settings do not apply; containerd 2.x reads it. Fix: add a [host.\"URL\"] \
                 table for the server",
                file.display()
            )
        };
        if hostless == Hostless::Refused && !parsed.has_host_table {
            refused = Some(refusal());
        } else {
            let mut notes = parsed.notes;
            if hostless == Hostless::Noted && !parsed.has_host_table {
                notes.push(format!(
                    "if this node runs containerd 1.6 or 1.7: {}",
                    refusal()
                ));
            }
            let hosts = localhost_http_fallback(parsed.hosts, &mut notes);
            return Ok(Endpoints {
                hosts,
                source: Some(file.display().to_string()),
                notes,
                proxy: None,
                last_error_decides: false,
                pull_mode: None,
            });
        }
    }
    let mut host = Host::new(&default_server(registry), registry);
    host.tls = certs::read_dir(dir)?;
    Ok(Endpoints {
        hosts: vec![host],
        source: Some(dir.display().to_string()),
        notes: refused.into_iter().collect(),
        proxy: None,
        last_error_decides: false,
        pull_mode: None,
    })
}

/// containerd treats a missing and an empty hosts.toml alike.
fn has_content(file: &Path) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    fn write(root: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("hosts.toml"), text).unwrap();
    }

    #[test]
    fn candidates_and_names() {
        assert_eq!(
            dir_candidates("reg.example:5000"),
            ["reg.example_5000_", "reg.example:5000", "_default"]
        );
        assert_eq!(dir_candidates("ghcr.io"), ["ghcr.io", "_default"]);
        assert_eq!(
            registry_of_dir("reg.example_5000_").as_deref(),
            Some("reg.example:5000")
        );
        assert_eq!(registry_of_dir("ghcr.io").as_deref(), Some("ghcr.io"));
        assert_eq!(registry_of_dir("_default"), None);
        assert_eq!(
            split_config_path("/etc/containerd/certs.d::/etc/docker/certs.d"),
            [
                PathBuf::from("/etc/containerd/certs.d"),
                PathBuf::from("/etc/docker/certs.d")
            ]
        );
    }

    #[test]
    fn default_without_roots() {
        let e = resolve(&image("nginx"), &[]).unwrap();
        assert_eq!(e.hosts[0].url, "https://registry-1.docker.io");
        assert!(!e.hosts[0].mirror && e.source.is_none());
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("localhost:5001");
        std::fs::create_dir_all(&reg).unwrap();
        std::fs::write(
            reg.join("hosts.toml"),
            "server = \"https://localhost:5001\"\n",
        )
        .unwrap();
        let e = resolve(&image("localhost:5001/a"), &[dir.path().to_path_buf()]).unwrap();
        let urls: Vec<&str> = e.hosts.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(urls, ["https://localhost:5001", "http://localhost:5001"]);
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("falls back to http://localhost:5001")));
        std::fs::write(
            reg.join("hosts.toml"),
            "server = \"https://localhost:5001\"\nca = \"/etc/ca.pem\"\n",
        )
        .unwrap();
        let e = resolve(&image("localhost:5001/a"), &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(e.hosts.len(), 1, "a host with a CA gets no fallback");
        let e = resolve(&image("localhost:5000/a"), &[]).unwrap();
        assert_eq!(e.hosts[0].url, "http://localhost:5000");
        assert!(!e.notes.is_empty());
    }

    #[test]
    fn host_port_dir_beats_colon_dir_beats_default() {
        let d = tempfile::tempdir().unwrap();
        let roots = [d.path().to_path_buf()];
        write(
            d.path(),
            "_default",
            "server = \"https://fallback.example\"\n",
        );
        let e = resolve(&image("reg.example:5000/app"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://fallback.example");
        write(
            d.path(),
            "reg.example:5000",
            "server = \"https://colon.example\"\n",
        );
        let e = resolve(&image("reg.example:5000/app"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://colon.example");
        write(
            d.path(),
            "reg.example_5000_",
            "server = \"https://underscore.example\"\n",
        );
        let e = resolve(&image("reg.example:5000/app"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://underscore.example");
        assert!(e.source.unwrap().ends_with("reg.example_5000_/hosts.toml"));
    }

    #[test]
    fn first_root_with_any_match_wins_even_default() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let roots = [a.path().to_path_buf(), b.path().to_path_buf()];
        write(b.path(), "ghcr.io", "server = \"https://from-b.example\"\n");
        let e = resolve(&image("ghcr.io/o/r"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://from-b.example", "a has nothing");
        write(
            a.path(),
            "_default",
            "server = \"https://from-a-default.example\"\n",
        );
        let e = resolve(&image("ghcr.io/o/r"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://from-a-default.example");
        // A missing root is skipped.
        let roots = [
            PathBuf::from("/nonexistent/certs.d"),
            b.path().to_path_buf(),
        ];
        let e = resolve(&image("ghcr.io/o/r"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://from-b.example");
    }

    #[test]
    fn empty_or_missing_hosts_toml_uses_cert_files() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("reg.example");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.crt", "client.cert", "client.key"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let roots = [d.path().to_path_buf()];
        let e = resolve(&image("reg.example/app"), &roots).unwrap();
        assert_eq!(e.hosts[0].url, "https://reg.example");
        assert_eq!(e.hosts[0].tls.ca, [dir.join("ca.crt")]);
        assert_eq!(
            e.hosts[0].tls.client,
            [(dir.join("client.cert"), Some(dir.join("client.key")))]
        );
        std::fs::write(dir.join("hosts.toml"), "").unwrap();
        let e = resolve(&image("reg.example/app"), &roots).unwrap();
        assert_eq!(e.hosts[0].tls.ca, [dir.join("ca.crt")], "empty hosts.toml");
    }

    #[test]
    fn bad_hosts_toml_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "reg.example", "server = 42\n");
        let err = resolve(&image("reg.example/app"), &[d.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reg.example/hosts.toml") && err.contains("line 1"),
            "{err}"
        );
    }
}
