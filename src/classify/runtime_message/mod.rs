//! Classifies the text of an image-pull failure as the node reports it — a kubelet event, a pod's
//! waiting message, or the error of a CRI `PullImage` — into the same [`Verdict`]s the probe
//! gives. Entry points: [`explain`], [`explain_status`], [`explain_all`] for a paste of several
//! events; [`render_text`] and [`render_all`] for people.
//!
//! The text is mended first (JSON escapes, hard-wrapped lines joined, a cut-off end noted), then
//! peeled (kubelet wrapper, `rpc error: code = … desc = `, containerd and CRI-O step prefixes),
//! then matched by ordered substring rules (TLS first, the gRPC code alone last). Only the
//! first 64 KiB are read; matching ignores ASCII case.

mod envelope;
mod format;
mod paste;
mod principal;
mod rules;
mod scan;

pub use principal::NamedIdentity;

use super::Verdict;
use scan::{bounded, one_line, Scan, MAX_SCAN};
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
    /// Who the registry says it refused (ECR's `User: arn:aws:sts::…:assumed-role/…`, ACR's
    /// client address), when it says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<NamedIdentity>,
    /// The message was cut off (an ellipsis, an unclosed quote, a dangling separator): the
    /// verdict rests on its visible part only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Everything a paste says: each distinct kubelet message in it explained (the first as
/// [`explain`] gives it), and the containers a `kubectl describe pod` block shows waiting on an
/// image with no event left to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The first message of the paste.
    pub first: MessageDiagnosis,
    /// The next ones, at most [`MAX_OTHERS`].
    pub others: Vec<MessageDiagnosis>,
    /// How many more there were.
    pub not_shown: usize,
}

/// At most this many messages of a paste are explained after the first.
pub const MAX_OTHERS: usize = 3;

/// Classifies a pull-failure message (the first, when a paste holds several). Never panics;
/// reads at most the first 64 KiB.
pub fn explain(message: &str) -> MessageDiagnosis {
    explain_all(message).first
}

/// The same, when a gRPC status code is known separately (CRI PullImage): `code` is the tonic
/// code name (`NotFound`; `NOT_FOUND` and the number are accepted too), `message` its text.
pub fn explain_status(code: &str, message: &str) -> MessageDiagnosis {
    analyse(&mend(message), Some(normalize_code(code)))
}

/// Classifies every distinct message of a paste: each kubelet event (a repeated one once; a
/// back-off without a cause only when nothing else names its image), then each container a
/// `kubectl describe pod` block shows waiting on an image that no event explains; a text with
/// neither is one message.
pub fn explain_all(text: &str) -> Explained {
    let text = mend(text);
    let events = paste::events(&text);
    let (pod, waiting) = paste::waiting(&text);
    let explained_elsewhere = |image: &str| {
        events.iter().any(|o| !o.causeless && o.image == image)
            || waiting.iter().any(|w| w.image == image)
    };
    let mut found: Vec<MessageDiagnosis> = events
        .iter()
        .filter(|e| !e.causeless || !explained_elsewhere(e.image))
        .map(|e| analyse(e.text, None))
        .collect();
    for w in &waiting {
        let covered = events.iter().any(|e| !e.causeless && e.image == w.image);
        if !covered {
            found.push(waiting_diagnosis(&pod, w));
        }
    }
    let mut found = found.into_iter();
    let first = found.next().unwrap_or_else(|| analyse(&text, None));
    let others: Vec<MessageDiagnosis> = found.by_ref().take(MAX_OTHERS).collect();
    Explained {
        first,
        others,
        not_shown: found.count(),
    }
}

/// The text as the runtime wrote it: bounded, JSON escapes undone, hard-wrapped lines joined.
fn mend(message: &str) -> String {
    let text = unescape(bounded(message, MAX_SCAN));
    paste::join_wrapped(text.trim()).into_owned()
}

/// A container waiting on its image in a `kubectl describe pod` block without its event.
fn waiting_diagnosis(pod: &paste::Pod, w: &paste::Waiting) -> MessageDiagnosis {
    let pod_arg = pod.name.as_ref().map(|n| match &pod.namespace {
        Some(ns) => format!("{n} -n {ns}"),
        None => n.clone(),
    });
    let finding = rules::waiting(&w.reason, &w.image, &w.container, pod_arg.as_deref());
    MessageDiagnosis {
        verdict: finding.verdict,
        reason: one_line(&finding.reason, 1024),
        remediation: finding
            .remediation
            .unwrap_or_else(|| finding.verdict.remediation().to_string()),
        image: Some(w.image.clone()),
        grpc_code: None,
        format: Some("kubectl describe pod (container state; no event with the cause)".into()),
        host: explicit_registry(&w.image),
        status: None,
        detail: format!(
            "container {}: State: Waiting, Reason: {}",
            w.container, w.reason
        ),
        identity: None,
        truncated: false,
    }
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

/// Classifies one mended message.
fn analyse(message: &str, code: Option<String>) -> MessageDiagnosis {
    let text = message.trim();
    let cut = paste::cut(text);
    let visible = cut.map_or(text, |(_, v)| v);
    let env = envelope::peel(visible);
    let grpc_code = code.or_else(|| env.grpc_code.as_deref().map(normalize_code));
    let scan = Scan::new(env.runtime);
    let named = env.runtime_image.as_deref().or(env.image.as_deref());
    let host = scan::host(&scan).or_else(|| named.and_then(explicit_registry));
    let registry = named
        .and_then(|i| crate::reference::ImageRef::parse(i).ok())
        .map(|r| r.registry);
    let format = format::describe(&env, &scan);
    let runtime = format::runtime_kind(&env, &scan);
    let identity = principal::named(&scan);
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
            runtime,
            identity: identity.as_ref(),
            cut: cut.map(|(how, _)| how),
        };
        rules::classify(&facts)
    };
    let detail = if env.detail.is_empty() {
        visible
    } else {
        env.detail
    };
    // The registry's own advice when it is known (the identity is not: a message does not say),
    // then the runtime's files when the generic advice names the other runtime's.
    let for_registry = || {
        // The host that answered when it is a known service, else the image's registry.
        let r = [host.as_deref(), registry.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|h| crate::classify::remediation::registry_of(h, None))?;
        crate::classify::remediation::for_registry(finding.verdict, &r, None)
    };
    let remediation = finding
        .remediation
        .clone()
        .or_else(for_registry)
        .or_else(|| runtime.generic(finding.verdict, host.as_deref()))
        .unwrap_or_else(|| finding.verdict.remediation().to_string());
    MessageDiagnosis {
        verdict: finding.verdict,
        reason: one_line(&finding.reason, 1024),
        remediation,
        image: env.image.clone(),
        grpc_code,
        format,
        host,
        status,
        detail: detail.to_string(),
        identity,
        truncated: cut.is_some(),
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
    if let Some(id) = &d.identity {
        if id.description.contains(&id.principal) {
            line("Identity", &id.description);
        } else {
            line(
                "Identity",
                &format!("{} ({})", id.description, id.principal),
            );
        }
    }
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

/// Every message of a paste, one block each (as [`render_text`]), separated by a blank line,
/// then how many more there were.
pub fn render_all(e: &Explained) -> String {
    let mut s = render_text(&e.first);
    for d in &e.others {
        s.push('\n');
        s.push_str(&render_text(d));
    }
    if e.not_shown > 0 {
        let _ = writeln!(
            s,
            "\n{} more not shown (explain them one at a time to read them)",
            e.not_shown
        );
    }
    s
}

#[cfg(test)]
mod tests;
