//! The ordered rule list for runtime messages: the kubelet's own conditions, the CRI socket,
//! the layer stage (a blob download after the manifest resolved), then the order of the
//! research note (TLS, network, platform, schema 1, 429, 403, 401, not found, 5xx, disk,
//! unpack), and last the gRPC code alone. The first rule that matches wins. A message cut off
//! keeps only what its visible part proves.

mod auth;
mod blob;
mod kubelet;
mod registry;
mod transport;

pub(super) use kubelet::waiting;

use super::envelope::{Envelope, Kubelet, Wrapper};
use super::paste::Cut;
use super::principal::NamedIdentity;
use super::scan::{one_line, server_message, Scan};
use crate::classify::remediation::RuntimeKind;
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
    /// The runtime that wrote it, for the files a remediation names.
    pub runtime: RuntimeKind,
    /// The principal the registry's refusal names.
    pub identity: Option<&'a NamedIdentity>,
    /// How the message shows it was cut off, if it was.
    pub cut: Option<Cut>,
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
    kubelet::throttle,
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
];

/// Classifies the peeled message: kubelet-only forms first, then the rule list, then the gRPC
/// code alone — unless the message is cut off, when the code alone proves too little.
pub(super) fn classify(facts: &Facts<'_>) -> Finding {
    if let Some(f) = kubelet::kubelet_only(facts.env) {
        return f;
    }
    if facts.scan.text.trim().is_empty() && facts.cut.is_none() {
        return code_only(facts).unwrap_or_else(|| Finding::new(Verdict::Unknown, "empty message"));
    }
    let found = RULES.iter().find_map(|rule| rule(facts));
    match (found, facts.cut) {
        (Some(f), None) => f,
        (Some(f), Some(cut)) => cut_but_read(f, cut),
        (None, Some(cut)) => crio_unavailable(facts)
            .map(|f| cut_but_read(f, cut))
            .unwrap_or_else(|| cut_before_the_cause(facts, cut)),
        (None, None) => code_only(facts)
            .unwrap_or_else(|| Finding::new(Verdict::Unknown, "unrecognised message")),
    }
}

/// A cut-off message whose visible part a rule read: the verdict stands on what is visible,
/// and the reason says the rest is missing. A 403 whose reason is cut off may be an expired
/// token as well as a missing permission.
fn cut_but_read(mut f: Finding, cut: Cut) -> Finding {
    // A named permission is proof; a bare 403 (or the start of the registry's words) is not.
    let unsaid = f.verdict == Verdict::Forbidden && !f.reason.contains(" lacks ");
    let what = if unsaid {
        ": a 403, which an expired token gets too — the registry's reason is cut off"
    } else {
        ""
    };
    f.reason = format!(
        "{} (the message is cut off — {} — so this rests on its visible part{what})",
        f.reason,
        cut.words()
    );
    f
}

/// A cut-off message whose visible part holds no cause: say what the wrappers show.
fn cut_before_the_cause(facts: &Facts<'_>, cut: Cut) -> Finding {
    let env = facts.env;
    let image = env.image.as_deref().or(env.runtime_image.as_deref());
    if env.kubelet == Kubelet::None && facts.scan.has("failed to pull image \"") {
        return Finding::new(
            Verdict::Unknown,
            "the message is cut off inside the image name, so nothing about the image or the cause is visible",
        )
        .fix(READ_IT_WHOLE.replace("{image}", "<image>"));
    }
    let mut shows = vec![image.map_or_else(
        || "a pull failed".to_string(),
        |i| format!("the pull of {i} failed"),
    )];
    if env.has(Wrapper::ResolveReference) || env.has(Wrapper::ResolveImage) {
        shows.push("while resolving the tag to a manifest".into());
    } else if env.has(Wrapper::Fetch) {
        shows.push("while downloading content".into());
    }
    if let Some(h) = facts.host {
        shows.push(format!("at {h}"));
    }
    match facts.grpc_code {
        Some("NotFound") => shows.push(
            "with gRPC code NotFound (a missing tag, digest or repository — or no manifest for this node's platform)"
                .into(),
        ),
        Some(c) => shows.push(format!("with gRPC code {c}")),
        None => {}
    }
    let image = image.unwrap_or("<image>");
    Finding::new(
        Verdict::Unknown,
        format!(
            "the message is cut off before the runtime's error ({}): its visible part shows only that {}",
            cut.words(),
            shows.join(" ")
        ),
    )
    .fix(READ_IT_WHOLE.replace("{image}", image))
}

/// Where to get a message uncut.
const READ_IT_WHOLE: &str = "Read the whole message — `kubectl get events -n <namespace> \
     --field-selector involvedObject.name=<pod>,reason=Failed -o jsonpath='{.items[*].message}'` \
     prints it uncut — and explain that, or run `pullcheck probe {image}` on the node.";

/// CRI-O's `… because the registry is unavailable: …` when no text rule read the cause.
fn crio_unavailable(f: &Facts<'_>) -> Option<Finding> {
    f.env.has(Wrapper::CrioUnavailable).then(|| {
        Finding::new(
            Verdict::NetworkUnreachable,
            format!(
                "CRI-O reports the registry unavailable (RegistryUnavailable): {}",
                one_line(f.env.detail, 240)
            ),
        )
    })
}

/// The gRPC code when no text rule matched.
fn code_only(f: &Facts<'_>) -> Option<Finding> {
    if let Some(found) = crio_unavailable(f) {
        return Some(found);
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
