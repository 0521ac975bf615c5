//! `pullcheck agent`: the per-node service SREs, the kubectl plugin and alerting ask "can this
//! node pull X" — the HTTP edge. Every answer comes from [`diagnose`](crate::diagnose::diagnose),
//! the one orchestrator, through the probe service ([`crate::service::ProbeService`]: cache,
//! coalescing, budgets), which the drift [`monitor`](crate::monitor) shares. This module parses
//! requests ([`params`]), authenticates callers ([`auth`], [`origin`]), maps the service's
//! refusals to API errors ([`error`]), and wires the parts together ([`run`]).
//!
//! Endpoints on `--listen` (loopback, no authentication: reach it with `kubectl port-forward`),
//! and the same behind TokenReview + SubjectAccessReview on the optional `--network-listen`:
//! - `GET /v1/probe?image=…[&pod=ns/name][&secret=ns/name…][&platform=…][&fresh=true]`
//!   and `POST /v1/probe` with those fields (and `runtimePull`, POST-only) as JSON → the `pullcheck probe -o json` report;
//! - `GET /v1/node` → node facts, identities, registry configuration, rate limits seen, budgets;
//! - `GET /healthz`, `GET /readyz` (ready once configured, 503 while draining; runtime state
//!   reported, not required);
//! - `GET /openapi.json`.
//!
//! On `--metrics-listen`: `GET /metrics` (OpenMetrics), `/healthz`, `/readyz` — this listener
//! keeps serving while the API drains, so readiness shows `draining`. On `--health-listen`:
//! `/healthz` and `/readyz` alone, on connections API load cannot take (the DaemonSet's
//! probes), also served while draining.
//!
//! Start-up order: [`config`] validated (exit 64 on a bad value) → [`context`] loaded (node
//! credentials, registry configuration, CRI and Kubernetes clients) → listeners bound → one
//! start-up line with the effective configuration → [`server`] loops until SIGTERM →
//! [`shutdown::drain`] with a deadline.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod context;
pub mod error;
pub mod health;
pub mod metrics;
pub mod node_view;
pub mod openapi;
pub mod origin;
pub mod params;
pub mod process_metrics;
pub mod routes;
pub mod scrub;
pub mod server;
pub mod shutdown;

use crate::service::budget::{Budgets, Limiter};
use crate::service::cache::Cache;
use crate::service::guard::Guard;
use crate::service::rate_limits::RateLimitBoard;
use crate::service::{ProbeService, RuntimeWatch};
use auth::Authenticator;
use config::{AgentArgs, Config, LogFormat, EX_USAGE};
use routes::AppState;
use shutdown::{Drained, Shutdown};

/// Connections the health listener holds open at once (kubelet probes need one or two).
const HEALTH_CONNECTIONS: usize = 64;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value or the node's configuration files are unusable (exit 64).
    #[error(transparent)]
    Config(#[from] config::Error),
    /// A listener could not be opened (exit 1; retryable once the address is free).
    #[error("cannot listen on {addr} ({key})")]
    Bind {
        /// The configuration key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `pullcheck agent`; `log` is the global `--log` filter (default `info`).
pub fn main(args: AgentArgs, log: Option<&str>) -> ExitCode {
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            crate::term::eprint_error(format_args!("{e}"));
            return ExitCode::from(EX_USAGE);
        }
    };
    let filter = log.unwrap_or("info");
    let Ok(filter) = tracing_subscriber::EnvFilter::try_new(filter) else {
        crate::term::eprint_error(format_args!("invalid log {filter:?} (from flag or environment): expected a level (error, warn, info, debug, trace) or a tracing filter"));
        return ExitCode::from(EX_USAGE);
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| crate::secrets::ScrubWriter::new(std::io::stderr()));
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    // One worker: the current-thread scheduler, whose single FIFO run queue stays fair under
    // a thousand busy connections (the multi-thread one spills past 256 ready tasks into a
    // queue it visits rarely, which shows as a long latency tail).
    let mut builder = match config.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all();
    if let Some(n) = config.worker_threads.filter(|n| *n > 1) {
        builder.worker_threads(n);
    }
    let runtime = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            crate::term::eprint_error(format_args!("failed to start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Config(e)) => {
            tracing::error!(error = %crate::error_text::error_chain(&e), "configuration error");
            crate::term::eprint_error(format_args!("{e}"));
            ExitCode::from(EX_USAGE)
        }
        Err(e) => {
            tracing::error!(error = %crate::error_text::error_chain(&e), "agent failed");
            ExitCode::from(1)
        }
    }
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { key, addr, source })
}

fn local(l: &TcpListener) -> String {
    l.local_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string())
}

