//! The runtime's own pull as ground truth beside the registry probe: a real CRI `PullImage`
//! with the same credential, its status kept verbatim and classified by the same runtime-message
//! classifier as `pullcheck explain`, the image removed afterwards when only the probe pulled it,
//! and what a disagreement with the registry verdict means.

use super::client::{Error, RuntimeClient};
use crate::classify::runtime_message::explain_status;
use crate::classify::{Family, Verdict};
use crate::identity::RegistryAuth;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The outcome of the runtime's pull (`runtime` in the JSON report).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePull {
    /// `unix:///…` of the runtime.
    pub endpoint: String,
    /// The runtime's verdict, classified from its message.
    pub verdict: Verdict,
    /// gRPC code name (`OK`, `NotFound`, `Unknown`, …), verbatim.
    pub code: String,
    /// The runtime's message, verbatim (empty on success).
    pub message: String,
    /// One-line reason for the verdict.
    pub reason: String,
    /// What fixes it.
    pub remediation: String,
    /// Image reference (ID) the runtime returned on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// The image (by ID, under any name) was already on the node before the probe, or that
    /// could not be told: then it is never removed.
    pub already_present: bool,
    /// The probe removed the image it pulled (`--keep` leaves it).
    pub removed: bool,
    /// Removal problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_error: Option<String>,
    /// Whether the registry verdict and the runtime verdict say the same thing.
    pub agrees: bool,
    /// What a disagreement means and where to look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<String>,
    /// Time the pull took.
    pub duration_ms: u64,
}

