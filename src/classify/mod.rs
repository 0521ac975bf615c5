//! Every verdict is decided here, pure and synchronous:
//! - per attempt, evidence → verdict ([`classify`]): rules ordered most specific first, with a
//!   catch-all last — content problems, transport failures (cause chain), then HTTP statuses
//!   read together with OCI error codes, challenges and the `tags/list` follow-up
//!   (`status_rules`, by family), and the blob path;
//! - for the whole report, what the node adds to the decisive attempt's verdict ([`overall`]:
//!   identity, signature policy, disk, short names, the runtime's exit precedence);
//! - the runtime's own pull ([`runtime_pull`]) and runtime messages ([`runtime_message`],
//!   `pullcheck explain`), sharing the registries' phrases with the evidence rules.

mod blob_path;
pub mod disk;
pub mod overall;
mod phrases;
pub mod remediation;
pub mod runtime_message;
pub mod runtime_pull;
mod status_rules;
pub mod verdict;

pub use runtime_message::{explain, explain_status, MessageDiagnosis};
pub use verdict::{Family, Verdict};

use crate::net::transport::TransportKind;
use crate::probe::{ContentProblem, Evidence, Exchange, Step};
use serde::Serialize;

/// A verdict with the one-line why and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The verdict.
    pub verdict: Verdict,
    /// One line: why, naming the step and the input.
    pub reason: String,
    /// What fixes it.
    pub remediation: String,
}

impl Diagnosis {
    fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Diagnosis {
            verdict,
            reason: reason.into(),
            remediation: verdict.remediation().to_string(),
        }
    }

    fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }
}

/// Registries known to answer 401 alike for missing and private repositories.
const AMBIGUOUS_401_HOSTS: &[&str] = &[
    "registry-1.docker.io",
    "docker.io",
    "index.docker.io",
    "quay.io",
    "ghcr.io",
];

fn step_name(ex: &Exchange) -> String {
    let what = match ex.step {
        Step::Ping => "API check",
        Step::Manifest => "manifest request",
        Step::Token => "token request",
        Step::Tags => "tag listing",
        Step::PlatformManifest => "platform manifest request",
        Step::Config => "config blob request",
        Step::Layer => "layer blob request",
        Step::PlainHttpCheck => "plain-HTTP check",
    };
    format!("{what} {} {}", ex.method, ex.url)
}

/// Classifies one probe's evidence as [`classify`] does, with the remediation for the registry
/// that answered (else the image's `registry`, when the host is a mirror of no known service)
/// and the identity that was sent ([`remediation::for_registry`]) in place of the verdict's
/// generic one.
pub fn classify_sent(ev: &Evidence, registry: &str, sent: &crate::identity::Source) -> Diagnosis {
    let mut d = classify(ev);
    if d.remediation == d.verdict.remediation() {
        let realm = ev
            .exchanges
            .iter()
            .rev()
            .find_map(|e| e.challenge.as_ref().and_then(|c| c.realm.as_deref()));
        let answered = ev
            .terminal_exchange()
            .map_or(ev.host.as_str(), |t| t.url.as_str());
        if let Some(fix) = remediation::registry_of(answered, realm)
            .or_else(|| remediation::registry_of(registry, None))
            .and_then(|r| remediation::for_registry(d.verdict, &r, Some(sent)))
        {
            d.remediation = fix;
        }
    }
    d
}

