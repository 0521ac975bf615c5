//! `pullcheck agent` flags. Every flag is also an environment variable (`--max-body-bytes` is
//! `PULLCHECK_MAX_BODY_BYTES`) and a key of the optional `--config` TOML file
//! (`max-body-bytes = 16384`); flags and environment win over the file, the file over the
//! defaults. Values are kept as text here and validated together by
//! [`Config::from_args`](super::Config::from_args), which names the key of a bad value.

use std::path::PathBuf;

/// The agent's command line.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Agent")]
pub struct AgentArgs {
    /// TOML file with any of these keys (flag names without `--`); flags and environment
    /// variables take precedence.
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the probe API. Loopback only: remote callers come through
    /// `kubectl port-forward` (gated by RBAC on pods/portforward) or --network-listen
    /// [default: 127.0.0.1:8740].
    #[arg(long, value_name = "ADDR", env = "PULLCHECK_LISTEN")]
    pub listen: Option<String>,
    /// Optional second listener for the same API on a network address; every request needs a
    /// bearer token accepted by TokenReview and allowed by SubjectAccessReview (see --authz-*)
    /// [default: off].
    #[arg(long, value_name = "ADDR", env = "PULLCHECK_NETWORK_LISTEN")]
    pub network_listen: Option<String>,
    /// Address of a listener serving only /healthz and /readyz, with its own connections (API
    /// load cannot starve it; point the liveness and readiness probes here), or `off`
    /// [default: off].
    #[arg(long, value_name = "ADDR", env = "PULLCHECK_HEALTH_LISTEN")]
    pub health_listen: Option<String>,
    /// Address of /metrics, or `off` [default: 127.0.0.1:8741].
    #[arg(long, value_name = "ADDR", env = "PULLCHECK_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, value_name = "FORMAT", env = "PULLCHECK_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// kubeconfig for the Kubernetes API (pull secrets, TokenReview, SubjectAccessReview)
    /// [default: KUBECONFIG, ~/.kube/config, else the in-cluster service account].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// This node's name (the Downward API's spec.nodeName); the default --authz-name.
    #[arg(long, value_name = "NAME", env = "PULLCHECK_NODE_NAME")]
    pub node_name: Option<String>,
    /// SubjectAccessReview verb for network callers [default: get].
    #[arg(long, value_name = "VERB", env = "PULLCHECK_AUTHZ_VERB")]
    pub authz_verb: Option<String>,
    /// SubjectAccessReview API group [default: "" (core)].
    #[arg(long, value_name = "GROUP", env = "PULLCHECK_AUTHZ_GROUP")]
    pub authz_group: Option<String>,
    /// SubjectAccessReview resource[/subresource] [default: nodes/proxy].
    #[arg(long, value_name = "RESOURCE", env = "PULLCHECK_AUTHZ_RESOURCE")]
    pub authz_resource: Option<String>,
    /// SubjectAccessReview namespace [default: none (cluster-scoped)].
    #[arg(long, value_name = "NAMESPACE", env = "PULLCHECK_AUTHZ_NAMESPACE")]
    pub authz_namespace: Option<String>,
    /// SubjectAccessReview object name [default: --node-name].
    #[arg(long, value_name = "NAME", env = "PULLCHECK_AUTHZ_NAME")]
    pub authz_name: Option<String>,
    /// Address range a registry may be in although it is loopback, link-local or cloud
    /// metadata (refused by default); repeatable, comma-separated in the environment.
    #[arg(
        long,
        value_name = "CIDR",
        env = "PULLCHECK_ALLOW_REGISTRY_CIDR",
        value_delimiter = ','
    )]
    pub allow_registry_cidr: Vec<String>,
    /// A name the API may be called by in the `Host` header (and `Origin`), besides IP
    /// addresses and `localhost`; repeatable, comma-separated in the environment. Other names
    /// are refused (a web page reaching the agent by DNS rebinding).
    #[arg(
        long,
        value_name = "NAME",
        env = "PULLCHECK_ALLOWED_HOST",
        value_delimiter = ','
    )]
    pub allowed_host: Vec<String>,
    /// Probe only these registries (`host[:port]` or `*.suffix`); repeatable [default: any].
    #[arg(
        long,
        value_name = "REGISTRY",
        env = "PULLCHECK_ONLY_REGISTRY",
        value_delimiter = ','
    )]
    pub only_registry: Vec<String>,
    /// Upstream probes running at once; more get 429 with Retry-After [default: 32].
    #[arg(long, value_name = "N", env = "PULLCHECK_MAX_CONCURRENT_PROBES")]
    pub max_concurrent_probes: Option<String>,
    /// Per-registry probe budget REGISTRY=N/PERIOD (token bucket); repeatable
    /// [default: docker.io=50/6h].
    #[arg(
        long,
        value_name = "REGISTRY=N/PERIOD",
        env = "PULLCHECK_REGISTRY_BUDGET",
        value_delimiter = ','
    )]
    pub registry_budget: Vec<String>,
    /// Budget of registries without their own [default: 300/1m].
    #[arg(
        long,
        value_name = "N/PERIOD",
        env = "PULLCHECK_DEFAULT_REGISTRY_BUDGET"
    )]
    pub default_registry_budget: Option<String>,
    /// How long an `ok` answer is served from cache [default: 5m].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_CACHE_OK_TTL")]
    pub cache_ok_ttl: Option<String>,
    /// How long an `ok` answer for a digest-pinned reference is cached [default: 1h].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_CACHE_DIGEST_TTL")]
    pub cache_digest_ttl: Option<String>,
    /// How long not-found, auth, rate-limit, TLS and content answers are cached [default: 30s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_CACHE_DENIED_TTL")]
    pub cache_denied_ttl: Option<String>,
    /// How long network, registry and node failures are cached [default: 5s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_CACHE_NETWORK_TTL")]
    pub cache_network_ttl: Option<String>,
    /// Most answers cached [default: 10000].
    #[arg(long, value_name = "N", env = "PULLCHECK_CACHE_MAX_ENTRIES")]
    pub cache_max_entries: Option<String>,
    /// Largest request body [default: 16384].
    #[arg(long, value_name = "BYTES", env = "PULLCHECK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<String>,
    /// Longest query string [default: 4096].
    #[arg(long, value_name = "BYTES", env = "PULLCHECK_MAX_QUERY_BYTES")]
    pub max_query_bytes: Option<String>,
    /// Open connections per listener; more wait to be accepted [default: 1024]. Each open
    /// connection costs about 25 KiB, and glibc keeps most of it after a storm.
    #[arg(long, value_name = "N", env = "PULLCHECK_MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// Time a client has to send its request head, and then its body [default: 10s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_CLIENT_TIMEOUT")]
    pub client_timeout: Option<String>,
    /// On SIGTERM, time in-flight requests get to finish [default: 20s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,
    /// Async worker threads [default: one per CPU].
    #[arg(long, value_name = "N", env = "PULLCHECK_WORKER_THREADS")]
    pub worker_threads: Option<String>,
    /// Time limit for one probe's registry exchanges, every host, hop, token round and layer
    /// check together [default: 10s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_TIMEOUT")]
    pub timeout: Option<String>,
    /// containerd certs.d root, used instead of config_path from containerd's config.
    #[arg(long, value_name = "DIR", env = "PULLCHECK_HOSTS_DIR")]
    pub hosts_dir: Option<PathBuf>,
    /// containerd's config file [default: the one containerd's --config names, else
    /// /etc/containerd/config.toml, if it exists].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CONTAINERD_CONFIG")]
    pub containerd_config: Option<PathBuf>,
    /// Where the host's processes are (containerd's proxy environment, the kubelet's flags)
    /// [default: /proc].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_PROC_ROOT")]
    pub proc_root: Option<PathBuf>,
    /// The kubelet's --root-dir [default: the kubelet's, else /var/lib/kubelet].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_KUBELET_ROOT_DIR")]
    pub kubelet_root_dir: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-config [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "PATH",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_CONFIG"
    )]
    pub image_credential_provider_config: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-bin-dir [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "DIR",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_BIN_DIR"
    )]
    pub image_credential_provider_bin_dir: Option<PathBuf>,
    /// Time limit for each credential-provider plugin run [default: 60s].
    #[arg(
        long,
        value_name = "DURATION",
        env = "PULLCHECK_CREDENTIAL_PROVIDER_TIMEOUT"
    )]
    pub credential_provider_timeout: Option<String>,
    /// CRI endpoint, unix:///path [default: the first of the known sockets that exists].
    #[arg(long, value_name = "URL", env = "PULLCHECK_RUNTIME_ENDPOINT")]
    pub runtime_endpoint: Option<String>,
    /// Time limit for each CRI call other than PullImage [default: 10s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_RUNTIME_TIMEOUT")]
    pub runtime_timeout: Option<String>,
    /// Time limit for PullImage (runtimePull=true) [default: 5m].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_RUNTIME_PULL_TIMEOUT")]
    pub runtime_pull_timeout: Option<String>,
    /// EC2 instance metadata endpoint for the EKS node identity
    /// [default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else the SDK's].
    #[arg(long, value_name = "URL", env = "PULLCHECK_IMDS_ENDPOINT")]
    pub imds_endpoint: Option<String>,
    /// GCE metadata server (host or host:port) for the GKE node identity
    /// [default: GCE_METADATA_HOST, else metadata.google.internal].
    #[arg(long, value_name = "HOST", env = "PULLCHECK_GCE_METADATA_HOST")]
    pub gce_metadata_host: Option<String>,
    /// Time limit for each cloud metadata request [default: 2s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_METADATA_TIMEOUT")]
    pub metadata_timeout: Option<String>,
    /// Do not ask the cloud metadata services (EKS, GKE) for the node's identity.
    #[arg(long, env = "PULLCHECK_NO_CLOUD_IDENTITY")]
    pub no_cloud_identity: bool,
    /// The node's cloud: auto (from DMI sys_vendor/product_name), aws, gcp, azure or other;
    /// only that cloud's metadata service is asked [default: auto].
    #[arg(long, value_name = "CLOUD", env = "PULLCHECK_CLOUD")]
    pub cloud: Option<String>,
    /// Where the DMI strings are [default: /sys/class/dmi/id].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_DMI_DIR")]
    pub dmi_dir: Option<String>,
    /// Keep the manifest and config bodies probes read in DIR (by digest, at most 64 MiB), so
    /// that a restarted agent needs no manifest GET for a digest it has seen; the DaemonSet
    /// mounts /var/lib/pullcheck here [default: memory only].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Whose pull path to follow: containerd or crio [default: the runtime's CRI Version name,
    /// else the socket found, else containerd].
    #[arg(long, value_name = "KIND", env = "PULLCHECK_RUNTIME_KIND")]
    pub runtime_kind: Option<String>,
    /// CRI-O's registries.conf (drop-ins from FILE.d/) [default:
    /// /etc/containers/registries.conf and registries.conf.d/].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_REGISTRIES_CONF")]
    pub registries_conf: Option<PathBuf>,
    /// CRI-O's certs.d root [default: /etc/containers/certs.d, then /etc/docker/certs.d].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_CONTAINERS_CERTS_DIR")]
    pub containers_certs_dir: Option<PathBuf>,
    /// CRI-O's global_auth_file [default: what /etc/crio/crio.conf and crio.conf.d/ set].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CRIO_AUTH_FILE")]
    pub crio_auth_file: Option<PathBuf>,
    /// CRI-O's signature policy [default: /etc/containers/policy.json].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_SIGNATURE_POLICY")]
    pub signature_policy: Option<PathBuf>,
    /// containers/image's registries.d [default: /etc/containers/registries.d].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_REGISTRIES_D")]
    pub registries_d: Option<PathBuf>,
    /// containers/image's machine-generated short-name aliases [default:
    /// /var/cache/containers/short-name-aliases.conf].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_SHORT_NAME_ALIASES")]
    pub short_name_aliases: Option<PathBuf>,
    /// The drift monitor: on or off [default: on]. It watches this node's pods (with the
    /// Kubernetes API and --node-name) and the --watch-list, re-probes their images, exports
    /// verdict metrics and publishes events.
    #[arg(long, value_name = "on|off", env = "PULLCHECK_MONITOR")]
    pub monitor: Option<String>,
    /// Re-probe interval of a pullable image (failing ones: a quarter of it, at least 15s),
    /// jittered by 10% [default: 10m].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_MONITOR_INTERVAL")]
    pub monitor_interval: Option<String>,
    /// Monitor probes at once [default: 2].
    #[arg(long, value_name = "N", env = "PULLCHECK_MONITOR_CONCURRENCY")]
    pub monitor_concurrency: Option<String>,
    /// YAML file of images that must stay pullable (`images: [ref, {image, secrets}]`),
    /// re-read when it changes (mount a ConfigMap) [default: none].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_WATCH_LIST")]
    pub watch_list: Option<PathBuf>,
    /// Publish Kubernetes Events (PullDiagnosis on pods, transitions on the node): on or off
    /// [default: on].
    #[arg(long, value_name = "on|off", env = "PULLCHECK_EVENTS")]
    pub events: Option<String>,
    /// How long a container must fail to pull before it is diagnosed and its event
    /// published [default: 30s].
    #[arg(long, value_name = "DURATION", env = "PULLCHECK_EVENT_GRACE")]
    pub event_grace: Option<String>,
    /// Most label sets per monitor metric kind (workload containers; watched reference x
    /// identity); new ones past it are dropped and counted in
    /// pullcheck_monitor_series_dropped_total [default: 2000].
    #[arg(long, value_name = "N", env = "PULLCHECK_MAX_SERIES")]
    pub max_series: Option<String>,
}

