//! `kubectl-pullcheck`: the kubectl plugin. `kubectl pullcheck pod NAME` asks the node a
//! failing pod is on, with the pod's identity; `kubectl pullcheck image IMAGE --all-nodes`
//! asks every node at once; `kubectl pullcheck nodes` shows which nodes have a ready agent.
//! Agents are reached through the API server's port-forward (RBAC: `create` on
//! `pods/portforward` in the agent namespace).
//!
//! Exit codes (one table with `pullcheck`'s): 0 every node asked can pull; 2 usage or bad input
//! (flags, image reference, unknown node or pod); 1, 3–11 the failing verdicts' family, as
//! `pullcheck probe` exits; 12 failing nodes in different families; 13 nothing failed but some
//! nodes could not be asked; 14 cluster error (kubeconfig, API server, RBAC on lists, agent not
//! installed).
#![forbid(unsafe_code)]

mod args;
mod image;
mod nodes;
mod pod;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kubectl-pullcheck",
    bin_name = "kubectl pullcheck",
    version,
    about = "Ask the pullcheck agent on each node: can this node pull image X — and if not, why, as whom, and what fixes it."
)]
struct Cli {
    #[command(flatten)]
    global: args::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose a pod: ask its node's agent, with the pod's pull secrets, about each container
    /// waiting on an image pull, and classify the pod's waiting message.
    Pod(pod::PodArgs),
    /// Ask every selected node whether it can pull IMAGE; results grouped by verdict and pool.
    Image(image::ImageArgs),
    /// Agent presence, version and readiness per node.
    Nodes(nodes::NodesArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return ExitCode::from(if e.use_stderr() {
                pullcheck::plugin::exit::USAGE
            } else {
                0
            });
        }
    };
    // The plugin says what went wrong in its own `error:` lines; the libraries' logs (kube's
    // client logs every failed connection) only with --log.
    let filter = tracing_subscriber::EnvFilter::try_new(cli.global.log.as_deref().unwrap_or("off"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| pullcheck::secrets::ScrubWriter::new(std::io::stderr()))
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            pullcheck::term::eprint_error(format_args!("failed to start the async runtime: {e}"));
            return ExitCode::from(pullcheck::plugin::exit::CLUSTER);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Pod(a) => pod::run(&cli.global, a).await,
            Command::Image(a) => image::run(&cli.global, a).await,
            Command::Nodes(a) => nodes::run(&cli.global, a).await,
        }
    });
    // Port-forwards still closing must not hold the exit.
    runtime.shutdown_background();
    ExitCode::from(code)
}
