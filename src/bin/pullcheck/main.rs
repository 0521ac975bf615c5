//! `pullcheck`: the one-shot CLI. `pullcheck probe IMAGE` answers "can this node pull IMAGE".
//!
//! Exit codes: 0 pullable; 1 unknown; 2 usage error; 3 invalid reference; 4 not found;
//! 5 auth; 6 rate limited; 7 TLS/scheme; 8 network; 9 registry error; 10 image content;
//! 11 node (runtime, disk, registries.conf, policy). 12–14 are the kubectl plugin's own
//! (`pullcheck::plugin::exit`); 64 is the agent's bad configuration.
#![forbid(unsafe_code)]

mod args;
mod explain;
mod host_root;
mod node;
mod probe;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for usage errors (bad flags, unusable local configuration).
pub(crate) const USAGE_EXIT: u8 = 2;

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
    Probe(probe::ProbeArgs),
    /// Classify a pull-failure message: a kubelet event, a pod's waiting message or a CRI error.
    Explain(explain::ExplainArgs),
    /// What this node pulls with: runtime, platform, image filesystem, registry configuration.
    Node(node::NodeArgs),
    /// Serve the probe API on this node (HTTP; loopback by default): /v1/probe, /v1/node,
    /// /healthz, /readyz, /openapi.json, and /metrics on its own listener. Exits 64 on a bad
    /// configuration value.
    Agent(pullcheck::agent::config::AgentArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The agent sets up its own logging (text or JSON) after validating its configuration.
    if !matches!(cli.command, Command::Agent(_)) {
        let filter = tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or("warn"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(|| pullcheck::secrets::ScrubWriter::new(std::io::stderr()))
            .init();
    }
    match cli.command {
        Command::Probe(args) => probe::probe(args),
        Command::Explain(args) => explain::explain(args),
        Command::Node(args) => node::node(args),
        Command::Agent(args) => pullcheck::agent::main(args, cli.log.as_deref()),
    }
}

/// A single-threaded tokio runtime (the CLI does one thing at a time).
pub(crate) fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            pullcheck::term::eprint_error(format_args!("failed to start the async runtime: {e}"));
            ExitCode::from(1)
        })
}
