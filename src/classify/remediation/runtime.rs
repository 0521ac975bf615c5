//! Where each runtime keeps the setting a remediation names: containerd's
//! `/etc/containerd/certs.d/<host>/hosts.toml`, CRI-O's `/etc/containers/certs.d/<host>/`,
//! `registries.conf` and auth file. A remediation for a CRI-O message names CRI-O's files.

use crate::classify::Verdict;

/// The runtime whose files a remediation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// containerd (also the default when a message does not say).
    Containerd,
    /// CRI-O (containers/image).
    Crio,
}

impl RuntimeKind {
    /// The runtime's service name, for its environment and logs.
    pub fn service(self) -> &'static str {
        match self {
            RuntimeKind::Containerd => "containerd",
            RuntimeKind::Crio => "crio",
        }
    }

    /// How to make the node trust the CA that signed `host`'s certificate.
    pub fn trust_ca(self, host: &str) -> String {
        match self {
            RuntimeKind::Containerd => format!(
                "Add the CA that signed {host}'s certificate to the node's trust store, or set \
                 `ca = \"/etc/containerd/certs.d/{host}/ca.crt\"` for this host in \
                 /etc/containerd/certs.d/{host}/hosts.toml."
            ),
            RuntimeKind::Crio => format!(
                "Put the CA that signed {host}'s certificate (PEM, a file name ending in .crt) in \
                 /etc/containers/certs.d/{host}/, which CRI-O reads on the next pull, or add it to \
                 the node's trust store."
            ),
        }
    }

    /// How to make the node trust a storage host's CA when `registry` redirects to it: the
    /// runtime follows the redirect with the registry's TLS settings.
    pub fn trust_storage_ca(self, storage: &str, registry: &str) -> String {
        let beside = match self {
            RuntimeKind::Containerd => {
                format!("to the `ca` list of /etc/containerd/certs.d/{registry}/hosts.toml")
            }
            RuntimeKind::Crio => format!("as a .crt file in /etc/containers/certs.d/{registry}/"),
        };
        format!(
            "{storage}'s certificate is not signed by a CA the node trusts: add that CA to the \
             node's trust store, or {beside} ({} follows the registry's redirect with the \
             registry's TLS settings, not with any for {storage}).",
            self.service()
        )
    }

    /// How to speak plain HTTP to `host`.
    pub fn plain_http(self, host: &str) -> String {
        match self {
            RuntimeKind::Containerd => format!(
                "The registry speaks plain HTTP: in /etc/containerd/certs.d/{host}/hosts.toml set \
                 `server = \"http://{host}\"` and `[host.\"http://{host}\"]` with capabilities = \
                 [\"pull\", \"resolve\"], or serve it over HTTPS."
            ),
            RuntimeKind::Crio => format!(
                "The registry speaks plain HTTP: mark it insecure in /etc/containers/registries.conf \
                 (or a drop-in in /etc/containers/registries.conf.d/): `[[registry]]` with \
                 `location = \"{host}\"` and `insecure = true`, then `systemctl reload crio`; or \
                 serve it over HTTPS."
            ),
        }
    }

    /// How to send a client certificate to `host`.
    pub fn client_cert(self, host: &str) -> String {
        match self {
            RuntimeKind::Containerd => format!(
                "The registry requires a client certificate: set `client = [[\"cert.pem\", \
                 \"key.pem\"]]` for this host in /etc/containerd/certs.d/{host}/hosts.toml."
            ),
            RuntimeKind::Crio => format!(
                "The registry requires a client certificate: put it and its key as client.cert \
                 and client.key in /etc/containers/certs.d/{host}/."
            ),
        }
    }

    /// The verdict's remediation in this runtime's terms, when its generic text names the other
    /// runtime's files (`None`: the generic text fits).
    pub fn generic(self, verdict: Verdict, host: Option<&str>) -> Option<String> {
        if self == RuntimeKind::Containerd {
            return None;
        }
        let h = host.unwrap_or("<host>");
        Some(match verdict {
            Verdict::TlsUnknownAuthority => self.trust_ca(h),
            Verdict::HttpRegistry => self.plain_http(h),
            Verdict::TlsError => format!(
                "The TLS handshake failed: check the registry's TLS setup (client certificate \
                 required? protocol or cipher mismatch?); CRI-O reads a client certificate, its \
                 key and CAs from /etc/containers/certs.d/{h}/."
            ),
            Verdict::ProxyError => "The HTTP(S) proxy in CRI-O's environment failed: check \
                 HTTPS_PROXY/NO_PROXY for crio (a systemd drop-in for crio.service) and the \
                 proxy itself."
                .into(),
            Verdict::Unauthorized | Verdict::CredentialsExpired => format!(
                "{} CRI-O also reads its global auth file (auth.json format: `global_auth_file` \
                 in /etc/crio/crio.conf, often /var/lib/kubelet/config.json).",
                verdict.remediation()
            ),
            _ => return None,
        })
    }
}
