//! Flags every subcommand shares (kubectl's `--kubeconfig`, `--context`, `-n`; where the agents
//! are; time limits), the output format, and the steps they all start with.

use clap::ValueEnum;
use pullcheck::error_text::error_chain;
use pullcheck::plugin::cluster::{self, Cluster, ClusterOptions};
use pullcheck::plugin::discovery::{self, Agents, ClusterNode, NodeSelection};
use pullcheck::plugin::render::{self, Format};
use pullcheck::plugin::transport::AgentClient;
use pullcheck::plugin::{exit, DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_SELECTOR};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct GlobalArgs {
    /// Path to the kubeconfig file [default: KUBECONFIG, ~/.kube/config, else in-cluster].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: the current context].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// The namespace of `pod NAME` and of `image --secret NAME` [default: the context's
    /// namespace]. Before or after the subcommand, as kubectl takes it.
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub(crate) namespace: Option<String>,
    /// Namespace the agents run in.
    #[arg(long, global = true, value_name = "NS", default_value = DEFAULT_AGENT_NAMESPACE)]
    pub(crate) agent_namespace: String,
    /// Label selector of the agent pods.
    #[arg(long, global = true, value_name = "SELECTOR", default_value = DEFAULT_AGENT_SELECTOR)]
    pub(crate) agent_selector: String,
    /// The agents' API port on their node (their --listen port).
    #[arg(long, global = true, value_name = "PORT", default_value_t = pullcheck::plugin::DEFAULT_AGENT_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) agent_port: u16,
    /// Time limit of each Kubernetes API call (connect, then each read), and per node of the
    /// port-forward plus the agent's answer.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Log level of the libraries' diagnostics on stderr (error, warn, info, debug, trace)
    /// [default: off; the plugin's own errors are always said].
    #[arg(long, global = true, env = "PULLCHECK_LOG")]
    pub(crate) log: Option<String>,
}

impl GlobalArgs {
    /// The cluster client (names default to `-n`, else the context's namespace; every API
    /// call bounded by `--timeout`), or the message and exit code.
    pub(crate) async fn cluster(&self) -> Result<Cluster, u8> {
        let opts = ClusterOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            timeout: Some(self.timeout),
        };
        cluster::connect(&opts).await.map_err(|e| {
            pullcheck::term::eprint_error(format_args!("{}", error_chain(&e)));
            exit::CLUSTER
        })
    }

    /// The agents' client.
    pub(crate) fn agent_client(&self, cluster: &Cluster) -> AgentClient {
        AgentClient::new(cluster.forward.clone(), self.agent_port)
    }

    /// The selected nodes and every agent pod, or the message and exit code.
    pub(crate) async fn nodes_and_agents(
        &self,
        cluster: &Cluster,
        selection: &NodeSelection,
    ) -> Result<(Vec<ClusterNode>, Agents), u8> {
        let nodes = discovery::nodes(&cluster.client, selection)
            .await
            .map_err(|e| {
                pullcheck::term::eprint_error(format_args!(
                    "{e}{}",
                    cluster.unreachable(e.kube_source())
                ));
                e.exit_code()
            })?;
        Ok((nodes, self.agents(cluster, None).await?))
    }

    /// The agent pods (on `node` only, when given), or the message and exit code.
    pub(crate) async fn agents(&self, cluster: &Cluster, node: Option<&str>) -> Result<Agents, u8> {
        discovery::agents(
            &cluster.client,
            &self.agent_namespace,
            &self.agent_selector,
            node,
        )
        .await
        .map_err(|e| {
            pullcheck::term::eprint_error(format_args!(
                "{e}{}",
                cluster.unreachable(e.kube_source())
            ));
            e.exit_code()
        })
    }
}

/// `image -o`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    /// The nodes grouped by verdict, identity and pool.
    Text,
    /// A row per node, then the groups.
    Wide,
    /// The ImageCheck document, every node's full report included.
    Json,
    /// The same as YAML.
    Yaml,
}

/// `pod -o` and `nodes -o`: one text view and the document.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DocOutput {
    /// For people.
    Text,
    /// The document (PodCheck, NodeAgents), every agent report included.
    Json,
    /// The same as YAML.
    Yaml,
}

impl From<DocOutput> for Format {
    fn from(o: DocOutput) -> Self {
        match o {
            DocOutput::Text => Format::Text,
            DocOutput::Json => Format::Json,
            DocOutput::Yaml => Format::Yaml,
        }
    }
}

impl From<Output> for Format {
    fn from(o: Output) -> Self {
        match o {
            Output::Text => Format::Text,
            Output::Wide => Format::Wide,
            Output::Json => Format::Json,
            Output::Yaml => Format::Yaml,
        }
    }
}

/// Prints a JSON/YAML document; false (after saying why) when it cannot be encoded.
pub(crate) fn print_document<T: serde::Serialize>(doc: &T, format: Format) -> bool {
    match render::encode(doc, format) {
        Ok(Some(s)) => {
            pullcheck::secrets::print(&s);
            true
        }
        Ok(None) => true,
        Err(e) => {
            pullcheck::term::eprint_error(format_args!("{}", error_chain(&e)));
            false
        }
    }
}

/// `NS/NAME`, or `NAME` in `default_ns`.
pub(crate) fn object_ref(flag: &str, value: &str, default_ns: &str) -> Result<String, String> {
    let (ns, name) = value.split_once('/').unwrap_or((default_ns, value));
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    if !dns(ns) || !dns(name) || name.contains('/') {
        return Err(format!(
            "{flag} {value:?}: expected NAME or NAMESPACE/NAME (lowercase DNS names)"
        ));
    }
    Ok(format!("{ns}/{name}"))
}

/// `--timeout`: between 1 ms and 1 h (the bounded duration parser, `duration::flag`, naming the input).
fn parse_duration(s: &str) -> Result<Duration, String> {
    pullcheck::duration::flag::within(Duration::from_millis(1), Duration::from_secs(3600))(s)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_default_to_the_namespace_and_refuse_bad_names() {
        assert_eq!(
            object_ref("--secret", "regcred", "team-a").unwrap(),
            "team-a/regcred"
        );
        assert_eq!(
            object_ref("--secret", "ops/regcred", "team-a").unwrap(),
            "ops/regcred"
        );
        for bad in ["a/b/c", "", "/x", "x/", "Upper", "sp ace"] {
            let e = object_ref("--secret", bad, "team-a").unwrap_err();
            assert!(e.starts_with("--secret "), "{e}");
        }
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
