//! `pullcheck node`: what this node pulls with — the runtime (name, version, conditions), the
//! platform normalised like containerd, the image filesystem's capacity and free space, the
//! registry configuration containerd applies, and the identities available to pull as.

use crate::classify::Verdict;
use crate::endpoints::RegistryConfig;
use crate::identity::cloud::CloudSettings;
use crate::identity::kubelet::EnvSource;
use crate::identity::node_files::FileOutcome;
use crate::identity::node_identity::NodeIdentity;
use crate::identity::{eks, gke};
use crate::platform::Platform;
use crate::runtime::{ImageFs, RuntimeClient, RuntimeInfo};
use serde::Serialize;
use std::fmt::Write;

pub use crate::human::bytes as human_bytes;

/// The runtime as seen over CRI.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeFacts {
    /// `unix:///…`, when one was given or found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `ok` or `runtime_unavailable`.
    pub verdict: Verdict,
    /// Name, versions, conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<RuntimeInfo>,
    /// Image filesystems with capacity and free space.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_filesystems: Vec<ImageFs>,
    /// Why the runtime could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RuntimeFacts {
    /// Asks the runtime (or records why it cannot be asked).
    pub async fn gather(client: Result<&RuntimeClient, String>) -> Self {
        let client = match client {
            Ok(c) => c,
            Err(e) => return Self::unavailable(None, e),
        };
        let endpoint = Some(client.endpoint().url());
        let info = match client.info().await {
            Ok(i) => i,
            Err(e) => return Self::unavailable(endpoint, e.to_string()),
        };
        let (image_filesystems, error) = match client.image_fs().await {
            Ok(fs) => (fs, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Self {
            endpoint,
            verdict: Verdict::Ok,
            info: Some(info),
            image_filesystems,
            error,
        }
    }

    fn unavailable(endpoint: Option<String>, error: String) -> Self {
        Self {
            endpoint,
            verdict: Verdict::RuntimeUnavailable,
            info: None,
            image_filesystems: Vec::new(),
            error: Some(error),
        }
    }
}

/// One identity this node can pull as.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityFact {
    /// `anonymous`, `kubelet`, `nodeFile`, `plugin`, `note`, (later `eks`, `gke`, …).
    pub kind: String,
    /// Who, in words (no secrets).
    pub description: String,
    /// The file, for `nodeFile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The plugin's name, for `plugin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The plugin's `matchImages`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_images: Vec<String>,
    /// The node file's registry keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl IdentityFact {
    /// A fact with only a kind and a description.
    pub fn note(kind: &str, description: &str) -> Self {
        IdentityFact {
            kind: kind.into(),
            description: description.into(),
            path: None,
            name: None,
            match_images: Vec::new(),
            keys: Vec::new(),
        }
    }
}

/// The identities of [`NodeIdentity`]: the kubelet seen, the node file (or the files looked
/// at), each configured plugin with its `matchImages`, notes, and anonymous. No secrets.
pub fn identity_facts(id: &NodeIdentity) -> Vec<IdentityFact> {
    let mut out = Vec::new();
    let k = &id.kubelet;
    let env = match &k.env_source {
        EnvSource::Kubelet { .. } => "plugins get the kubelet's environment",
        EnvSource::Pullcheck => "plugins get pullcheck's environment",
    };
    let who = match k.pid {
        Some(pid) => format!("kubelet pid {pid}"),
        None => "no kubelet visible".to_string(),
    };
    out.push(IdentityFact::note(
        "kubelet",
        &format!(
            "{who}: cwd {}, HOME {:?}, root dir {} ({}); {env}",
            k.cwd.display(),
            k.home,
            id.root_dir.path,
            id.root_dir.from
        ),
    ));
    match id.node_files.used_path() {
        Some(path) => {
            let skipped: Vec<String> = id
                .node_files
                .checked
                .iter()
                .filter(|f| !matches!(f.outcome, FileOutcome::Used { .. }))
                .map(|f| match &f.outcome {
                    FileOutcome::Missing => format!("{} (missing)", f.path),
                    FileOutcome::Unreadable { reason } | FileOutcome::Invalid { reason } => {
                        format!("{} ({reason})", f.path)
                    }
                    FileOutcome::Used { .. } => String::new(),
                })
                .collect();
            let mut description = format!(
                "{path}: the kubelet's node credentials, {} key(s){}",
                id.node_keys().len(),
                if id.node_keys().is_empty() {
                    String::new()
                } else {
                    format!(": {}", id.node_keys().join(", "))
                }
            );
            if !skipped.is_empty() {
                description.push_str(&format!("; looked at first: {}", skipped.join(", ")));
            }
            out.push(IdentityFact {
                path: Some(path.to_string()),
                keys: id.node_keys().to_vec(),
                ..IdentityFact::note("nodeFile", &description)
            });
        }
        None => {
            let looked: Vec<String> = id
                .node_files
                .checked
                .iter()
                .map(|f| match &f.outcome {
                    FileOutcome::Missing => f.path.clone(),
                    FileOutcome::Unreadable { reason } | FileOutcome::Invalid { reason } => {
                        format!("{} ({reason})", f.path)
                    }
                    FileOutcome::Used { .. } => f.path.clone(),
                })
                .collect();
            out.push(IdentityFact::note(
                "nodeFile",
                &format!("none (looked for {})", looked.join(", ")),
            ));
        }
    }
    match id.plugin_config() {
        Some(cfg) => {
            for p in &cfg.providers {
                let mode = if p.service_account_token_mode {
                    "service-account token mode: a per-pod identity, not the node's".to_string()
                } else {
                    format!(
                        "runs {}/{} with the {}",
                        cfg.bin_dir.path,
                        p.name,
                        env.trim_start_matches("plugins get the ")
                    )
                };
                out.push(IdentityFact {
                    name: Some(p.name.clone()),
                    match_images: p.match_images.clone(),
                    ..IdentityFact::note(
                        "plugin",
                        &format!(
                            "{} for {} ({}, cache {}; {mode}) from {}",
                            p.name,
                            p.match_images.join(", "),
                            p.api_version,
                            p.default_cache_duration,
                            cfg.config.path
                        ),
                    )
                });
            }
        }
        None => out.push(IdentityFact::note(
            "plugin",
            "none configured (no --image-credential-provider-config, here or on the kubelet's command line)",
        )),
    }
    for n in &id.notes {
        out.push(IdentityFact::note("note", n));
    }
    out.push(IdentityFact::note(
        "anonymous",
        "no credentials: used only when no credential matches an image",
    ));
    out
}

