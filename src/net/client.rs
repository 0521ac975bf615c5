//! HTTP clients per TLS configuration and dial timeout, built as containerd builds its
//! transport: the node's trust store (read on the first handshake that needs it) plus
//! hosts.toml CAs, client certificates, `skip_verify`,
//! hosts.toml `dial_timeout` as the connect timeout, proxies as containerd has them
//! ([`ProxyEnv`]; never for loopback, like Go's `ProxyFromEnvironment`), and no automatic
//! redirects (the probe follows them itself so credentials never cross hosts).

use super::policy::{AddressPolicy, PolicyResolver};
use super::tls::TlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why a client could not be built (bad CA or client-certificate files).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key file could not be used.
    #[error("cannot use {what} {path}: {detail}")]
    File {
        /// `CA file`, `client certificate`, `client key`.
        what: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// rustls or reqwest refused the configuration.
    #[error("cannot build TLS client: {0}")]
    Build(String),
}

use super::proxy::ProxyEnv;

/// Builds and caches one client per distinct TLS configuration and connect timeout.
pub struct Clients {
    connect_timeout: Duration,
    proxy: Arc<ProxyEnv>,
    policy: Option<Arc<dyn AddressPolicy>>,
    cache: Mutex<HashMap<(TlsSettings, Duration), reqwest::Client>>,
}

