//! One node setup for the CLI and the agent alike: the node-side settings both take
//! ([`NodeSettings`], from `pullcheck`'s flags or the agent's configuration) and what both
//! build from them — the node's credential sources, the CRI client (given, or the socket
//! found), the client a runtime pull uses, the proxy environment of the runtime that pulls, and
//! the cloud identities' endpoints.

use crate::endpoints::containerd_process;
use crate::endpoints::crio_files::CrioFiles;
use crate::endpoints::runtime_kind::RuntimeKind;
use crate::endpoints::runtime_proxy;
use crate::identity::cloud::CloudSettings;
use crate::identity::node_identity::{self, NodeIdentity, NodeIdentityConfig};
use crate::identity::platform::Cloud;
use crate::net::proxy::ProxyEnv;
use crate::runtime::endpoint::KNOWN_SOCKETS;
use crate::runtime::{RuntimeClient, RuntimeEndpoint};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The node-side settings, from `pullcheck`'s flags or the agent's configuration (the same
/// names in both).
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Time limit per probe step.
    pub timeout: Duration,
    /// containerd certs.d root override.
    pub hosts_dir: Option<PathBuf>,
    /// containerd's config file.
    pub containerd_config: Option<PathBuf>,
    /// The host's /proc.
    pub proc_root: PathBuf,
    /// The kubelet's root dir.
    pub kubelet_root_dir: Option<PathBuf>,
    /// Credential provider config.
    pub image_credential_provider_config: Option<PathBuf>,
    /// Credential provider binaries.
    pub image_credential_provider_bin_dir: Option<PathBuf>,
    /// Time limit per plugin run.
    pub credential_provider_timeout: Duration,
    /// CRI endpoint (`None`: detect).
    pub runtime_endpoint: Option<RuntimeEndpoint>,
    /// Time limit per CRI call.
    pub runtime_timeout: Duration,
    /// Time limit for PullImage.
    pub runtime_pull_timeout: Duration,
    /// IMDS endpoint for EKS.
    pub imds_endpoint: Option<String>,
    /// GCE metadata host for GKE.
    pub gce_metadata_host: Option<String>,
    /// Time limit per metadata request.
    pub metadata_timeout: Duration,
    /// Whether the built-in cloud identities (EKS, GKE) are consulted.
    pub cloud_identity: bool,
    /// The node's cloud (`--cloud`, or DMI): only its identity is asked.
    pub cloud: Cloud,
    /// Where manifest and config bodies are kept across restarts (`None`: memory only).
    pub state_dir: Option<PathBuf>,
    /// Whose pull path to follow (`None`: the runtime's own).
    pub runtime_kind: Option<RuntimeKind>,
    /// CRI-O's files.
    pub crio: CrioFiles,
}

impl NodeSettings {
    /// The node's credential sources: the kubelet's view, the node file, the credential
    /// providers (the kubelet's flags, unless these settings name others).
    pub fn node_identity(&self) -> Result<NodeIdentity, node_identity::Error> {
        NodeIdentity::load(&NodeIdentityConfig {
            proc_root: self.proc_root.clone(),
            kubelet_root_dir: self.kubelet_root_dir.clone(),
            provider_config: self.image_credential_provider_config.clone(),
            provider_bin_dir: self.image_credential_provider_bin_dir.clone(),
            plugin_timeout: self.credential_provider_timeout,
        })
    }

    /// containerd's config file: the one given, else the one the node's containerd was started
    /// with (its `--config`, read under `proc_root`: k3s, RKE2 and hand-made nodes keep it away
    /// from /etc/containerd) when it can be read here, else `None` (the default path, if it
    /// exists). A file the flag names that is not visible or readable here (not mounted into
    /// the agent, or another user's) gives `None` too: the default path, as before.
    pub fn containerd_config_path(&self) -> Option<PathBuf> {
        if let Some(given) = &self.containerd_config {
            return Some(given.clone());
        }
        let pids = crate::procfs::find_by_comm(&self.proc_root, "containerd").ok()?;
        let path = containerd_process::config_flag(&self.proc_root, *pids.first()?)?;
        // Readable here, not only present: another user's containerd (Docker's, under a 0700
        // directory) must not turn a probe into a configuration error.
        (path.is_file() && std::fs::File::open(&path).is_ok()).then_some(path)
    }

    /// The CRI client: the endpoint given, else the first known socket that exists; or why
    /// there is none. The client connects lazily.
    pub fn runtime_client(&self) -> Result<RuntimeClient, String> {
        match &self.runtime_endpoint {
            Some(e) => Ok(RuntimeClient::new(e.clone(), self.runtime_timeout)),
            None => RuntimeEndpoint::detect(Path::new("/"))
                .map(|e| RuntimeClient::new(e, self.runtime_timeout))
                .map_err(|e| e.to_string()),
        }
    }