/// Everything `pullcheck node` reports (`kind: NodeFacts`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    /// `pullcheck.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `NodeFacts`.
    pub kind: &'static str,
    /// The platform this node pulls for, normalised like containerd.
    pub platform: Platform,
    /// The container runtime.
    pub runtime: RuntimeFacts,
    /// The registry configuration containerd applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryConfig>,
    /// Why the registry configuration could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_error: Option<String>,
    /// On a CRI-O node: the registries.conf files, entries, mirrors and flags containers/image
    /// applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crio_registries: Option<crate::endpoints::registries_conf::RegistriesConf>,
    /// Why CRI-O's registries.conf could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crio_registries_error: Option<String>,
    /// On a CRI-O node: the signature policy in force (policy.json), or why it is unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crio_policy: Option<String>,
    /// Identities available to pull as.
    pub identities: Vec<IdentityFact>,
    /// Process exit code: 0, or 11 when the runtime cannot be asked.
    pub exit_code: i32,
}

impl NodeFacts {
    /// Assembles the facts.
    pub fn new(
        platform: Platform,
        runtime: RuntimeFacts,
        registry: Result<RegistryConfig, String>,
        identities: Vec<IdentityFact>,
    ) -> Self {
        let exit_code = runtime.verdict.exit_code();
        let (registry, registry_error) = match registry {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            api_version: crate::report::API_VERSION,
            kind: "NodeFacts",
            platform,
            runtime,
            registry,
            registry_error,
            crio_registries: None,
            crio_registries_error: None,
            crio_policy: None,
            identities,
            exit_code,
        }
    }

    /// Adds CRI-O's registry configuration when the node's runtime is CRI-O (`--runtime-kind`,
    /// the runtime's name, or the socket found); a containerd node is left as it is.
    pub fn with_crio(
        mut self,
        kind: Option<crate::endpoints::runtime_kind::RuntimeKind>,
        files: &crate::endpoints::crio_files::CrioFiles,
    ) -> Self {
        use crate::endpoints::runtime_kind::RuntimeKind;
        let name = self.runtime.info.as_ref().map(|i| i.name.as_str());
        let socket = self
            .runtime
            .endpoint
            .as_deref()
            .map(|e| std::path::Path::new(e.trim_start_matches("unix://")));
        if RuntimeKind::choose(kind, name, socket).kind != RuntimeKind::Crio {
            return self;
        }
        // containerd's files do not apply on a CRI-O node.
        self.registry = None;
        self.registry_error = None;
        match crate::endpoints::registries_conf::RegistriesConf::read_for_node(files) {
            Ok(c) => self.crio_registries = Some(c),
            Err(e) => self.crio_registries_error = Some(crate::error_text::error_chain(&e)),
        }
        self.crio_policy = Some(
            match crate::endpoints::signature_policy::Policy::read(
                files.signature_policy.as_deref(),
                files.registries_d.as_deref(),
            ) {
                Ok(p) => p.summary(),
                Err(e) => format!(
                    "unreadable, so CRI-O fails every pull: {}",
                    crate::error_text::error_chain(&e)
                ),
            },
        );
        self
    }

