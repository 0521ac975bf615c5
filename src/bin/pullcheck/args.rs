//! Argument groups shared by the subcommands (runtime, containerd configuration, kubelet,
//! Kubernetes API, cloud identity), the output format, and value parsers.

use clap::ValueEnum;
use pullcheck::identity::kube_secrets::{self, ObjectRef};
use pullcheck::identity::platform::Cloud;
use pullcheck::identity::pull_order::KubeRequest;
use pullcheck::node_setup::NodeSettings;
use pullcheck::platform::Platform;
use pullcheck::runtime::RuntimeEndpoint;
use std::path::PathBuf;
use std::time::Duration;

/// Where the container runtime is and how long to wait for it (shared by `probe` and `node`).
#[derive(clap::Args)]
#[command(next_help_heading = "Container runtime")]
pub(crate) struct RuntimeArgs {
    /// CRI endpoint of the container runtime, unix:///path [default: the first of
    /// /run/containerd/containerd.sock, /var/run/crio/crio.sock that exists].
    #[arg(long, value_name = "URL", env = "PULLCHECK_RUNTIME_ENDPOINT")]
    pub(crate) runtime_endpoint: Option<String>,
    /// Time limit for each CRI call other than PullImage.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) runtime_timeout: Duration,
}

/// containerd's registry configuration files (shared by `probe` and `node`).
#[derive(clap::Args)]
#[command(next_help_heading = "Node configuration (containerd, CRI-O)")]
pub(crate) struct ConfigArgs {
    /// Answer for the node whose root filesystem is mounted here (kubectl debug node/NAME
    /// mounts it at /host): every file, socket and /proc is then read as the node sees it,
    /// and path flags are the node's paths.
    #[arg(long, value_name = "DIR", env = "PULLCHECK_HOST_ROOT")]
    pub(crate) host_root: Option<PathBuf>,
    /// containerd certs.d root holding <host[:port]>/hosts.toml (e.g. /etc/containerd/certs.d),
    /// used instead of the config_path in containerd's config.
    #[arg(long, value_name = "DIR")]
    pub(crate) hosts_dir: Option<PathBuf>,
    /// containerd's config file, for its registry settings (config_path, legacy mirrors and
    /// configs) [default: the one containerd's --config names, else
    /// /etc/containerd/config.toml, if it exists].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CONTAINERD_CONFIG")]
    pub(crate) containerd_config: Option<PathBuf>,
    /// Where to find the containerd process and its proxy environment (the host's /proc needs
    /// hostPID or a mount); unreadable or no containerd: pullcheck's own environment.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/proc",
        env = "PULLCHECK_PROC_ROOT"
    )]
    pub(crate) proc_root: PathBuf,
    /// Whose pull path to follow: containerd (hosts.toml) or crio (registries.conf, as
    /// containers/image applies it) [default: the runtime's CRI Version name, else the socket
    /// found, else containerd].
    #[arg(long, value_name = "KIND", env = "PULLCHECK_RUNTIME_KIND",
          value_parser = |s: &str| pullcheck::endpoints::runtime_kind::RuntimeKind::from_flag(s).map_err(|e| e.to_string()))]
    pub(crate) runtime_kind: Option<pullcheck::endpoints::runtime_kind::RuntimeKind>,
    /// CRI-O's registries.conf; its drop-ins are read from FILE.d/ as containers/image does
    /// [default: /etc/containers/registries.conf and /etc/containers/registries.conf.d/].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_REGISTRIES_CONF")]
    pub(crate) registries_conf: Option<PathBuf>,
    /// CRI-O's certs.d root holding <host[:port]>/ca.crt, *.cert and *.key, used instead of
    /// /etc/containers/certs.d and /etc/docker/certs.d.
    #[arg(long, value_name = "DIR", env = "PULLCHECK_CONTAINERS_CERTS_DIR")]
    pub(crate) containers_certs_dir: Option<PathBuf>,
    /// CRI-O's global_auth_file (auth.json; used when the kubelet sends no credentials, and for
    /// mirrors on another domain) [default: what /etc/crio/crio.conf and crio.conf.d/ set].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CRIO_AUTH_FILE")]
    pub(crate) crio_auth_file: Option<PathBuf>,
    /// CRI-O's signature policy [default: /etc/containers/policy.json].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_SIGNATURE_POLICY")]
    pub(crate) signature_policy: Option<PathBuf>,
    /// containers/image's registries.d, where signatures are looked for [default:
    /// /etc/containers/registries.d].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_REGISTRIES_D")]
    pub(crate) registries_d: Option<PathBuf>,
    /// containers/image's machine-generated short-name aliases, read before registries.conf's
    /// [aliases] [default: /var/cache/containers/short-name-aliases.conf].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_SHORT_NAME_ALIASES")]
    pub(crate) short_name_aliases: Option<PathBuf>,
}

