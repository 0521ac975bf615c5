//! How results leave: the versioned JSON schema (`apiVersion`, `verdict`, `reason`,
//! `remediation`, `identity`, `evidence[]`, `platforms`, `rateLimit`) and the text view.

pub mod explanation;
pub mod short_name;
pub mod summary;
pub mod text;

use crate::classify::disk::Judgement;
use crate::classify::overall::{self, Change};
use crate::classify::{Diagnosis, Verdict};
use crate::endpoints::Endpoints;
use crate::identity::{Credential, IdentitySources, Source};
use crate::platform::Platform;
use crate::probe::ratelimit::RateLimit;
use crate::probe::{BlobFacts, Evidence, Exchange};
use crate::reference::ImageRef;
use crate::runtime::pull::RuntimePull;
use crate::runtime::ImageFs;
use serde::Serialize;
use std::time::Duration;

/// Schema version of [`Report`].
pub const API_VERSION: &str = "pullcheck.dev/v1alpha1";

/// The identity a probe used.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// One line for humans.
    pub description: String,
    /// Structured provenance.
    pub source: Source,
}

impl Identity {
    fn of(source: &Source) -> Self {
        Identity {
            description: source.to_string(),
            source: source.clone(),
        }
    }
}

/// One credential × host probe.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Who.
    pub identity: Identity,
    /// Where.
    pub host: String,
    /// Verdict of this attempt.
    pub verdict: Verdict,
    /// Its reason.
    pub reason: String,
    /// What the host answered, in one line (e.g. `manifest: HTTP 404 MANIFEST_UNKNOWN`).
    pub answer: String,
    /// Number of HTTP requests it took.
    pub requests: usize,
}

/// One credential × host probe as the orchestrator keeps it while it decides: the report's view
/// of it ([`Attempt`]) and what produced the view. Only the view is output; the evidence leaves
/// the orchestrator beside the report ([`crate::diagnose::Diagnosed`]).
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// What the report shows.
    pub view: Attempt,
    /// The attempt's diagnosis (remediation included).
    pub diagnosis: Diagnosis,
    /// Its exchanges.
    pub evidence: Evidence,
    /// The attempt whose outcome containerd reports for this credential (the host that
    /// resolved the reference, else the first non-404 failure, else the last host).
    pub last_for_credential: bool,
}

impl AttemptRecord {
    /// Records one attempt.
    pub fn new(cred: &Credential, host: String, diagnosis: Diagnosis, evidence: Evidence) -> Self {
        AttemptRecord {
            view: Attempt {
                identity: Identity::of(&cred.source),
                host,
                verdict: diagnosis.verdict,
                reason: diagnosis.reason.clone(),
                answer: answer(&evidence),
                requests: evidence.request_count(),
            },
            diagnosis,
            evidence,
            last_for_credential: false,
        }
    }
}

/// One candidate credential and what it got, in kubelet order (`credentials[]`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialOutcome {
    /// Where it came from (no secret).
    pub source: Source,
    /// One line for humans.
    pub description: String,
    /// Its verdict; absent when it was not tried because an earlier one succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it is the credential the kubelet would succeed with.
    pub used: bool,
}

impl CredentialOutcome {
    /// The outcome of `cred`, from its decisive attempt (if it was tried).
    pub fn new(cred: &Credential, decisive: Option<&AttemptRecord>, used: bool) -> Self {
        CredentialOutcome {
            source: cred.source.clone(),
            description: cred.source.to_string(),
            verdict: decisive.map(|a| a.view.verdict),
            reason: decisive.map(|a| a.view.reason.clone()),
            used,
        }
    }
}

/// What an anonymous pull would get when every credential failed. Only a hint: the kubelet
/// never falls back to anonymous after a credential fails, so this is not the verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnonymousHint {
    /// The anonymous verdict.
    pub verdict: Verdict,
    /// Its reason.
    pub reason: String,
}

impl AnonymousHint {
    /// A hint from an anonymous attempt's verdict and reason.
    pub fn new(verdict: Verdict, reason: &str) -> Self {
        AnonymousHint {
            verdict,
            reason: reason.to_string(),
        }
    }
}

/// What a host answered: the exchange that ended the probe, else the last manifest exchange.
fn answer(ev: &Evidence) -> String {
    use crate::probe::Step;
    let ex = ev
        .terminal_exchange()
        .or_else(|| ev.exchanges.iter().rev().find(|x| x.step == Step::Manifest));
    let Some(ex) = ex else {
        return "no request made".into();
    };
    let step = match ex.step {
        Step::Ping => "ping",
        Step::Manifest => "manifest",
        Step::Token => "token",
        Step::Tags => "tags",
        Step::PlatformManifest => "platform manifest",
        Step::Config => "config blob",
        Step::Layer => "layer blob",
        Step::PlainHttpCheck => "plain-HTTP check",
    };
    match (&ex.transport, ex.status) {
        (Some(t), _) => format!("{step}: {}", t.message),
        (None, Some(status)) => {
            let codes: Vec<&str> = ex.oci_errors.iter().map(|e| e.code.as_str()).collect();
            let mut s = format!("{step}: HTTP {status}");
            if !codes.is_empty() {
                s = format!("{s} {}", codes.join(", "));
            }
            s
        }
        (None, None) => format!("{step}: no answer"),
    }
}

