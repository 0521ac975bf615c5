//! Names the producer of a message — which kubelet form, which runtime and, where the wording
//! changed between releases, which containerd versions — from the wrappers and the phrasing.

use super::envelope::{Envelope, Kubelet, Wrapper};
use super::scan::Scan;
use crate::classify::remediation::RuntimeKind;

/// Runtime phrasings, most specific first; the first that matches names the runtime.
const RUNTIME_MARKERS: &[(&str, &str)] = &[
    (
        "pulling schema 1 images have been deprecated",
        "containerd 2.0",
    ),
    (
        "no longer supported since containerd v2.1",
        "containerd >= 2.1 (local pull)",
    ),
    (
        "schema 1 image manifests are no longer supported",
        "containerd >= 2.1 transfer service",
    ),
    (
        "failed to resolve image: ",
        "containerd >= 2.1 transfer service",
    ),
    ("pulling from host ", "containerd 1.6 (< 1.6.25)"),
    (
        "unexpected status from head request to ",
        "containerd >= 1.6.25",
    ),
    ("server message: ", "containerd"),
    ("failed to pull and unpack image ", "containerd"),
    ("failed to resolve reference ", "containerd"),
    ("httpreadseeker: ", "containerd"),
    ("initializing source docker://", "CRI-O"),
    ("because the registry is unavailable", "CRI-O"),
    ("pinging container registry ", "CRI-O"),
    ("reading manifest ", "CRI-O"),
    ("unable to retrieve auth token", "CRI-O"),
    ("too many requests to registry", "CRI-O"),
    ("choosing image instance", "CRI-O"),
    ("no image found in manifest list", "CRI-O"),
    ("reading blob sha256:", "CRI-O"),
    ("storing blob to file", "CRI-O"),
    ("adding layer with blob", "CRI-O"),
    ("short-name resolution enforced", "CRI-O"),
    ("did not resolve to an alias", "CRI-O"),
];

/// The runtime (and version range) the phrasing gives away.
fn runtime(scan: &Scan<'_>) -> Option<&'static str> {
    if get_newline_form(scan) {
        return Some("containerd >= 2.2");
    }
    if scan.has("unexpected status code ") {
        return Some("containerd 1.6 to 2.1 (fetcher GET)");
    }
    RUNTIME_MARKERS
        .iter()
        .find(|(needle, _)| scan.has(needle))
        .map(|(_, name)| *name)
}

/// The runtime whose files a remediation names: CRI-O when its wrappers or phrasing show,
/// else containerd.
pub(super) fn runtime_kind(env: &Envelope<'_>, scan: &Scan<'_>) -> RuntimeKind {
    let crio = [
        Wrapper::CrioSource,
        Wrapper::CrioUnavailable,
        Wrapper::CrioPing,
    ]
    .into_iter()
    .any(|w| env.has(w))
        || runtime(scan) == Some("CRI-O");
    if crio {
        RuntimeKind::Crio
    } else {
        RuntimeKind::Containerd
    }
}

/// containerd ≥ 2.2 puts the registry's error on the line after `unexpected status from GET`.
fn get_newline_form(scan: &Scan<'_>) -> bool {
    scan.lower
        .find("unexpected status from get request to ")
        .is_some_and(|i| scan.lower[i..].contains('\n'))
}

/// What was recognised, outermost first, e.g.
/// `kubelet Failed event (k8s >= 1.28: rpc prefix dropped); containerd >= 1.6.25`.
pub(super) fn describe(env: &Envelope<'_>, scan: &Scan<'_>) -> Option<String> {
    let runtime = runtime(scan);
    let kubelet = env.kubelet.label().map(|label| {
        // The waiting message is ≥ 1.32, so only the Failed event dates the kubelet this way.
        if env.kubelet == Kubelet::FailedEvent && env.grpc_code.is_none() && runtime.is_some() {
            format!("{label} (k8s >= 1.28: rpc prefix dropped)")
        } else {
            label.to_string()
        }
    });
    let runtime = runtime.map(|r| {
        if r == "containerd" && env.has(Wrapper::ResolveReference) {
            "containerd (client pull: 1.6 to 2.0, or 2.1+ local pull)".to_string()
        } else {
            r.to_string()
        }
    });
    let grpc = (env.kubelet == Kubelet::None && env.grpc_code.is_some())
        .then(|| "CRI gRPC status".to_string());
    let parts: Vec<String> = [kubelet, grpc, runtime].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