impl ConfigArgs {
    /// The CRI-O file paths these flags name.
    pub(crate) fn crio_files(&self) -> pullcheck::endpoints::crio_files::CrioFiles {
        pullcheck::endpoints::crio_files::CrioFiles {
            registries_conf: self.registries_conf.clone(),
            containers_certs_dir: self.containers_certs_dir.clone(),
            crio_auth_file: self.crio_auth_file.clone(),
            signature_policy: self.signature_policy.clone(),
            registries_d: self.registries_d.clone(),
            short_name_aliases: self.short_name_aliases.clone(),
        }
    }
}

/// Where the kubelet keeps node credentials (shared by `probe` and `node`). Unset paths come
/// from the kubelet's own command line when /proc shows it (see --proc-root).
#[derive(clap::Args)]
#[command(next_help_heading = "Kubelet")]
pub(crate) struct KubeletArgs {
    /// The kubelet's --root-dir, where its node docker config.json / .dockercfg is looked for
    /// first [default: the kubelet's --root-dir, else /var/lib/kubelet].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_KUBELET_ROOT_DIR")]
    pub(crate) kubelet_root_dir: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-config: a CredentialProviderConfig file, or a
    /// directory of *.json/*.yaml/*.yml [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "PATH",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_CONFIG"
    )]
    pub(crate) image_credential_provider_config: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-bin-dir, where plugin binaries are
    /// [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "DIR",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_BIN_DIR"
    )]
    pub(crate) image_credential_provider_bin_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

