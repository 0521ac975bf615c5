//! `pullcheck`: the one-shot CLI. `pullcheck probe IMAGE` answers "can this node pull IMAGE".
//!
//! Exit codes: 0 pullable; 1 unknown; 2 usage error; 3 invalid reference; 4 not found;
//! 5 auth; 6 rate limited; 7 TLS/scheme; 8 network; 9 registry error; 10 image content;
//! 11 node (runtime, disk).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand, ValueEnum};
use pullcheck::diagnose::{self, Request};
use pullcheck::identity::RegistryAuth;
use pullcheck::platform::Platform;
use pullcheck::probe::{Options, Prober};
use pullcheck::report::text;
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
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", env = "PULLCHECK_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probe the registry for IMAGE the way this node's containerd would, and classify the result.
    Probe(ProbeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
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
    /// A docker config file (config.json / .dockerconfigjson) read with kubelet keyring rules.
    #[arg(long, value_name = "FILE")]
    docker_config: Option<PathBuf>,
    /// containerd certs.d root holding <host[:port]>/hosts.toml (e.g. /etc/containerd/certs.d).
    #[arg(long, value_name = "DIR")]
    hosts_dir: Option<PathBuf>,
    /// Platform to check for, os/arch[/variant] (default: this machine's, normalised like containerd).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Time limit for each step (connect, each request), e.g. 10s, 1500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
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
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Probe(args) => probe(args),
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
    let request = Request {
        image: args.image.clone(),
        basic,
        docker_config: args.docker_config.clone(),
        hosts_dir: args.hosts_dir.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let prober = Prober::new(options);
    let report = match runtime.block_on(diagnose::diagnose(&prober, &request)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
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
