//! The ordered rule list for runtime messages: the kubelet's own conditions, the CRI socket,
//! the layer stage (a blob download after the manifest resolved), then the order of the
//! research note (TLS, network, platform, schema 1, 429, 403, 401, not found, 5xx, disk), and
//! last the gRPC code alone. The first rule that matches wins.

mod auth;
mod blob;
mod registry;
mod transport;

use super::envelope::{Envelope, Kubelet, Wrapper};
use super::scan::{one_line, server_message, Scan};
use crate::classify::{Verdict, AMBIGUOUS_401_HOSTS};

/// What a message says, gathered once for every rule.
pub(super) struct Facts<'a> {
    /// The peeled message.
    pub env: &'a Envelope<'a>,
    /// The runtime's error text (after the kubelet wrapper and gRPC prefix).
    pub scan: Scan<'a>,
    /// The registry (or token service) host the message names.
    pub host: Option<&'a str>,
    /// The HTTP status the message reports.
    pub status: Option<u16>,
    /// The gRPC code, normalised (`NotFound`, `Unknown`, …).
    pub grpc_code: Option<&'a str>,
    /// The registry of the image the message names, normalised (`nginx` → `docker.io`).
    pub registry: Option<String>,
}

impl Facts<'_> {
    /// Where it failed, for a reason: the host, or "the registry".
    fn at(&self) -> String {
        self.host
            .map_or_else(|| "the registry".to_string(), str::to_string)
    }

    /// ` — server message: …` when the registry's own words are in the message.
    fn server(&self) -> String {
        server_message(&self.scan)
            .map(|m| format!(" — server message: {m}"))
            .unwrap_or_default()
    }

    /// The original text from the first `needle` (lowercase) on, as one bounded line.
    fn from(&self, needle: &str) -> Option<String> {
        let i = self.scan.lower.find(needle)?;
        Some(one_line(&self.scan.text[i..], 240))
    }

    /// Whether a token request (not the registry itself) failed.
    fn token_step(&self) -> bool {
        self.env.has(Wrapper::OauthToken) || self.env.has(Wrapper::AnonymousToken)
    }

    /// Whether the registry answers alike for missing and private repositories.
    fn ambiguous_registry(&self) -> bool {
        let ambiguous = |h: &str| {
            let h = crate::reference::host_without_port(h).to_ascii_lowercase();
            AMBIGUOUS_401_HOSTS.contains(&h.as_str()) || h == "auth.docker.io"
        };
        // The host that answered decides (a mirror is not Docker Hub); else the image's registry.
        match self.host {
            Some(h) => ambiguous(h),
            None => self.registry.as_deref().is_some_and(ambiguous),
        }
    }
}

/// A rule's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// One line: why.
    pub reason: String,
    /// A remediation sharper than the verdict's default, when the message allows one.
    pub remediation: Option<String>,
}

impl Finding {
    fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Finding {
            verdict,
            reason: reason.into(),
            remediation: None,
        }
    }

    fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }
}

type Rule = fn(&Facts<'_>) -> Option<Finding>;

/// Most specific first; see the module comment for the order.
const RULES: &[Rule] = &[
    kubelet_throttle,
    transport::runtime_socket,
    transport::invalid_reference,
    transport::blocked,
    transport::short_name,
    transport::signature,
    blob::layer,
    transport::tls,
    transport::network,
    registry::platform,
    registry::schema1,
    registry::rate_limited,
    auth::expired,
    auth::forbidden,
    auth::unauthorized,
    registry::digest,
    registry::malformed_manifest,
    registry::not_found,
    registry::bad_status,
    registry::disk,
    registry::unpack,
    transport::cancelled,
    code_only,
];

/// Classifies the peeled message: kubelet-only forms first, then the rule list.
pub(super) fn classify(facts: &Facts<'_>) -> Finding {
    if let Some(f) = kubelet_only(facts.env) {
        return f;
    }
    if facts.scan.text.trim().is_empty() {
        return code_only(facts).unwrap_or_else(|| Finding::new(Verdict::Unknown, "empty message"));
    }
    RULES
        .iter()
        .find_map(|rule| rule(facts))
        .unwrap_or_else(|| Finding::new(Verdict::Unknown, "unrecognised message"))
}

const FIND_THE_CAUSE: &str = "Explain the earlier `Failed to pull image …` event instead \
     (kubectl get events --field-selector involvedObject.name=<pod>,reason=Failed), or run \
     `pullcheck probe <image>` on the node.";

/// Kubelet messages that carry no runtime error.
fn kubelet_only(env: &Envelope<'_>) -> Option<Finding> {
    let image = env.image.as_deref().unwrap_or("the image");
    let f = match env.kubelet {
        Kubelet::ReasonOnly => Finding::new(
            Verdict::Unknown,
            "the kubelet's reason alone (ErrImagePull / ImagePullBackOff) carries no cause: the \
             cause is in the earlier \"Failed to pull image\" event",
        )
        .fix(FIND_THE_CAUSE),
        Kubelet::BackOff => Finding::new(
            Verdict::Unknown,
            format!(
                "the kubelet is backing off after a failed pull of {image}; the cause is in the \
                 earlier \"Failed to pull image\" event"
            ),
        )
        .fix(FIND_THE_CAUSE),
        Kubelet::NeverPull => Finding::new(
            Verdict::Unknown,
            format!("{image} is not on the node and imagePullPolicy is Never, so the kubelet does not pull it"),
        )
        .fix("Pre-load the image on the node, or set imagePullPolicy to IfNotPresent or Always."),
        _ => return None,
    };
    Some(f)
}

/// `pull QPS exceeded.`: the kubelet refused to start the pull; no registry was asked.
fn kubelet_throttle(f: &Facts<'_>) -> Option<Finding> {
    f.scan.has("pull qps exceeded").then(|| {
        Finding::new(
            Verdict::Unknown,
            "the kubelet's own pull throttle (registryPullQPS / registryBurst) refused the pull; \
             the registry was not contacted, so this is not a registry 429",
        )
        .fix(
            "Raise registryPullQPS and registryBurst in the KubeletConfiguration (defaults 5 and \
             10; 0 disables the limit), or stagger rollouts that pull many images on one node; \
             the kubelet retries on its own.",
        )
    })
}

/// The gRPC code when no text rule matched.
fn code_only(f: &Facts<'_>) -> Option<Finding> {
    if f.env.has(Wrapper::CrioUnavailable) {
        return Some(Finding::new(
            Verdict::NetworkUnreachable,
            format!(
                "CRI-O reports the registry unavailable (RegistryUnavailable): {}",
                one_line(f.env.detail, 240)
            ),
        ));
    }
    let code = f.grpc_code?;
    let (verdict, why) = match code {
        "Unavailable" => (
            Verdict::RuntimeUnavailable,
            "the CRI call failed with Unavailable: the container runtime did not answer",
        ),
        "NotFound" => (
            Verdict::ManifestUnknown,
            "the runtime answered NotFound (a missing tag, digest or repository)",
        ),
        "DeadlineExceeded" => (
            Verdict::Timeout,
            "the CRI call ran out of time (DeadlineExceeded)",
        ),
        "FailedPrecondition" => (
            Verdict::DigestMismatch,
            "the runtime answered FailedPrecondition, which containerd uses for a digest mismatch",
        ),
        "Unimplemented" => (
            Verdict::UnsupportedManifest,
            "the runtime answered Unimplemented, which containerd uses for a manifest type it no longer pulls",
        ),
        _ => return None,
    };
    Some(Finding::new(verdict, why))
}
