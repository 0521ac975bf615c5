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
            eprintln!("error: {e}");
            return ExitCode::from(USAGE_EXIT);
        }
    }
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
        Ok(id) => pullcheck::node_facts::identity_facts(&id),
        Err(e) => vec![IdentityFact::note("error", &e)],
    };
    let cloud = match args.cloud.settings() {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("error: {usage}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    if let Some(settings) = cloud {
        identities.extend(runtime.block_on(pullcheck::node_facts::cloud_facts(&settings)));
    }
    let node = NodeFacts::new(Platform::host(), facts, registry, identities)
        .with_crio(args.config.runtime_kind, &args.config.crio_files());
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&node) {
            Ok(j) => pullcheck::secrets::print(&format!("{j}\n")),
            Err(e) => {
                eprintln!("error: failed to encode the node facts: {e}");
                return ExitCode::from(1);
            }
        },
        Output::Text => pullcheck::secrets::print(&node.render_text()),
    }
    ExitCode::from(u8::try_from(node.exit_code).unwrap_or(1))
}
