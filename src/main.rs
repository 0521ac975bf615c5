//! `pullcheck`: the one-shot CLI. `pullcheck probe IMAGE` answers "can this node pull IMAGE".
//!
//! Exit codes: 0 pullable; 1 unknown; 2 usage error; 3 invalid reference; 4 not found;
//! 5 auth; 6 rate limited; 7 TLS/scheme; 8 network; 9 registry error; 10 image content;
//! 11 node (runtime, disk).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand, ValueEnum};
use pullcheck::diagnose::{self, KubeRequest, Request, RuntimePullRequest};
use pullcheck::endpoints::RegistryConfig;
use pullcheck::identity::cloud::CloudSettings;
use pullcheck::identity::error_chain;
use pullcheck::identity::kube_secrets::{self, ObjectRef};
use pullcheck::identity::node::{NodeIdentity, NodeIdentityConfig};
use pullcheck::identity::RegistryAuth;
use pullcheck::node::{IdentityFact, NodeFacts, RuntimeFacts};
use pullcheck::platform::Platform;
use pullcheck::probe::{Options, Prober};
use pullcheck::report::text;
use pullcheck::runtime::{RuntimeClient, RuntimeEndpoint};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE_EXIT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "pullcheck",
    version,
    about = "Can this node pull image X? If not: why, as whom, and what fixes it."
)]
struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace)
    /// [default: warn; info for `agent`].
    #[arg(long, global = true, env = "PULLCHECK_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Probe the registry for IMAGE the way this node's containerd would, and classify the result.
    Probe(ProbeArgs),
    /// Classify a pull-failure message: a kubelet event, a pod's waiting message or a CRI error.
    Explain(ExplainArgs),
    /// What this node pulls with: runtime, platform, image filesystem, registry configuration.
    Node(NodeArgs),
    /// Serve the probe API on this node (HTTP; loopback by default): /v1/probe, /v1/node,
    /// /healthz, /readyz, /openapi.json, and /metrics on its own listener. Exits 64 on a bad
    /// configuration value.
    Agent(pullcheck::agent::config::AgentArgs),
}

/// Where the container runtime is and how long to wait for it (shared by `probe` and `node`).
#[derive(clap::Args)]
struct RuntimeArgs {
    /// CRI endpoint of the container runtime, unix:///path [default: the first of
    /// /run/containerd/containerd.sock, /var/run/crio/crio.sock that exists].
    #[arg(long, value_name = "URL", env = "PULLCHECK_RUNTIME_ENDPOINT")]
    runtime_endpoint: Option<String>,
    /// Time limit for each CRI call other than PullImage.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    runtime_timeout: Duration,
}

impl RuntimeArgs {
    /// The client, or why there is none: `Err(Err(usage))` for a malformed endpoint,
    /// `Err(Ok(reason))` when no runtime socket was found.
    fn client(&self) -> Result<RuntimeClient, Result<String, String>> {
        let endpoint = match &self.runtime_endpoint {
            Some(e) => RuntimeEndpoint::parse(e).map_err(|e| Err(e.to_string()))?,
            None => {
                RuntimeEndpoint::detect(std::path::Path::new("/")).map_err(|e| Ok(e.to_string()))?
            }
        };
        Ok(RuntimeClient::new(endpoint, self.runtime_timeout))
    }
}

/// containerd's registry configuration files (shared by `probe` and `node`).
#[derive(clap::Args)]
struct ConfigArgs {
    /// containerd certs.d root holding <host[:port]>/hosts.toml (e.g. /etc/containerd/certs.d),
    /// used instead of the config_path in containerd's config.
    #[arg(long, value_name = "DIR")]
    hosts_dir: Option<PathBuf>,
    /// containerd's config file, for its registry settings (config_path, legacy mirrors and
    /// configs) [default: /etc/containerd/config.toml, if it exists].
    #[arg(long, value_name = "FILE", env = "PULLCHECK_CONTAINERD_CONFIG")]
    containerd_config: Option<PathBuf>,
    /// Where to find the containerd process and its proxy environment (the host's /proc needs
    /// hostPID or a mount); unreadable or no containerd: pullcheck's own environment.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/proc",
        env = "PULLCHECK_PROC_ROOT"
    )]
    proc_root: PathBuf,
}

/// Where the kubelet keeps node credentials (shared by `probe` and `node`). Unset paths come
/// from the kubelet's own command line when /proc shows it (see --proc-root).
#[derive(clap::Args)]
struct KubeletArgs {
    /// The kubelet's --root-dir, where its node docker config.json / .dockercfg is looked for
    /// first [default: the kubelet's --root-dir, else /var/lib/kubelet].
    #[arg(long, value_name = "DIR", env = "PULLCHECK_KUBELET_ROOT_DIR")]
    kubelet_root_dir: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-config: a CredentialProviderConfig file, or a
    /// directory of *.json/*.yaml/*.yml [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "PATH",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_CONFIG"
    )]
    image_credential_provider_config: Option<PathBuf>,
    /// The kubelet's --image-credential-provider-bin-dir, where plugin binaries are
    /// [default: the kubelet's, if set].
    #[arg(
        long,
        value_name = "DIR",
        env = "PULLCHECK_IMAGE_CREDENTIAL_PROVIDER_BIN_DIR"
    )]
    image_credential_provider_bin_dir: Option<PathBuf>,
}

