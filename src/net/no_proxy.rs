//! `NO_PROXY` as Go reads it (`golang.org/x/net/http/httpproxy`, which containerd uses): `*`,
//! IP addresses and CIDR ranges, `host[:port]` (the host and its subdomains), `.domain` and
//! `*.domain` (subdomains only). Loopback and `localhost` are never proxied. See [`NoProxy`].

use std::net::IpAddr;

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
    raw: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Entry {
    Cidr(IpAddr, u8),
    Ip(IpAddr, Option<u16>),
    Domain {
        /// With a leading dot.
        suffix: String,
        port: Option<u16>,
        /// Also matches the bare domain (entry written without a leading dot).
        exact_too: bool,
    },
}

impl NoProxy {
    /// Parses a comma-separated list; entries Go would ignore are dropped.
    pub fn parse(value: &str) -> Self {
        let mut out = NoProxy::default();
        for p in value.split(',') {
            let p = p.trim().to_ascii_lowercase();
            if p.is_empty() {
                continue;
            }
            out.raw.push(p.clone());
            if p == "*" {
                out.all = true;
                continue;
            }
            if let Some(cidr) = parse_cidr(&p) {
                out.entries.push(cidr);
                continue;
            }
            let (host, port) = split_host_port(&p);
            if host.is_empty() {
                continue;
            }
            let port = match port {
                Some(pt) => match pt.parse::<u16>() {
                    Ok(n) => Some(n),
                    Err(_) => continue,
                },
                None => None,
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                out.entries.push(Entry::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            let (suffix, exact_too) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            out.entries.push(Entry::Domain {
                suffix,
                port,
                exact_too,
            });
        }
        out
    }

    /// The entries as written (lowercased), for reports.
    pub fn entries(&self) -> &[String] {
        &self.raw
    }

    /// Whether a request to `host:port` goes direct.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) || self.all {
            return true;
        }
        self.entries.iter().any(|e| match (e, ip) {
            (Entry::Cidr(net, bits), Some(ip)) => in_cidr(ip, *net, *bits),
            (Entry::Ip(want, p), Some(ip)) => *want == ip && p.is_none_or(|p| p == port),
            (
                Entry::Domain {
                    suffix,
                    port: p,
                    exact_too,
                },
                _,
            ) => {
                (host.ends_with(suffix.as_str()) || (*exact_too && host == suffix[1..]))
                    && p.is_none_or(|p| p == port)
            }
            _ => false,
        })
    }
}

/// Go's `net.SplitHostPort`, falling back to the whole entry as the host.
fn split_host_port(p: &str) -> (&str, Option<&str>) {
    if let Some(rest) = p.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((h, port)) => (h, Some(port)),
            None => (rest.trim_end_matches(']'), None),
        };
    }
    match p.split_once(':') {
        Some((h, port)) if !port.contains(':') => (h, Some(port)),
        _ => (p, None),
    }
}

fn parse_cidr(p: &str) -> Option<Entry> {
    let (ip, bits) = p.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(Entry::Cidr(ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_as_go() {
        let n = NoProxy::parse(" Example.com, .internal.example ,*.corp.example, reg.example:5000");
        assert!(n.bypasses("example.com", 443));
        assert!(n.bypasses("a.example.com", 443));
        assert!(!n.bypasses("notexample.com", 443));
        assert!(n.bypasses("a.internal.example", 443));
        assert!(
            !n.bypasses("internal.example", 443),
            "leading dot: subdomains only"
        );
        assert!(n.bypasses("x.corp.example", 443) && !n.bypasses("corp.example", 443));
        assert!(n.bypasses("reg.example", 5000) && !n.bypasses("reg.example", 443));
        assert_eq!(n.entries()[0], "example.com");
    }

    #[test]
    fn ips_cidrs_and_loopback() {
        let n = NoProxy::parse("10.0.0.0/8,192.168.1.5,[fd00::1]:5000,fd00:1::/32,169.254.169.254");
        assert!(n.bypasses("10.1.2.3", 443));
        assert!(!n.bypasses("11.1.2.3", 443));
        assert!(n.bypasses("192.168.1.5", 80));
        assert!(n.bypasses("[fd00::1]", 5000) && !n.bypasses("fd00::1", 443));
        assert!(n.bypasses("fd00:1:ffff::9", 443));
        assert!(NoProxy::default().bypasses("localhost", 5000));
        assert!(NoProxy::default().bypasses("127.0.0.1", 5000));
        assert!(NoProxy::default().bypasses("[::1]", 5000));
        assert!(!NoProxy::default().bypasses("ghcr.io", 443));
        assert!(NoProxy::parse("*").bypasses("ghcr.io", 443));
        assert!(NoProxy::parse("0.0.0.0/0").bypasses("8.8.8.8", 443));
        assert!(!NoProxy::parse("10.0.0.0/99").bypasses("10.0.0.1", 443));
    }
}
