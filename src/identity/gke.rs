//! The GKE node identity: the node service account's OAuth access token from the GCE metadata
//! server (`Metadata-Flavor: Google`), used as registry password with user `_token` exactly as
//! GKE's credential provider does, and the token's scopes — a node without a `devstorage` or
//! `cloud-platform` scope is refused (403) even when IAM allows the pull.
//!
//! A thin client on purpose: gcp_auth's metadata provider cannot be pointed at another host, and
//! the scopes it ignores are what this check needs. `GCE_METADATA_HOST` (`host[:port]`) moves it.

use crate::net::client::Clients;
use crate::net::proxy::ProxyEnv;
use crate::net::TlsSettings;
use crate::reference::host_without_port;
use serde::Deserialize;
use std::time::Duration;

/// The metadata server's default name.
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";

/// Why the node service account's token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata server did not answer, or answered with an error.
    #[error("failed to read {what} from the GCE metadata server at {url}: {reason}")]
    Metadata {
        /// What was asked (token, email, scopes).
        what: &'static str,
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Whether the kubelet's GCP credential provider covers this registry: `gcr.io`, `*.gcr.io`,
/// `*.pkg.dev`, `container.cloud.google.com`.
pub fn is_google_registry(registry: &str) -> bool {
    let host = host_without_port(registry).to_ascii_lowercase();
    host == "gcr.io"
        || host.ends_with(".gcr.io")
        || host.ends_with(".pkg.dev")
        || host == "container.cloud.google.com"
}

/// The node service account's token and what it may do.
#[derive(Clone)]
pub struct GkeToken {
    /// The access token (secret): the registry password for user `_token`.
    pub access_token: String,
    /// Seconds until it expires, as the server says.
    pub expires_in: Option<u64>,
    /// The service account's email.
    pub email: String,
    /// The VM's OAuth scopes.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for GkeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GkeToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("email", &self.email)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl GkeToken {
    /// Whether the scopes allow reading images (`devstorage.*` or `cloud-platform`).
    pub fn has_pull_scope(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s.contains("/auth/devstorage") || s.ends_with("/auth/cloud-platform"))
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `host[:port]` of the metadata server: the flag, else `GCE_METADATA_HOST`, else the default.
pub fn metadata_host(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| {
            std::env::var("GCE_METADATA_HOST")
                .ok()
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_METADATA_HOST.to_string())
}

/// Reads the default service account's token, email and scopes from `host`.
pub async fn node_token(host: &str, timeout: Duration) -> Result<GkeToken, Error> {
    let base = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default");
    // Never proxied: the metadata server is link-local to the node.
    let client = Clients::new(timeout, ProxyEnv::default())
        .get(&TlsSettings::default(), None)
        .map_err(|e| Error::Metadata {
            what: "token",
            url: base.clone(),
            reason: e.to_string(),
        })?;
    let get = |what: &'static str, path: &str| {
        let url = format!("{base}/{path}");
        let client = client.clone();
        async move {
            let fail = |reason: String| Error::Metadata {
                what,
                url: url.clone(),
                reason,
            };
            let reply = tokio::time::timeout(
                timeout,
                client.get(&url).header("Metadata-Flavor", "Google").send(),
            )
            .await
            .map_err(|_| fail(format!("no answer within {timeout:?}")))?
            .map_err(|e| fail(crate::net::transport::classify(&e, None).message))?;
            let status = reply.status();
            let body = tokio::time::timeout(timeout, reply.text())
                .await
                .map_err(|_| fail(format!("no answer within {timeout:?}")))?
                .map_err(|e| fail(e.to_string()))?;
            if !status.is_success() {
                return Err(fail(format!("HTTP {}", status.as_u16())));
            }
            Ok(body)
        }
    };
    let token_body = get("token", "token").await?;
    let token: TokenReply = serde_json::from_str(&token_body).map_err(|e| Error::Metadata {
        what: "token",
        url: format!("{base}/token"),
        reason: format!("not a token reply: {e}"),
    })?;
    let email = get("email", "email").await?.trim().to_string();
    let scopes = get("scopes", "scopes")
        .await?
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(GkeToken {
        access_token: token.access_token,
        expires_in: token.expires_in,
        email,
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_registries() {
        for r in [
            "gcr.io",
            "eu.gcr.io",
            "europe-docker.pkg.dev",
            "container.cloud.google.com",
            "us-docker.pkg.dev:443",
        ] {
            assert!(is_google_registry(r), "{r}");
        }
        for r in [
            "docker.io",
            "pkg.dev.example.com",
            "ghcr.io",
            "gcr.io.evil.com",
        ] {
            assert!(!is_google_registry(r), "{r}");
        }
    }

    #[test]
    fn pull_scopes() {
        let t = |scopes: &[&str]| GkeToken {
            access_token: "secret".into(),
            expires_in: None,
            email: "sa@p.iam.gserviceaccount.com".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(t(&["https://www.googleapis.com/auth/devstorage.read_only"]).has_pull_scope());
        assert!(t(&["https://www.googleapis.com/auth/cloud-platform"]).has_pull_scope());
        assert!(!t(&["https://www.googleapis.com/auth/logging.write"]).has_pull_scope());
        assert!(!format!("{:?}", t(&[])).contains("secret"));
    }
}
