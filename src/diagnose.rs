//! The one orchestrator: reference → candidate credentials (kubelet order) → the node's hosts
//! (containerd order) → probe → classify → report. The CLI (and later the agent) call this.

use crate::classify::{self, Verdict};
use crate::endpoints::{self, Endpoints};
use crate::identity::{docker_config::Keyring, Credential, RegistryAuth, Source};
use crate::probe::Prober;
use crate::reference::ImageRef;
use crate::report::{Attempt, Report};
use std::path::PathBuf;
use std::time::Instant;

/// Why a diagnosis could not even start (bad local configuration, named precisely).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The docker config file is unusable.
    #[error(transparent)]
    DockerConfig(#[from] crate::identity::docker_config::Error),
    /// The registry configuration (hosts.toml) is unusable.
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
    /// containerd `certs.d` root (`--hosts-dir`).
    pub hosts_dir: Option<PathBuf>,
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
    let endpoints = endpoints::resolve(&image, req.hosts_dir.as_deref())?;
    let mut attempts = Vec::new();
    let mut winner: Option<usize> = None;
    for cred in &candidates {
        if let Some(i) = try_credential(prober, &image, &endpoints, cred, &mut attempts).await {
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
    Ok(Report::from_attempts(
        &req.image,
        &image,
        &endpoints,
        attempts,
        top,
        prober.options().platform.clone(),
        started.elapsed(),
    ))
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
    for (i, host) in hosts.iter().enumerate() {
        let evidence = prober.probe(image, host, cred).await;
        let diagnosis = classify::classify(&evidence);
        let ok = diagnosis.verdict == Verdict::Ok;
        // containerd moves on to the next host after a failure; the last host's error is what
        // the kubelet sees.
        let last = ok || i + 1 == hosts.len();
        attempts.push(Attempt::new(
            cred,
            host.url.clone(),
            diagnosis,
            evidence,
            last,
        ));
        if ok {
            return Some(attempts.len() - 1);
        }
    }
    None
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
