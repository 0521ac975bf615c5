//! Kubeconfig handling like kubectl's: `--kubeconfig FILE` (else `KUBECONFIG`, else
//! `~/.kube/config`, else in-cluster), `--context NAME`, and the namespace from `-n` or the
//! context. Entry point: [`connect`].

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError, LoadDataError};
use kube::{Client, Config};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why no client could be made (not retryable without a configuration change). Each is one
/// sentence naming the file and how to point at another; none repeats a library's chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig file where one was looked for, and not in a cluster.
    #[error("no kubeconfig: {looked_for}, and this is not a pod in a cluster; pass --kubeconfig FILE or set KUBECONFIG to the file")]
    NoKubeconfig {
        /// Where it was looked for: `/home/u/.kube/config does not exist (KUBECONFIG is not set)`.
        looked_for: String,
    },
    /// No kubeconfig file, and the in-cluster configuration (a pod's service account) failed.
    #[error("no kubeconfig: {looked_for}; the in-cluster configuration is unusable too ({why}); pass --kubeconfig FILE or set KUBECONFIG to the file")]
    InCluster {
        /// Where the kubeconfig was looked for.
        looked_for: String,
        /// Why the in-cluster configuration failed.
        why: String,
    },
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot read the kubeconfig {path}: {why}; pass --kubeconfig FILE or set KUBECONFIG to a readable one")]
    Read {
        /// The file (`KUBECONFIG` names it, or the default location).
        path: String,
        /// Why.
        why: String,
    },
    /// The context (or its cluster or user) is unusable.
    #[error("cannot use {what} of the kubeconfig {path}: {why}")]
    Context {
        /// `context "NAME"` or `the current context`.
        what: String,
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
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
    /// `--timeout`: the limit of connecting to the API server and of each read and write on
    /// the connection, so a server that accepts and never answers fails in that time.
    pub timeout: Option<Duration>,
}

/// A client and the namespace commands default to.
#[derive(Clone)]
pub struct Cluster {
    /// The client of API calls (lists, gets), each bounded by `--timeout`.
    pub client: Client,
    /// The client of port-forwards to agents (bounded per node by the caller).
    pub forward: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// The API server URL (for messages).
    pub server: String,
    /// The API call time limit in force (for messages).
    pub timeout: Option<Duration>,
}

/// The kubeconfig files kubectl would read: `KUBECONFIG`'s list, else `~/.kube/config`.
fn kubeconfig_paths() -> (Vec<PathBuf>, bool) {
    if let Some(v) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return (paths, true);
        }
    }
    let home = std::env::home_dir().map(|h| h.join(".kube").join("config"));
    (home.into_iter().collect(), false)
}

/// The files, as one name for messages.
fn paths_text(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Where the kubeconfig was looked for, when none was found: one clause.
fn looked_for(missing: Option<&Path>) -> String {
    let (paths, from_env) = kubeconfig_paths();
    match (missing, from_env) {
        (Some(p), true) => format!("{} (named by KUBECONFIG) does not exist", p.display()),
        (Some(p), false) => format!("{} does not exist (KUBECONFIG is not set)", p.display()),
        (None, true) => format!("KUBECONFIG names {} and none exists", paths_text(&paths)),
        (None, false) => {
            "KUBECONFIG is not set and there is no home directory for ~/.kube/config".into()
        }
    }
}

/// An I/O error as a few words (no Debug text, no OS error numbers).
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        _ => e.to_string(),
    }
}

/// A file a kubeconfig names (certificate authority, client certificate or key) and why it
/// could not be used.
fn load_data_words(what: &str, e: &LoadDataError) -> String {
    match e {
        LoadDataError::ReadFile(io, path) => {
            format!(
                "cannot read its {what} {}: {}",
                path.display(),
                io_words(io)
            )
        }
        other => format!("its {what}: {other}"),
    }
}

/// A kubeconfig error as one clause: the file's path once, unquoted.
fn kubeconfig_words(e: &KubeconfigError) -> String {
    use KubeconfigError as K;
    match e {
        K::ReadConfig(io, _) => io_words(io),
        // Not the parser's message: it quotes the file, which may hold a token.
        K::Parse(p) => match p.location() {
            Some(at) => format!(
                "not a kubeconfig (invalid YAML or fields at line {} column {})",
                at.line(),
                at.column()
            ),
            None => "not a kubeconfig (invalid YAML or fields)".into(),
        },
        K::LoadCertificateAuthority(d) => load_data_words("certificate authority", d),
        K::LoadClientCertificate(d) => load_data_words("client certificate", d),
        K::LoadClientKey(d) => load_data_words("client key", d),
        K::FindPath => "there is no home directory to find it in".into(),
        K::CurrentContextNotSet => "it sets no current-context (pass --context NAME)".into(),
        K::LoadContext(name) => format!("it has no context {name:?}"),
        K::LoadClusterOfContext(name) => format!("it has no cluster {name:?}"),
        other => other.to_string(),
    }
}

