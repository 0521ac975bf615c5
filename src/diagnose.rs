//! The one orchestrator: reference → candidate credentials (kubelet order) → the node's hosts
//! (containerd order) → probe → classify → report. The CLI calls this, and the agent through
//! its probe service. The kubelet's credential order is [`pull_order`]'s.

use crate::classify::{self, Verdict};
use crate::endpoints::crio_files::CrioFiles;
use crate::endpoints::runtime_kind::RuntimeKind;
use crate::endpoints::{self, Endpoints, Host, RegistryConfig};
use crate::identity::cloud::CloudSettings;
use crate::identity::kube_secrets;
use crate::identity::node_identity::NodeIdentity;
use crate::identity::pull_order::{self, KubeRequest};
use crate::identity::{docker_config, Credential, RegistryAuth, Source};
use crate::probe::cost::GetGate;
use crate::probe::{Context, Evidence, Prober};
use crate::reference::ImageRef;
use crate::report::{AnonymousHint, AttemptRecord, CredentialOutcome, Report};
use crate::runtime::version::{self, RuntimeVersion};
use crate::runtime::ImageInfo;
use crate::runtime::{self, RuntimeClient};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod crio;

/// Why a diagnosis could not even start (bad local configuration, named precisely).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pull-secret docker config file is unusable (the kubelet fails the whole lookup).
    #[error(transparent)]
    DockerConfig(#[from] docker_config::Error),
    /// The registry configuration (config.toml, hosts.toml) is unusable.
    #[error(transparent)]
    Endpoints(#[from] endpoints::Error),
    /// The pod or a pull secret could not be read from the Kubernetes API.
    #[error(transparent)]
    Kube(#[from] kube_secrets::Error),
}

impl From<pull_order::Error> for Error {
    fn from(e: pull_order::Error) -> Self {
        match e {
            pull_order::Error::DockerConfig(e) => Error::DockerConfig(e),
            pull_order::Error::Kube(e) => Error::Kube(e),
        }
    }
}

/// What to diagnose.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The image reference as the pod spec has it.
    pub image: String,
    /// Explicit credentials (`--username`/`--password-stdin`).
    pub basic: Option<RegistryAuth>,
    /// Pull-secret docker config files (`--docker-config`, repeatable), in pod-spec order; read
    /// into one keyring as the kubelet reads a pod's `imagePullSecrets`.
    pub docker_configs: Vec<PathBuf>,
    /// The node's own credentials (node file, credential plugins), gathered once and shared
    /// (the plugin cache lives there); `None`: the node side is not consulted.
    pub node_identity: Option<Arc<NodeIdentity>>,
    /// containerd `certs.d` root (`--hosts-dir`), used instead of containerd's `config_path`.
    pub hosts_dir: Option<PathBuf>,
    /// containerd's config file (`--containerd-config`; default `/etc/containerd/config.toml`,
    /// where a missing file means containerd's defaults).
    pub containerd_config: Option<PathBuf>,
    /// Also pull through the runtime (`--runtime-pull`).
    pub runtime_pull: Option<RuntimePullRequest>,
    /// The node's runtime, asked whether the image is already there and whether it fits
    /// (`ImageStatus`, `ImageFsInfo`); `Some(Err(why))`: there is none to ask (said in the
    /// report); `None`: not asked.
    pub runtime: Option<Result<RuntimeClient, String>>,
    /// Pull secrets from the Kubernetes API (`--pod`, `--secret`).
    pub kube: Option<KubeRequest>,
    /// The built-in node identities (EKS, GKE), consulted when no credential plugin covers the
    /// registry; `None`: not consulted.
    pub cloud: Option<CloudSettings>,
    /// `--runtime-version`: predict for this containerd instead of asking the runtime.
    pub runtime_version: Option<RuntimeVersion>,
    /// Asked before each manifest `GET` (the agent's budgets); `None`: no budget.
    pub gets: Option<Arc<dyn GetGate>>,
    /// `--runtime-kind`: follow this runtime's pull path instead of the one the node reports.
    pub runtime_kind: Option<RuntimeKind>,
    /// CRI-O's files (registries.conf, certs.d, auth file, policy, short-name aliases).
    pub crio: CrioFiles,
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

/// A diagnosis: the report (the output), and the evidence of each of its attempts, in order
/// (for the agent's metrics, rate-limit board and budget; never output as such).
#[derive(Debug, Clone)]
pub struct Diagnosed {
    /// The report.
    pub report: Report,
    /// Each attempt's evidence, aligned with `report.attempts`.
    pub evidence: Vec<Evidence>,
}

impl Diagnosed {
    fn bare(report: Report) -> Self {
        Diagnosed {
            report,
            evidence: Vec::new(),
        }
    }
}

/// Runs a diagnosis.
pub async fn diagnose(prober: &Prober, req: &Request) -> Result<Diagnosed, Error> {
    let started = Instant::now();
    // The kubelet looks credentials up under the normalized name (`nginx` is
    // `docker.io/library/nginx`) whatever the runtime later makes of it.
    let image = match ImageRef::parse(&req.image) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Diagnosed::bare(Report::invalid_reference(
                &req.image,
                &e.to_string(),
                prober.options().platform.clone(),
            )))
        }
    };
    let version = predicted_version(req).await;
    let kind = RuntimeKind::choose(
        req.runtime_kind,
        (version.source == version::VersionSource::Runtime).then_some(version.name.as_str()),
        runtime_socket(req),
    );
    let pull_order::Candidates {
        credentials: kubelet,
        mut sources,
        warnings: cloud_warnings,
    } = pull_order::candidates(
        &image,
        &pull_order::Asked {
            basic: req.basic.as_ref(),
            docker_configs: &req.docker_configs,
            kube: req.kube.as_ref(),
            node: req.node_identity.as_deref(),
            cloud: req.cloud.as_ref(),
        },
    )
    .await?;
    // What the runtime holds under this reference: a digest it has needs no manifest GET.
    let status = match &req.runtime {
        Some(Ok(client)) => Some(client.image_status(&req.image).await),
        _ => None,
    };
    let held: &[String] = match &status {
        Some(Ok(Some(info))) => &info.repo_digests,
        _ => &[],
    };
    // One deadline for every registry exchange of this probe, whichever hosts and credentials
    // it tries (the credentials were gathered above, under their own limits).
    let ctx = Context {
        held,
        gets: req.gets.as_deref(),
        deadline: Instant::now().checked_add(prober.options().step_timeout),
    };
    let probed = match kind.kind {
        RuntimeKind::Containerd => {
            let config =
                RegistryConfig::read(req.containerd_config.as_deref(), req.hosts_dir.as_deref())?;
            let mut endpoints = config.resolve_for(&image, version.for_endpoints())?;
            endpoints::version_rules::apply(&mut endpoints, version.host_rules(), &version.label());
            if let Some(note) = endpoints::version_rules::config_note(
                config.config_version,
                version.host_rules(),
                &version.label(),
            ) {
                endpoints.notes.push(note);
            }
            let on = Hosts {
                prober,
                ctx,
                input: &req.image,
                started,
            };
            on.probe(&image, endpoints, kubelet).await
        }
        RuntimeKind::Crio => {
            let on = Hosts {
                prober,
                ctx,
                input: &req.image,
                started,
            };
            let crio = crio::pull(&on, req, &image, kubelet).await?;
            sources.notes.extend(crio.notes);
            crio.probed
        }
    };
    let Probed {
        mut report,
        evidence,
        auth,
        credentials,
    } = probed;
    report.runtime_version = Some(version);
    report.runtime_kind = Some(kind);
    report.warnings.extend(cloud_warnings);
    // The node's own identity failed and nothing else could authenticate: that is the cause.
    if let Some(why) = pull_order::unavailable_identity(&sources, &credentials) {
        report.identity_unavailable(&why);
    }
    report.identity_sources = sources;
    match &req.runtime {
        Some(Ok(client)) => {
            let status = status.unwrap_or(Ok(None));
            let (store, judgement) = image_store(client, status, &report).await;
            report.set_image_store(store, judgement);
        }
        Some(Err(why)) => report.set_image_store(
            crate::report::ImageStore {
                notes: vec![format!("image presence and free space not checked: {why}")],
                ..Default::default()
            },
            classify::disk::Judgement::Fits,
        ),
        None => {}
    }
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
    Ok(Diagnosed { report, evidence })
}

