//! How containerd speaks to a loopback registry (`localhost`, 127.0.0.0/8, `::1`), which is
//! where its versions differ most, as measured against the real 1.6.20, 1.7.24 and 2.1.9
//! (`tests/runtime_containerd.rs`, run once per version by `scripts/test`):
//!
//! | | no hosts.toml | `server = "https://…"`, no TLS settings |
//! |---|---|---|
//! | 1.6 | plain HTTP only | HTTPS verified, then plain HTTP after any TLS failure |
//! | 1.7 | HTTPS without verification, plain HTTP if the server does not speak TLS | the same |
//! | 2.x | the same as 1.7 | HTTPS verified, no plain-HTTP fallback |
//!
//! [`hosts_dir`](super::hosts_dir) builds the 1.6 list; [`apply`] rewrites it for the rule of
//! the version the probe predicts for.

use super::{Endpoints, Host, TlsSettings};

/// One version's loopback rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loopback {
    /// containerd 1.6.
    VerifyThenHttp,
    /// containerd 1.7: TLS without verification, plain HTTP when the server is not TLS.
    Unverified,
    /// containerd 2.x: like 1.7 without hosts.toml; an explicit https server is verified and
    /// has no plain-HTTP fallback.
    ExplicitVerified,
}

fn loopback_authority(url: &str, scheme: &str) -> Option<String> {
    let rest = url.strip_prefix(scheme)?;
    let authority = rest.split('/').next().unwrap_or_default();
    crate::reference::is_loopback_host(authority).then(|| rest.to_string())
}

/// Rewrites the 1.6 host list of `e` (as [`hosts_dir`](super::hosts_dir) builds it) for
/// `rule`, with a note where the versions' answers differ.
pub fn apply(e: &mut Endpoints, rule: Loopback, label: &str) {
    if rule == Loopback::VerifyThenHttp {
        return;
    }
    let mut out: Vec<Host> = Vec::with_capacity(e.hosts.len() + 1);
    let mut i = 0;
    let hosts = std::mem::take(&mut e.hosts);
    while i < hosts.len() {
        let h = &hosts[i];
        let next = hosts.get(i + 1);
        // An explicit https loopback host with no TLS settings and its 1.6 plain-HTTP fallback.
        let pair = loopback_authority(&h.url, "https://").filter(|rest| {
            h.tls == TlsSettings::default()
                && next.is_some_and(|n| n.url == format!("http://{rest}"))
        });
        if let Some(rest) = pair {
            // The `server` entry repeating a `[host]` entry of the same URL (which has TLS
            // settings): 1.7 and 2.x do not retry it (1.6 does, without the host's CA).
            if out.iter().any(|o| o.url == h.url) {
                e.notes.push(format!(
                    "{label}: the server entry {} repeats a [host] entry and is not retried (containerd 1.6 \
                     retries it without that host's TLS settings, then over plain HTTP)",
                    h.url
                ));
                i += 2;
                continue;
            }
            match rule {
                Loopback::Unverified => {
                    let mut https = h.clone();
                    https.tls.skip_verify = true;
                    https.http_fallback = true;
                    out.push(https);
                    out.push(hosts[i + 1].clone());
                    e.notes.push(format!(
                        "{label}: {} has no TLS settings and is a loopback address: TLS is not verified, and \
                         plain HTTP is used if it does not speak TLS (containerd 1.6 verifies, then falls back \
                         to plain HTTP; 2.x verifies and does not fall back)",
                        h.url
                    ));
                }
                _ => {
                    out.push(h.clone());
                    e.notes.push(format!(
                        "{label}: {} is verified like any https host and is not retried over plain HTTP \
                         (containerd 1.6 retries http://{rest} after a TLS failure; 1.7 does not verify)",
                        h.url
                    ));
                }
            }
            i += 2;
            continue;
        }
        // No hosts.toml: 1.6 speaks plain HTTP; 1.7 and 2.x try TLS (unverified) first.
        let implicit = e.source.is_none() && hosts.len() == 1;
        if let Some(rest) = loopback_authority(&h.url, "http://").filter(|_| implicit) {
            let mut https = h.clone();
            https.url = format!("https://{rest}");
            https.tls.skip_verify = true;
            https.http_fallback = true;
            out.push(https);
            out.push(h.clone());
            e.notes
                .retain(|n| !n.starts_with("containerd speaks plain HTTP to localhost"));
            e.notes.push(format!(
                "{label}: a loopback registry without hosts.toml is tried over TLS without verification \
                 first, then over plain HTTP if it does not speak TLS (containerd 1.6 speaks plain HTTP only)"
            ));
            i += 1;
            continue;
        }
        out.push(h.clone());
        i += 1;
    }
    e.hosts = out;
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
        }
    }

    fn urls(e: &Endpoints) -> Vec<(String, bool)> {
        e.hosts
            .iter()
            .map(|h| (h.url.clone(), h.tls.skip_verify))
            .collect()
    }

    #[test]
    fn each_version_rewrites_the_loopback_hosts_as_measured() {
        let explicit = ["https://127.0.0.1:5000", "http://127.0.0.1:5000"];
        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, Loopback::VerifyThenHttp, "containerd 1.6");
        assert_eq!(urls(&e).len(), 2);
        assert!(e.notes.is_empty());

        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, Loopback::Unverified, "containerd 1.7");
        assert_eq!(
            urls(&e),
            [
                ("https://127.0.0.1:5000".into(), true),
                ("http://127.0.0.1:5000".into(), false)
            ]
        );

        let mut e = endpoints(&explicit, Some("hosts.toml"));
        apply(&mut e, Loopback::ExplicitVerified, "containerd 2.1");
        assert_eq!(urls(&e), [("https://127.0.0.1:5000".into(), false)]);
        assert!(e.notes[0].contains("not retried over plain HTTP"));

        for rule in [Loopback::Unverified, Loopback::ExplicitVerified] {
            let mut e = endpoints(&["http://127.0.0.1:5000"], None);
            apply(&mut e, rule, "x");
            assert_eq!(
                urls(&e),
                [
                    ("https://127.0.0.1:5000".into(), true),
                    ("http://127.0.0.1:5000".into(), false)
                ]
            );
        }
        // The server entry repeating a [host] entry with a CA: not retried.
        let mut e = endpoints(&explicit, Some("hosts.toml"));
        e.hosts[0].tls.ca = vec!["ca.crt".into()];
        let mut with_ca = e.hosts[0].clone();
        with_ca.tls.ca = vec!["ca.crt".into()];
        e.hosts.insert(0, with_ca);
        for rule in [Loopback::Unverified, Loopback::ExplicitVerified] {
            let mut e2 = e.clone();
            e2.hosts[1].tls = TlsSettings::default();
            apply(&mut e2, rule, "x");
            assert_eq!(e2.hosts.len(), 1, "{rule:?}");
        }
        // Not loopback, or with TLS settings: untouched.
        let mut e = endpoints(
            &["https://registry.example", "http://registry.example"],
            Some("h"),
        );
        apply(&mut e, Loopback::ExplicitVerified, "x");
        assert_eq!(e.hosts.len(), 2);
        let mut e = endpoints(&["http://127.0.0.1:5000"], Some("hosts.toml"));
        apply(&mut e, Loopback::Unverified, "x");
        assert_eq!(e.hosts.len(), 1, "an explicit http server stays as written");
    }
}