/// Classifies one probe's evidence.
pub fn classify(ev: &Evidence) -> Diagnosis {
    if let Some(r) = &ev.get_refused {
        return Diagnosis::new(
            Verdict::Unknown,
            format!(
                "not asked: the manifest must be read with GET (this node has not seen the digest), \
                 and the agent's own budget of manifest GETs for {} ({}) is spent; again in {} s",
                r.budget, r.rate, r.retry_after_secs
            ),
        )
        .fix(format!(
            "wait, or raise --registry-budget {}=N/DURATION; on Docker Hub each GET counts as a pull \
             against the quota the node's own pulls use",
            r.budget
        ));
    }
    if let Some(d) = content_rule(ev) {
        return d;
    }
    let Some(t) = ev.terminal_exchange() else {
        return ok(ev);
    };
    if let Some(d) = blob_path::rule(ev, t) {
        return d;
    }
    if let Some(d) = transport_rule(ev, t) {
        return d;
    }
    let Some(status) = t.status else {
        return Diagnosis::new(
            Verdict::RegistryError,
            format!(
                "{}: {}",
                step_name(t),
                t.note.as_deref().unwrap_or("no usable reply")
            ),
        );
    };
    status_rules::rule(ev, t, status)
}

fn ok(ev: &Evidence) -> Diagnosis {
    let what = match &ev.manifest {
        Some(m) => match &m.selected {
            Some(p) => format!(
                "{} {} resolves; {p} is available for this node",
                m.media_type, m.digest
            ),
            None => format!("{} {} resolves", m.media_type, m.digest),
        },
        None => "the manifest resolves".into(),
    };
    let layers = ev.blobs.as_ref().map(|b| {
        let from = if b.storage_hosts.is_empty() {
            String::new()
        } else {
            format!(", layers from {}", b.storage_hosts.join(", "))
        };
        let unchecked = if b.unchecked > 0 {
            format!(" ({} more not checked)", b.unchecked)
        } else {
            String::new()
        };
        format!(
            "; config and {} layer(s) reachable{unchecked}{from}",
            b.layers - b.unchecked
        )
    });
    let held = if ev.manifest_origin == Some(crate::probe::ManifestOrigin::Runtime) {
        "; the runtime already holds this digest, so its pull fetches no layer"
    } else {
        ""
    };
    Diagnosis::new(
        Verdict::Ok,
        format!(
            "{what} (from {}){}{held}",
            ev.host,
            layers.unwrap_or_default()
        ),
    )
}

fn content_rule(ev: &Evidence) -> Option<Diagnosis> {
    let problem = ev.content_problem.as_ref()?;
    let at = ev
        .terminal_exchange()
        .map(step_name)
        .unwrap_or_else(|| ev.host.clone());
    Some(match problem {
        ContentProblem::TooLarge { limit } => {
            Diagnosis::new(Verdict::RegistryError, format!("{at}: body larger than the {limit}-byte limit; refusing to read it"))
        }
        ContentProblem::Malformed { detail } => Diagnosis::new(Verdict::RegistryError, format!("{at}: {detail}")),
        ContentProblem::DigestMismatch { expected, actual } => {
            Diagnosis::new(Verdict::DigestMismatch, format!("{at}: content hashes to {actual}, expected {expected}"))
        }
        ContentProblem::Schema1 { media_type } => Diagnosis::new(
            Verdict::UnsupportedManifest,
            format!("{at}: Docker schema 1 manifest ({media_type}); containerd ≥ 2.0 refuses it, 2.1 removed support"),
        ),
        ContentProblem::UnknownMediaType { media_type } => {
            Diagnosis::new(Verdict::UnsupportedManifest, format!("{at}: not a container image manifest: {media_type}"))
        }
        ContentProblem::PlatformMissing { wanted } => {
            let offered: Vec<String> = ev.manifest.iter().flat_map(|m| m.platforms.iter().map(ToString::to_string)).collect();
            let omitted = ev.manifest.as_ref().map_or(0, |m| m.platforms_omitted);
            let offered = match (offered.is_empty(), omitted) {
                (true, _) => "nothing".to_string(),
                (false, 0) => offered.join(", "),
                (false, n) => format!("{} and {n} more", offered.join(", ")),
            };
            Diagnosis::new(Verdict::PlatformMismatch, format!("the image index offers {offered}; this node needs {wanted}"))
        }
    })
}

