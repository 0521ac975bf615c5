//! A TLS failure as one sentence and a kind: every rustls and webpki refusal mapped to words,
//! Go's own where containerd prints them (`x509: certificate signed by unknown authority`,
//! `x509: certificate is valid for a, not b`), never a library's Debug text. An expired
//! certificate says its `notAfter` in RFC 3339 and how long ago that was.

use super::transport::{TransportFailure, TransportKind};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError as C};

/// The kind and the sentence of a rustls error met on a connection.
pub(super) fn describe(e: &rustls::Error) -> TransportFailure {
    let (kind, what) = match e {
        rustls::Error::InvalidCertificate(c) => {
            let (kind, what) = certificate(c);
            (kind, format!("failed to verify certificate: {what}"))
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => (
            TransportKind::TlsNotTls,
            "the server did not answer TLS (a plain-HTTP server answers this way)".to_string(),
        ),
        rustls::Error::AlertReceived(a) => {
            return TransportFailure {
                kind: TransportKind::TlsOther,
                message: format!("remote error: tls: {}", alert(*a)),
            }
        }
        rustls::Error::NoCertificatesPresented => (
            TransportKind::TlsOther,
            "the server presented no certificate".to_string(),
        ),
        rustls::Error::PeerIncompatible(p) => (
            TransportKind::TlsOther,
            format!(
                "the server's TLS is incompatible with the client's: {}",
                words(&format!("{p:?}"))
            ),
        ),
        rustls::Error::PeerMisbehaved(p) => (
            TransportKind::TlsOther,
            format!(
                "the server broke the TLS protocol: {}",
                words(&format!("{p:?}"))
            ),
        ),
        rustls::Error::DecryptError => (
            TransportKind::TlsOther,
            "a record could not be decrypted".to_string(),
        ),
        rustls::Error::PeerSentOversizedRecord => (
            TransportKind::TlsOther,
            "the server sent an oversized TLS record".to_string(),
        ),
        rustls::Error::General(text) => (TransportKind::TlsOther, super::transport::sanitize(text)),
        other => (TransportKind::TlsOther, words(&format!("{other:?}"))),
    };
    TransportFailure {
        kind,
        message: format!("tls: {what}"),
    }
}

// rustls still produces the unit variants (`UnsupportedSignatureAlgorithm`) it deprecates.
#[allow(deprecated)]
fn certificate(c: &C) -> (TransportKind, String) {
    use TransportKind as K;
    let (kind, what): (K, String) = match c {
        C::UnknownIssuer => (K::TlsUnknownAuthority, "x509: certificate signed by unknown authority".into()),
        C::Expired | C::NotValidYet => (K::TlsExpired, EXPIRED.into()),
        C::ExpiredContext { time, not_after } => (
            K::TlsExpired,
            format!(
                "{EXPIRED}: current time {} is after {} (expired {} ago)",
                rfc3339(time.as_secs()),
                rfc3339(not_after.as_secs()),
                span(time.as_secs().saturating_sub(not_after.as_secs()))
            ),
        ),
        C::NotValidYetContext { time, not_before } => (
            K::TlsExpired,
            format!(
                "{EXPIRED}: current time {} is before {} (valid in {}; check the node's clock)",
                rfc3339(time.as_secs()),
                rfc3339(not_before.as_secs()),
                span(not_before.as_secs().saturating_sub(time.as_secs()))
            ),
        ),
        C::NotValidForName => (K::TlsHostname, "x509: certificate is not valid for this host name".into()),
        C::NotValidForNameContext { expected, presented } => (K::TlsHostname, for_name(expected, presented)),
        C::BadSignature => (
            K::TlsOther,
            "x509: the certificate's signature does not verify with its issuer's key".into(),
        ),
        C::UnsupportedSignatureAlgorithm
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => (
            K::TlsOther,
            "x509: cannot verify the certificate's signature: an insecure or unsupported algorithm (SHA-1, or RSA keys under 2048 bits)".into(),
        ),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => (
            K::TlsOther,
            "x509: certificate specifies an incompatible key usage (it does not allow server authentication)".into(),
        ),
        C::Revoked => (K::TlsOther, "x509: the certificate is revoked".into()),
        C::UnhandledCriticalExtension => (K::TlsOther, "x509: unhandled critical extension".into()),
        C::BadEncoding => (K::TlsOther, "x509: malformed certificate".into()),
        C::UnknownRevocationStatus | C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            (K::TlsOther, "x509: the certificate's revocation status is unknown".into())
        }
        C::InvalidOcspResponse => (K::TlsOther, "the server's OCSP response is invalid".into()),
        C::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
            Some(w) => pki(w),
            None => (K::TlsOther, format!("x509: {}", super::transport::sanitize(&o.0.to_string()))),
        },
        _ => (K::TlsOther, "x509: the certificate was refused".into()),
    };
    (kind, what)
}

