//! The kubelet's key and image matching, reproduced from Go: the part of `net/url.Parse` that
//! keyring keys go through, `net.SplitHostPort`, `path/filepath.Match`, key normalisation
//! ([`normalize_key`], `BasicDockerKeyring.Add`) and [`urls_match`] (`URLsMatch`).
//!
//! Go's quirks are kept on purpose, because the kubelet has them: host case is preserved,
//! `https://host:443` keeps its port, and a host glob with a `[class]` *and* a port never
//! matches (Go's `SplitHostPort` refuses the `[`, so the port stays in the last label).

mod glob;

pub use glob::{filepath_match, BadPattern};

/// A URL as Go's `url.Parse` splits it: host (with port, without userinfo) and decoded path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoUrl {
    /// `host[:port]` exactly as written (case kept).
    pub host: String,
    /// The percent-decoded path (`/a/b`), empty when there is none.
    pub path: String,
}

/// Parses `raw` the way Go's `url.Parse` does for `scheme://authority/path?query#fragment`
/// input. Only what the keyring needs: errors are Go's (control characters, bad port, invalid
/// host characters, bad percent escapes).
pub fn parse_go_url(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (without_fragment, _fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let Some((scheme, rest)) = without_fragment.split_once(':') else {
        return Err("missing protocol scheme".into());
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    {
        return Err("missing protocol scheme".into());
    }
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(r, _)| r)
    };
    let Some(after) = rest.strip_prefix("//") else {
        // Opaque or path-only URLs: no host.
        return Ok(GoUrl {
            host: String::new(),
            path: unescape_path(rest)?,
        });
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    Ok(GoUrl {
        host: parse_host(host)?,
        path: unescape_path(path)?,
    })
}

/// Go's `parseHost` for the non-IPv6 and IPv6-literal forms.
fn parse_host(host: &str) -> Result<String, String> {
    let port_part = if let Some(inner) = host.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err("missing ']' in host".into());
        };
        &inner[end + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    if !valid_optional_port(port_part) {
        return Err(format!("invalid port {port_part:?} after host"));
    }
    let bytes = host.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let (Some(h), Some(_)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) else {
                return Err("invalid URL escape in host".into());
            };
            // Go allows only escapes of non-ASCII bytes (and %25) in a host.
            if h < 8 && &bytes[i..i + 3] != b"%25" {
                return Err("invalid URL escape in host".into());
            }
            i += 3;
            continue;
        }
        if c < 0x80 && !host_char_ok(c) {
            return Err(format!("invalid character {:?} in host name", c as char));
        }
        i += 1;
    }
    // Go unescapes the host; only non-ASCII escapes are allowed, so decode them.
    Ok(percent_decode(host).unwrap_or_else(|| host.to_string()))
}

fn host_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// `""`, `":"` or `":digits"`.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn unescape_path(path: &str) -> Result<String, String> {
    percent_decode(path).ok_or_else(|| "invalid URL escape in path".to_string())
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = hex(*bytes.get(i + 1)?)?;
            let l = hex(*bytes.get(i + 2)?)?;
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `BasicDockerKeyring.Add`'s key: `https://` unless the entry starts with `http://` or
/// `https://`, Go-parse, strip a leading `/v1` or `/v2` from `/v1/…`, `/v2/…`; the key is the
/// host (with port) plus the remaining path unless that is empty or `/`. `None` for entries Go
/// cannot parse (the kubelet logs and ignores them).
pub fn normalize_key(entry: &str) -> Option<String> {
    let value = if entry.starts_with("https://") || entry.starts_with("http://") {
        entry.to_string()
    } else {
        format!("https://{entry}")
    };
    let url = parse_go_url(&value).ok()?;
    let mut path = url.path.as_str();
    if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path = &path[3..];
    }
    Some(if path.is_empty() || path == "/" {
        url.host
    } else {
        format!("{}{path}", url.host)
    })
}

/// A key as written, for reports: any `user:password@` before the host is replaced by `…@`.
pub fn display_key(key: &str) -> String {
    let (scheme, rest) = match key.find("://") {
        Some(i) => key.split_at(i + 3),
        None => ("", key),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}…{}", &rest[at..]),
        None => key.to_string(),
    }
}

/// Go's `net.SplitHostPort`, `None` where Go returns an error.
pub fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// Kubelet `URLsMatchStr(key, image)`: both parsed as `https://…`; ports equal (Go's
/// `SplitHostPort`, a failure meaning "no port"), the same number of dot-separated labels,
/// each label matching with `filepath.Match`, and the key's path a string prefix of the
/// image's. Parse or pattern errors mean no match, as in `Lookup`.
pub fn urls_match(key: &str, image: &str) -> bool {
    let (Ok(glob), Ok(target)) = (
        parse_go_url(&format!("https://{key}")),
        parse_go_url(&format!("https://{image}")),
    ) else {
        return false;
    };
    let split = |host: &str| -> (Vec<String>, String) {
        let (h, p) = split_host_port(host).unwrap_or((host, ""));
        (h.split('.').map(str::to_string).collect(), p.to_string())
    };
    let (g_parts, g_port) = split(&glob.host);
    let (t_parts, t_port) = split(&target.host);
    if g_port != t_port || g_parts.len() != t_parts.len() {
        return false;
    }
    if !target.path.starts_with(&glob.path) {
        return false;
    }
    g_parts
        .iter()
        .zip(&t_parts)
        .all(|(g, t)| filepath_match(g, t) == Ok(true))
}

#[cfg(test)]
mod tests;