impl KubeletArgs {
    fn load(
        &self,
        proc_root: &std::path::Path,
        plugin_timeout: Duration,
    ) -> Result<NodeIdentity, String> {
        NodeIdentity::load(&NodeIdentityConfig {
            proc_root: proc_root.to_path_buf(),
            kubelet_root_dir: self.kubelet_root_dir.clone(),
            provider_config: self.image_credential_provider_config.clone(),
            provider_bin_dir: self.image_credential_provider_bin_dir.clone(),
            plugin_timeout,
        })
        .map_err(|e| error_chain(&e))
    }
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    kubelet: KubeletArgs,
    #[command(flatten)]
    cloud: CloudArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Pull secrets through the Kubernetes API.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Probe as this pod would be pulled: its spec.imagePullSecrets, in order (NAMESPACE/NAME).
    #[arg(long, value_name = "NS/NAME")]
    pod: Option<String>,
    /// A pull secret to use (NAMESPACE/NAME), after the pod's; repeatable.
    #[arg(long, value_name = "NS/NAME")]
    secret: Vec<String>,
    /// kubeconfig for --pod/--secret [default: KUBECONFIG, ~/.kube/config, else in-cluster].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
}

impl ClusterArgs {
    /// The API request, when --pod or --secret asks for one.
    async fn request(&self) -> Result<Option<KubeRequest>, String> {
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
struct CloudArgs {
    /// EC2 instance metadata endpoint [default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else
    /// http://169.254.169.254].
    #[arg(long, value_name = "URL")]
    imds_endpoint: Option<String>,
    /// GCE metadata server host[:port] [default: GCE_METADATA_HOST, else metadata.google.internal].
    #[arg(long, value_name = "HOST")]
    gce_metadata_host: Option<String>,
    /// Time limit for each metadata request.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    metadata_timeout: Duration,
    /// Do not ask the cloud metadata services for the node's identity.
    #[arg(long)]
    no_cloud_identity: bool,
}

impl CloudArgs {
    fn settings(&self) -> Option<CloudSettings> {
        (!self.no_cloud_identity).then(|| CloudSettings {
            imds_endpoint: self.imds_endpoint.clone(),
            gce_metadata_host: self.gce_metadata_host.clone(),
            timeout: self.metadata_timeout,
        })
    }
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// Image reference as written in the pod spec (e.g. nginx, ghcr.io/org/app:v1, …@sha256:…).
    image: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
    /// User name for registry credentials (password from --password-stdin).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password (or token) from the first line of standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// A pull secret's docker config (.dockerconfigjson or legacy .dockercfg), read with
    /// kubelet keyring rules; repeat for several secrets, in the pod's imagePullSecrets order.
    #[arg(long, value_name = "FILE")]
    docker_config: Vec<PathBuf>,
    #[command(flatten)]
    kubelet: KubeletArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    cloud: CloudArgs,
    /// Time limit for each credential-provider plugin run (the kubelet's is 60s).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    credential_provider_timeout: Duration,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// After the registry probe, pull through the runtime (CRI PullImage) with the same
    /// credential and show its verdict beside the registry's.
    #[arg(long)]
    runtime_pull: bool,
    /// Time limit for the runtime's PullImage.
    #[arg(long, default_value = "5m", value_parser = parse_duration, requires = "runtime_pull")]
    runtime_pull_timeout: Duration,
    /// Keep the image the runtime pulled (by default an image that was not on the node before
    /// is removed again).
    #[arg(long, requires = "runtime_pull")]
    keep: bool,
    /// Platform to check for, os/arch[/variant] (default: this machine's, normalised like containerd).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Time limit for each step (connect, each request), e.g. 10s, 1500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
struct ExplainArgs {
    /// The message, quoted (e.g. the `Failed to pull image …` event); absent or `-` reads
    /// standard input (at most 1 MiB).
    message: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (e.g. 10s, 1500ms)"))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!(
            "invalid duration {s:?}: must be between 1ms and 1h"
        ));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The agent sets up its own logging (text or JSON) after validating its configuration.
    if !matches!(cli.command, Command::Agent(_)) {
        let filter = tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or("warn"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.command {
        Command::Probe(args) => probe(args),
        Command::Explain(args) => explain(args),
        Command::Node(args) => node(args),
        Command::Agent(args) => pullcheck::agent::main(args, cli.log.as_deref()),
    }
}

fn probe(args: ProbeArgs) -> ExitCode {
    let basic = match (&args.username, args.password_stdin) {
        (Some(user), true) => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().take(64 * 1024).read_to_string(&mut input) {
                eprintln!("error: failed to read the password from standard input: {e}");
                return ExitCode::from(USAGE_EXIT);
            }
            let password = input.lines().next().unwrap_or("").to_string();
            if password.is_empty() {
                eprintln!("error: --password-stdin: standard input is empty");
                return ExitCode::from(USAGE_EXIT);
            }
            Some(RegistryAuth::Basic {
                username: user.clone(),
                password,
            })
        }
        _ => None,
    };
    let options = Options {
        step_timeout: args.timeout,
        platform: args.platform.clone().unwrap_or_else(Platform::host),
    };
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // The CRI channel's background task needs the runtime's context when it is created.
    let _context = runtime.enter();
    let runtime_pull = if args.runtime_pull {
        // The client connects lazily; an endpoint that is not there shows as runtime_unavailable.
        let client = match args.runtime.client() {
            Ok(c) => c,
            Err(Err(usage)) => {
                eprintln!("error: {usage}");
                return ExitCode::from(USAGE_EXIT);
            }
            Err(Ok(_)) => RuntimeClient::new(
                RuntimeEndpoint {
                    path: PathBuf::from(pullcheck::runtime::endpoint::KNOWN_SOCKETS[0].1),
                },
                args.runtime.runtime_timeout,
            ),
        };
        Some(RuntimePullRequest {
            client,
            keep: args.keep,
            limit: args.runtime_pull_timeout,
        })
    } else {
        None
    };
    let node_identity = match args
        .kubelet
        .load(&args.config.proc_root, args.credential_provider_timeout)
    {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let kube = match runtime.block_on(args.cluster.request()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let request = Request {
        image: args.image.clone(),
        basic,
        docker_configs: args.docker_config.clone(),
        node_identity: Some(std::sync::Arc::new(node_identity)),
        hosts_dir: args.config.hosts_dir.clone(),
        containerd_config: args.config.containerd_config.clone(),
        runtime_pull,
        kube,
        cloud: args.cloud.settings(),
    };
    let prober = Prober::with_proxy(
        options,
        pullcheck::endpoints::proxy::detect(&args.config.proc_root),
    );
    let report = match runtime.block_on(diagnose::diagnose(&prober, &request)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(USAGE_EXIT);
        }
    };
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: failed to encode the report: {e}");
                return ExitCode::from(1);
            }
        },
        Output::Text => print!("{}", text::render(&report)),
    }
    ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1))
}