/// The node's own image store, as the runtime reports it: is the image already there, and is
/// there room for it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStore {
    /// The runtime already holds this reference (`ImageStatus`): pods with
    /// `imagePullPolicy: IfNotPresent` start without asking the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// The image ID (config digest) the runtime holds it as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The image filesystem (`ImageFsInfo`, measured by statvfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<ImageFs>,
    /// Why something could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The answer to "can this node pull X".
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Schema version.
    pub api_version: &'static str,
    /// `PullReport`.
    pub kind: &'static str,
    /// The reference as given.
    pub image: String,
    /// The normalised reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// The verdict the kubelet would get.
    pub verdict: Verdict,
    /// Why, in one line.
    pub reason: String,
    /// What fixes it.
    pub remediation: String,
    /// The CLI exit code for this verdict.
    pub exit_code: i32,
    /// Who the verdict is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The node's platform.
    pub node_platform: Platform,
    /// Platforms the image offers (at most
    /// [`MAX_PLATFORMS_LISTED`](crate::probe::manifest::MAX_PLATFORMS_LISTED)).
    pub platforms: Vec<Platform>,
    /// Distinct platforms the image offers past those listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub platforms_omitted: usize,
    /// The platform that would be pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_platform: Option<Platform>,
    /// Manifest digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Manifest media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Latest rate-limit figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The blob path of the selected manifest: layer count, compressed size, the storage hosts
    /// the layers come from, blobs checked now and known good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<BlobFacts>,
    /// The node's image store: image already present, free space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_store: Option<ImageStore>,
    /// Warnings that do not fail the pull.
    pub warnings: Vec<String>,
    /// Where the registry configuration came from, and containerd differences.
    pub endpoints: Option<Endpoints>,
    /// The containerd version whose rules the prediction follows, and where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<crate::runtime::version::RuntimeVersion>,
    /// Whose pull path the prediction follows (containerd or CRI-O) and how that was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_kind: Option<crate::endpoints::runtime_kind::Chosen>,
    /// CRI-O: how a short name became the candidates tried, and what each gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_name: Option<short_name::ShortName>,
    /// Every candidate credential in kubelet order, with its verdict and whether it is used.
    pub credentials: Vec<CredentialOutcome>,
    /// What anonymous would get when every credential failed (not the verdict: the kubelet
    /// does not fall back to anonymous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_hint: Option<AnonymousHint>,
    /// Where the credentials came from: pull secrets, node files, plugins.
    pub identity_sources: IdentitySources,
    /// Every credential × host tried, in order.
    pub attempts: Vec<Attempt>,
    /// The exchanges behind the verdict.
    pub evidence: Vec<Exchange>,
    /// The runtime's own pull beside the registry verdict (`--runtime-pull`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimePull>,
    /// Where the judged manifest came from: `registry` (a GET now), `remembered`, `state_dir`
    /// or `runtime` (the node holds the digest the HEAD named; none of these cost a GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_origin: Option<crate::probe::ManifestOrigin>,
    /// The manifest requests this probe's attempts sent, what registry quotas count (Docker
    /// Hub: each GET is a pull, a HEAD is free).
    pub registry_cost: crate::probe::cost::Spent,
    /// Wall time, milliseconds.
    pub duration_ms: f64,
}

impl Report {
    /// A report for a reference that does not parse.
    pub fn invalid_reference(input: &str, why: &str, node: Platform) -> Self {
        Self::unprobed(input, None, Verdict::InvalidReference, why, node)
    }

    /// A report for an image the node's runtime refuses by configuration before any request
    /// (CRI-O: a `blocked` registries.conf entry).
    pub fn blocked(input: &str, image: &ImageRef, prefix: &str, at: &str, node: Platform) -> Self {
        let why = format!(
            "registries.conf blocks {prefix} ({at}): CRI-O refuses to pull {image} and sends no request"
        );
        Self::unprobed(
            input,
            Some(image.to_string()),
            Verdict::RegistryBlocked,
            &why,
            node,
        )
    }

    /// CRI-O cannot turn a short name into a reference: no alias and no unqualified-search
    /// registries (`message` is CRI-O's own).
    pub fn short_name_unresolved(input: &str, message: &str, node: Platform) -> Self {
        let why = format!("CRI-O refuses the short name without sending a request: {message}");
        Self::unprobed(input, None, Verdict::ShortNameUnresolved, &why, node)
    }

    /// Records the short-name resolution that led to this report (the last candidate tried),
    /// and the time all candidates took.
    pub fn set_short_name(&mut self, outcome: short_name::ShortName, took: std::time::Duration) {
        self.apply(overall::short_name(self.current(), outcome.tried.len()));
        self.duration_ms = (took.as_secs_f64() * 100_000.0).round() / 100.0;
        self.short_name = Some(outcome);
    }

