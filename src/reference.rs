//! Image references parsed and normalised as containerd and the kubelet do
//! (`nginx` → `docker.io/library/nginx:latest`), and the registry host they resolve to.

//!
//! The grammar is distribution's `reference` grammar, checked by hand: oci-spec's `Reference`
//! compiles a large regex on first use, which cost ~40 ms per CLI run (measured with
//! scripts/bench) — more than the whole probe.

use std::fmt;

const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Docker Hub's canonical name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host containerd really contacts for `docker.io` images.
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// Why a reference could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The reference is empty.
    #[error("image reference is empty")]
    Empty,
    /// The reference does not follow the distribution grammar.
    #[error("invalid reference format: {detail} in {input:?}")]
    Invalid {
        /// The reference as given.
        input: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry as written in normalised references (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path (`library/nginx`).
    pub repository: String,
    /// Tag, defaulted to `latest` when neither tag nor digest is given.
    pub tag: Option<String>,
    /// Digest (`sha256:…`) when pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference the way containerd's `ParseNormalizedNamed` does.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::Empty);
        }
        let invalid = |detail: &str| Error::Invalid {
            input: input.to_string(),
            detail: detail.to_string(),
        };
        if trimmed.contains("://") {
            return Err(invalid("a reference has no scheme (drop the \"https://\")"));
        }
        let (rest, digest) = match trimmed.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (trimmed, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(d) = digest {
            check_digest(d).map_err(invalid)?;
        }
        if tag.is_some_and(|t| !valid_tag(t)) {
            return Err(invalid("invalid tag format"));
        }
        let (domain, path) = split_domain(name).unwrap_or((DOCKER_HUB, name));
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase"));
        }
        if !valid_domain(domain) || path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(invalid(&explain_invalid(trimmed)));
        }
        // The grammar allows any digits; no runtime can connect past 65535.
        if let Some(port) = domain
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.contains(']'))
        {
            if port.parse::<u16>().is_err() {
                return Err(invalid(&format!(
                    "port {} is out of range (at most 65535)",
                    crate::bounded::clip(port, 16)
                )));
            }
        }
        let domain = if domain == "index.docker.io" {
            DOCKER_HUB
        } else {
            domain
        };
        let repository = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if repository.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(
                "repository name must not be more than 255 characters",
            ));
        }
        let tag = match (tag, digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(ImageRef {
            registry: domain.to_string(),
            repository,
            tag,
            digest: digest.map(str::to_string),
        })
    }

    /// The host (and port) to contact when no hosts.toml says otherwise.
    pub fn endpoint_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.registry
        }
    }

    /// The manifest reference to ask for: the digest when pinned (containerd ignores the tag
    /// then), otherwise the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `registry/repository` without tag or digest: the kubelet's keyring lookup key.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether the registry is a loopback name or address (containerd treats those specially).
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

/// The registry a name writes explicitly and the rest: the first component when it has a `.`
/// or a `:` or is `localhost` (the distribution reference grammar's rule; `library/nginx` and
/// `nginx` name none, so they are Docker Hub's, or short names on CRI-O).
pub fn split_domain(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(first, _)| first.contains('.') || first.contains(':') || *first == "localhost")
}

/// Whether `host[:port]` is `localhost` or a loopback address (containerd's `IsLocalhost`,
/// which makes it default to plain HTTP there).
pub fn is_loopback_host(registry: &str) -> bool {
    let host = host_without_port(registry);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Host (DNS labels or `[IPv6]`) with an optional numeric port.
fn valid_domain(d: &str) -> bool {
    if let Some(rest) = d.strip_prefix('[') {
        let Some((h, p)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok && h.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || b"_.-".contains(x))
}

/// `algorithm:hex` with the length the registered algorithm requires; lowercase hex only.
fn check_digest(d: &str) -> Result<(), &'static str> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err("invalid checksum digest format");
    };
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("digest must be lowercase hex");
    }
    if hex.len() != want {
        return Err("invalid checksum digest length");
    }
    Ok(())
}

/// Strips a `:port` suffix (and IPv6 brackets) from `host[:port]`.
pub fn host_without_port(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    }
}

