//! Which registries the agent contacts on a caller's behalf: a registry whose address is in a
//! loopback, link-local or cloud-metadata range is refused unless `--allow-registry-cidr`
//! covers it, and `--only-registry` (when set) narrows the agent to a list of registries.
//!
//! Two places enforce it. Up front, [`Guard::check`] refuses the image's registry (its name,
//! and every address it resolves to) with a 403 before anything is sent. Then, as an
//! [`AddressPolicy`] on the agent's probers, the same ranges are refused for every connection
//! a probe makes — hosts.toml mirrors, redirects, token realms, and names that resolve
//! differently the second time — so a registry cannot point the probe at the node's metadata
//! service. A loopback pull-through mirror therefore needs `--allow-registry-cidr` too.

use crate::net::policy::AddressPolicy;
use crate::reference::{host_without_port, ImageRef};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A malformed CIDR, or why a registry is refused. Refusals are not retryable: the caller
/// (or the agent's configuration) has to change.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `--allow-registry-cidr` value that does not parse.
    #[error("invalid CIDR {input:?}: {why}")]
    Cidr {
        /// What was given.
        input: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `--only-registry` is set and does not list the registry.
    #[error("registry {registry} is not one this agent probes (--only-registry)")]
    NotListed {
        /// The image's registry.
        registry: String,
    },
    /// The registry's address is in a refused range.
    #[error(
        "registry {registry} is {addr}, a {range} address: refused unless --allow-registry-cidr covers it"
    )]
    Refused {
        /// The image's registry.
        registry: String,
        /// The address it is, or resolves to.
        addr: IpAddr,
        /// `loopback`, `link-local`, `cloud metadata`, `unspecified`.
        range: &'static str,
    },
}

/// An address range, `ADDR/PREFIX` (a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why| Error::Cidr {
            input: input.to_string(),
            why,
        };
        let (addr, prefix) = match input.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (input.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad("prefix length out of range"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Cloud metadata addresses outside the IPv4 link-local range, each as its provider documents
/// it:
/// - AWS IMDS over IPv6, `fd00:ec2::254` ("For Nitro-based instances with IPv6 addresses, AWS
///   provides this service at the fd00:ec2::254 IPv6 endpoint",
///   <https://docs.aws.amazon.com/whitepapers/latest/ipv6-on-aws/supporting-amazon-vpc-services.html>).
///   The same page puts the VPC resolver at `fd00:ec2::253` and NTP at `fd00:ec2::123`: they
///   hand out no credentials, so `fd00:ec2::/32` as a whole is not refused.
/// - The EKS Pod Identity Agent, `fd00:ec2::23` (it hands pods their role's credentials:
///   <https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html>).
/// - Alibaba Cloud's metadata service, `100.100.100.200` (outside 169.254.0.0/16).
///
/// Not listed: GCE's "IPv6 metadata server" `fd20:ce::254`, which deny lists carry but no
/// Google page found says; Google's IPv6 page says VMs reach the metadata server over IPv4
/// only, at 169.254.169.254
/// (<https://cloud.google.com/compute/docs/ip-addresses/configure-ipv6-address>). GCE's
/// server also answers nothing without `Metadata-Flavor: Google`, which a probe never sends.
const METADATA: [IpAddr; 3] = [
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// The metadata address every cloud shares (AWS, GCE, Azure, OpenStack, …).
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

fn is_metadata_v4(v4: Ipv4Addr) -> bool {
    v4 == METADATA_V4 || METADATA.contains(&IpAddr::V4(v4))
}

/// The IPv4 addresses an IPv6 address carries, by every embedding a host or a translator may
/// act on, each read with the whole IPv4 policy:
/// - IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (RFC 4291 §2.5.5);
/// - SIIT's IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765 §2.1, RFC 7915);
/// - NAT64's well-known prefix `64:ff9b::/96` (RFC 6052) and the local-use `64:ff9b:1::/48`
///   (RFC 8215), read as /96;
/// - 6to4 `2002:V4ADDR::/48` (RFC 3056), Teredo `2001::/32` (RFC 4380: the server in bits
///   32–63, the client obfuscated with XOR 0xffffffff in the last 32 bits), and ISATAP
///   interface identifiers `…:0:5efe:a.b.c.d` and `…:200:5efe:a.b.c.d` (RFC 5214).
///
/// Network-specific NAT64 prefixes (any prefix an operator picks, a ULA included) are
/// [`rfc6052_readings`]'s.
pub fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let bits = u128::from(v6);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let mut out = Vec::new();
    // Mapped and compatible; `::` and `::1` are IPv6's own unspecified and loopback.
    if s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && bits > 1)) {
        out.push(low32);
    }
    // SIIT's IPv4-translated form.
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        out.push(low32);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        out.push(low32);
    }
    if s[0] == 0x2002 {
        out.push(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        out.push(Ipv4Addr::from(((bits >> 64) & 0xffff_ffff) as u32));
        out.push(Ipv4Addr::from(!((bits & 0xffff_ffff) as u32)));
    }
    if s[5] == 0x5efe && (s[4] == 0 || s[4] == 0x0200) {
        out.push(low32);
    }
    out
}

