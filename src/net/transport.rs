//! Transport failures classified by walking the error's cause chain: rustls error kinds for TLS,
//! `io::ErrorKind` for connect failures, and the connector's own words for DNS and proxies.
//! reqwest hides these behind one error type; this is the thin layer that digs them out.

use serde::Serialize;
use std::error::Error as StdError;
use std::io;

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// Name resolution failed.
    Dns,
    /// Connection refused.
    Refused,
    /// A step timed out.
    Timeout,
    /// No route to host / network unreachable.
    Unreachable,
    /// The proxy failed or refused.
    Proxy,
    /// Certificate chain not trusted.
    TlsUnknownAuthority,
    /// Certificate expired or not yet valid.
    TlsExpired,
    /// Certificate does not name the host.
    TlsHostname,
    /// The peer answered something that is not TLS (often plain HTTP).
    TlsNotTls,
    /// Any other TLS failure (including unreadable CA or client certificate files).
    TlsOther,
    /// The connection broke (reset, closed mid-body).
    Broken,
    /// Not connected: the address (or every address the name resolves to) is in a range the
    /// agent's registry policy refuses — a redirect, token realm or mirror pointing at
    /// loopback, link-local or a metadata address. The node's runtime has no such policy.
    Policy,
    /// Anything else.
    Other,
}

/// A failure below HTTP, with a one-line description (never containing credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportFailure {
    /// The category.
    pub kind: TransportKind,
    /// What happened, from the error's cause chain.
    pub message: String,
}

/// Classifies a failed request. `proxy` names the proxy the request went through, if any.
pub fn classify(err: &reqwest::Error, proxy: Option<&str>) -> TransportFailure {
    let chain = causes(err);
    let innermost = chain
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    let detail = sanitize(&innermost);

    for e in &chain {
        if let Some(tls) = as_rustls(*e) {
            return super::tls_failure::describe(tls);
        }
    }
    let text: String = chain
        .iter()
        .map(|e| e.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" | ");
    // The agent's resolver dropped every address of the name (src/net/policy.rs; the
    // connector stringifies resolver errors, so its words are what is left of the type).
    if text.contains(super::policy::REFUSED_NAME) {
        return failure(TransportKind::Policy, format!("not connected: {detail}"));
    }
    if text.contains("tunnel") || text.contains("proxy") {
        return failure(
            TransportKind::Proxy,
            format!(
                "proxy {} failed: {detail}",
                proxy.unwrap_or("(from environment)")
            ),
        );
    }
    let io_kind = chain
        .iter()
        .find_map(|e| e.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    if let Some(p) = proxy {
        if err.is_connect() {
            return failure(
                TransportKind::Proxy,
                format!("cannot connect to proxy {p}: {detail}"),
            );
        }
    }
    if text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("temporary failure in name resolution")
    {
        return failure(TransportKind::Dns, dns_message(&text, &detail));
    }
    match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => {
            return failure(
                TransportKind::Refused,
                format!("connection refused: {detail}"),
            )
        }
        Some(io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable) => {
            return failure(
                TransportKind::Unreachable,
                format!("network unreachable: {detail}"),
            )
        }
        Some(io::ErrorKind::TimedOut) => {
            return failure(TransportKind::Timeout, format!("timed out: {detail}"))
        }
        _ => {}
    }
    if err.is_timeout() || text.contains("timed out") {
        let phase = if err.is_connect() {
            "connecting"
        } else {
            "waiting for the response"
        };
        return failure(TransportKind::Timeout, format!("timed out {phase}"));
    }
    if matches!(
        io_kind,
        Some(
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe
        )
    ) || text.contains("connection closed")
        || text.contains("incomplete message")
        || text.contains("end of file")
    {
        return failure(
            TransportKind::Broken,
            format!("connection broken: {detail}"),
        );
    }
    failure(TransportKind::Other, detail)
}

/// Classifies an I/O error from reading a body (timeouts there come from our own deadline).
pub fn classify_io(err: &io::Error) -> TransportFailure {
    match err.kind() {
        io::ErrorKind::TimedOut => {
            failure(TransportKind::Timeout, "timed out reading the body".into())
        }
        _ => failure(
            TransportKind::Broken,
            format!(
                "connection broken while reading the body: {}",
                sanitize(&err.to_string())
            ),
        ),
    }
}

/// What a failed lookup means, from the resolver's (getaddrinfo's) words in `text`: the name
/// does not exist (EAI_NONAME: NXDOMAIN, or no address of the family asked), or the resolver
/// failed or could not be reached (EAI_AGAIN: SERVFAIL, no answer before its timeout, no
/// resolver listening) — a node problem, not a wrong name.
fn dns_message(text: &str, detail: &str) -> String {
    if text.contains("name or service not known")
        || text.contains("no address associated with hostname")
    {
        format!("lookup failed: the name does not exist (the resolver answered NXDOMAIN or gave no address): {detail}")
    } else if text.contains("temporary failure in name resolution") {
        format!("lookup failed: the resolver failed or could not be reached (SERVFAIL, no answer, or no resolver listening), so whether the name exists is unknown: {detail}")
    } else if text.contains("non-recoverable failure in name resolution") {
        format!("lookup failed: the resolver refused or failed permanently: {detail}")
    } else {
        format!("lookup failed: {detail}")
    }
}

fn failure(kind: TransportKind, message: String) -> TransportFailure {
    TransportFailure { kind, message }
}

/// The whole cause chain, including errors that `io::Error` wraps but does not expose as `source()`.
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        out.push(e);
        if out.len() > 32 {
            break;
        }
        if let Some(ioe) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = ioe.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = e.source();
    }
    out
}

fn as_rustls<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    e.downcast_ref::<rustls::Error>()
}

/// Keeps messages to one bounded line.
pub fn sanitize(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::bounded::clip(&one_line, 300)
}

#[cfg(test)]
mod tests {
    use super::dns_message;

    #[test]
    fn lookups_say_whether_the_name_or_the_resolver_failed() {
        let nx = "failed to lookup address information: Name or service not known";
        let m = dns_message(&nx.to_ascii_lowercase(), nx);
        assert!(
            m.contains("the name does not exist") && m.ends_with(nx),
            "{m}"
        );
        let again = "failed to lookup address information: Temporary failure in name resolution";
        let m = dns_message(&again.to_ascii_lowercase(), again);
        assert!(
            m.contains("the resolver failed or could not be reached")
                && !m.contains("does not exist"),
            "{m}"
        );
        assert_eq!(dns_message("dns error: x", "x"), "lookup failed: x");
    }

    use super::*;

    #[test]
    fn walks_into_io_wrapped_rustls_errors() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, inner);
        let chain = causes(&wrapped);
        assert!(chain.iter().any(|e| as_rustls(*e).is_some()));
        let f = super::super::tls_failure::describe(as_rustls(chain[1]).unwrap());
        assert_eq!(f.kind, TransportKind::TlsUnknownAuthority);
    }

    #[test]
    fn io_kinds_for_unreachable_and_bodies() {
        assert_eq!(
            classify_io(&io::Error::from(io::ErrorKind::TimedOut)).kind,
            TransportKind::Timeout
        );
        assert_eq!(
            classify_io(&io::Error::from(io::ErrorKind::ConnectionReset)).kind,
            TransportKind::Broken
        );
        assert!(sanitize(&"a\nb".repeat(500)).len() < 320);
    }
}
