//! The blob path's verdicts: what a failure after a readable manifest means. A missing blob is
//! `blob_unknown`; a 401/403 on it (at the registry or at the storage host it redirects to)
//! is `blob_denied`, never a missing permission on the repository; transport failures keep
//! their verdicts but say "layer" and name the storage host, with the fix for that host
//! (egress, `NO_PROXY`, the S3 gateway endpoint, Private Google Access). A clock far from
//! the servers' `Date` is named where it explains a refusal.

use super::{named_permission, Diagnosis, Verdict};
use crate::net::transport::TransportKind;
use crate::probe::{BlobFacts, Evidence, Exchange, Step};

/// Whether the exchange belongs to the blob path.
pub(super) fn on_blob_path(t: &Exchange) -> bool {
    matches!(t.step, Step::PlatformManifest | Step::Config | Step::Layer)
}

/// What was asked for, for a reason: "layer blob sha256:… (GET https://…, redirected to …)".
fn what(ev: &Evidence, t: &Exchange) -> String {
    let kind = match t.step {
        Step::PlatformManifest => "platform manifest",
        Step::Config => "config blob",
        _ => "layer blob",
    };
    // The hops of one request are recorded together: walk back over the redirects that led to
    // the failing exchange, to the request that named the blob.
    let end = ev.terminal.unwrap_or(ev.exchanges.len().saturating_sub(1));
    let mut first = end;
    while first > 0 {
        let prev = &ev.exchanges[first - 1];
        if prev.step == t.step && prev.status.is_some_and(is_redirect) {
            first -= 1;
        } else {
            break;
        }
    }
    let first = ev.exchanges.get(first).unwrap_or(t);
    let digest = first
        .url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|d| d.starts_with("sha256:"))
        .unwrap_or("");
    let via = if first.url == t.url {
        format!("{} {}", t.method, t.url)
    } else {
        format!("{} {}, redirected to {}", first.method, first.url, t.url)
    };
    format!("{kind} {digest} ({via})")
}

fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The storage host the failing request went to, when it is not the registry.
fn storage(ev: &Evidence, t: &Exchange) -> Option<String> {
    crate::probe::blobs::storage_host(&ev.host, &t.url)
}

/// The clock sentence, when the node's clock is off.
fn clock(blobs: Option<&BlobFacts>) -> Option<String> {
    let s = blobs?.clock_skew.as_ref()?;
    let (dir, secs) = if s.node_ahead_seconds > 0 {
        ("ahead of", s.node_ahead_seconds)
    } else {
        ("behind", -s.node_ahead_seconds)
    };
    Some(format!(
        "the node's clock is {secs} s {dir} {}'s (its Date header): signed layer URLs count as expired or not yet valid; fix the node's time sync (chrony/NTP)",
        s.host
    ))
}

/// The verdict for a failure on the blob path, or `None` when the failure is elsewhere.
pub(super) fn rule(ev: &Evidence, t: &Exchange) -> Option<Diagnosis> {
    if !on_blob_path(t) {
        return None;
    }
    let at = what(ev, t);
    let storage = storage(ev, t);
    if let Some(tf) = &t.transport {
        return Some(transport(ev, tf.kind, &tf.message, &at, storage.as_deref()));
    }
    let status = t.status?;
    let text = t.error_text();
    let server = if text.trim().is_empty() {
        String::new()
    } else {
        format!(" — server message: {}", text.trim())
    };
    let from = storage
        .as_deref()
        .map(|h| format!(" at storage host {h}"))
        .unwrap_or_default();
    if let Some(note) = t
        .note
        .as_deref()
        .filter(|n| n.contains("too many redirects"))
    {
        return Some(Diagnosis::new(
            Verdict::RegistryError,
            format!("{at}: {status} — {note} (Go's client, containerd's, stops after 10): the registry or its storage redirects in a loop"),
        ));
    }
    Some(match status {
        404 => Diagnosis::new(
            Verdict::BlobUnknown,
            format!(
                "{at}: 404{from}: the manifest names a blob the registry does not have{server}"
            ),
        ),
        401 | 403 => {
            let mut reason = format!(
                "{at}: {status}{from}: the manifest was readable but the blob is refused{server}"
            );
            let mut fix = Verdict::BlobDenied.remediation().to_string();
            if let Some(p) = named_permission(&text) {
                fix = format!("Grant {p} to the identity that pulls (the manifest needs one permission, the layers another). {fix}");
            } else if let Some(h) = &storage {
                fix = format!(
                    "The registry sends layers to {h}, which refuses them: check that host's access policy (S3 bucket or VPC endpoint policy for ECR, Cloud Storage for GAR/GCR), signed-URL expiry and the node's clock."
                );
            }
            if let Some(c) = clock(ev.blobs.as_ref()) {
                reason.push_str(&format!("; {c}"));
                fix = format!("Fix the node's clock first: {c}. {fix}");
            }
            Diagnosis::new(Verdict::BlobDenied, reason).fix(fix)
        }
        429 => Diagnosis::new(
            Verdict::RateLimited,
            format!("{at}: 429 Too Many Requests{from}{server}"),
        ),
        _ => Diagnosis::new(
            Verdict::RegistryError,
            format!("{at}: {status}{from}{server}"),
        ),
    })
}

/// A transport failure on the blob path: the usual verdict, the step and the storage host named.
fn transport(
    ev: &Evidence,
    kind: TransportKind,
    message: &str,
    at: &str,
    storage: Option<&str>,
) -> Diagnosis {
    let v = super::transport_verdict(kind);
    let Some(host) = storage else {
        let d = Diagnosis::new(
            v,
            format!("{at}: {message} (the manifest was fetched from the same host)"),
        );
        return if kind == TransportKind::Broken {
            d.fix(super::BROKEN_CONNECTION_FIX)
        } else {
            d
        };
    };
    let reason = format!("{at}: blobs come from storage host {host}, which the node cannot use: {message} (the manifest came from {})", ev.host);
    let reach = format!(
        "The registry serves layers from {host}: the node must reach it too. Allow {host} through the egress firewall, security groups and proxy (add it to NO_PROXY or the proxy's allow list for containerd); \
         ECR layers come from S3 (add the S3 gateway VPC endpoint and check its policy), Artifact Registry/GCR from Cloud Storage (enable Private Google Access), Docker Hub, GHCR and Quay from their CDNs."
    );
    let fix = match v {
        Verdict::DnsFailure => format!("{host} does not resolve from the node: check the node's DNS and private zones for it. {reach}"),
        Verdict::TlsUnknownAuthority | Verdict::TlsCertificateExpired | Verdict::TlsHostnameMismatch | Verdict::TlsError => format!(
            "The node does not accept {host}'s certificate (a TLS-intercepting proxy, or a private CA the node does not trust): add that CA to the node's trust store or fix the interception. The registry's own TLS is fine."
        ),
        _ if kind == TransportKind::Broken => format!(
            "The connection to {host} broke mid-transfer: {}",
            super::BROKEN_CONNECTION_FIX
        ),
        _ => reach,
    };
    Diagnosis::new(v, reason).fix(fix)
}
