//! Kubeconfig handling like kubectl's: `--kubeconfig FILE` (else `KUBECONFIG`, else
//! `~/.kube/config`, else in-cluster), `--context NAME`, and the namespace from `-n` or the
//! context. Entry point: [`connect`].

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;

/// Why no client could be made (not retryable without a configuration change).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot read the kubeconfig {path}")]
    Read {
        /// The file, or the `KUBECONFIG`/default location.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The context (or its cluster or user) is unusable.
    #[error("cannot use {what} of the kubeconfig {path}")]
    Context {
        /// `context "NAME"` or `the current context`.
        what: String,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig and not in a cluster.
    #[error("no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a cluster; pass --kubeconfig")]
    Infer(#[source] kube::config::InferConfigError),
    /// The client could not be built (TLS settings, proxy).
    #[error("cannot build a Kubernetes client for {server}")]
    Client {
        /// The API server URL.
        server: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the cluster is, as the kubectl flags say.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n` / `--namespace`.
    pub namespace: Option<String>,
}

/// A client and the namespace commands default to.
#[derive(Clone)]
pub struct Cluster {
    /// The client.
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// The API server URL (for messages).
    pub server: String,
}

/// Builds the client the way kubectl picks its configuration.
pub async fn connect(opts: &ClusterOptions) -> Result<Cluster> {
    let config = match (&opts.kubeconfig, &opts.context) {
        (None, None) => Config::infer().await.map_err(Error::Infer)?,
        (file, context) => {
            let (kc, path) = match file {
                Some(p) => (
                    Kubeconfig::read_from(p).map_err(|source| Error::Read {
                        path: p.display().to_string(),
                        source,
                    })?,
                    p.display().to_string(),
                ),
                None => (
                    Kubeconfig::read().map_err(|source| Error::Read {
                        path: "from KUBECONFIG or ~/.kube/config".into(),
                        source,
                    })?,
                    std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into()),
                ),
            };
            let options = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|source| Error::Context {
                    what: match context {
                        Some(c) => format!("context {c:?}"),
                        None => "the current context".into(),
                    },
                    path,
                    source,
                })?
        }
    };
    let server = config.cluster_url.to_string();
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|source| Error::Client {
        server: server.clone(),
        source,
    })?;
    Ok(Cluster {
        client,
        namespace,
        server,
    })
}

impl Cluster {
    /// What kubectl adds when the API server did not answer at all: its address, and where
    /// it came from. Empty when `source` is the API server's own answer (or none).
    pub fn unreachable(&self, source: Option<&kube::Error>) -> String {
        use kube::Error as E;
        match source {
            Some(E::HyperError(_) | E::Service(_) | E::RustlsTls(_) | E::UpgradeConnection(_)) => format!(
                " — the API server {} did not answer: is it the right host and port (the kubeconfig's current context, or --context), and reachable from here?",
                self.server
            ),
            _ => String::new(),
        }
    }
}

/// One line for an API error: `403 Forbidden: pods is forbidden: …`, or the transport error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => crate::error_text::error_chain(other),
    }
}

/// The HTTP status of an API error, when the API server answered one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
