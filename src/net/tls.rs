//! What one host's TLS is configured to be ([`TlsSettings`]): extra CAs on top of the node's
//! trust store, client certificates, and whether verification is off. The node's registry
//! configuration (hosts.toml, `certs.d`, registries.conf) produces it; [`super::client`] builds
//! a client from it.

use serde::Serialize;
use std::path::PathBuf;

/// TLS settings for one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Extra CA files trusted on top of the system store.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
    /// Client certificate and key files (no key file: the key is in the certificate file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
    /// Certificate verification disabled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_verify: bool,
}