fn transport_rule(ev: &Evidence, t: &Exchange) -> Option<Diagnosis> {
    let tf = t.transport.as_ref()?;
    let at = step_name(t);
    let realm = if t.step == Step::Token {
        " (the registry's token realm)"
    } else {
        ""
    };
    let why = format!("{at}{realm}: {}", tf.message);
    let v = match tf.kind {
        TransportKind::TlsNotTls if ev.plain_http_confirmed => {
            let host = reqwest::Url::parse(&t.url).ok().and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            });
            let host = host.unwrap_or_else(|| "<host>".into());
            return Some(
                Diagnosis::new(Verdict::HttpRegistry, format!("{at}: http: server gave HTTP response to HTTPS client"))
                    .fix(format!(
                        "The registry speaks plain HTTP: create /etc/containerd/certs.d/{host}/hosts.toml with \
                         `server = \"http://{host}\"` and `[host.\"http://{host}\"]` (capabilities = [\"pull\", \"resolve\"]), or serve it over HTTPS."
                    )),
            );
        }
        TransportKind::Policy => {
            return Some(Diagnosis::new(Verdict::Unknown, why).fix(
                "pullcheck did not follow the registry to this address: it is loopback, link-local or a cloud \
                 metadata address, which the agent refuses so a registry cannot reach the node's metadata service. \
                 containerd has no such rule and would connect, so this probe cannot say whether the pull works. If the \
                 address is a legitimate registry or mirror, allow it with --allow-registry-cidr; if not, the \
                 registry (or its token realm) is pointing pulls at the node itself.",
            ));
        }
        TransportKind::Broken => {
            return Some(Diagnosis::new(Verdict::RegistryError, why).fix(BROKEN_CONNECTION_FIX))
        }
        kind => transport_verdict(kind),
    };
    Some(Diagnosis::new(v, why))
}

/// A connection that broke mid-exchange (reset, closed, a body cut short) is the network path
/// as often as the registry: say both, and what to look at first.
pub(crate) const BROKEN_CONNECTION_FIX: &str = "The connection broke mid-exchange (reset, or closed before the reply was whole): look at the path between the node and the registry first — a proxy or load balancer cutting idle or long transfers, a firewall resetting connections, an MTU mismatch — then at the registry itself; retry, and if it repeats, compare from another node.";

/// The verdict of a failure below HTTP (a plain-HTTP answer on a TLS port is `tls_error`
/// unless the plain-HTTP check confirmed it).
pub(crate) fn transport_verdict(kind: TransportKind) -> Verdict {
    match kind {
        TransportKind::TlsNotTls | TransportKind::TlsOther => Verdict::TlsError,
        TransportKind::TlsUnknownAuthority => Verdict::TlsUnknownAuthority,
        TransportKind::TlsExpired => Verdict::TlsCertificateExpired,
        TransportKind::TlsHostname => Verdict::TlsHostnameMismatch,
        TransportKind::Dns => Verdict::DnsFailure,
        TransportKind::Refused => Verdict::ConnectionRefused,
        TransportKind::Timeout => Verdict::Timeout,
        TransportKind::Unreachable => Verdict::NetworkUnreachable,
        TransportKind::Proxy => Verdict::ProxyError,
        TransportKind::Broken => Verdict::RegistryError,
        TransportKind::Policy | TransportKind::Other => Verdict::Unknown,
    }
}

/// The permission a denial names, if it names one.
pub fn named_permission(text: &str) -> Option<String> {
    let clean = |s: &str| {
        s.trim_matches(|c: char| c == '\'' || c == '"' || c == '.' || c == ',' || c == '`')
            .to_string()
    };
    if let Some(i) = text.find("perform: ") {
        return text[i + 9..].split_whitespace().next().map(clean);
    }
    if let Some(i) = text.find("Permission ") {
        return text[i + 11..]
            .split_whitespace()
            .next()
            .map(clean)
            .filter(|p| p.contains('.'));
    }
    None
}

#[cfg(test)]
mod tests;
