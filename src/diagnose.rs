//! The one orchestrator: reference → candidate credentials (kubelet order) → the node's hosts
//! (containerd order) → probe → classify → report. The CLI (and later the agent) call this.

use crate::classify::{self, Verdict};
use crate::endpoints::{self, Endpoints, Host, RegistryConfig};
use crate::identity::{docker_config::Keyring, Credential, RegistryAuth, Source};
use crate::probe::{Evidence, Prober};
use crate::reference::ImageRef;
use crate::report::{Attempt, Report};
use crate::runtime::{self, RuntimeClient};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why a diagnosis could not even start (bad local configuration, named precisely).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The docker config file is unusable.
    #[error(transparent)]
    DockerConfig(#[from] crate::identity::docker_config::Error),
    /// The registry configuration (config.toml, hosts.toml) is unusable.
    #[error(transparent)]
    Endpoints(#[from] endpoints::Error),
}

/// What to diagnose.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The image reference as the pod spec has it.
    pub image: String,
    /// Explicit credentials (`--username`/`--password-stdin`).
    pub basic: Option<RegistryAuth>,
    /// A docker config file (`--docker-config`), read with kubelet keyring semantics.
    pub docker_config: Option<PathBuf>,
    /// containerd `certs.d` root (`--hosts-dir`), used instead of containerd's `config_path`.
    pub hosts_dir: Option<PathBuf>,
    /// containerd's config file (`--containerd-config`; default `/etc/containerd/config.toml`,
    /// where a missing file means containerd's defaults).
    pub containerd_config: Option<PathBuf>,
    /// Also pull through the runtime (`--runtime-pull`).
    pub runtime_pull: Option<RuntimePullRequest>,
}

/// How to run the runtime's own pull.
#[derive(Debug, Clone)]
pub struct RuntimePullRequest {
    /// The CRI client.
    pub client: RuntimeClient,
    /// Leave the pulled image on the node (`--keep`).
    pub keep: bool,
    /// Time limit for `PullImage`.
    pub limit: Duration,
}

/// Runs a diagnosis.
pub async fn diagnose(prober: &Prober, req: &Request) -> Result<Report, Error> {
    let started = Instant::now();
    let image = match ImageRef::parse(&req.image) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Report::invalid_reference(
                &req.image,
                &e.to_string(),
                prober.options().platform.clone(),
            ))
        }
    };
    let candidates = candidates(&image, req)?;
    let config = RegistryConfig::read(req.containerd_config.as_deref(), req.hosts_dir.as_deref())?;
    let mut endpoints = config.resolve(&image)?;
    endpoints.proxy = Some(prober.proxy().summary());
    endpoints
        .notes
        .extend(capability_notes(&image, &endpoints.hosts));
    let mut attempts = Vec::new();
    let mut winner: Option<usize> = None;
    // The candidate each attempt used, so the runtime pull can send the same credential.
    let mut owner: Vec<usize> = Vec::new();
    for (ci, cred) in candidates.iter().enumerate() {
        let found = try_credential(prober, &image, &endpoints, cred, &mut attempts).await;
        owner.resize(attempts.len(), ci);
        if let Some(i) = found {
            winner = Some(i);
            break;
        }
    }
    // The kubelet reports the first credential's failure first; when one succeeds, that one.
    let first_final = attempts
        .iter()
        .position(|a: &Attempt| a.last_for_credential)
        .unwrap_or(0);
    let top = winner.unwrap_or(first_final);
    let auth = owner
        .get(top)
        .map_or(RegistryAuth::Anonymous, |&i| candidates[i].auth.clone());
    let mut report = Report::from_attempts(
        &req.image,
        &image,
        &endpoints,
        attempts,
        top,
        prober.options().platform.clone(),
        started.elapsed(),
    );
    if let Some(rp) = &req.runtime_pull {
        // The kubelet hands the pod spec's reference to the runtime as written.
        let pull = runtime::pull::pull(
            &rp.client,
            &req.image,
            &auth,
            rp.keep,
            rp.limit,
            report.verdict,
        )
        .await;
        report.set_runtime(pull);
    }
    Ok(report)
}

