//! HTTP clients per TLS configuration, built as containerd builds its transport: the node's
//! trust store plus hosts.toml CAs, client certificates, `skip_verify`, proxies from the
//! environment (never for loopback, like Go's `ProxyFromEnvironment`), and no automatic
//! redirects (the probe follows them itself so credentials never cross hosts).

use crate::endpoints::TlsSettings;
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

/// Proxy settings read once from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads the proxy variables of this process.
    pub fn from_env() -> Self {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        ProxyEnv {
            https: get(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            http: get(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: get(&["NO_PROXY", "no_proxy"])
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The proxy a request to `url` goes through, if any (display form, without credentials).
    pub fn for_url(&self, url: &reqwest::Url) -> Option<String> {
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        {
            return None;
        }
        let port = url.port_or_known_default().unwrap_or(0);
        for np in &self.no_proxy {
            if np == "*" {
                return None;
            }
            let (np_host, np_port) = match np.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse::<u16>().ok()),
                _ => (np.as_str(), None),
            };
            if np_port.is_some_and(|p| p != port) {
                continue;
            }
            let bare = np_host.trim_start_matches('.');
            if host == bare || host.ends_with(&format!(".{bare}")) {
                return None;
            }
        }
        let proxy = if url.scheme() == "https" {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        Some(strip_userinfo(proxy))
    }
}

fn strip_userinfo(proxy: &str) -> String {
    match reqwest::Url::parse(proxy) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "(unparseable proxy URL)".into(),
    }
}

/// Builds and caches one client per distinct TLS configuration.
pub struct Clients {
    connect_timeout: Duration,
    proxy: Arc<ProxyEnv>,
    cache: Mutex<HashMap<TlsSettings, reqwest::Client>>,
}

impl Clients {
    /// A client cache with a connect timeout and proxy settings.
    pub fn new(connect_timeout: Duration, proxy: ProxyEnv) -> Self {
        Clients {
            connect_timeout,
            proxy: Arc::new(proxy),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy settings in force.
    pub fn proxy(&self) -> &ProxyEnv {
        &self.proxy
    }

    /// The client for these TLS settings.
    pub fn get(&self, tls: &TlsSettings) -> Result<reqwest::Client, Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(tls) {
            return Ok(c.clone());
        }
        let config = tls_config(tls)?;
        let proxy_env = self.proxy.clone();
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("pullcheck/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4);
        builder = if proxy_env.https.is_some() || proxy_env.http.is_some() {
            builder.proxy(reqwest::Proxy::custom(move |url| {
                proxy_env
                    .for_url(url)
                    .and_then(|p| reqwest::Url::parse(&p).ok())
            }))
        } else {
            builder.no_proxy()
        };
        let client = builder.build().map_err(|e| Error::Build(e.to_string()))?;
        cache.insert(tls.clone(), client.clone());
        Ok(client)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static P: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The node's trust store, loaded once per process.
fn system_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::warn!(error = %e, "problem reading the system trust store");
        }
        let (added, ignored) = store.add_parsable_certificates(loaded.certs);
        tracing::debug!(added, ignored, "system trust store loaded");
        store
    })
}

fn tls_config(s: &TlsSettings) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Build(e.to_string()))?;
    let builder = if s.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
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
                roots.add(c).map_err(|e| file_err(e.to_string()))?;
            }
        }
        builder.with_root_certificates(roots)
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

/// `skip_verify = true`: accept any certificate, still check handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(https: Option<&str>, no_proxy: &[&str]) -> ProxyEnv {
        ProxyEnv {
            https: https.map(Into::into),
            http: None,
            no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn proxy_rules_like_go() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let e = env(
            Some("http://user:pw@proxy:3128"),
            &[".internal.example", "reg.example:5000"],
        );
        assert_eq!(
            e.for_url(&u("https://ghcr.io/v2/")).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(e.for_url(&u("https://localhost:5000/v2/")), None);
        assert_eq!(e.for_url(&u("https://127.0.0.1:5000/v2/")), None);
        assert_eq!(e.for_url(&u("https://a.internal.example/v2/")), None);
        assert_eq!(e.for_url(&u("https://reg.example:5000/v2/")), None);
        assert!(e.for_url(&u("https://reg.example/v2/")).is_some());
        assert_eq!(
            e.for_url(&u("http://ghcr.io/v2/")),
            None,
            "no HTTP_PROXY set"
        );
        assert_eq!(
            env(Some("http://p:1"), &["*"]).for_url(&u("https://x.io/")),
            None
        );
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