const EXPIRED: &str = "x509: certificate has expired or is not yet valid";

/// webpki's refusals that rustls passes on unnamed.
fn pki(w: &webpki::Error) -> (TransportKind, String) {
    use webpki::Error as W;
    use TransportKind as K;
    let what = match w {
        W::CaUsedAsEndEntity => "x509: the server's certificate is a CA certificate (basicConstraints CA:TRUE) that does not chain to a trusted root",
        W::EndEntityUsedAsCa => "x509: invalid signature: parent certificate cannot sign this kind of certificate (an issuer in the chain is not a CA)",
        W::PathLenConstraintViolated => "x509: too many intermediates for path length constraint",
        W::NameConstraintViolation => "x509: a name in the certificate is not permitted by its issuer's name constraints",
        // A version 1 certificate has no subjectAltName: Go checks the name first and says so.
        W::UnsupportedCertVersion => {
            return (
                K::TlsHostname,
                "x509: certificate relies on legacy Common Name field, use SANs instead (an X.509 v1 certificate has no subjectAltName)".into(),
            )
        }
        W::MaximumPathDepthExceeded | W::MaximumSignatureChecksExceeded | W::MaximumPathBuildCallsExceeded => {
            "x509: the certificate chain is too long or too complex to verify"
        }
        W::MalformedExtensions | W::ExtensionValueInvalid | W::BadDer | W::BadDerTime => "x509: malformed certificate",
        W::UnsupportedCriticalExtension => "x509: unhandled critical extension",
        _ => "x509: the certificate was refused",
    };
    (K::TlsOther, what.to_string())
}

/// Go's name-mismatch sentences: the certificate's names of the kind asked for (DNS names
/// for a name, IP addresses for an address), as webpki presents them (`DnsName("a.test")`,
/// `IpAddress(10.0.0.1)`).
fn for_name(expected: &ServerName<'_>, presented: &[String]) -> String {
    let (wanted, prefix) = match expected {
        ServerName::IpAddress(ip) => (std::net::IpAddr::from(*ip).to_string(), "IpAddress("),
        ServerName::DnsName(d) => (d.as_ref().to_string(), "DnsName(\""),
        _ => ("the host".to_string(), "DnsName(\""),
    };
    let names: Vec<String> = presented
        .iter()
        .filter_map(|n| n.strip_prefix(prefix))
        .map(|n| super::transport::sanitize(n.trim_end_matches(')').trim_end_matches('"')))
        .collect();
    if names.is_empty() {
        return match expected {
            ServerName::IpAddress(_) => format!(
                "x509: cannot validate certificate for {wanted} because it doesn't contain any IP SANs"
            ),
            _ => format!("x509: certificate is not valid for any names, but wanted to match {wanted}"),
        };
    }
    let shown = names.len().min(8);
    let more = match names.len() - shown {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "x509: certificate is valid for {}{more}, not {wanted}",
        names[..shown].join(", ")
    )
}

/// Go's alert names (crypto/tls), the rest in words.
fn alert(a: AlertDescription) -> String {
    use AlertDescription as A;
    match a {
        A::HandshakeFailure => "handshake failure".into(),
        A::BadCertificate => "bad certificate".into(),
        A::UnsupportedCertificate => "unsupported certificate".into(),
        A::CertificateRevoked => "revoked certificate".into(),
        A::CertificateExpired => "expired certificate".into(),
        A::CertificateUnknown => "unknown certificate".into(),
        A::UnknownCA => "unknown certificate authority".into(),
        A::CertificateRequired => "certificate required".into(),
        A::ProtocolVersion => "protocol version not supported".into(),
        A::AccessDenied => "access denied".into(),
        A::InternalError => "internal error".into(),
        A::UnrecognisedName => "unrecognized name".into(),
        A::NoApplicationProtocol => "no application protocol".into(),
        A::Unknown(n) => format!("alert({n})"),
        other => words(&format!("{other:?}")),
    }
}

/// `NoCipherSuitesInCommon` → `no cipher suites in common` (a variant's name, without its data).
fn words(name: &str) -> String {
    let name = name.split(['(', '{', ' ']).next().unwrap_or("");
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    if out.is_empty() {
        "handshake failed".into()
    } else {
        out
    }
}

/// `3 days`, `5 hours`, `less than an hour`.
fn span(secs: u64) -> String {
    let days = secs / 86_400;
    let hours = secs / 3_600;
    match (days, hours) {
        (1, _) => "1 day".into(),
        (d, _) if d > 1 => format!("{d} days"),
        (_, 1) => "1 hour".into(),
        (_, h) if h > 1 => format!("{h} hours"),
        _ => "less than an hour".into(),
    }
}

