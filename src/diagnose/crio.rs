//! The CRI-O pull path of a diagnosis. A short name first becomes CRI-O's candidates
//! ([`crate::endpoints::short_names`]); each candidate is then probed on the hosts its
//! registries.conf entry gives (mirrors, blocks), with CRI-O's auth file when the kubelet sends
//! nothing, and checked against the signature policy. CRI-O stops at the first candidate that
//! pulls and otherwise returns the last candidate's error; the report says the same.

use super::{Error, Hosts, Probed, Request};
use crate::classify::Verdict;
use crate::endpoints::registries_conf::{RegistriesConf, Resolution};
use crate::endpoints::signature_policy::Policy;
use crate::identity::crio_auth::AuthFile;
use crate::identity::{Credential, RegistryAuth, Source};
use crate::reference::ImageRef;
use crate::report::short_name::{Candidate, ShortName};
use crate::report::Report;

/// The CRI-O path's answer and the notes about the files it read.
pub(super) struct Crio {
    pub probed: Probed,
    pub notes: Vec<String>,
}

/// The files read once per diagnosis.
struct Files {
    conf: RegistriesConf,
    policy: Policy,
    auth: Option<AuthFile>,
}

/// Diagnoses `on.input` as CRI-O pulls it; `image` is the kubelet's normalized reference and
/// `kubelet` the credentials the kubelet would send for it.
pub(super) async fn pull(
    on: &Hosts<'_>,
    req: &Request,
    image: &ImageRef,
    kubelet: Vec<Credential>,
) -> Result<Crio, Error> {
    let (auth, notes) = AuthFile::for_node(req.crio.crio_auth_file.as_deref());
    let files = Files {
        conf: RegistriesConf::read_for_node(&req.crio)?,
        policy: Policy::read(
            req.crio.signature_policy.as_deref(),
            req.crio.registries_d.as_deref(),
        )?,
        auth,
    };
    let resolved = match files.conf.short_names.resolve(on.input) {
        Ok(None) => {
            let probed = one(on, &files, image, kubelet).await?;
            return Ok(Crio { probed, notes });
        }
        Ok(Some(r)) => r,
        Err(u) => {
            let report = Report::short_name_unresolved(
                on.input,
                &u.message,
                on.prober.options().platform.clone(),
            );
            let probed = Probed {
                report,
                evidence: Vec::new(),
                auth: RegistryAuth::Anonymous,
                credentials: kubelet,
            };
            return Ok(Crio { probed, notes });
        }
    };
    let kubelet_sends = kubelet
        .iter()
        .any(|c| !matches!(c.source, Source::Anonymous));
    let mut tried = Vec::new();
    let mut last: Option<Probed> = None;
    for reference in &resolved.candidates {
        let candidate = match ImageRef::parse(reference) {
            Ok(c) => c,
            Err(e) => {
                tried.push(Candidate {
                    reference: reference.clone(),
                    verdict: Verdict::InvalidReference,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let mut probed = one(on, &files, &candidate, kubelet.clone()).await?;
        if kubelet_sends && candidate.registry != image.registry {
            probed.report.warnings.push(format!(
                "the kubelet's credentials are looked up for {} but CRI-O sends them to {} too: it sends a pull's credentials to every candidate",
                image.registry, candidate.registry
            ));
        }
        tried.push(Candidate {
            reference: candidate.to_string(),
            verdict: probed.report.verdict,
            reason: probed.report.reason.clone(),
        });
        let pulled = probed.report.verdict == Verdict::Ok;
        last = Some(probed);
        if pulled {
            break;
        }
    }
    let outcome = ShortName {
        input: resolved.input.clone(),
        resolved_by: resolved.rationale,
        origin: resolved.origin.clone(),
        candidates: resolved.candidates.len(),
        tried,
    };
    let mut probed = match last {
        Some(p) => p,
        None => {
            let why = outcome
                .tried
                .last()
                .map_or("no candidate", |c| c.reason.as_str())
                .to_string();
            Probed {
                report: Report::invalid_reference(
                    on.input,
                    &why,
                    on.prober.options().platform.clone(),
                ),
                evidence: Vec::new(),
                auth: RegistryAuth::Anonymous,
                credentials: kubelet,
            }
        }
    };
    probed.report.set_short_name(outcome, on.started.elapsed());
    Ok(Crio { probed, notes })
}

/// One fully-qualified reference on CRI-O's hosts for it.
async fn one(
    on: &Hosts<'_>,
    files: &Files,
    image: &ImageRef,
    kubelet: Vec<Credential>,
) -> Result<Probed, Error> {
    let mut candidates = kubelet;
    // CRI-O uses its global_auth_file only when the kubelet sends no credentials.
    let kubelet_sends = candidates
        .iter()
        .any(|c| !matches!(c.source, Source::Anonymous));
    if let (Some(file), false) = (&files.auth, kubelet_sends) {
        if let Some(c) = file.lookup(&image.name()) {
            candidates = vec![c];
        }
    }
    let endpoints = match files.conf.resolve(image)? {
        Resolution::Hosts(mut e) => {
            for h in e.hosts.iter_mut().filter(|h| h.withhold_credentials) {
                let name = format!(
                    "{}/{}",
                    h.authority().unwrap_or_default(),
                    h.repository.as_deref().unwrap_or(&image.repository)
                );
                h.own_credential = files.auth.as_ref().and_then(|f| f.lookup(&name));
            }
            e
        }
        Resolution::Blocked { prefix, at } => {
            let report = Report::blocked(
                on.input,
                image,
                &prefix,
                &at,
                on.prober.options().platform.clone(),
            );
            return Ok(Probed {
                report,
                evidence: Vec::new(),
                auth: RegistryAuth::Anonymous,
                credentials: candidates,
            });
        }
    };
    let mut probed = on.probe(image, endpoints, candidates).await;
    probed
        .report
        .set_signature(files.policy.decide(image, probed.report.digest.as_deref()));
    Ok(probed)
}