/// Whether the error says the file is not there (kubectl's "no configuration" case).
fn is_missing(e: &KubeconfigError) -> Option<Option<&Path>> {
    match e {
        KubeconfigError::ReadConfig(io, path) if io.kind() == std::io::ErrorKind::NotFound => {
            Some(Some(path.as_path()))
        }
        KubeconfigError::FindPath => Some(None),
        _ => None,
    }
}

/// Reads the kubeconfig: `file`, else `KUBECONFIG`'s files, else `~/.kube/config`.
fn read(file: Option<&Path>) -> Result<(Kubeconfig, String), (KubeconfigError, String)> {
    match file {
        Some(p) => {
            let name = p.display().to_string();
            Kubeconfig::read_from(p)
                .map(|k| (k, name.clone()))
                .map_err(|e| (e, name))
        }
        None => {
            let name = paths_text(&kubeconfig_paths().0);
            Kubeconfig::read()
                .map(|k| (k, name.clone()))
                .map_err(|e| (e, name))
        }
    }
}

/// Builds the client the way kubectl picks its configuration: `--kubeconfig`, else
/// `KUBECONFIG`, else `~/.kube/config`, else (no file at all) the pod's in-cluster
/// configuration.
pub async fn connect(opts: &ClusterOptions) -> Result<Cluster> {
    let mut config = match read(opts.kubeconfig.as_deref()) {
        Ok((kc, path)) => {
            let options = KubeConfigOptions {
                context: opts.context.clone(),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::Context {
                    what: match &opts.context {
                        Some(c) => format!("context {c:?}"),
                        None => "the current context".into(),
                    },
                    path,
                    why: kubeconfig_words(&e),
                })?
        }
        // No file anywhere, none named: a pod's own service account, as kubectl in a pod.
        Err((e, _))
            if opts.kubeconfig.is_none() && opts.context.is_none() && is_missing(&e).is_some() =>
        {
            let missing = is_missing(&e).flatten();
            match Config::incluster() {
                Ok(c) => c,
                Err(_) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() => {
                    return Err(Error::NoKubeconfig {
                        looked_for: looked_for(missing),
                    })
                }
                Err(ic) => {
                    return Err(Error::InCluster {
                        looked_for: looked_for(missing),
                        why: crate::error_text::error_chain(&ic),
                    })
                }
            }
        }
        // A file named (--kubeconfig, or KUBECONFIG with --context) or found but unusable.
        Err((e, path)) => {
            return Err(Error::Read {
                path: if path.is_empty() {
                    "~/.kube/config".into()
                } else {
                    path
                },
                why: kubeconfig_words(&e),
            })
        }
    };
    let server = config.cluster_url.to_string();
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let build = |config: Config| {
        Client::try_from(config).map_err(|source| Error::Client {
            server: server.clone(),
            source,
        })
    };
    // Port-forwards carry the agent's answer, which may take the whole per-node limit: the
    // caller bounds each one by --timeout as a whole, not by its reads.
    let forward = build(config.clone())?;
    if let Some(t) = opts.timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    let client = build(config)?;
    Ok(Cluster {
        client,
        forward,
        namespace,
        server,
        timeout: opts.timeout,
    })
}

impl Cluster {
    /// What kubectl adds when the API server did not answer at all: its address, and where
    /// it came from. Empty when `source` is the API server's own answer (or none).
    pub fn unreachable(&self, source: Option<&kube::Error>) -> String {
        use kube::Error as E;
        match source {
            Some(
                e @ (E::HyperError(_) | E::Service(_) | E::RustlsTls(_) | E::UpgradeConnection(_)),
            ) => {
                let within = match self.timeout {
                    Some(t) if timed_out(e) => {
                        format!(" within {} (--timeout)", humantime::format_duration(t))
                    }
                    _ => String::new(),
                };
                format!(
                    " — the API server {} did not answer{within}: is it the right host and port (the kubeconfig's current context, or --context), and reachable from here?",
                    self.server
                )
            }
            _ => String::new(),
        }
    }
}

/// Whether a transport error is a time limit running out (connect, read or write).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// One line for an API error: `403 Forbidden: pods is forbidden: …`, `no answer (timed out)`
/// when a time limit ran out, or the transport error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other if timed_out(other) => "no answer (timed out)".into(),
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
