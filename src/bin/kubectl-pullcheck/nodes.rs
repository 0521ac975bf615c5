//! `kubectl pullcheck nodes [-l SELECTOR]`: agent presence, version and readiness per node.

use crate::args::{print_document, DocOutput, GlobalArgs};
use crate::progress::Progress;
use pullcheck::plugin::discovery::NodeSelection;
use pullcheck::plugin::exit;
use pullcheck::plugin::fanout::fan_out;
use pullcheck::plugin::presence::{presence, Presence};
use pullcheck::plugin::render::{self, Format};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct NodesArgs {
    /// Only the nodes matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub(crate) selector: Option<String>,
    /// Most nodes asked at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) concurrency: u16,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: DocOutput,
}

/// `-o json` of `nodes`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeAgents {
    api_version: &'static str,
    kind: &'static str,
    nodes: Vec<Presence>,
    exit_code: u8,
}

pub(crate) async fn run(g: &GlobalArgs, a: NodesArgs) -> u8 {
    let cluster = match g.cluster().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let selection = match &a.selector {
        Some(s) => NodeSelection::Selector(s.clone()),
        None => NodeSelection::All,
    };
    let (nodes, agents) = match g.nodes_and_agents(&cluster, &selection).await {
        Ok((n, a)) => (n, Arc::new(a)),
        Err(code) => return code,
    };
    let client = g.agent_client(&cluster);
    let timeout = g.timeout;
    let progress = Progress::new("nodes");
    let rows = fan_out(
        nodes,
        usize::from(a.concurrency),
        move |node| {
            let (client, agents) = (client.clone(), agents.clone());
            async move { presence(&client, &agents, node, timeout).await }
        },
        |done, total| progress.update(done, total),
    )
    .await;
    let code = if rows.iter().all(Presence::ready) {
        exit::OK
    } else {
        exit::NOT_ASKED
    };
    let format = Format::from(a.output);
    match format {
        Format::Text | Format::Wide => {
            pullcheck::secrets::print(&render::nodes_table(&rows));
            let ready = rows.iter().filter(|p| p.ready()).count();
            pullcheck::secrets::print(&format!(
                "\n{ready}/{} nodes have a ready agent\n",
                rows.len()
            ));
        }
        _ => {
            let doc = NodeAgents {
                api_version: pullcheck::report::API_VERSION,
                kind: "NodeAgents",
                nodes: rows,
                exit_code: code,
            };
            if !print_document(&doc, format) {
                return exit::CLUSTER;
            }
        }
    }
    code
}
