//! Rules for the layer stage: the manifest resolved and a blob download failed. containerd
//! 1.6–2.x says `failed to copy: httpReadSeeker: failed open: …` (`could not fetch content
//! descriptor sha256:… from remote: not found`, `unexpected status code …/blobs/…: 403
//! Forbidden`, `failed to do request: Get "https://<storage host>/…": dial tcp: …`), `short
//! read`, `unexpected EOF`; containers/image (CRI-O) says `reading blob sha256:…: …`
//! (`Error fetching blob: invalid status code from registry 404 (Not Found)`) and, copying it to
//! a temporary file, `writing blob: storing blob to file "…": happened during read: …`. These are
//! blob-path verdicts, never a missing tag or a missing permission on the repository; transport
//! failures keep their verdict and name the layer and the storage host.

use super::{transport, Facts, Finding};
use crate::classify::phrases::EXPIRED_TOKEN;
use crate::classify::runtime_message::scan::{one_line, url_host};
use crate::classify::Verdict;

/// Texts that name a blob download. containers/image (CRI-O) copies a layer into a temporary
/// file first: `writing blob: storing blob to file "…": happened during read: …` is the download
/// failing, `…: write …: no space left on device` the node's disk.
const BLOB: [&str; 5] = [
    "/blobs/sha256:",
    "reading blob sha256:",
    "error fetching blob",
    "could not fetch content descriptor",
    "storing blob to file",
];
/// containerd's content copy: a blob, unless the URL is a manifest's (a platform manifest
/// fetched by digest fails with the registry's own answer: the auth rules read it).
const COPY: [&str; 2] = ["httpreadseeker", "failed to copy:"];

/// Where the failing request went: the URL after `Get "` / `Head "` (the storage host after a
/// redirect), else the host the message names.
fn target_host<'a>(f: &Facts<'a>) -> Option<&'a str> {
    ["get \"", "head \""]
        .iter()
        .find_map(|m| f.scan.after(m))
        .and_then(url_host)
        .or(f.host)
}