impl Clients {
    /// A client cache with a connect timeout and proxy settings.
    pub fn new(connect_timeout: Duration, proxy: ProxyEnv) -> Self {
        Clients {
            connect_timeout,
            proxy: Arc::new(proxy),
            policy: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves names through `policy` (clients built from now on).
    pub fn set_policy(&mut self, policy: Arc<dyn AddressPolicy>) {
        self.policy = Some(policy);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The proxy settings in force.
    pub fn proxy(&self) -> &ProxyEnv {
        &self.proxy
    }

    /// The client for these TLS settings; `dial_timeout` (hosts.toml) replaces the default
    /// connect timeout when set and non-zero (zero: Go's "no dial timeout").
    pub fn get(
        &self,
        tls: &TlsSettings,
        dial_timeout: Option<Duration>,
    ) -> Result<reqwest::Client, Error> {
        let connect_timeout = dial_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(self.connect_timeout);
        let key = (tls.clone(), connect_timeout);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let config = tls_config(tls)?;
        let proxy_env = self.proxy.clone();
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .user_agent(concat!("pullcheck/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4);
        if let Some(p) = &self.policy {
            builder = builder.dns_resolver(Arc::new(PolicyResolver::new(p.clone())));
        }
        builder = if proxy_env.is_set() {
            builder.proxy(reqwest::Proxy::custom(move |url| {
                proxy_env.proxy_url_for(url)
            }))
        } else {
            builder.no_proxy()
        };
        let client = builder.build().map_err(|e| Error::Build(e.to_string()))?;
        cache.insert(key, client.clone());
        Ok(client)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static P: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Whether the node's trust store holds no certificate at all.
pub fn system_trust_store_is_empty() -> bool {
    system_roots().store.is_empty()
}

/// A trust store: the anchors webpki verifies with, and the certificates whole, for Go's rules
/// that look at a trusted certificate itself ([`super::go_x509`]).
#[derive(Debug, Clone)]
struct Roots {
    store: rustls::RootCertStore,
    ders: Vec<CertificateDer<'static>>,
}

/// The node's trust store, loaded once per process.
fn system_roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::warn!(error = %e, "problem reading the system trust store");
        }
        let ders = loaded.certs.clone();
        let (added, ignored) = store.add_parsable_certificates(loaded.certs);
        tracing::debug!(added, ignored, "system trust store loaded");
        Roots { store, ders }
    })
}

fn tls_config(s: &TlsSettings) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Build(e.to_string()))?;
    let builder = if s.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
    } else if s.ca.is_empty() {
        // The system trust store is read on the first TLS handshake, not when the client is
        // built: a probe of a plain-HTTP registry never reads it.
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(WebPki::system()))
    } else {
        let mut roots = system_roots().clone();
        for path in &s.ca {
            let file_err = |detail: String| Error::File {
                what: "CA file",
                path: path.display().to_string(),
                detail,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| file_err(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| file_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(file_err("no PEM certificates in it".into()));
            }
            for c in certs {
                roots
                    .store
                    .add(c.clone())
                    .map_err(|e| file_err(e.to_string()))?;
                roots.ders.push(c);
            }
        }
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(WebPki::with_roots(roots)))
    };
    let mut config = match s.client.first() {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let key_path = key.as_ref().unwrap_or(cert);
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| Error::File {
                    what: "client certificate",
                    path: cert.display().to_string(),
                    detail: e.to_string(),
                })?;
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| Error::File {
                what: "client key",
                path: key_path.display().to_string(),
                detail: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::File {
                    what: "client certificate",
                    path: cert.display().to_string(),
                    detail: e.to_string(),
                })?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls's WebPKI verifier over a trust store — the node's ([`system_roots`], built on the
/// first certificate it is asked to verify) or the node's plus a `hosts.toml` `ca` — that
/// reports failures in Go's order. Go's `crypto/x509` checks the leaf's validity period, then
/// the host name, then the chain; webpki checks the chain before the name. So a certificate
/// for another name from an unknown CA is a name mismatch for containerd ("x509: certificate
/// is valid for registry.test, not …", "doesn't contain any IP SANs") and must be one here.
/// Where Go accepts what webpki refuses (a CA certificate as the server's), Go decides
/// ([`super::go_x509`]). This is the thin layer rustls leaves to the caller.
#[derive(Debug)]
struct WebPki {
    roots: Option<Roots>,
    inner: OnceLock<Result<Arc<rustls::client::WebPkiServerVerifier>, String>>,
}

impl WebPki {
    fn system() -> Self {
        WebPki {
            roots: None,
            inner: OnceLock::new(),
        }
    }

    fn with_roots(roots: Roots) -> Self {
        WebPki {
            roots: Some(roots),
            inner: OnceLock::new(),
        }
    }

    fn inner(&self) -> Result<&Arc<rustls::client::WebPkiServerVerifier>, rustls::Error> {
        self.inner
            .get_or_init(|| {
                let store = self.roots().store.clone();
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    provider(),
                )
                .build()
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(format!("the trust store: {e}")))
    }

    fn roots(&self) -> &Roots {
        self.roots.as_ref().unwrap_or_else(|| system_roots())
    }
}

/// Whether webpki refused the leaf only for being a CA certificate.
fn ca_used_as_end_entity(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o)) => matches!(
            o.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// A chain failure becomes the name mismatch Go reports first, when the name is wrong too.
fn in_go_order(
    err: rustls::Error,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> rustls::Error {
    use rustls::CertificateError as C;
    let chain_failure = matches!(
        err,
        rustls::Error::InvalidCertificate(
            C::UnknownIssuer
                | C::BadSignature
                | C::InvalidPurpose
                | C::InvalidPurposeContext { .. }
        )
    );
    if !chain_failure {
        return err;
    }
    match rustls::server::ParsedCertificate::try_from(end_entity) {
        Ok(parsed) => rustls::client::verify_server_name(&parsed, server_name)
            .err()
            .unwrap_or(err),
        Err(_) => err,
    }
}

impl ServerCertVerifier for WebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(e) if ca_used_as_end_entity(&e) => super::go_x509::verify(
                end_entity,
                intermediates,
                &self.roots().ders,
                server_name,
                now,
            )
            .map(|()| ServerCertVerified::assertion()),
            other => other.map_err(|e| in_go_order(e, end_entity, server_name)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

/// Handshake signatures, checked by the process's provider (both verifiers share this; only
/// the certificate checks differ).
fn verify_tls12(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(
        message,
        cert,
        dss,
        &provider().signature_verification_algorithms,
    )
}

fn verify_tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider().signature_verification_algorithms,
    )
}

fn schemes() -> Vec<SignatureScheme> {
    provider()
        .signature_verification_algorithms
        .supported_schemes()
}

/// `skip_verify = true`: accept any certificate, still check handshake signatures.
#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_per_tls_and_dial_timeout() {
        let c = Clients::new(Duration::from_secs(10), ProxyEnv::default());
        let tls = TlsSettings::default();
        c.get(&tls, None).unwrap();
        c.get(&tls, Some(Duration::ZERO)).unwrap();
        c.get(&tls, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(
            c.cache.lock().unwrap().len(),
            1,
            "zero and the default reuse the client"
        );
        c.get(&tls, Some(Duration::from_millis(500))).unwrap();
        let skip = TlsSettings {
            skip_verify: true,
            ..Default::default()
        };
        c.get(&skip, Some(Duration::from_millis(500))).unwrap();
        let keys: Vec<Duration> = c.cache.lock().unwrap().keys().map(|k| k.1).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.contains(&Duration::from_millis(500)));
    }

    #[test]
    fn bad_ca_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ca.crt");
        std::fs::write(&f, "not a certificate").unwrap();
        let err = tls_config(&TlsSettings {
            ca: vec![f],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("CA file") && err.contains("ca.crt"), "{err}");
        let missing = TlsSettings {
            ca: vec![d.path().join("nope.crt")],
            ..Default::default()
        };
        assert!(tls_config(&missing).is_err());
    }
}
