//! Classifies the text of an image-pull failure as the node reports it — a kubelet event, a pod's
//! waiting message, or the error of a CRI `PullImage` — into the same [`Verdict`]s the probe
//! gives. Entry points: [`explain`], [`explain_status`]; [`render_text`] for people.
//!
//! The message is peeled (kubelet wrapper, `rpc error: code = … desc = `, containerd and CRI-O
//! step prefixes), then matched by ordered substring rules (TLS first, the gRPC code alone
//! last). Only the first 64 KiB are read; matching ignores ASCII case.

mod envelope;
mod format;
mod rules;
mod scan;

use super::Verdict;
use scan::{bounded, Scan, MAX_SCAN};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write;

/// What a kubelet event / pod waiting message / CRI PullImage error says, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDiagnosis {
    /// The verdict.
    pub verdict: Verdict,
    /// One line: why, naming the registry, host or permission when the message does.
    pub reason: String,
    /// What fixes it (the verdict's remediation, sharpened when the message allows).
    pub remediation: String,
    /// The image the message names, as its outermost wrapper names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The gRPC code (`NotFound`, `Unknown`, …) when the message or the caller gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<String>,
    /// What was recognised: the kubelet form and the runtime (with version range when the
    /// wording gives it away), e.g. `kubelet Failed event; containerd >= 1.6.25`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The registry (or token service) `host[:port]` the message names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The HTTP status the message reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The innermost error text after stripping the known wrappers.
    pub detail: String,
}

/// Classifies a pull-failure message. Never panics; reads at most the first 64 KiB.
pub fn explain(message: &str) -> MessageDiagnosis {
    analyse(message, None)
}

/// The same, when a gRPC status code is known separately (CRI PullImage): `code` is the tonic
/// code name (`NotFound`; `NOT_FOUND` and the number are accepted too), `message` its text.
pub fn explain_status(code: &str, message: &str) -> MessageDiagnosis {
    analyse(message, Some(normalize_code(code)))
}

/// gRPC status codes: number, canonical name as Go prints it in `rpc error: code = …`.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// `NotFound`, `NOT_FOUND`, `not found` and `5` all become `NotFound`; tonic's `Cancelled`
/// becomes Go's `Canceled`. Anything else is kept (trimmed, bounded).
fn normalize_code(code: &str) -> String {
    let key: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let key = if key == "cancelled" {
        "canceled".to_string()
    } else {
        key
    };
    if let Ok(n) = key.parse::<usize>() {
        if let Some(name) = GRPC_CODES.get(n) {
            return (*name).to_string();
        }
    }
    GRPC_CODES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(&key))
        .map_or_else(
            || bounded(code.trim(), 64).to_string(),
            |n| (*n).to_string(),
        )
}

/// JSON-escaped text (pasted from `kubectl get -o json`) read as the message it encodes.
fn unescape(text: &str) -> Cow<'_, str> {
    if text.contains("\\\"") {
        Cow::Owned(text.replace("\\\"", "\"").replace("\\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn analyse(message: &str, code: Option<String>) -> MessageDiagnosis {
    let text = unescape(bounded(message, MAX_SCAN));
    let text = text.trim();
    let env = envelope::peel(text);
    let grpc_code = code.or_else(|| env.grpc_code.as_deref().map(normalize_code));
    let scan = Scan::new(env.runtime);
    let named = env.runtime_image.as_deref().or(env.image.as_deref());
    let host = scan::host(&scan).or_else(|| named.and_then(explicit_registry));
    let registry = named
        .and_then(|i| crate::reference::ImageRef::parse(i).ok())
        .map(|r| r.registry);
    let format = format::describe(&env, &scan);
    let status = scan::status(env.runtime);
    let finding = if grpc_code.as_deref() == Some("OK") {
        rules::Finding {
            verdict: Verdict::Ok,
            reason: "the runtime reported success".into(),
            remediation: None,
        }
    } else {
        let facts = rules::Facts {
            env: &env,
            scan,
            host: host.as_deref(),
            status,
            grpc_code: grpc_code.as_deref(),
            registry: registry.clone(),
        };
        rules::classify(&facts)
    };
    let detail = if env.detail.is_empty() {
        text
    } else {
        env.detail
    };
    // The registry's own advice when it is known (the identity is not: a message does not say).
    let for_registry = || {
        // The host that answered when it is a known service, else the image's registry.
        let r = [host.as_deref(), registry.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|h| crate::classify::remediation::registry_of(h, None))?;
        crate::classify::remediation::for_registry(finding.verdict, &r, None)
    };
    MessageDiagnosis {
        verdict: finding.verdict,
        reason: scan::one_line(&finding.reason, 1024),
        remediation: finding
            .remediation
            .clone()
            .or_else(for_registry)
            .unwrap_or_else(|| finding.verdict.remediation().to_string()),
        image: env.image.clone(),
        grpc_code,
        format,
        host,
        status,
        detail: detail.to_string(),
    }
}

/// The registry host an image names explicitly (`ghcr.io/x/y` → `ghcr.io`; `nginx` → none).
fn explicit_registry(image: &str) -> Option<String> {
    crate::reference::split_domain(image)
        .filter(|(_, rest)| !rest.is_empty())
        .map(|(domain, _)| domain.to_string())
}

/// A few aligned lines for people: verdict, reason, image, format, detail, remediation.
pub fn render_text(d: &MessageDiagnosis) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &str| {
        let mut lines = v.lines();
        let _ = writeln!(s, "{:<14}{}", format!("{k}:"), lines.next().unwrap_or(""));
        for more in lines {
            let _ = writeln!(s, "{:<14}{more}", "");
        }
    };
    line("Verdict", d.verdict.as_str());
    line("Reason", &d.reason);
    if let Some(i) = &d.image {
        line("Image", i);
    }
    if let Some(h) = &d.host {
        line("Host", h);
    }
    if let Some(st) = d.status {
        line("HTTP status", &st.to_string());
    }
    if let Some(c) = &d.grpc_code {
        line("gRPC code", c);
    }
    if let Some(f) = &d.format {
        line("Format", f);
    }
    if !d.detail.is_empty() {
        line("Detail", &d.detail);
    }
    line("Remediation", &d.remediation);
    crate::term::escape_view(&s).into_owned()
}

#[cfg(test)]
mod tests;
