//! `kubectl pullcheck image IMAGE [--all-nodes | --node N… | -l SELECTOR]`: every selected
//! node's agent asked at once (bounded by --concurrency), results grouped by verdict and pool.

use crate::args::{object_ref, print_document, GlobalArgs, Output};
use crate::progress::Progress;
use pullcheck::plugin::discovery::NodeSelection;
use pullcheck::plugin::exit;
use pullcheck::plugin::fanout::{ask_image, fan_out, ImageQuestion};
use pullcheck::plugin::render::{self, Format, ImageCheck};
use pullcheck::reference::ImageRef;
use std::sync::Arc;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["all_nodes", "node", "selector"])))]
pub(crate) struct ImageArgs {
    /// The image reference, as a pod spec has it.
    pub(crate) image: String,
    /// Ask every node.
    #[arg(long)]
    pub(crate) all_nodes: bool,
    /// Ask this node (repeatable).
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Vec<String>,
    /// Ask the nodes matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub(crate) selector: Option<String>,
    /// Also use this pull secret (NAME in -n's namespace, or NAMESPACE/NAME); repeatable.
    #[arg(long, value_name = "SECRET")]
    pub(crate) secret: Vec<String>,
    /// Platform to check for, os/arch[/variant] [default: each node's].
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// Skip the agents' answer cache.
    #[arg(long)]
    pub(crate) fresh: bool,
    /// Most nodes asked at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) concurrency: u16,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: Output,
}

pub(crate) async fn run(g: &GlobalArgs, a: ImageArgs) -> u8 {
    // Bad input is refused before the cluster is contacted.
    if let Err(e) = ImageRef::parse(&a.image) {
        pullcheck::term::eprint_error(format_args!("invalid image reference {:?}: {e}", a.image));
        return exit::USAGE;
    }
    if let Some(p) = &a.platform {
        if let Err(e) = pullcheck::platform::Platform::parse(p) {
            pullcheck::term::eprint_error(format_args!("--platform {p:?}: {e}"));
            return exit::USAGE;
        }
    }
    let cluster = match g.cluster().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("image", a.image.trim());
    for s in &a.secret {
        match object_ref("--secret", s, &cluster.namespace) {
            Ok(r) => {
                query.append_pair("secret", &r);
            }
            Err(e) => {
                pullcheck::term::eprint_error(format_args!("{e}"));
                return exit::USAGE;
            }
        }
    }
    if let Some(p) = &a.platform {
        query.append_pair("platform", p);
    }
    if a.fresh {
        query.append_pair("fresh", "true");
    }
    let selection = if a.all_nodes {
        NodeSelection::All
    } else if let Some(s) = &a.selector {
        NodeSelection::Selector(s.clone())
    } else {
        NodeSelection::Names(a.node.clone())
    };
    let (nodes, agents) = match g.nodes_and_agents(&cluster, &selection).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let question = Arc::new(ImageQuestion {
        client: g.agent_client(&cluster),
        agents: Arc::new(agents),
        path: format!("/v1/probe?{}", query.finish()),
        timeout: g.timeout,
    });
    let progress = Progress::new("nodes");
    let results = fan_out(
        nodes,
        usize::from(a.concurrency),
        move |node| {
            let q = question.clone();
            async move { ask_image(&q, node).await }
        },
        |done, total| progress.update(done, total),
    )
    .await;
    let doc = ImageCheck::new(a.image.trim(), results);
    let format = Format::from(a.output);
    match format {
        Format::Text | Format::Wide => {
            pullcheck::secrets::print(&render::image_text(&doc, format == Format::Wide))
        }
        _ => {
            if !print_document(&doc, format) {
                return exit::CLUSTER;
            }
        }
    }
    doc.exit_code
}