/// Pulls `image` through the runtime with `auth`, then removes it unless it was already present
/// or `keep` is set. `registry` is the direct probe's verdict, for the comparison.
pub async fn pull(
    client: &RuntimeClient,
    image: &str,
    auth: &RegistryAuth,
    keep: bool,
    limit: Duration,
    registry: Verdict,
) -> RuntimePull {
    let started = Instant::now();
    let endpoint = client.endpoint().url();
    // The images on the node first: they tell whether to remove the image afterwards, and a
    // runtime that cannot list them is unavailable — no point waiting for a pull. CRI's
    // RemoveImage removes an image by ID with all its names, so the pulled image is removed
    // only when its ID was on the node under no name at all.
    let (before, result) = match client.list_images().await {
        Err(e @ Error::Unavailable { .. }) => (None, Err(e)),
        listed => (listed.ok(), client.pull(image, auth, limit).await),
    };
    let already_present = match (&before, &result) {
        (Some(images), Ok(id)) => images.iter().any(|i| &i.id == id),
        // Unknown: never remove what might have been there.
        _ => true,
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (verdict, code, message, reason, remediation, image_ref) = match result {
        Ok(image_ref) => (
            Verdict::Ok,
            "OK".to_string(),
            String::new(),
            "the runtime pulled the image".to_string(),
            Verdict::Ok.remediation().to_string(),
            Some(image_ref),
        ),
        Err(Error::Rpc { code, message, .. }) => {
            let d = explain_status(&code, &message);
            (d.verdict, code, message, d.reason, d.remediation, None)
        }
        Err(Error::Unavailable { call, reason, .. }) if call == "PullImage" && reason.starts_with("no answer within") => (
            Verdict::Timeout,
            "DeadlineExceeded".to_string(),
            reason.clone(),
            format!("the runtime's PullImage did not finish: {reason} (a registry that stalls, or a very large image)"),
            Verdict::Timeout.remediation().to_string(),
            None,
        ),
        Err(e @ Error::Unavailable { .. }) => (
            Verdict::RuntimeUnavailable,
            "Unavailable".to_string(),
            e.to_string(),
            e.to_string(),
            Verdict::RuntimeUnavailable.remediation().to_string(),
            None,
        ),
    };
    let (mut removed, mut remove_error) = (false, None);
    if verdict == Verdict::Ok && !already_present && !keep {
        match client.remove(image).await {
            Ok(()) => removed = true,
            Err(e) => remove_error = Some(e.to_string()),
        }
    }
    let (agrees, interpretation) = compare(registry, verdict);
    RuntimePull {
        endpoint,
        verdict,
        code,
        message,
        reason,
        remediation,
        image_ref,
        already_present,
        removed,
        remove_error,
        agrees,
        interpretation,
        duration_ms,
    }
}

/// Whether two verdicts say the same thing. The runtime's message is often coarser than the
/// registry's evidence (containerd's HEAD cannot tell a missing tag from a missing repository,
/// and a HEAD 403 has no body), so verdicts of one family that only differ in precision agree.
pub fn compatible(registry: Verdict, runtime: Verdict) -> bool {
    use Verdict::*;
    if registry == runtime {
        return true;
    }
    matches!(
        (registry, runtime),
        (RepositoryUnknown, ManifestUnknown)
            | (ManifestUnknown, RepositoryUnknown)
            | (NotFoundOrUnauthorized, Unauthorized)
            | (Unauthorized, NotFoundOrUnauthorized)
            | (RepositoryUnknown | ManifestUnknown, NotFoundOrUnauthorized)
            | (CredentialsExpired, Forbidden)
            | (NotFoundOrUnauthorized, Forbidden)
            | (
                TlsHostnameMismatch | TlsCertificateExpired | TlsUnknownAuthority,
                TlsError
            )
    )
}

/// `(agrees, interpretation)` for a registry verdict and a runtime verdict.
pub fn compare(registry: Verdict, runtime: Verdict) -> (bool, Option<String>) {
    if compatible(registry, runtime) {
        return (true, None);
    }
    let text = if registry == Verdict::Ok {
        match runtime.family() {
            Family::Tls => "registry reachable directly but the runtime fails TLS: containerd trusts a different set of CAs — compare the hosts.toml `ca`/`skip_verify` and the node trust store with what this probe used".to_string(),
            Family::Network => "registry reachable directly but the runtime cannot reach it: compare mirrors / hosts.toml / proxy (containerd's HTTP(S)_PROXY and NO_PROXY)".to_string(),
            Family::Node => "registry reachable directly but the runtime fails on the node itself: check the runtime's health and image filesystem".to_string(),
            Family::Content => "the registry serves the image but the runtime rejects its content: check the runtime version (schema1, media types) and the node platform".to_string(),
            _ => "registry reachable directly but the runtime fails: compare mirrors / hosts.toml / proxy, and the credentials the runtime sends".to_string(),
        }
    } else if runtime == Verdict::Ok {
        format!(
            "the runtime pulls the image but the direct probe says {}: the runtime may use a mirror, node-level credentials (registry.configs auth), a proxy or a CA this probe did not see, or its version accepts what the probe flags (schema1 before containerd 2.0)",
            registry.as_str()
        )
    } else if runtime == Verdict::RuntimeUnavailable {
        "the runtime could not be asked; only the registry verdict is known".to_string()
    } else {
        format!(
            "both fail, differently (registry: {}, runtime: {}): the runtime contacted other hosts or sent other credentials — compare mirrors / hosts.toml / proxy",
            registry.as_str(),
            runtime.as_str()
        )
    };
    (false, Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarser_runtime_verdicts_agree() {
        assert!(compare(Verdict::RepositoryUnknown, Verdict::ManifestUnknown).0);
        assert!(compare(Verdict::CredentialsExpired, Verdict::Forbidden).0);
        assert!(compare(Verdict::Ok, Verdict::Ok).0);
        assert!(!compare(Verdict::Forbidden, Verdict::CredentialsExpired).0);
    }

    #[test]
    fn registry_ok_runtime_failing_points_at_node_configuration() {
        let (agrees, why) = compare(Verdict::Ok, Verdict::TlsUnknownAuthority);
        assert!(!agrees);
        assert!(why.unwrap().contains("hosts.toml"));
        let (_, why) = compare(Verdict::Ok, Verdict::ConnectionRefused);
        assert!(why
            .unwrap()
            .contains("compare mirrors / hosts.toml / proxy"));
    }

    #[test]
    fn runtime_ok_registry_failing_names_the_registry_verdict() {
        let (agrees, why) = compare(Verdict::UnsupportedManifest, Verdict::Ok);
        assert!(!agrees);
        assert!(why.unwrap().contains("unsupported_manifest"));
    }
}