/// Loads the node context, binds the listeners, serves until SIGTERM/SIGINT, drains.
pub async fn run(config: Config) -> Result<(), Error> {
    let ctx = Arc::new(context::load(&config).await?);
    if let Some(why) = &ctx.kube_missing {
        tracing::info!(reason = %why, "no Kubernetes API access: pod and secret parameters answer 422");
    }
    // Every series carries the node it is about, so alerts and dashboards group by node
    // however they are scraped (a ServiceMonitor, `prometheus.io/*` annotations, a static job).
    let mut registry = match &config.node_name {
        Some(node) => prometheus_client::registry::Registry::with_labels(std::iter::once((
            std::borrow::Cow::Borrowed("node"),
            std::borrow::Cow::Owned(node.clone()),
        ))),
        None => prometheus_client::registry::Registry::default(),
    };
    let metrics = Arc::new(metrics::Metrics::register(&mut registry));
    let monitor_metrics = Arc::new(crate::monitor::metrics::MonitorMetrics::register(
        &mut registry,
        config.monitor.max_series,
    ));
    let seen = Arc::new(RateLimitBoard::default());
    let service = Arc::new(ProbeService::new(
        ctx.clone(),
        Cache::new(config.ttls, config.cache_max_entries),
        Guard::new(
            config.allow_registry_cidr.clone(),
            config.only_registry.clone(),
            config.probe.timeout,
        ),
        Budgets::new(
            config.default_registry_budget,
            config.registry_budgets.clone(),
        ),
        Limiter::new(config.max_concurrent_probes),
        metrics.probes.clone(),
        seen.clone(),
    ));
    let shutdown = Shutdown::default();
    let runtime_watch = Arc::new(RuntimeWatch::default());
    let monitor = crate::monitor::Monitor::new(
        service.clone(),
        ctx.clone(),
        runtime_watch.clone(),
        config.node_name.clone(),
        config.monitor.clone(),
        (monitor_metrics, metrics.probes.clone()),
    );
    let api = bind("listen", config.listen).await?;
    let network = match config.network_listen {
        Some(a) => Some(bind("network-listen", a).await?),
        None => None,
    };
    let health_listener = match config.health_listen {
        Some(a) => Some(bind("health-listen", a).await?),
        None => None,
    };
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(bind("metrics-listen", a).await?),
        None => None,
    };
    let state = AppState {
        service: service.clone(),
        ctx: ctx.clone(),
        seen,
        runtime: runtime_watch,
        monitor: monitor.clone(),
        metrics,
        registry: Arc::new(registry),
        limits: config.limits,
        shutdown: shutdown.clone(),
        openapi: bytes::Bytes::from(openapi::json()),
        allowed_hosts: origin::AllowedHosts(Arc::new(config.allowed_hosts.clone())),
        metrics_at: metrics_listener.as_ref().map(local),
    };

    tracing::info!(
        api = %local(&api),
        network = %network.as_ref().map_or_else(|| "off".into(), local),
        metrics = %metrics_listener.as_ref().map_or_else(|| "off".into(), local),
        health = %health_listener.as_ref().map_or_else(|| "off".into(), local),
        "listening"
    );
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config.summary(),
        "pullcheck agent started"
    );

    let monitor_tasks = if config.monitor.enabled {
        monitor.spawn()
    } else {
        Vec::new()
    };

    let mut api_servers = vec![tokio::spawn(server::serve(
        api,
        routes::router(state.clone(), None),
        config.limits,
        shutdown.clone(),
        "api",
    ))];
    if let (Some(listener), Some(kube)) = (network, ctx.kube.clone()) {
        let auth = Arc::new(Authenticator::new(kube, config.authz.clone()));
        api_servers.push(tokio::spawn(server::serve(
            listener,
            routes::router(state.clone(), Some(auth)),
            config.limits,
            shutdown.clone(),
            "network",
        )));
    }
    // The metrics listener outlives the drain (readiness shows it); it stops with the process.
    let metrics_stop = Shutdown::default();
    // The health listener has its own connection slots (a few: kubelet probes), and like the
    // metrics listener it outlives the drain.
    let health_limits = config::Limits {
        max_connections: HEALTH_CONNECTIONS,
        ..config.limits
    };
    let health_server = health_listener.map(|l| {
        tokio::spawn(server::serve(
            l,
            health::health_router(state.clone()),
            health_limits,
            metrics_stop.clone(),
            "health",
        ))
    });
    let metrics_server = metrics_listener.map(|l| {
        tokio::spawn(server::serve(
            l,
            health::metrics_router(state.clone()),
            config.limits,
            metrics_stop.clone(),
            "metrics",
        ))
    });

    let signal = shutdown::signal().await;
    tracing::info!(
        signal,
        grace = %humantime::format_duration(config.shutdown_grace),
        probes_in_flight = service.in_flight(),
        "shutting down: draining in-flight requests"
    );
    shutdown.trigger();
    for t in &monitor_tasks {
        t.abort();
    }
    let servers = async {
        for s in api_servers {
            let _ = s.await;
        }
    };
    match shutdown::drain(servers, config.shutdown_grace).await {
        Drained::Clean => tracing::info!("drained; exiting"),
        Drained::DeadlinePassed => tracing::warn!(
            probes_in_flight = service.in_flight(),
            "shutdown grace passed with requests unfinished; exiting anyway"
        ),
    }
    metrics_stop.trigger();
    for m in metrics_server.into_iter().chain(health_server) {
        m.abort();
    }
    Ok(())
}