/// A sharper message than "invalid reference format" for the common mistakes.
fn explain_invalid(s: &str) -> String {
    let (name, _) = s.split_once('@').unwrap_or((s, ""));
    let last = name.rsplit('/').next().unwrap_or(name);
    let repo_part = match last.rsplit_once(':') {
        Some((repo, _)) if !name.ends_with(':') => {
            name[..name.len() - last.len()].to_string() + repo
        }
        _ => name.to_string(),
    };
    let path = repo_part.split_once('/').map(|(first, rest)| {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            rest.to_string()
        } else {
            repo_part.clone()
        }
    });
    let path = path.unwrap_or(repo_part);
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return "repository name must be lowercase".into();
    }
    if s.chars().any(char::is_whitespace) {
        return "whitespace is not allowed".into();
    }
    if let Some((_, tag)) = last.rsplit_once(':') {
        if tag.is_empty() || tag.len() > 128 || tag.starts_with(['.', '-']) {
            return "invalid tag format".into();
        }
    }
    if s.contains("//") || s.ends_with('/') || s.starts_with('/') {
        return "empty path component".into();
    }
    "invalid characters or structure (expected [registry[:port]/]repository[:tag][@digest])".into()
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn normalises_like_containerd() {
        assert_eq!(p("nginx").to_string(), "docker.io/library/nginx:latest");
        assert_eq!(p("nginx").endpoint_host(), "registry-1.docker.io");
        assert_eq!(
            p("bitnami/redis:7").to_string(),
            "docker.io/bitnami/redis:7"
        );
        assert_eq!(p("index.docker.io/library/nginx").registry, "docker.io");
        assert_eq!(p("localhost/app").registry, "localhost");
        assert_eq!(p("localhost:5000/app:v1").registry, "localhost:5000");
        assert_eq!(p("127.0.0.1:5000/a/b/c:v1").repository, "a/b/c");
        assert_eq!(p("ghcr.io/o/r").endpoint_host(), "ghcr.io");
        assert!(p("localhost:5000/app").is_loopback_registry());
        assert!(!p("ghcr.io/o/r").is_loopback_registry());
    }

    #[test]
    fn a_port_past_65535_is_an_invalid_reference() {
        for r in [
            "127.0.0.1:99999/app:v1",
            "registry.example:65536/app",
            "[::1]:70000/app",
        ] {
            let e = ImageRef::parse(r).unwrap_err().to_string();
            assert!(e.contains("out of range"), "{r}: {e}");
        }
        assert_eq!(p("127.0.0.1:65535/app").registry, "127.0.0.1:65535");
        assert_eq!(p("[::1]:5000/app").registry, "[::1]:5000");
    }

    #[test]
    fn digests_and_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("nginx@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), d);
        let r = p(&format!("nginx:1.25@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1.25"));
        assert_eq!(r.manifest_reference(), d, "digest wins over tag");
        assert_eq!(r.name(), "docker.io/library/nginx");
    }

    #[test]
    fn rejects_bad_references_with_a_reason() {
        let err = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert!(err("Nginx").contains("lowercase"), "{}", err("Nginx"));
        assert!(err("docker.io/Library/nginx:1").contains("lowercase"));
        assert!(
            err("UPPER/case").contains("lowercase"),
            "{}",
            err("UPPER/case")
        );
        assert!(err("nginx:").contains("tag"));
        assert!(err("nginx:-bad").contains("tag"));
        assert!(err("nginx@sha256:abc").contains("digest"));
        assert!(err("nginx@md5:abc").contains("digest"));
        assert!(err("https://ghcr.io/x").contains("scheme"));
        assert!(err("a//b").contains("invalid"));
        assert!(err("ngi nx").contains("invalid"));
        assert_eq!(ImageRef::parse("  "), Err(Error::Empty));
        assert!(err(&"a".repeat(300)).contains("255") || err(&"a".repeat(300)).contains("invalid"));
    }

    #[test]
    fn host_without_port_handles_ipv6_and_ports() {
        assert_eq!(host_without_port("localhost:5000"), "localhost");
        assert_eq!(host_without_port("[::1]:5000"), "::1");
        assert_eq!(host_without_port("ghcr.io"), "ghcr.io");
    }
}
