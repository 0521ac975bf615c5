//! `pullcheck probe IMAGE`: can this node pull IMAGE, as whom, and what fixes it.

use crate::args::*;
use crate::{async_runtime, USAGE_EXIT};
use pullcheck::diagnose::{self, Request, RuntimePullRequest};
use pullcheck::error_text::error_chain;
use pullcheck::identity::RegistryAuth;
use pullcheck::platform::Platform;
use pullcheck::probe::store::{self, Store};
use pullcheck::probe::{Options, Prober};
use pullcheck::report::text;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct ProbeArgs {
    /// Image reference as written in the pod spec (e.g. nginx, ghcr.io/org/app:v1, …@sha256:…).
    pub(crate) image: String,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value = "text",
        help_heading = "Output"
    )]
    pub(crate) output: Output,
    /// Text output: the answer alone (image, verdict, identity, reason, remediation).
    #[arg(long, conflicts_with = "verbose", help_heading = "Output")]
    pub(crate) brief: bool,
    /// Text output: every exchange, also when the image is pullable (by default they are
    /// listed only for a failure).
    #[arg(short = 'v', long, help_heading = "Output")]
    pub(crate) verbose: bool,
    /// User name for registry credentials (password from --password-stdin).
    #[arg(long, requires = "password_stdin", help_heading = "Credentials")]
    pub(crate) username: Option<String>,
    /// Read the password (or token) from the first line of standard input.
    #[arg(long, requires = "username", help_heading = "Credentials")]
    pub(crate) password_stdin: bool,
    /// A pull secret's docker config (.dockerconfigjson or legacy .dockercfg), read with
    /// kubelet keyring rules; repeat for several secrets, in the pod's imagePullSecrets order.
    #[arg(long, value_name = "FILE", help_heading = "Credentials")]
    pub(crate) docker_config: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) kubelet: KubeletArgs,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    #[command(flatten)]
    pub(crate) cloud: CloudArgs,
    /// Time limit for each credential-provider plugin run (the kubelet's is 60s).
    #[arg(long, default_value = "60s", value_parser = parse_duration, help_heading = "Kubelet")]
    pub(crate) credential_provider_timeout: Duration,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    /// After the registry probe, pull through the runtime (CRI PullImage) with the same
    /// credential and show its verdict beside the registry's.
    #[arg(long, help_heading = "Container runtime")]
    pub(crate) runtime_pull: bool,
    /// Predict for this containerd (containerd/1.6, containerd/1.7, containerd/2.1) instead of
    /// the version the runtime reports; without either, containerd 1.6's rules, said in the report.
    #[arg(long, value_name = "containerd/MAJOR.MINOR", env = "PULLCHECK_RUNTIME_VERSION",
          value_parser = |s: &str| pullcheck::runtime::version::RuntimeVersion::from_flag(s).map_err(|e| e.to_string()), help_heading = "Container runtime")]
    pub(crate) runtime_version: Option<pullcheck::runtime::version::RuntimeVersion>,
    /// Time limit for the runtime's PullImage.
    #[arg(long, default_value = "5m", value_parser = parse_duration, requires = "runtime_pull", help_heading = "Container runtime")]
    pub(crate) runtime_pull_timeout: Duration,
    /// Keep the image the runtime pulled (by default an image that was not on the node before
    /// is removed again).
    #[arg(long, requires = "runtime_pull", help_heading = "Container runtime")]
    pub(crate) keep: bool,
    /// Platform to check for, os/arch[/variant] (default: this machine's, normalised like containerd).
    #[arg(long, value_parser = parse_platform, help_heading = "Probe")]
    pub(crate) platform: Option<Platform>,
    /// Time limit for the probe's registry exchanges, every host, redirect hop, token round and
    /// layer check together, e.g. 10s, 1500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration, help_heading = "Probe")]
    pub(crate) timeout: Duration,
    /// Keep the manifest and config bodies read in DIR (by digest, verified by it, at most
    /// 64 MiB), and read them from there by the digest the registry's HEAD names: no manifest
    /// GET (a Docker Hub pull) for a digest seen before. The agent's DaemonSet uses
    /// /var/lib/pullcheck.
    #[arg(
        long,
        value_name = "DIR",
        env = "PULLCHECK_STATE_DIR",
        help_heading = "Probe"
    )]
    pub(crate) state_dir: Option<PathBuf>,
}

