//! Where containerd versions build different host lists from the same configuration, as
//! measured against the real 1.6.20, 1.7.24, 2.1.9, 2.2.10 and 2.3.7
//! (`tests/bed/runtime_containerd.rs`, run once per version by `scripts/test`):
//!
//! | | 1.6 | 1.7 | 2.x |
//! |---|---|---|---|
//! | loopback registry, no hosts.toml | plain HTTP only | TLS without verification, plain HTTP if the server does not speak TLS | as 1.7 |
//! | hosts.toml with only `server = "https://<loopback>"`, no `[host]` table | the file refused ("invalid `host` tree"): plain HTTP | the file refused: TLS without verification, plain HTTP if not TLS | TLS verified, no plain-HTTP fallback |
//! | `[host."https://<loopback>"]` without TLS settings | TLS verified, then plain HTTP after any TLS failure | TLS without verification, plain HTTP if not TLS | TLS verified, no plain-HTTP fallback |
//! | `server` repeating a `[host]` URL (the `[host]` has a CA) | retried after the host fails (a 404 too), without the host's CA | as 1.6 | not retried |
//!
//! [`hosts_dir`](super::hosts_dir) builds the 1.6 list; [`apply`] rewrites it for the version
//! the probe predicts for, and notes what the other versions would do.

use super::{Endpoints, Host};
use crate::net::TlsSettings;

/// The host-list rules of one containerd version line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRules {
    /// containerd 1.6 (what [`hosts_dir`](super::hosts_dir) builds).
    Containerd16,
    /// containerd 1.7.
    Containerd17,
    /// containerd 2.x.
    Containerd2,
}

fn loopback_rest<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    let rest = url.strip_prefix(scheme)?;
    let authority = rest.split('/').next().unwrap_or_default();
    crate::reference::is_loopback_host(authority).then_some(rest)
}

/// `hosts[i]` is an https loopback host without TLS settings and `hosts[i + 1]` the plain-HTTP
/// fallback 1.6 adds after it.
fn fallback_pair(hosts: &[Host], i: usize) -> bool {
    let h = &hosts[i];
    loopback_rest(&h.url, "https://").is_some_and(|rest| {
        h.tls == TlsSettings::default()
            && hosts
                .get(i + 1)
                .is_some_and(|n| n.url == format!("http://{rest}"))
    })
}

/// TLS without verification, then plain HTTP when the server does not speak TLS (containerd's
/// HTTP fallback transport).
fn unverified(h: &Host) -> Host {
    let mut https = h.clone();
    https.tls.skip_verify = true;
    https.http_fallback = true;
    https
}

/// Rewrites the 1.6 host list of `e` for `rules`, with a note wherever the answer depends on
/// the version.
pub fn apply(e: &mut Endpoints, rules: HostRules, label: &str) {
    if rules == HostRules::Containerd16 {
        return;
    }
    let hosts = std::mem::take(&mut e.hosts);
    let mut out: Vec<Host> = Vec::with_capacity(hosts.len() + 1);
    // No hosts.toml (none, a directory of certificate files only, or one 1.x refused),
    // loopback: 1.6 speaks plain HTTP; 1.7 and 2.x try TLS (unverified) first.
    if let [only] = hosts.as_slice() {
        if let Some(rest) = loopback_rest(&only.url, "http://").filter(|_| !e.from_hosts_toml()) {
            let mut https = unverified(only);
            https.url = format!("https://{rest}");
            e.hosts = vec![https, only.clone()];
            e.notes
                .retain(|n| !n.starts_with("containerd speaks plain HTTP to localhost"));
            e.notes.push(format!(
                "{label}: a loopback registry without hosts.toml is tried over TLS without verification \
                 first, then over plain HTTP if it does not speak TLS (containerd 1.6 speaks plain HTTP only)"
            ));
            return;
        }
    }
    let mut i = 0;
    while i < hosts.len() {
        let h = &hosts[i];
        let pair = fallback_pair(&hosts, i);
        let step = if pair { 2 } else { 1 };
        // 2.x does not retry a `server` entry that repeats a `[host]` entry.
        if rules == HostRules::Containerd2 && out.iter().any(|o| o.url == h.url) {
            e.notes.push(format!(
                "{label}: the server entry {} repeats a [host] entry and is not retried; containerd 1.x \
                 retries it after the host fails (a 404 too) without that host's TLS settings, so a \
                 missing tag can surface there as a certificate error",
                h.url
            ));
            i += step;
            continue;
        }
        if pair {
            match rules {
                // 1.7: a hosts.toml that is only this server.
                HostRules::Containerd17 if hosts.len() == 2 => {
                    out.push(unverified(h));
                    out.push(hosts[i + 1].clone());
                    e.notes.push(format!(
                        "{label}: {} has no TLS settings and is a loopback address: TLS is not verified, and \
                         plain HTTP is used if it does not speak TLS (containerd 1.6 verifies, then falls \
                         back to plain HTTP; 2.x verifies and does not fall back)",
                        h.url
                    ));
                }
                HostRules::Containerd2 => {
                    out.push(h.clone());
                    e.notes.push(format!(
                        "{label}: {} is verified like any https host and is not retried over plain HTTP \
                         (containerd 1.6 retries http://{} after a TLS failure)",
                        h.url,
                        &h.url["https://".len()..]
                    ));
                }
                _ => out.extend(hosts[i..i + 2].iter().cloned()),
            }
            i += 2;
            continue;
        }
        out.push(h.clone());
        i += 1;
    }
    e.hosts = out;
}