    /// The human view.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(s, "{:<16}{}", format!("{k}:"), crate::term::escape(v));
        };
        line("Platform", &self.platform.to_string());
        let rt = &self.runtime;
        match &rt.info {
            Some(i) => {
                line(
                    "Runtime",
                    &format!(
                        "{} {} (CRI {}) at {}",
                        i.name,
                        i.version,
                        i.api_version,
                        rt.endpoint.as_deref().unwrap_or("?")
                    ),
                );
                for c in &i.conditions {
                    let state = if c.ok {
                        "true".to_string()
                    } else {
                        format!("false ({}: {})", c.reason, c.message)
                    };
                    line(&format!("  {}", c.kind), &state);
                }
            }
            None => line(
                "Runtime",
                &format!(
                    "unavailable: {}",
                    rt.error.as_deref().unwrap_or("unknown reason")
                ),
            ),
        }
        for fs in &rt.image_filesystems {
            let mut v = fs.mountpoint.clone();
            if let (Some(cap), Some(free)) = (fs.capacity_bytes, fs.available_bytes) {
                let _ = write!(v, " — {} free of {}", human_bytes(free), human_bytes(cap));
            }
            if let Some(used) = fs.used_bytes {
                let _ = write!(v, ", images use {}", human_bytes(used));
            }
            if let Some(n) = &fs.note {
                let _ = write!(v, " ({n})");
            }
            line("Image fs", &v);
        }
        if rt.info.is_some() {
            if let Some(e) = &rt.error {
                line("Image fs", &format!("unknown: {e}"));
            }
        }
        if let Some(r) = &self.registry {
            for l in r.summary_lines() {
                line("Registry", &l);
            }
        }
        if let Some(e) = &self.registry_error {
            line("Registry", &format!("configuration unreadable: {e}"));
        }
        if let Some(c) = &self.crio_registries {
            let files = if c.files.is_empty() {
                "no registries.conf (containers/image defaults: every registry over HTTPS)"
                    .to_string()
            } else {
                c.files.join(", ")
            };
            line("CRI-O config", &files);
            for l in c.summary_lines() {
                line("CRI-O registry", &l);
            }
            for n in &c.notes {
                line("CRI-O note", n);
            }
        }
        if let Some(e) = &self.crio_registries_error {
            line("CRI-O config", &format!("unreadable: {e}"));
        }
        if let Some(p) = &self.crio_policy {
            line("CRI-O policy", p);
        }
        for id in &self.identities {
            line("Identity", &format!("{}: {}", id.kind, id.description));
        }
        crate::term::escape_view(&s).into_owned()
    }
}

/// The built-in cloud identities this node has (asked concurrently, each bounded by the
/// settings' timeout): the EKS instance role, the GKE node service account with its scopes, and
/// a line saying AKS managed identity is not supported.
pub async fn cloud_facts(settings: &CloudSettings) -> Vec<IdentityFact> {
    let gce_host = gke::metadata_host(settings.gce_metadata_host.as_deref());
    // Only the node's own cloud is asked (src/identity/platform.rs).
    let ask_eks = async {
        match settings.not_aws() {
            Some(why) => Err(why),
            None => eks::instance_role(settings.imds_endpoint.as_deref(), settings.timeout)
                .await
                .map_err(|e| format!("not available: {e}")),
        }
    };
    let ask_gke = async {
        match settings.not_gcp() {
            Some(why) => Err(why),
            None => gke::node_token(&gce_host, settings.timeout)
                .await
                .map_err(|e| format!("not available: {e}")),
        }
    };
    let (eks, gke) = tokio::join!(ask_eks, ask_gke);
    let eks = match eks {
        Ok(role) => format!(
            "instance role {role}: used for ECR registries (*.dkr.ecr.*.amazonaws.com) that no credential plugin covers"
        ),
        Err(e) => e,
    };
    let gke = match gke {
        Ok(t) => {
            let scope = if t.has_pull_scope() {
                "has a storage scope".to_string()
            } else {
                "no devstorage or cloud-platform scope: Google registries answer 403".to_string()
            };
            format!(
                "node service account {} (scopes: {}; {scope}): used as user _token for gcr.io / *.pkg.dev that no credential plugin covers",
                t.email,
                t.scopes.join(", ")
            )
        }
        Err(e) => e,
    };
    let mut facts = vec![IdentityFact::note("cloud", &settings.cloud.to_string())];
    facts.extend([
        IdentityFact::note("eks", &eks),
        IdentityFact::note("gke", &gke),
        IdentityFact::note(
            "aks",
            "AKS kubelet managed identity (ACR) is not supported by pullcheck's built-in identities; a node's acr-credential-provider plugin is run like any credential plugin",
        ),
    ]);
    facts
}