/// The IPv4 address `v6` carries if it is an RFC 6052 §2.2 address under a network-specific
/// prefix of each length the RFC allows (32, 40, 48, 56, 64, 96 bits; below 96 the "u" octet,
/// bits 64–71, is zero). The operator picks that prefix from its own space (RFC 6052 §3.3), a
/// ULA like `fd00:c1::/96` included, and a translator configured with it sends
/// `fd00:c1::a9fe:a9fe` to 169.254.169.254. Which prefix a network uses cannot be seen from
/// the address, so only the exact metadata addresses are looked for in these places (the
/// chance of a real address matching one by accident is 2^-32 per place); the whole IPv4
/// policy would refuse a good share of ordinary addresses.
pub fn rfc6052_readings(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let b = v6.octets();
    let mut out = vec![Ipv4Addr::new(b[12], b[13], b[14], b[15])];
    if b[8] == 0 {
        out.extend([
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            Ipv4Addr::new(b[5], b[6], b[7], b[9]),
            Ipv4Addr::new(b[6], b[7], b[9], b[10]),
            Ipv4Addr::new(b[7], b[9], b[10], b[11]),
            Ipv4Addr::new(b[9], b[10], b[11], b[12]),
        ]);
    }
    out
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    if is_metadata_v4(v4) {
        Some("cloud metadata")
    } else if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.is_unspecified() || v4.octets()[0] == 0 {
        Some("unspecified")
    } else if v4.is_multicast() || v4.is_broadcast() {
        Some("multicast or broadcast")
    } else {
        None
    }
}

/// The refused range `ip` is in, if any: cloud metadata (IPv4, IPv6, IPv4 embedded in IPv6 in
/// any of [`embedded_v4`]'s forms, and a metadata address in any of [`rfc6052_readings`]'
/// places), loopback, link-local, unspecified, multicast.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if METADATA.contains(&IpAddr::V6(v6)) {
                return Some("cloud metadata");
            }
            if let Some(range) = embedded_v4(v6).into_iter().find_map(refused_v4) {
                return Some(range);
            }
            if rfc6052_readings(v6).into_iter().any(is_metadata_v4) {
                return Some("cloud metadata");
            }
            let s0 = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if s0 & 0xffc0 == 0xfe80 || s0 & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast or broadcast")
            } else {
                None
            }
        }
    }
}

/// The registry policy.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Vec<Cidr>,
    only: Vec<String>,
    resolve_timeout: Duration,
}

impl Guard {
    /// A guard allowing `allow` ranges despite the refused ones, and (when `only` is not
    /// empty) only the listed registries (`host[:port]`, or `*.suffix`).
    pub fn new(allow: Vec<Cidr>, only: Vec<String>, resolve_timeout: Duration) -> Self {
        Guard {
            allow,
            only,
            resolve_timeout,
        }
    }

    /// The allowed ranges, for the start-up line.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allow
    }

    /// The registry list, for the start-up line.
    pub fn only(&self) -> &[String] {
        &self.only
    }

    /// The name-only part of the check (no resolving): `--only-registry`, and an address
    /// literal in a refused range.
    pub fn check_name(&self, image: &ImageRef) -> Result<(), Error> {
        let registry = &image.registry;
        if !self.only.is_empty() && !self.only.iter().any(|p| matches(p, registry)) {
            return Err(Error::NotListed {
                registry: registry.clone(),
            });
        }
        let host = literal_host(image.endpoint_host());
        if host == "localhost" || host.ends_with(".localhost") {
            return self.address(registry, IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.address(registry, ip),
            Err(_) => Ok(()),
        }
    }

    /// The whole check: [`check_name`](Self::check_name), then every address the name
    /// resolves to. A name that does not resolve passes (the probe reports `dns_failure`).
    pub async fn check(&self, image: &ImageRef) -> Result<(), Error> {
        self.check_name(image)?;
        let hostport = image.endpoint_host();
        let host = literal_host(hostport);
        if host.parse::<IpAddr>().is_ok() || host == "localhost" || host.ends_with(".localhost") {
            return Ok(());
        }
        let port = hostport
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(443);
        let lookup = tokio::net::lookup_host((host.to_string(), port));
        let Ok(Ok(addrs)) = tokio::time::timeout(self.resolve_timeout, lookup).await else {
            return Ok(());
        };
        for a in addrs {
            self.address(&image.registry, a.ip())?;
        }
        Ok(())
    }

    fn address(&self, registry: &str, ip: IpAddr) -> Result<(), Error> {
        match refused_range(ip) {
            Some(range) if !self.allow.iter().any(|c| c.contains(ip)) => Err(Error::Refused {
                registry: registry.to_string(),
                addr: ip,
                range,
            }),
            _ => Ok(()),
        }
    }
}