/// A containerd config of the other major version's layout: what that containerd does with
/// it (measured: 1.7.24 refuses version 3 at start-up, 1.6.20 starts with it).
pub fn config_note(file: Option<i64>, rules: HostRules, label: &str) -> Option<String> {
    match (file, rules) {
        (Some(3), HostRules::Containerd16 | HostRules::Containerd17) => Some(format!(
            "the containerd config is version 3 (containerd 2.x's layout) but the probe predicts for {label}: \
             containerd 1.7 refuses a version 3 file at start-up (\"containerd config version `3` is not \
             supported\") and 1.6 starts without reading its 2.x tables, so this node's containerd runs \
             another configuration or is not 1.x (pass --runtime-version or --containerd-config)"
        )),
        (Some(f), HostRules::Containerd2) if f < 3 => Some(format!(
            "the containerd config is version {f} (containerd 1.x's layout) and the probe predicts for {label}: \
             containerd 2.x migrates it in memory at start-up (registry settings move to \
             plugins.\"io.containerd.cri.v1.images\"); the probe read it the same way"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(urls: &[&str], source: Option<&str>) -> Endpoints {
        Endpoints {
            hosts: urls
                .iter()
                .map(|u| Host::new(u, "127.0.0.1:5000"))
                .collect(),
            source: source.map(str::to_string),
            notes: vec![],
            proxy: None,
            last_error_decides: false,
            pull_mode: None,
        }
    }

    fn urls(e: &Endpoints) -> Vec<(String, bool)> {
        e.hosts
            .iter()
            .map(|h| (h.url.clone(), h.tls.skip_verify))
            .collect()
    }

    fn s(u: &str, skip: bool) -> (String, bool) {
        (u.to_string(), skip)
    }

    #[test]
    fn each_version_rewrites_the_host_list_as_measured() {
        let explicit = ["https://127.0.0.1:5000", "http://127.0.0.1:5000"];
        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, HostRules::Containerd16, "containerd 1.6");
        assert_eq!(urls(&e).len(), 2);
        assert!(e.notes.is_empty());

        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, HostRules::Containerd17, "containerd 1.7");
        assert_eq!(
            urls(&e),
            [
                s("https://127.0.0.1:5000", true),
                s("http://127.0.0.1:5000", false)
            ]
        );
        assert!(e.hosts[0].http_fallback);

        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, HostRules::Containerd2, "containerd 2.1");
        assert_eq!(urls(&e), [s("https://127.0.0.1:5000", false)]);
        assert!(e.notes[0].contains("not retried over plain HTTP"));

        for rules in [HostRules::Containerd17, HostRules::Containerd2] {
            let mut e = endpoints(&["http://127.0.0.1:5000"], None);
            apply(&mut e, rules, "x");
            assert_eq!(
                urls(&e),
                [
                    s("https://127.0.0.1:5000", true),
                    s("http://127.0.0.1:5000", false)
                ]
            );
        }
        // An explicit http server stays as written.
        let mut e = endpoints(
            &["http://127.0.0.1:5000"],
            Some("/etc/containerd/certs.d/127.0.0.1:5000/hosts.toml"),
        );
        apply(&mut e, HostRules::Containerd2, "x");
        assert_eq!(e.hosts.len(), 1);
    }

    #[test]
    fn a_config_of_the_other_major_layout_is_noted() {
        use HostRules::*;
        assert!(config_note(Some(3), Containerd17, "x")
            .unwrap()
            .contains("refuses"));
        assert!(config_note(Some(2), Containerd2, "x")
            .unwrap()
            .contains("migrates"));
        assert!(config_note(Some(2), Containerd17, "x").is_none());
        assert!(config_note(Some(3), Containerd2, "x").is_none());
        assert!(config_note(None, Containerd2, "x").is_none());
    }

    #[test]
    fn a_server_repeating_a_host_is_retried_by_1x_only() {
        let mut e = endpoints(
            &["https://r.example", "https://r.example"],
            Some("hosts.toml"),
        );
        e.hosts[0].tls.ca = vec!["ca.crt".into()];
        let mut two = e.clone();
        apply(&mut e, HostRules::Containerd17, "containerd 1.7");
        assert_eq!(e.hosts.len(), 2);
        apply(&mut two, HostRules::Containerd2, "containerd 2.1");
        assert_eq!(two.hosts.len(), 1);
        assert_eq!(two.hosts[0].tls.ca.len(), 1, "the [host] entry stays");
        assert!(two.notes[0].contains("repeats a [host] entry"));
        // On loopback, 1.7 keeps 1.6's verified retry and plain-HTTP fallback after a [host].
        let mut e = endpoints(
            &[
                "https://localhost:5000",
                "https://localhost:5000",
                "http://localhost:5000",
            ],
            Some("hosts.toml"),
        );
        e.hosts[0].tls.ca = vec!["ca.crt".into()];
        let mut two = e.clone();
        apply(&mut e, HostRules::Containerd17, "x");
        assert_eq!(urls(&e).iter().filter(|(_, skip)| *skip).count(), 0);
        assert_eq!(e.hosts.len(), 3);
        apply(&mut two, HostRules::Containerd2, "x");
        assert_eq!(two.hosts.len(), 1);
    }
}