    /// The client a runtime pull uses: `runtime`, else containerd's default socket (its
    /// absence then shows as `runtime_unavailable`).
    pub fn runtime_for_pull(&self, runtime: &Result<RuntimeClient, String>) -> RuntimeClient {
        match runtime {
            Ok(c) => c.clone(),
            Err(_) => RuntimeClient::new(
                RuntimeEndpoint {
                    path: KNOWN_SOCKETS[0].1.into(),
                },
                self.runtime_timeout,
            ),
        }
    }

    /// The proxy environment of the runtime that pulls: CRI-O's on a CRI-O node (the kind
    /// given, or the socket's path: the CRI name is not asked yet), else containerd's.
    pub fn proxy(&self, runtime: &Result<RuntimeClient, String>) -> ProxyEnv {
        let kind = RuntimeKind::choose(
            self.runtime_kind,
            None,
            runtime.as_ref().ok().map(|c| c.endpoint().path.as_path()),
        )
        .kind;
        runtime_proxy::detect_for(&self.proc_root, kind)
    }

    /// The built-in cloud identities' endpoints (`None`: not consulted).
    pub fn cloud_settings(&self) -> Option<CloudSettings> {
        self.cloud_identity.then(|| CloudSettings {
            imds_endpoint: self.imds_endpoint.clone(),
            gce_metadata_host: self.gce_metadata_host.clone(),
            timeout: self.metadata_timeout,
            cloud: self.cloud.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NodeSettings {
        NodeSettings {
            timeout: Duration::from_secs(10),
            hosts_dir: None,
            containerd_config: None,
            proc_root: PathBuf::from("/nonexistent/proc"),
            kubelet_root_dir: None,
            image_credential_provider_config: None,
            image_credential_provider_bin_dir: None,
            credential_provider_timeout: Duration::from_secs(60),
            runtime_endpoint: Some(RuntimeEndpoint {
                path: PathBuf::from("/run/test/crio.sock"),
            }),
            runtime_timeout: Duration::from_secs(3),
            runtime_pull_timeout: Duration::from_secs(300),
            imds_endpoint: None,
            gce_metadata_host: None,
            metadata_timeout: Duration::from_secs(2),
            cloud_identity: false,
            cloud: Cloud::Other {
                from: "test".into(),
            },
            state_dir: None,
            runtime_kind: None,
            crio: CrioFiles::default(),
        }
    }

    #[test]
    fn containerds_own_config_file_when_none_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "version = 3\n").unwrap();
        let file_arg = file.display().to_string();
        let proc = crate::procfs::fake_proc_full(&[crate::procfs::FakeProcess {
            pid: 700,
            comm: "containerd",
            cmdline: &["containerd", "--config", &file_arg],
            ..Default::default()
        }]);
        let s = NodeSettings {
            proc_root: proc.path().to_path_buf(),
            ..settings()
        };
        assert_eq!(s.containerd_config_path(), Some(file.clone()));
        // The flag wins.
        let given = NodeSettings {
            containerd_config: Some(PathBuf::from("/etc/other.toml")),
            ..s.clone()
        };
        assert_eq!(
            given.containerd_config_path(),
            Some(PathBuf::from("/etc/other.toml"))
        );
        // A file not visible here: the default path.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(s.containerd_config_path(), None);
        // No containerd process: the default path.
        assert_eq!(settings().containerd_config_path(), None);
    }

    #[tokio::test]
    async fn one_setup_for_runtime_pull_proxy_and_cloud() {
        let s = settings();
        let runtime = s.runtime_client();
        let client = runtime.as_ref().expect("the endpoint given");
        assert_eq!(client.endpoint().path, PathBuf::from("/run/test/crio.sock"));
        assert_eq!(
            s.runtime_for_pull(&runtime).endpoint().path,
            client.endpoint().path
        );
        let fallback = s.runtime_for_pull(&Err("no socket".into()));
        assert_eq!(fallback.endpoint().path, PathBuf::from(KNOWN_SOCKETS[0].1));
        // The socket's path says CRI-O: its process's environment is the one read.
        let proc = tempfile::tempdir().unwrap();
        let s = NodeSettings {
            proc_root: proc.path().to_path_buf(),
            ..s
        };
        let note = s.proxy(&runtime).summary().note.unwrap_or_default();
        assert!(note.contains("no CRI-O process"), "{note}");
        let containerd = NodeSettings {
            runtime_kind: Some(RuntimeKind::Containerd),
            ..s.clone()
        };
        let note = containerd
            .proxy(&runtime)
            .summary()
            .note
            .unwrap_or_default();
        assert!(
            note.contains("no containerd process"),
            "the kind given wins: {note}"
        );
        assert!(s.cloud_settings().is_none());
        let on = NodeSettings {
            cloud_identity: true,
            ..s
        };
        assert_eq!(on.cloud_settings().unwrap().timeout, Duration::from_secs(2));
    }
}