/// Pull secrets through the Kubernetes API.
#[derive(clap::Args)]
#[command(next_help_heading = "Kubernetes API")]
pub(crate) struct ClusterArgs {
    /// Probe as this pod would be pulled: its spec.imagePullSecrets, in order (NAMESPACE/NAME).
    #[arg(long, value_name = "NS/NAME")]
    pub(crate) pod: Option<String>,
    /// A pull secret to use (NAMESPACE/NAME), after the pod's; repeatable.
    #[arg(long, value_name = "NS/NAME")]
    pub(crate) secret: Vec<String>,
    /// kubeconfig for --pod/--secret [default: KUBECONFIG, ~/.kube/config, else in-cluster].
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

impl ClusterArgs {
    /// The API request, when --pod or --secret asks for one.
    pub(crate) async fn request(&self) -> Result<Option<KubeRequest>, String> {
        if self.pod.is_none() && self.secret.is_empty() {
            return Ok(None);
        }
        let pod = self
            .pod
            .as_deref()
            .map(|p| ObjectRef::parse("--pod", p))
            .transpose()
            .map_err(|e| e.to_string())?;
        let secrets = self
            .secret
            .iter()
            .map(|s| ObjectRef::parse("--secret", s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let client = kube_secrets::client(self.kubeconfig.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(KubeRequest {
            client,
            pod,
            secrets,
        }))
    }
}

/// The built-in node identities (EKS instance role, GKE node service account).
#[derive(clap::Args)]
#[command(next_help_heading = "Cloud identity")]
pub(crate) struct CloudArgs {
    /// EC2 instance metadata endpoint [default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else
    /// http://169.254.169.254].
    #[arg(long, value_name = "URL")]
    pub(crate) imds_endpoint: Option<String>,
    /// GCE metadata server host[:port] [default: GCE_METADATA_HOST, else metadata.google.internal].
    #[arg(long, value_name = "HOST")]
    pub(crate) gce_metadata_host: Option<String>,
    /// Time limit for each metadata request.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) metadata_timeout: Duration,
    /// Do not ask the cloud metadata services for the node's identity.
    #[arg(long)]
    pub(crate) no_cloud_identity: bool,
    /// The node's cloud: auto (from DMI sys_vendor/product_name), aws, gcp, azure or other.
    /// Only that cloud's metadata service is asked; unknown (no DMI) asks each.
    #[arg(
        long,
        value_name = "CLOUD",
        default_value = "auto",
        env = "PULLCHECK_CLOUD"
    )]
    pub(crate) cloud: String,
    /// Where the DMI strings are (the host's, e.g. /host/sys/class/dmi/id in a debug pod).
    #[arg(long, value_name = "DIR", default_value = pullcheck::identity::platform::DMI_DIR)]
    pub(crate) dmi_dir: PathBuf,
}

/// What a subcommand adds to the node-side flag groups.
pub(crate) struct Limits {
    /// Time limit per probe step.
    pub(crate) timeout: Duration,
    /// Time limit per credential-provider run.
    pub(crate) credential_provider_timeout: Duration,
    /// Time limit for PullImage.
    pub(crate) runtime_pull_timeout: Duration,
    /// `--state-dir`.
    pub(crate) state_dir: Option<PathBuf>,
}

/// The node-side settings the flag groups name (the library's one node setup, which the agent's
/// configuration produces too); a usage error (a malformed `--runtime-endpoint`, a bad
/// `--cloud`) is printed and gives the usage exit code.
pub(crate) fn node_settings(
    runtime: &RuntimeArgs,
    config: &ConfigArgs,
    kubelet: &KubeletArgs,
    cloud: &CloudArgs,
    limits: Limits,
) -> Result<NodeSettings, std::process::ExitCode> {
    settings_of(runtime, config, kubelet, cloud, limits).map_err(|usage| {
        pullcheck::term::eprint_error(format_args!("{usage}"));
        std::process::ExitCode::from(crate::USAGE_EXIT)
    })
}

fn settings_of(
    runtime: &RuntimeArgs,
    config: &ConfigArgs,
    kubelet: &KubeletArgs,
    cloud: &CloudArgs,
    limits: Limits,
) -> Result<NodeSettings, String> {
    let runtime_endpoint = runtime
        .runtime_endpoint
        .as_deref()
        .map(RuntimeEndpoint::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let chosen = if cloud.no_cloud_identity {
        Cloud::Other {
            from: "--no-cloud-identity".into(),
        }
    } else {
        pullcheck::identity::platform::choose(&cloud.cloud, &cloud.dmi_dir)
            .map_err(|e| e.to_string())?
    };
    let settings = NodeSettings {
        timeout: limits.timeout,
        hosts_dir: config.hosts_dir.clone(),
        containerd_config: config.containerd_config.clone(),
        proc_root: config.proc_root.clone(),
        kubelet_root_dir: kubelet.kubelet_root_dir.clone(),
        image_credential_provider_config: kubelet.image_credential_provider_config.clone(),
        image_credential_provider_bin_dir: kubelet.image_credential_provider_bin_dir.clone(),
        credential_provider_timeout: limits.credential_provider_timeout,
        runtime_endpoint,
        runtime_timeout: runtime.runtime_timeout,
        runtime_pull_timeout: limits.runtime_pull_timeout,
        imds_endpoint: cloud.imds_endpoint.clone(),
        gce_metadata_host: cloud.gce_metadata_host.clone(),
        metadata_timeout: cloud.metadata_timeout,
        cloud_identity: !cloud.no_cloud_identity,
        cloud: chosen,
        state_dir: limits.state_dir,
        runtime_kind: config.runtime_kind,
        crio: config.crio_files(),
    };
    // containerd's config file: the flag's, else the one the node's containerd runs with.
    Ok(NodeSettings {
        containerd_config: settings.containerd_config_path(),
        ..settings
    })
}

pub(crate) fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

/// A time limit between 1 ms and 1 h (the bounded duration parser, `duration::flag`, naming
/// the input).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    pullcheck::duration::flag::within(Duration::from_millis(1), Duration::from_secs(3600))(s)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}