/// What probing one image on its hosts gave.
struct Probed {
    report: Report,
    /// The evidence of each of the report's attempts, in order.
    evidence: Vec<Evidence>,
    /// The credential the decisive attempt sent (the runtime pull sends the same).
    auth: RegistryAuth,
    /// The credentials tried, in order.
    credentials: Vec<Credential>,
}

/// What every probe of one diagnosis shares.
struct Hosts<'a> {
    prober: &'a Prober,
    ctx: Context<'a>,
    /// The reference as the pod spec has it.
    input: &'a str,
    started: Instant,
}

impl Hosts<'_> {
    /// Tries the credentials in the kubelet's order on the hosts in the runtime's order, and
    /// reports the decisive attempt.
    async fn probe(
        &self,
        image: &ImageRef,
        mut endpoints: Endpoints,
        candidates: Vec<Credential>,
    ) -> Probed {
        let (prober, ctx) = (self.prober, self.ctx);
        endpoints.proxy = Some(prober.proxy().summary());
        endpoints
            .notes
            .extend(capability_notes(image, &endpoints.hosts));
        let mut attempts = Vec::new();
        let mut winner: Option<usize> = None;
        // The candidate each attempt used, so the runtime pull can send the same credential.
        let mut owner: Vec<usize> = Vec::new();
        for (ci, cred) in candidates.iter().enumerate() {
            let found = try_credential(prober, ctx, image, &endpoints, cred, &mut attempts).await;
            owner.resize(attempts.len(), ci);
            if let Some(i) = found {
                winner = Some(i);
                break;
            }
        }
        // The kubelet reports the first credential's failure first; when one succeeds, that one.
        let first_final = attempts
            .iter()
            .position(|a: &AttemptRecord| a.last_for_credential)
            .unwrap_or(0);
        let top = winner.unwrap_or(first_final);
        let auth = owner
            .get(top)
            .map_or(RegistryAuth::Anonymous, |&i| candidates[i].auth.clone());
        // No anonymous fallback after a failure, but say what anonymous would get.
        let anonymous_hint = if winner.is_none()
            && !candidates
                .iter()
                .all(|c| matches!(c.source, Source::Anonymous))
        {
            let mut hint = Vec::new();
            try_credential(
                prober,
                ctx,
                image,
                &endpoints,
                &Credential::anonymous(),
                &mut hint,
            )
            .await;
            hint.iter()
                .find(|a| a.last_for_credential)
                .or(hint.last())
                .map(|a| AnonymousHint::new(a.view.verdict, &a.view.reason))
        } else {
            None
        };
        let outcomes = credential_outcomes(&candidates, &attempts, &owner, winner);
        let mut report = Report::from_attempts(
            self.input,
            image,
            &endpoints,
            &attempts,
            top,
            prober.options().platform.clone(),
            self.started.elapsed(),
        );
        report.credentials = outcomes;
        report.anonymous_hint = anonymous_hint;
        Probed {
            report,
            evidence: attempts.into_iter().map(|a| a.evidence).collect(),
            auth,
            credentials: candidates,
        }
    }
}

