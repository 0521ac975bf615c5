//! Where Go's `crypto/x509` accepts a server certificate that webpki refuses: a certificate
//! marked as a CA (`basicConstraints CA:TRUE`) presented as the server's own. `openssl req
//! -x509` makes such certificates by default, and a registry's operator often gives the very
//! same file as its `ca` in `hosts.toml`. webpki refuses every such leaf (`CaUsedAsEndEntity`);
//! Go does not look at the leaf's basic constraints at all, so containerd (and skopeo) pull.
//!
//! [`verify`] decides such a leaf as `Certificate.Verify` does, in Go's order: parse, unhandled
//! critical extensions, the leaf's validity period, the host name, then the chain — the leaf
//! is itself a trusted root, or it chains to one through the certificates the server sent
//! (each signature checked, each issuer a CA and within its validity period) — and last the
//! leaf's extended key usage (server authentication, when it names any). It is called only
//! after webpki refused the leaf for being a CA; every other certificate is webpki's.

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError as C;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

/// Issuers walked above the leaf at most (Go allows more; registries send one or two).
const MAX_DEPTH: usize = 8;

/// Go's verdict on a leaf webpki refused as a CA: `Ok` where Go accepts it.
pub(super) fn verify(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trusted: &[CertificateDer<'static>],
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let cert = parse(leaf)?;
    if has_unhandled_critical_extension(&cert) {
        return Err(C::UnhandledCriticalExtension.into());
    }
    within_validity(&cert, now)?;
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let leaf_is_root = trusted.iter().any(|t| t.as_ref() == leaf.as_ref());
    if !leaf_is_root {
        chain_to_root(&cert, intermediates, trusted, now)?;
    }
    server_auth_allowed(&cert)
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, rustls::Error> {
    x509_parser::parse_x509_certificate(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|_| C::BadEncoding.into())
}

/// Go refuses a certificate with a critical extension it does not handle.
fn has_unhandled_critical_extension(cert: &X509Certificate<'_>) -> bool {
    cert.extensions().iter().any(|e| {
        e.critical
            && matches!(
                e.parsed_extension(),
                ParsedExtension::UnsupportedExtension { .. }
            )
    })
}

/// Go's `isValid`: now must lie within notBefore..=notAfter.
fn within_validity(cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let at =
        |secs: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs.max(0) as u64));
    let t = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let v = cert.validity();
    if t < v.not_before.timestamp() {
        return Err(C::NotValidYetContext {
            time: now,
            not_before: at(v.not_before.timestamp()),
        }
        .into());
    }
    if t > v.not_after.timestamp() {
        return Err(C::ExpiredContext {
            time: now,
            not_after: at(v.not_after.timestamp()),
        }
        .into());
    }
    Ok(())
}

/// Walks from `cert` to a trusted certificate: at each step an issuer whose subject is the
/// certificate's issuer and whose key verifies its signature, from the trusted set first,
/// else from what the server sent (which must be a CA).
fn chain_to_root(
    cert: &X509Certificate<'_>,
    intermediates: &[CertificateDer<'_>],
    trusted: &[CertificateDer<'static>],
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let sent: Vec<X509Certificate<'_>> = intermediates
        .iter()
        .filter_map(|d| x509_parser::parse_x509_certificate(d.as_ref()).ok())
        .map(|(_, c)| c)
        .collect();
    let roots: Vec<X509Certificate<'_>> = trusted
        .iter()
        .filter_map(|d| x509_parser::parse_x509_certificate(d.as_ref()).ok())
        .map(|(_, c)| c)
        .collect();
    let signs = |issuer: &X509Certificate<'_>, child: &X509Certificate<'_>| {
        issuer.subject().as_raw() == child.issuer().as_raw()
            && child.verify_signature(Some(issuer.public_key())).is_ok()
            && within_validity(issuer, now).is_ok()
    };
    let mut current = cert;
    for _ in 0..MAX_DEPTH {
        if roots.iter().any(|r| signs(r, current)) {
            return Ok(());
        }
        match sent.iter().find(|i| is_ca(i) && signs(i, current)) {
            Some(next) => current = next,
            None => break,
        }
    }
    Err(C::UnknownIssuer.into())
}

fn is_ca(cert: &X509Certificate<'_>) -> bool {
    matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

/// Go asks for server authentication: a leaf that lists extended key usages must list it (or
/// "any").
fn server_auth_allowed(cert: &X509Certificate<'_>) -> Result<(), rustls::Error> {
    match cert.extended_key_usage() {
        Ok(Some(eku)) if !(eku.value.any || eku.value.server_auth) => Err(C::InvalidPurpose.into()),
        Err(_) => Err(C::BadEncoding.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// Certificates made with openssl for these tests (valid 2026–2126): the self-signed
    /// CA:TRUE recipe for localhost and 127.0.0.1, a CA, and CA:TRUE leaves it signed for
    /// localhost (one for server authentication, one for client authentication only).
    fn pem(name: &str) -> CertificateDer<'static> {
        let path = format!("{}/tests/fixtures/x509/{name}", env!("CARGO_MANIFEST_DIR"));
        CertificateDer::from_pem_file(&path).unwrap()
    }

    fn name(n: &str) -> ServerName<'static> {
        ServerName::try_from(n.to_string()).unwrap()
    }

    /// 2027-01-01, inside every fixture's validity.
    fn now() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_798_761_600))
    }

    #[test]
    fn a_self_signed_ca_certificate_is_its_own_root() {
        let leaf = pem("selfsigned-ca-true.pem");
        let trusted = [leaf.clone()];
        assert_eq!(
            verify(&leaf, &[], &trusted, &name("localhost"), now()),
            Ok(())
        );
        assert_eq!(
            verify(&leaf, &[], &trusted, &name("127.0.0.1"), now()),
            Ok(())
        );
        // Not trusted: an unknown authority, as Go says.
        assert_eq!(
            verify(&leaf, &[], &[pem("ca.pem")], &name("localhost"), now()),
            Err(C::UnknownIssuer.into())
        );
        // Go checks the name before the chain.
        assert!(matches!(
            verify(&leaf, &[], &[], &name("registry.test"), now()),
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForNameContext { .. }
            ))
        ));
        // And the validity period before the name.
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(5_000_000_000));
        assert!(matches!(
            verify(&leaf, &[], &trusted, &name("registry.test"), later),
            Err(rustls::Error::InvalidCertificate(C::ExpiredContext { .. }))
        ));
    }

    #[test]
    fn a_ca_leaf_chains_to_its_issuer() {
        let leaf = pem("caleaf.pem");
        let ca = pem("ca.pem");
        assert_eq!(
            verify(
                &leaf,
                &[],
                std::slice::from_ref(&ca),
                &name("localhost"),
                now()
            ),
            Ok(())
        );
        // Sent as an intermediate, the CA is not trusted by being sent.
        assert_eq!(
            verify(
                &leaf,
                std::slice::from_ref(&ca),
                &[],
                &name("localhost"),
                now()
            ),
            Err(C::UnknownIssuer.into())
        );
        // Server authentication must be allowed.
        assert_eq!(
            verify(
                &pem("caleaf-client-only.pem"),
                &[],
                &[ca],
                &name("localhost"),
                now()
            ),
            Err(C::InvalidPurpose.into())
        );
        // Garbage is malformed, not a panic.
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01]);
        assert_eq!(
            verify(&junk, &[], &[], &name("localhost"), now()),
            Err(C::BadEncoding.into())
        );
    }
}