    /// The verdict so far, for [`overall`]'s steps.
    fn current(&self) -> overall::Current<'_> {
        overall::Current {
            verdict: self.verdict,
            reason: &self.reason,
        }
    }

    /// Applies what [`overall`] decided.
    fn apply(&mut self, change: Change) {
        match change {
            Change::Keep => {}
            Change::Warn(w) => self.warnings.push(w),
            Change::Reason(r) => self.reason = r,
            Change::Verdict(d) => {
                self.verdict = d.verdict;
                self.reason = d.reason;
                self.remediation = d.remediation;
                self.exit_code = d.verdict.exit_code();
            }
            Change::Exit(code) => self.exit_code = code,
        }
    }

    /// A report decided without a registry exchange.
    fn unprobed(
        input: &str,
        normalized: Option<String>,
        v: Verdict,
        why: &str,
        node: Platform,
    ) -> Self {
        Report {
            api_version: API_VERSION,
            kind: "PullReport",
            image: input.to_string(),
            normalized,
            verdict: v,
            reason: why.to_string(),
            remediation: v.remediation().to_string(),
            exit_code: v.exit_code(),
            identity: None,
            node_platform: node,
            platforms: vec![],
            platforms_omitted: 0,
            selected_platform: None,
            digest: None,
            media_type: None,
            rate_limit: None,
            layers: None,
            image_store: None,
            warnings: vec![],
            endpoints: None,
            runtime_version: None,
            runtime_kind: None,
            short_name: None,
            credentials: vec![],
            anonymous_hint: None,
            identity_sources: IdentitySources::default(),
            attempts: vec![],
            evidence: vec![],
            runtime: None,
            manifest_origin: None,
            registry_cost: Default::default(),
            duration_ms: 0.0,
        }
    }

    /// Builds the report around the attempt the kubelet's outcome follows.
    pub fn from_attempts(
        input: &str,
        image: &ImageRef,
        endpoints: &Endpoints,
        attempts: &[AttemptRecord],
        top: usize,
        node: Platform,
        took: Duration,
    ) -> Self {
        let t = &attempts[top];
        let ev = &t.evidence;
        let manifest = ev.manifest.as_ref();
        let rate_limit = attempts
            .iter()
            .rev()
            .find_map(|a| a.evidence.rate_limit.clone());
        let mut registry_cost = crate::probe::cost::Spent::default();
        for a in attempts {
            registry_cost.add(&a.evidence.spent);
        }
        Report {
            api_version: API_VERSION,
            kind: "PullReport",
            image: input.to_string(),
            normalized: Some(image.to_string()),
            verdict: t.diagnosis.verdict,
            reason: t.diagnosis.reason.clone(),
            remediation: t.diagnosis.remediation.clone(),
            exit_code: t.diagnosis.verdict.exit_code(),
            identity: Some(t.view.identity.clone()),
            node_platform: node,
            platforms: manifest.map(|m| m.platforms.clone()).unwrap_or_default(),
            platforms_omitted: manifest.map_or(0, |m| m.platforms_omitted),
            selected_platform: manifest.and_then(|m| m.selected.clone()),
            digest: manifest.map(|m| m.digest.clone()),
            media_type: manifest.map(|m| m.media_type.clone()),
            rate_limit,
            layers: ev.blobs.clone(),
            image_store: None,
            warnings: ev.warnings.clone(),
            endpoints: Some(endpoints.clone()),
            runtime_version: None,
            runtime_kind: None,
            short_name: None,
            evidence: ev.exchanges.clone(),
            credentials: vec![],
            anonymous_hint: None,
            identity_sources: IdentitySources::default(),
            manifest_origin: ev.manifest_origin,
            registry_cost,
            attempts: attempts.iter().map(|a| a.view.clone()).collect(),
            runtime: None,
            duration_ms: (took.as_secs_f64() * 100_000.0).round() / 100.0,
        }
    }

    /// The node's identity source failed and nothing could authenticate
    /// ([`overall::identity_unavailable`]).
    pub fn identity_unavailable(&mut self, why: &str) {
        self.apply(overall::identity_unavailable(self.current(), why));
    }

    /// Applies the node's signature policy (CRI-O; [`overall::signature`]).
    pub fn set_signature(&mut self, decision: crate::endpoints::signature_policy::Decision) {
        self.apply(overall::signature(self.current(), decision));
    }

    /// Adds what the runtime's image store says, with the disk judgement
    /// ([`overall::disk`]).
    pub fn set_image_store(&mut self, store: ImageStore, judgement: Judgement) {
        self.apply(overall::disk(self.current(), judgement));
        if store.present == Some(true) {
            self.warnings.push(
                "the runtime already holds this image: pods with imagePullPolicy IfNotPresent start without the registry (Always still asks it)".into(),
            );
        }
        self.image_store = Some(store);
    }

    /// Adds the runtime's pull; behind a registry `ok`, a failing runtime decides the exit code
    /// ([`overall::runtime_pull`]).
    pub fn set_runtime(&mut self, pull: RuntimePull) {
        self.apply(overall::runtime_pull(self.current(), pull.verdict));
        self.runtime = Some(pull);
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