/// The CRI socket the node's runtime answers on, when one is known.
fn runtime_socket(req: &Request) -> Option<&std::path::Path> {
    match (&req.runtime, &req.runtime_pull) {
        (Some(Ok(c)), _) => Some(c.endpoint().path.as_path()),
        (_, Some(rp)) => Some(rp.client.endpoint().path.as_path()),
        _ => None,
    }
}

/// The containerd whose rules the probe follows: the flag's, else the runtime's own (CRI
/// `Version`), else the stated default.
async fn predicted_version(req: &Request) -> RuntimeVersion {
    if let Some(v) = &req.runtime_version {
        return v.clone();
    }
    let client = match (&req.runtime, &req.runtime_pull) {
        (Some(Ok(c)), _) => c,
        (_, Some(rp)) => &rp.client,
        // Why there is no runtime is said once, in the image store's note.
        (Some(Err(_)), None) => {
            return RuntimeVersion::default_assumed(
                "no runtime to ask its version (the image store's note says why)",
            )
        }
        (None, None) => return RuntimeVersion::default_assumed("the runtime was not asked"),
    };
    match client.version().await {
        Ok((name, version)) => RuntimeVersion::from_runtime(&name, &version),
        Err(e) => {
            RuntimeVersion::default_assumed(&format!("the runtime did not answer Version: {e}"))
        }
    }
}