/// Every key (flag name without `--`), for the config file.
pub const KEYS: &[&str] = &[
    "listen",
    "network-listen",
    "metrics-listen",
    "health-listen",
    "log-format",
    "kubeconfig",
    "node-name",
    "authz-verb",
    "authz-group",
    "authz-resource",
    "authz-namespace",
    "authz-name",
    "allow-registry-cidr",
    "allowed-host",
    "only-registry",
    "max-concurrent-probes",
    "registry-budget",
    "default-registry-budget",
    "cache-ok-ttl",
    "cache-digest-ttl",
    "cache-denied-ttl",
    "cache-network-ttl",
    "cache-max-entries",
    "max-body-bytes",
    "max-query-bytes",
    "max-connections",
    "client-timeout",
    "shutdown-grace",
    "worker-threads",
    "timeout",
    "hosts-dir",
    "containerd-config",
    "proc-root",
    "kubelet-root-dir",
    "image-credential-provider-config",
    "image-credential-provider-bin-dir",
    "credential-provider-timeout",
    "runtime-endpoint",
    "runtime-timeout",
    "runtime-pull-timeout",
    "imds-endpoint",
    "gce-metadata-host",
    "metadata-timeout",
    "no-cloud-identity",
    "cloud",
    "dmi-dir",
    "state-dir",
    "runtime-kind",
    "registries-conf",
    "containers-certs-dir",
    "crio-auth-file",
    "signature-policy",
    "registries-d",
    "monitor",
    "monitor-interval",
    "monitor-concurrency",
    "watch-list",
    "events",
    "event-grace",
    "max-series",
];
