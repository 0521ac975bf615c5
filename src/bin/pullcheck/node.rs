//! `pullcheck node`: what this node pulls with.

use crate::args::*;
use crate::{async_runtime, USAGE_EXIT};
use pullcheck::endpoints::RegistryConfig;
use pullcheck::error_text::error_chain;
use pullcheck::node_facts::{IdentityFact, NodeFacts, RuntimeFacts};
use pullcheck::platform::Platform;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct NodeArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: Output,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) kubelet: KubeletArgs,
    #[command(flatten)]
    pub(crate) cloud: CloudArgs,
}

pub(crate) fn node(args: NodeArgs) -> ExitCode {
    if let Some(root) = &args.config.host_root {
        if let Err(e) = crate::host_root::enter(root) {
            pullcheck::term::eprint_error(format_args!("{e}"));
            return ExitCode::from(USAGE_EXIT);
        }
    }
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // The CRI channel's background task needs the runtime's context when it is created.
    let _context = runtime.enter();
    let settings = match node_settings(
        &args.runtime,
        &args.config,
        &args.kubelet,
        &args.cloud,
        Limits {
            timeout: Duration::from_secs(10),
            credential_provider_timeout: Duration::from_secs(60),
            runtime_pull_timeout: Duration::from_secs(300),
            state_dir: None,
        },
    ) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let client = settings.runtime_client();
    let facts = runtime.block_on(RuntimeFacts::gather(client.as_ref().map_err(Clone::clone)));
    let registry = RegistryConfig::load(
        settings.containerd_config.as_deref(),
        settings.hosts_dir.as_deref(),
        &settings.proc_root,
    )
    .map_err(|e| error_chain(&e));
    let mut identities = match settings.node_identity() {
        Ok(id) => pullcheck::node_facts::identity_facts(&id),
        Err(e) => vec![IdentityFact::note("error", &error_chain(&e))],
    };
    if let Some(cloud) = settings.cloud_settings() {
        identities.extend(runtime.block_on(pullcheck::node_facts::cloud_facts(&cloud)));
    }
    let node = NodeFacts::new(Platform::host(), facts, registry, identities)
        .with_crio(settings.runtime_kind, &settings.crio);
    match args.output {
        Output::Json => match pullcheck::term::json::to_string_pretty(&node) {
            Ok(j) => pullcheck::secrets::print(&format!("{j}\n")),
            Err(e) => {
                pullcheck::term::eprint_error(format_args!("failed to encode the node facts: {e}"));
                return ExitCode::from(1);
            }
        },
        Output::Text => pullcheck::secrets::print(&node.render_text()),
    }
    ExitCode::from(u8::try_from(node.exit_code).unwrap_or(1))
}