/// UNIX seconds as RFC 3339 (`2026-12-01T15:00:00Z`); the number itself past what a
/// `SystemTime` holds.
pub(super) fn rfc3339(secs: u64) -> String {
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs))
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| format!("{secs} s after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    fn cert(c: C) -> TransportFailure {
        describe(&rustls::Error::InvalidCertificate(c))
    }

    #[test]
    fn expiry_says_when_and_how_long_ago() {
        let f = cert(C::ExpiredContext {
            time: at(1_796_130_000),
            not_after: at(1_700_000_000),
        });
        assert_eq!(f.kind, TransportKind::TlsExpired);
        assert_eq!(
            f.message,
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-12-01T13:00:00Z is after 2023-11-14T22:13:20Z (expired 1112 days ago)"
        );
        let soon = cert(C::NotValidYetContext {
            time: at(1_700_000_000),
            not_before: at(1_700_007_300),
        });
        assert!(
            soon.message
                .ends_with("(valid in 2 hours; check the node's clock)"),
            "{}",
            soon.message
        );
        assert!(rfc3339(u64::MAX).contains("s after 1970"));
        assert_eq!(span(100), "less than an hour");
        assert_eq!(span(86_400), "1 day");
    }

    #[test]
    fn kinds() {
        assert_eq!(cert(C::Expired).kind, TransportKind::TlsExpired);
        assert_eq!(cert(C::NotValidYet).kind, TransportKind::TlsExpired);
        assert_eq!(
            cert(C::UnknownIssuer).kind,
            TransportKind::TlsUnknownAuthority
        );
        assert_eq!(cert(C::NotValidForName).kind, TransportKind::TlsHostname);
        assert_eq!(cert(C::BadSignature).kind, TransportKind::TlsOther);
        assert_eq!(
            cert(C::UnknownIssuer).message,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
    }

    #[test]
    fn names_as_go_says_them() {
        let dns = ServerName::try_from("registry.test").unwrap();
        let f = cert(C::NotValidForNameContext {
            expected: dns.clone(),
            presented: vec![
                "DnsName(\"other.test\")".into(),
                "IpAddress(10.0.0.1)".into(),
                "DnsName(\"*.other.test\")".into(),
            ],
        });
        assert_eq!(f.kind, TransportKind::TlsHostname);
        assert_eq!(
            f.message,
            "tls: failed to verify certificate: x509: certificate is valid for other.test, *.other.test, not registry.test"
        );
        let ip = ServerName::try_from("127.0.0.1").unwrap();
        let f = cert(C::NotValidForNameContext {
            expected: ip,
            presented: vec![],
        });
        assert_eq!(
            f.message,
            "tls: failed to verify certificate: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"
        );
    }

    #[test]
    #[allow(deprecated)] // rustls still produces the unit variant it deprecates
    fn no_debug_text_reaches_the_message() {
        let webpki_refusals = [
            webpki::Error::CaUsedAsEndEntity,
            webpki::Error::EndEntityUsedAsCa,
            webpki::Error::PathLenConstraintViolated,
            webpki::Error::UnsupportedCertVersion,
            webpki::Error::MaximumPathDepthExceeded,
            webpki::Error::UnsupportedNameType,
        ];
        // Go's prefix, and nothing of a Debug rendering (variant names, braces).
        let a_sentence = |f: &TransportFailure| {
            let m = &f.message;
            assert!(
                m.starts_with("tls: failed to verify certificate: x509: "),
                "{m}"
            );
            assert!(
                !["Other", "Error", "Context", "{"]
                    .iter()
                    .any(|d| m.contains(d)),
                "{m}"
            );
        };
        for w in webpki_refusals {
            a_sentence(&cert(C::Other(rustls::OtherError(std::sync::Arc::new(w)))));
        }
        let v1 = cert(C::Other(rustls::OtherError(std::sync::Arc::new(
            webpki::Error::UnsupportedCertVersion,
        ))));
        assert_eq!(v1.kind, TransportKind::TlsHostname);
        for c in [
            C::BadSignature,
            C::InvalidPurpose,
            C::UnsupportedSignatureAlgorithm,
            C::BadEncoding,
            C::Revoked,
        ] {
            let f = cert(c);
            a_sentence(&f);
            assert_eq!(f.kind, TransportKind::TlsOther);
        }
        let alert = describe(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert_eq!(alert.message, "remote error: tls: certificate required");
        let unknown = describe(&rustls::Error::AlertReceived(AlertDescription::Unknown(
            200,
        )));
        assert_eq!(unknown.message, "remote error: tls: alert(200)");
        let peer = describe(&rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoCipherSuitesInCommon,
        ));
        assert_eq!(
            peer.message,
            "tls: the server's TLS is incompatible with the client's: no cipher suites in common"
        );
        let not_tls = describe(&rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(not_tls.kind, TransportKind::TlsNotTls);
        assert_eq!(words("HandshakeNotComplete"), "handshake not complete");
    }
}