/// Tries one credential on the node's hosts in containerd order; returns the index of a
/// successful attempt.
async fn try_credential(
    prober: &Prober,
    image: &ImageRef,
    endpoints: &Endpoints,
    cred: &Credential,
    attempts: &mut Vec<Attempt>,
) -> Option<usize> {
    let by_digest = image.digest.is_some();
    let hosts: Vec<_> = endpoints
        .hosts
        .iter()
        .filter(|h| if by_digest { h.pull } else { h.resolve })
        .collect();
    let hosts = if hosts.is_empty() {
        endpoints.hosts.iter().rev().take(1).collect()
    } else {
        hosts
    };
    let first = attempts.len();
    for host in hosts {
        let evidence = prober.probe(image, host, cred).await;
        let diagnosis = classify::classify(&evidence);
        let ok = diagnosis.verdict == Verdict::Ok;
        let outcome = Outcome::of(&evidence);
        attempts.push(Attempt::new(
            cred,
            host.url.clone(),
            diagnosis,
            evidence,
            false,
        ));
        // containerd stops at the first host that resolves the reference (a content problem
        // found afterwards is final); a transport error, 404 or any status >= 400 moves on.
        if outcome == Outcome::Resolved {
            let i = attempts.len() - 1;
            attempts[i].last_for_credential = true;
            return ok.then_some(i);
        }
    }
    // No host resolved it: containerd returns the first error that was not a 404, else
    // "not found" (shown with the last host's answer).
    let decisive = attempts[first..]
        .iter()
        .position(|a| Outcome::of(&a.evidence) == Outcome::Failed)
        .map(|i| first + i)
        .or(attempts.len().checked_sub(1).filter(|&i| i >= first));
    if let Some(i) = decisive {
        attempts[i].last_for_credential = true;
    }
    None
}

/// What a host's answer means for containerd's host loop.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The manifest request succeeded: containerd goes no further.
    Resolved,
    /// 404 on the manifest: next host, and "not found" if none has it.
    NotFound,
    /// Transport error or another status >= 400: next host; the first such error is reported.
    Failed,
}

impl Outcome {
    fn of(ev: &Evidence) -> Self {
        if ev.manifest_resolved() {
            Outcome::Resolved
        } else if ev.manifest_not_found() {
            Outcome::NotFound
        } else {
            Outcome::Failed
        }
    }
}

/// Hosts containerd skips for this reference: tags resolve only on hosts with `resolve`,
/// digests only on hosts with `pull`.
fn capability_notes(image: &ImageRef, hosts: &[Host]) -> Vec<String> {
    let (cap, what) = if image.digest.is_some() {
        ("pull", "pulls by digest")
    } else {
        ("resolve", "resolves tags")
    };
    let has = |h: &Host| if cap == "pull" { h.pull } else { h.resolve };
    let mut notes: Vec<String> = hosts
        .iter()
        .filter(|h| !has(h))
        .map(|h| {
            format!(
                "{} skipped: containerd {what} only on hosts with the `{cap}` capability",
                h.url
            )
        })
        .collect();
    if !hosts.iter().any(has) {
        notes.push(format!(
            "no host has the `{cap}` capability: containerd fails this pull (\"no {cap} hosts: not found\"); \
             the last host was probed anyway to show what it answers"
        ));
    }
    notes
}

/// Candidate credentials in kubelet order: explicit flags, then docker-config matches, else
/// anonymous (no anonymous fallback after a credential fails).
fn candidates(image: &ImageRef, req: &Request) -> Result<Vec<Credential>, Error> {
    let mut out = Vec::new();
    if let Some(auth @ RegistryAuth::Basic { username, .. }) = &req.basic {
        out.push(Credential {
            auth: auth.clone(),
            source: Source::Flags {
                username: username.clone(),
            },
        });
    }
    if let Some(path) = &req.docker_config {
        out.extend(Keyring::from_file(path)?.lookup(&image.name()));
    }
    if out.is_empty() {
        out.push(Credential::anonymous());
    }
    Ok(out)
}