/// The layer stage's verdict, or `None` when the message is not about a blob.
pub(super) fn layer(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    if !(s.has_any(&BLOB) || (s.has_any(&COPY) && !s.has("/manifests/"))) {
        return None;
    }
    // The registry's own words about the credential (an expired token) are the auth rules'.
    if s.has_any(&EXPIRED_TOKEN) {
        return None;
    }
    let detail = one_line(f.env.detail, 240);
    let digest = s
        .after("sha256:")
        .map(|d| {
            d.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .filter(|d| d.len() == 64)
        .map(|d| format!(" sha256:{d}"))
        .unwrap_or_default();
    let blob = format!("downloading blob{digest}");
    if s.has_any(&["no space left on device", "disk quota exceeded"]) {
        return Some(Finding::new(
            Verdict::InsufficientDisk,
            format!("{blob}: the node's image filesystem is full ({detail})"),
        ));
    }
    if s.has_any(&[
        "from remote: not found",
        "blob unknown",
        "404 (not found)",
        "404 not found",
    ]) || (s.has("content at") && s.has("not found"))
        || f.status == Some(404)
    {
        return Some(Finding::new(
            Verdict::BlobUnknown,
            format!("{blob}: the registry does not have a blob its manifest names (a broken push, a garbage-collected registry or an incomplete pull-through cache); the manifest itself resolved ({detail})"),
        ));
    }
    if matches!(f.status, Some(401 | 403))
        || s.has_any(&[
            "401 unauthorized",
            "403 forbidden",
            "(forbidden)",
            "(unauthorized)",
        ])
    {
        let at = target_host(f).unwrap_or("the registry");
        return Some(
            Finding::new(
                Verdict::BlobDenied,
                format!("{blob}: {at} refused the blob after the manifest was readable: an expired or clock-skewed signed URL, a storage or VPC-endpoint policy, or a missing layer permission ({detail})"),
            ),
        );
    }
    if s.has("stopped after 10 redirects") {
        return Some(Finding::new(
            Verdict::RegistryError,
            format!("{blob}: the registry or its storage redirects in a loop ({detail})"),
        ));
    }
    // A transport failure on the way to the storage host: its usual verdict, said for the layer.
    if let Some(found) = transport::tls(f).or_else(|| transport::network(f)) {
        let host = target_host(f).unwrap_or("the storage host");
        // Past a redirect the runtime keeps the registry's TLS settings: a CA goes beside the
        // registry's, not in a configuration for the storage host.
        let registry = f.registry.as_deref().filter(|r| *r != host);
        let fix = match (found.verdict, registry) {
            (Verdict::TlsUnknownAuthority, Some(registry)) => {
                f.runtime.trust_storage_ca(host, registry)
            }
            _ => found
                .remediation
                .unwrap_or_else(|| found.verdict.remediation().to_string()),
        };
        return Some(Finding {
            reason: format!(
                "{blob} from {host} (the manifest resolved; layers may come from a storage host or CDN the node cannot reach): {}",
                found.reason
            ),
            remediation: Some(format!(
                "Layers come from {host}: the node must reach it too (egress firewall, security groups, the proxy's allow list or NO_PROXY for {}; ECR: the S3 gateway VPC endpoint; Artifact Registry/GCR: Private Google Access). {fix}",
                f.runtime.service()
            )),
            verdict: found.verdict,
        });
    }
    if s.has_any(&["short read", "unexpected eof", "connection reset"]) {
        return Some(
            Finding::new(
                Verdict::RegistryError,
                format!("{blob}: the download was cut short — a network problem on the way (a proxy, firewall, NAT or load balancer closed the connection mid-layer) or the registry or its storage closed it ({detail})"),
            )
            .fix(transport::cut_connection(f.runtime.service())),
        );
    }
    if let Some(status) = f.status.filter(|s| *s >= 400) {
        return Some(Finding::new(
            Verdict::RegistryError,
            format!("{blob}: unexpected status {status} ({detail})"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::classify::{explain, Verdict};

    const D: &str = "sha256:83d963971fb71bd756c4a083d02f499fe7177ab2f7ba63478feb174725969b26";

    /// Bare, with the gRPC prefix, and as the kubelet's event wraps it.
    fn all(runtime: &str, code: &str, verdict: Verdict, says: &[&str]) {
        let image = "127.0.0.1:5000/layerok/app:amd64";
        for text in [
            runtime.to_string(),
            format!("rpc error: code = {code} desc = {runtime}"),
            format!("Failed to pull image \"{image}\": rpc error: code = {code} desc = {runtime}"),
            format!("Back-off pulling image \"{image}\": ErrImagePull: {runtime}"),
        ] {
            let d = explain(&text);
            assert_eq!(d.verdict, verdict, "{text}\n{d:#?}");
            for s in says {
                assert!(d.reason.contains(s), "reason should say {s:?}: {d:#?}");
            }
        }
    }

    #[test]
    fn containerd_layer_not_found_is_a_missing_blob_not_a_missing_tag() {
        all(
            &format!("failed to pull and unpack image \"127.0.0.1:5000/lost/app:v1\": failed to copy: httpReadSeeker: failed open: could not fetch content descriptor {D} (application/vnd.oci.image.layer.v1.tar+gzip, 118 bytes) from remote: not found"),
            "NotFound",
            Verdict::BlobUnknown,
            &[D, "manifest itself resolved"],
        );
        all(
            &format!("failed to pull and unpack image \"r.example/app:v1\": failed to copy: httpReadSeeker: failed open: content at https://r.example/v2/app/blobs/{D} not found: not found"),
            "NotFound",
            Verdict::BlobUnknown,
            &[D],
        );
    }

    #[test]
    fn containerd_layer_403_is_blob_denied() {
        all(
            &format!("failed to pull and unpack image \"127.0.0.1:5000/layer403/app:amd64\": failed to copy: httpReadSeeker: failed open: unexpected status code http://127.0.0.1:5000/v2/layer403/app/blobs/{D}: 403 Forbidden"),
            "Unknown",
            Verdict::BlobDenied,
            &["after the manifest was readable"],
        );
    }

    #[test]
    fn containerd_storage_host_transport_failures_name_the_layer_and_host() {
        all(
            &format!("failed to pull and unpack image \"127.0.0.1:5000/layerdns/app:amd64\": failed to copy: httpReadSeeker: failed open: failed to do request: Get \"http://nosuch.storage.test:8080/v2/app/blobs/{D}\": dial tcp: lookup nosuch.storage.test on 127.0.0.153:53: no such host"),
            "Unknown",
            Verdict::DnsFailure,
            &["nosuch.storage.test", "layers may come from a storage host"],
        );
        all(
            &format!("failed to pull and unpack image \"127.0.0.1:5000/layerrefused/app:amd64\": failed to copy: httpReadSeeker: failed open: failed to do request: Get \"http://127.0.0.1:9/v2/app/blobs/{D}\": dial tcp 127.0.0.1:9: connect: connection refused"),
            "Unknown",
            Verdict::ConnectionRefused,
            &["127.0.0.1"],
        );
        all(
            &format!("failed to pull and unpack image \"127.0.0.1:5000/layertls/app:amd64\": failed to copy: httpReadSeeker: failed open: failed to do request: Get \"https://localhost:8443/v2/app/blobs/{D}\": x509: certificate signed by unknown authority"),
            "Unknown",
            Verdict::TlsUnknownAuthority,
            &["localhost"],
        );
    }

    #[test]
    fn containerd_cut_short_and_full_disk() {
        all(
            &format!("failed to pull and unpack image \"r.example/app:v1\": failed to copy: httpReadSeeker: failed read: unexpected EOF ({D})"),
            "Unknown",
            Verdict::RegistryError,
            &["cut short"],
        );
        all(
            "failed to pull and unpack image \"r.example/app:v1\": failed to copy: short read: expected 25173685 bytes but got 1048576: unexpected EOF",
            "Unknown",
            Verdict::RegistryError,
            &["cut short"],
        );
        all(
            &format!("failed to pull and unpack image \"r.example/app:v1\": failed to copy: write /var/lib/containerd/io.containerd.content.v1.content/ingest/1/data: no space left on device ({D})"),
            "Unknown",
            Verdict::InsufficientDisk,
            &["full"],
        );
    }

    #[test]
    fn containers_image_blob_messages() {
        all(
            &format!("reading blob {D}: Error fetching blob: invalid status code from registry 404 (Not Found)"),
            "Unknown",
            Verdict::BlobUnknown,
            &[D],
        );
        all(
            &format!("reading blob {D}: Error fetching blob: invalid status code from registry 403 (Forbidden)"),
            "Unknown",
            Verdict::BlobDenied,
            &[],
        );
        all(
            &format!("reading blob {D}: Get \"http://nosuch.storage.test:47453/v2/app/blobs/{D}\": dial tcp: lookup nosuch.storage.test on 10.0.0.2:53: no such host"),
            "Unknown",
            Verdict::DnsFailure,
            &["nosuch.storage.test"],
        );
        all(
            &format!("reading blob {D}: Get \"http://127.0.0.1:44715/v2/layerloop/app/blobs/{D}\": stopped after 10 redirects"),
            "Unknown",
            Verdict::RegistryError,
            &["loop"],
        );
    }
}