pub(crate) fn probe(args: ProbeArgs) -> ExitCode {
    if let Some(root) = &args.config.host_root {
        if let Err(e) = crate::host_root::enter(root) {
            pullcheck::term::eprint_error(format_args!("{e}"));
            return ExitCode::from(USAGE_EXIT);
        }
    }
    let basic = match (&args.username, args.password_stdin) {
        (Some(user), true) => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().take(64 * 1024).read_to_string(&mut input) {
                pullcheck::term::eprint_error(format_args!(
                    "failed to read the password from standard input: {e}"
                ));
                return ExitCode::from(USAGE_EXIT);
            }
            let password = input.lines().next().unwrap_or("").to_string();
            if password.is_empty() {
                pullcheck::term::eprint_error(format_args!(
                    "--password-stdin: standard input is empty"
                ));
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
    // The node's runtime (given or found): asked for image presence and free space, and for
    // the runtime pull. The client connects lazily; an endpoint that is not there shows as
    // runtime_unavailable in a runtime pull, and as a note otherwise.
    let settings = match node_settings(
        &args.runtime,
        &args.config,
        &args.kubelet,
        &args.cloud,
        Limits {
            timeout: args.timeout,
            credential_provider_timeout: args.credential_provider_timeout,
            runtime_pull_timeout: args.runtime_pull_timeout,
            state_dir: args.state_dir.clone(),
        },
    ) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let node_runtime = settings.runtime_client();
    let runtime_pull = args.runtime_pull.then(|| RuntimePullRequest {
        client: settings.runtime_for_pull(&node_runtime),
        keep: args.keep,
        limit: settings.runtime_pull_timeout,
    });
    let node_identity = match settings.node_identity() {
        Ok(n) => n,
        Err(e) => {
            pullcheck::term::eprint_error(format_args!("{}", error_chain(&e)));
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let kube = match runtime.block_on(args.cluster.request()) {
        Ok(k) => k,
        Err(e) => {
            pullcheck::term::eprint_error(format_args!("{e}"));
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let request = Request {
        image: args.image.clone(),
        basic,
        docker_configs: args.docker_config.clone(),
        node_identity: Some(std::sync::Arc::new(node_identity)),
        hosts_dir: settings.hosts_dir.clone(),
        containerd_config: settings.containerd_config.clone(),
        runtime_pull,
        runtime: Some(node_runtime.clone()),
        kube,
        cloud: settings.cloud_settings(),
        runtime_version: args.runtime_version.clone(),
        gets: None,
        runtime_kind: settings.runtime_kind,
        crio: settings.crio.clone(),
    };
    // The pulling runtime's proxy environment: CRI-O's on a CRI-O node.
    let mut prober = Prober::with_proxy(options, settings.proxy(&node_runtime));
    if let Some(dir) = &args.state_dir {
        match Store::open(dir, store::DEFAULT_LIMIT) {
            Ok(s) => prober = prober.with_store(std::sync::Arc::new(s)),
            Err(e) => {
                pullcheck::term::eprint_error(format_args!("--state-dir: {e}"));
                return ExitCode::from(USAGE_EXIT);
            }
        }
    }
    let report = match runtime.block_on(diagnose::diagnose(&prober, &request)) {
        Ok(d) => d.report,
        Err(e) => {
            pullcheck::term::eprint_error(format_args!("{}", error_chain(&e)));
            return ExitCode::from(USAGE_EXIT);
        }
    };
    match args.output {
        Output::Json => match pullcheck::term::json::to_string_pretty(&report) {
            Ok(j) => pullcheck::secrets::print(&format!("{j}\n")),
            Err(e) => {
                pullcheck::term::eprint_error(format_args!("failed to encode the report: {e}"));
                return ExitCode::from(1);
            }
        },
        Output::Text => {
            let detail = match (args.brief, args.verbose) {
                (true, _) => text::Detail::Brief,
                (_, true) => text::Detail::Verbose,
                _ => text::Detail::Normal,
            };
            pullcheck::secrets::print(&text::render_with(&report, detail))
        }
    }
    ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1))
}
