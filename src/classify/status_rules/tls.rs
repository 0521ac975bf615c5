//! 400s that are TLS problems in HTTP's clothes: the registry wants a client certificate, or
//! it speaks HTTPS and was asked over plain HTTP (Go's TLS server and nginx answer so).

use super::Facts;
use crate::classify::phrases::PLAIN_HTTP_TO_HTTPS;
use crate::classify::{Diagnosis, Verdict};

pub(super) fn rule(f: &Facts<'_>) -> Option<Diagnosis> {
    if f.status != 400 {
        return None;
    }
    let (at, server) = (&f.at, &f.server);
    if f.lower.contains("ssl certificate") || f.lower.contains("client certificate") {
        return Some(Diagnosis::new(
            Verdict::TlsError,
            format!("{at}: 400: the registry requires a TLS client certificate and none was sent{server}"),
        )
        .fix("The registry requires a client certificate: set `client = [[\"cert.pem\", \"key.pem\"]]` for this host in /etc/containerd/certs.d/<host>/hosts.toml."));
    }
    f.has_any(&PLAIN_HTTP_TO_HTTPS).then(|| {
        Diagnosis::new(
            Verdict::TlsError,
            format!("{at}: 400: the registry speaks HTTPS but was contacted over plain HTTP{server}"),
        )
        .fix("The registry serves HTTPS: name it in /etc/containerd/certs.d/<host>/hosts.toml as `server = \"https://<host>\"` with its `ca` (containerd defaults to plain HTTP for localhost and 127.0.0.0/8).")
    })
}