impl AddressPolicy for Guard {
    fn check(&self, ip: IpAddr) -> Result<(), String> {
        match refused_range(ip) {
            Some(range) if !self.allow.iter().any(|c| c.contains(ip)) => Err(format!(
                "{ip} is a {range} address, refused by the agent's registry policy \
                 (--allow-registry-cidr)"
            )),
            _ => Ok(()),
        }
    }
}

/// `host` without port and IPv6 brackets.
fn literal_host(hostport: &str) -> &str {
    host_without_port(hostport)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// `--only-registry` patterns: exact `host[:port]`, or `*.suffix` for any subdomain.
fn matches(pattern: &str, registry: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => registry
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.') && head.len() > 1),
        None => pattern.eq_ignore_ascii_case(registry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let c = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(c.contains("127.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.contains("128.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fe80::/10")
            .unwrap()
            .contains("fe80::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        for bad in ["10.0.0.0/33", "nope/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    /// Each embedding refused, each beside a near miss that is allowed.
    #[test]
    fn refuses_every_ipv6_form_of_the_refused_ranges() {
        let cases = [
            // Documented cloud addresses (see METADATA); their neighbours are not metadata.
            ("fd00:ec2::254", "cloud metadata", "fd00:ec2::253"),
            ("fd00:ec2::23", "cloud metadata", "fd00:ec2::123"),
            (
                "::ffff:100.100.100.200",
                "cloud metadata",
                "::ffff:100.100.100.201",
            ),
            // IPv4-mapped and IPv4-compatible.
            ("::ffff:169.254.169.254", "cloud metadata", "::ffff:8.8.8.8"),
            ("::169.254.169.254", "cloud metadata", "::8.8.8.8"),
            ("::127.0.0.1", "loopback", "::8.8.4.4"),
            // SIIT's IPv4-translated form (the issue's `[::ffff:0:a9fe:a9fe]`).
            ("::ffff:0:a9fe:a9fe", "cloud metadata", "::ffff:0:808:808"),
            ("::ffff:0:7f00:1", "loopback", "::ffff:1:7f00:1"),
            ("::ffff:0:a9fe:1", "link-local", "::ffff:0:aafe:1"),
            // NAT64: the well-known prefix, and the local-use prefix as /96.
            ("64:ff9b::a9fe:a9fe", "cloud metadata", "64:ff9b::808:808"),
            ("64:ff9b::7f00:1", "loopback", "64:ff9b::8000:1"),
            ("64:ff9b:1::7f00:1", "loopback", "64:ff9b:1::808:808"),
            (
                "64:ff9b:1::a9fe:a9fe",
                "cloud metadata",
                "64:ff9b:1::aafe:a9fe",
            ),
            // 6to4.
            ("2002:a9fe:a9fe::1", "cloud metadata", "2002:808:808::1"),
            ("2002:7f00:1::1", "loopback", "2002:8000:1::1"),
            // Teredo: server 65.54.227.120 and client 169.254.169.254 obfuscated (XOR
            // 0xffff_ffff), then the server itself the metadata address.
            (
                "2001:0:4136:e378:8000:63bf:5601:5601",
                "cloud metadata",
                "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            ),
            ("2001:0:a9fe:a9fe::1", "cloud metadata", "2001:0:808:808::1"),
            // ISATAP interface identifiers, universal and local.
            (
                "2001:db8::5efe:7f00:1",
                "loopback",
                "2001:db8::5efe:808:808",
            ),
            (
                "2001:db8::200:5efe:7f00:1",
                "loopback",
                "2001:db8::300:5efe:7f00:1",
            ),
            (
                "2001:db8::200:5efe:a9fe:a9fe",
                "cloud metadata",
                "2001:db8::200:5efe:808:808",
            ),
            // RFC 6052 network-specific prefixes of every length, a ULA (the issue's
            // `[fd00:c1::a9fe:a9fe]`) and a global prefix; the near misses change one bit of
            // the address or set the "u" octet.
            ("fd00:c1::a9fe:a9fe", "cloud metadata", "fd00:c1::a9fe:a9ff"),
            (
                "fd00:c1:a9fe:a9fe::",
                "cloud metadata",
                "fd00:c1:a9fe:a9fe:100::",
            ),
            (
                "2001:db8:1a9:fea9:fe::",
                "cloud metadata",
                "2001:db8:1a9:fea9:1fe::",
            ),
            (
                "2001:db8:100:a9fe:a9:fe00::",
                "cloud metadata",
                "2001:db8:100:a9fe:a9:ff00::",
            ),
            (
                "2001:db8:100:a9:fe:a9fe::",
                "cloud metadata",
                "2001:db8:100:a9:fe:a9ff::",
            ),
            (
                "2001:db8:100:0:a9:fea9:fe00:0",
                "cloud metadata",
                "2001:db8:100:0:a9:fea9:ff00:0",
            ),
            (
                "64:ff9b:1:0:a9:fea9:fe00:0",
                "cloud metadata",
                "64:ff9b:1:0:a9:fea8:fe00:0",
            ),
            ("fd00:c1::6464:64c8", "cloud metadata", "fd00:c1::6464:64c9"),
            // IPv6's own ranges.
            ("::", "unspecified", "::2:0:0"),
            ("::1", "loopback", "::1:0:0:1"),
            ("fe80::1", "link-local", "fe7f::1"),
            ("fec0::1", "link-local", "fc00::1"),
            ("ff02::1", "multicast or broadcast", "fe00::1"),
        ];
        for (addr, want, near) in cases {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(refused_range(ip), Some(want), "{addr}");
            let ip: IpAddr = near.parse().unwrap();
            assert_eq!(refused_range(ip), None, "{near}, beside {addr}");
        }
        for ok in [
            "2001:db8::1",
            "fd12:3456::1",
            "2600:1f18::1",
            // Not documented by Google (see METADATA).
            "fd20:ce::254",
        ] {
            let ip: IpAddr = ok.parse().unwrap();
            assert_eq!(refused_range(ip), None, "{ok}");
        }
        // --allow-registry-cidr still lifts a refusal, whatever the form.
        let g = Guard::new(
            vec![Cidr::parse("::127.0.0.1").unwrap()],
            vec![],
            Duration::from_secs(1),
        );
        assert!(AddressPolicy::check(&g, "::127.0.0.1".parse().unwrap()).is_ok());
        assert!(AddressPolicy::check(&g, "64:ff9b::a9fe:a9fe".parse().unwrap()).is_err());
        assert!(AddressPolicy::check(&g, "::ffff:0:a9fe:a9fe".parse().unwrap()).is_err());
    }

    #[test]
    fn refuses_loopback_link_local_and_metadata_literals() {
        let g = Guard::new(vec![], vec![], Duration::from_secs(1));
        for (img, range) in [
            ("127.0.0.1:5000/app:v1", "loopback"),
            ("localhost:5000/app", "loopback"),
            ("169.254.169.254/latest/meta-data", "cloud metadata"),
            ("169.254.10.1:80/x", "link-local"),
            ("[::1]:5000/app", "loopback"),
            ("[fe80::1]:5000/app", "link-local"),
            ("[fd00:ec2::254]/x", "cloud metadata"),
            ("100.100.100.200/x", "cloud metadata"),
            ("0.0.0.0:5000/x", "unspecified"),
        ] {
            match g.check_name(&image(img)) {
                Err(Error::Refused { range: r, .. }) => assert_eq!(r, range, "{img}"),
                other => panic!("{img}: {other:?}"),
            }
        }
        for ok in ["10.0.0.5:5000/app", "ghcr.io/org/app", "nginx"] {
            assert!(g.check_name(&image(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn allow_list_lifts_a_refusal() {
        let g = Guard::new(
            vec![Cidr::parse("127.0.0.0/8").unwrap()],
            vec![],
            Duration::from_secs(1),
        );
        assert!(g.check_name(&image("127.0.0.1:5000/app")).is_ok());
        assert!(g.check_name(&image("169.254.169.254/x")).is_err());
    }

    #[test]
    fn only_registry_narrows() {
        let g = Guard::new(
            vec![],
            vec!["docker.io".into(), "*.example.com".into()],
            Duration::from_secs(1),
        );
        assert!(g.check_name(&image("nginx")).is_ok());
        assert!(g.check_name(&image("reg.example.com/a")).is_ok());
        assert!(matches!(
            g.check_name(&image("example.com/a")),
            Err(Error::NotListed { .. })
        ));
        assert!(matches!(
            g.check_name(&image("ghcr.io/a")),
            Err(Error::NotListed { .. })
        ));
    }

    #[tokio::test]
    async fn resolved_names_are_checked() {
        let g = Guard::new(vec![], vec![], Duration::from_secs(2));
        // `localhost` never reaches the resolver; the name check refuses it.
        assert!(g.check(&image("localhost/app")).await.is_err());
        assert!(g.check(&image("app.localhost/app")).await.is_err());
    }
}