/// The runtime's image store: is the image there (the reference as the pod spec has it), how
/// much room is there, and the judgement of the image's compressed size against it.
async fn image_store(
    client: &RuntimeClient,
    status: Result<Option<ImageInfo>, runtime::client::Error>,
    report: &Report,
) -> (crate::report::ImageStore, classify::disk::Judgement) {
    let mut store = crate::report::ImageStore::default();
    match status {
        Ok(found) => {
            store.present = Some(found.is_some());
            store.image_id = found.map(|i| i.id);
        }
        Err(e) => store.notes.push(format!(
            "ImageStatus: {}",
            crate::error_text::error_chain(&e)
        )),
    }
    match client.image_fs().await {
        Ok(fs) => store.filesystem = fs.into_iter().next(),
        Err(e) => store.notes.push(format!(
            "ImageFsInfo: {}",
            crate::error_text::error_chain(&e)
        )),
    }
    let judgement = match (&store.filesystem, &report.layers) {
        (Some(fs), Some(layers)) => match (fs.available_bytes, fs.capacity_bytes) {
            (Some(available), Some(capacity)) => classify::disk::judge(
                layers.compressed_bytes,
                classify::disk::Space {
                    available,
                    capacity,
                },
                store.present == Some(true),
                &fs.mountpoint,
            ),
            _ => classify::disk::Judgement::Fits,
        },
        _ => classify::disk::Judgement::Fits,
    };
    (store, judgement)
}

/// Tries one credential on the node's hosts in containerd order; returns the index of a
/// successful attempt.
async fn try_credential(
    prober: &Prober,
    ctx: Context<'_>,
    image: &ImageRef,
    endpoints: &Endpoints,
    cred: &Credential,
    attempts: &mut Vec<AttemptRecord>,
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
    let anonymous = Credential::anonymous();
    for host in &hosts {
        // CRI-O sends a mirror on another domain its own auth-file entry, not the kubelet's.
        let cred = if host.withhold_credentials {
            host.own_credential.as_ref().unwrap_or(&anonymous)
        } else {
            cred
        };
        let evidence = prober.probe_in(image, host, cred, ctx).await;
        let diagnosis = classify::classify_sent(&evidence, &image.registry, &cred.source);
        let ok = diagnosis.verdict == Verdict::Ok;
        let outcome = Outcome::of(&evidence);
        attempts.push(AttemptRecord::new(
            cred,
            host.url.clone(),
            diagnosis,
            evidence,
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
    // CRI-O (containers/image) returns the registry's own error, the last host's.
    let decisive = if endpoints.last_error_decides {
        attempts.len().checked_sub(1).filter(|&i| i >= first)
    } else {
        attempts[first..]
            .iter()
            .zip(&hosts)
            .position(|(a, h)| Outcome::of(&a.evidence) == Outcome::Failed && !fell_back(h, a))
            .map(|i| first + i)
            .or(attempts.len().checked_sub(1).filter(|&i| i >= first))
    };
    if let Some(i) = decisive {
        attempts[i].last_for_credential = true;
    }
    None
}

/// A TLS attempt containerd's HTTP fallback transport hides: the server answered in plain
/// HTTP, so the same address over `http://` (the next host) is what the runtime sees.
fn fell_back(host: &Host, attempt: &AttemptRecord) -> bool {
    host.http_fallback
        && attempt.evidence.exchanges.iter().any(|e| {
            e.transport
                .as_ref()
                .is_some_and(|t| t.kind == crate::net::transport::TransportKind::TlsNotTls)
        })
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

/// One line per candidate: its decisive verdict, or none when an earlier one succeeded (the
/// kubelet stops there).
fn credential_outcomes(
    candidates: &[Credential],
    attempts: &[AttemptRecord],
    owner: &[usize],
    winner: Option<usize>,
) -> Vec<CredentialOutcome> {
    let used = winner.and_then(|w| owner.get(w).copied());
    candidates
        .iter()
        .enumerate()
        .map(|(ci, cred)| {
            let decisive = attempts
                .iter()
                .zip(owner)
                .filter(|(_, &o)| o == ci)
                .map(|(a, _)| a)
                .find(|a| a.last_for_credential);
            CredentialOutcome::new(cred, decisive, used == Some(ci))
        })
        .collect()
}