fn node(args: NodeArgs) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // The CRI channel's background task needs the runtime's context when it is created.
    let _context = runtime.enter();
    let client = match args.runtime.client() {
        Ok(c) => Ok(c),
        Err(Err(usage)) => {
            eprintln!("error: {usage}");
            return ExitCode::from(USAGE_EXIT);
        }
        Err(Ok(reason)) => Err(reason),
    };
    let facts = runtime.block_on(RuntimeFacts::gather(client.as_ref().map_err(Clone::clone)));
    let registry = RegistryConfig::load(
        args.config.containerd_config.as_deref(),
        args.config.hosts_dir.as_deref(),
        &args.config.proc_root,
    )
    .map_err(|e| error_chain(&e));
    let mut identities = match args
        .kubelet
        .load(&args.config.proc_root, Duration::from_secs(60))
    {
        Ok(id) => pullcheck::node::identity_facts(&id),
        Err(e) => vec![IdentityFact::note("error", &e)],
    };
    if let Some(settings) = args.cloud.settings() {
        identities.extend(runtime.block_on(pullcheck::node::cloud_facts(&settings)));
    }
    let node = NodeFacts::new(Platform::host(), facts, registry, identities);
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&node) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: failed to encode the node facts: {e}");
                return ExitCode::from(1);
            }
        },
        Output::Text => print!("{}", node.render_text()),
    }
    ExitCode::from(u8::try_from(node.exit_code).unwrap_or(1))
}

/// A single-threaded tokio runtime (the CLI does one thing at a time).
fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: failed to start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// Largest message `pullcheck explain` reads from standard input.
const EXPLAIN_STDIN_LIMIT: u64 = 1024 * 1024;

fn explain(args: ExplainArgs) -> ExitCode {
    use pullcheck::classify::runtime_message;
    use pullcheck::report::explanation::MessageExplanation;

    let message = match args.message {
        Some(m) if m != "-" => m,
        _ => {
            let mut buf = Vec::new();
            let stdin = std::io::stdin().lock();
            if let Err(e) = stdin.take(EXPLAIN_STDIN_LIMIT).read_to_end(&mut buf) {
                eprintln!("error: failed to read the message from standard input: {e}");
                return ExitCode::from(USAGE_EXIT);
            }
            String::from_utf8_lossy(&buf).into_owned()
        }
    };
    if message.trim().is_empty() {
        eprintln!("error: the message is empty (pass it as an argument, or on standard input)");
        return ExitCode::from(USAGE_EXIT);
    }
    let diagnosis = runtime_message::explain(&message);
    let code = diagnosis.verdict.exit_code();
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&MessageExplanation::from(diagnosis)) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: failed to encode the explanation: {e}");
                return ExitCode::from(1);
            }
        },
        Output::Text => print!("{}", runtime_message::render_text(&diagnosis)),
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
