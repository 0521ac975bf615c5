//! `kubectl pullcheck pod NAME [-n NS]`: the pod's failing containers, their waiting messages
//! classified, and the verdict of the agent on the pod's node, asked with the pod's identity
//! (`pod=NS/NAME`: the agent reads the pod's pull secrets itself).

use crate::args::{print_document, GlobalArgs, Output};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use pullcheck::plugin::cluster::api_message;
use pullcheck::plugin::discovery::{rbac_hint, NodeFacts};
use pullcheck::plugin::exit;
use pullcheck::plugin::fanout::{ask_image, ImageQuestion};
use pullcheck::plugin::outcome::{NodeResult, NodeStatus};
use pullcheck::plugin::pod::{containers, PodCheck};
use pullcheck::plugin::render::{self, Format};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct PodArgs {
    /// The pod's name (in -n's namespace).
    pub(crate) name: String,
    /// Check every container's image, not only those waiting on a pull.
    #[arg(long)]
    pub(crate) all_containers: bool,
    /// Output format (wide is the same as text).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: Output,
}

pub(crate) async fn run(g: &GlobalArgs, a: PodArgs) -> u8 {
    let cluster = match g.cluster().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ns = cluster.namespace.clone();
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let pod = match api.get_opt(&a.name).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            eprintln!(
                "error: pod {ns}/{} not found (see kubectl get pods -n {ns})",
                a.name
            );
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!(
                "error: cannot read pod {ns}/{}: {}{}",
                a.name,
                api_message(&e),
                rbac_hint(&e, "get", "pods", Some(&ns))
            );
            return exit::CLUSTER;
        }
    };
    let pod_id = format!("{ns}/{}", a.name);
    let (mut checks, failing) = containers(&pod, a.all_containers);
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let mut agent_pod = None;
    match &node {
        None => {
            for c in &mut checks {
                c.agent = Some(NodeResult::not_asked(
                    NodeFacts::new("", &Default::default()),
                    None,
                    NodeStatus::NoAgent,
                    format!("pod {pod_id} is not scheduled to a node yet: no node to ask"),
                ));
            }
        }
        Some(node) => {
            let agents = match g.agents(&cluster, Some(node)).await {
                Ok(a) => Arc::new(a),
                Err(code) => return code,
            };
            agent_pod = agents.on(node).map(|p| p.id());
            let client = g.agent_client(&cluster);
            for c in &mut checks {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("image", &c.image)
                    .append_pair("pod", &pod_id)
                    .append_pair("fresh", "true");
                let question = ImageQuestion {
                    client: client.clone(),
                    agents: agents.clone(),
                    path: format!("/v1/probe?{}", q.finish()),
                    timeout: g.timeout,
                };
                c.agent =
                    Some(ask_image(&question, NodeFacts::new(node, &Default::default())).await);
            }
        }
    }
    let doc = PodCheck::new(pod_id, node, failing, checks);
    let format = Format::from(a.output);
    match format {
        Format::Text | Format::Wide => {
            pullcheck::secrets::print(&render::pod_text(&doc, agent_pod.as_deref()))
        }
        _ => {
            if !print_document(&doc, format) {
                return exit::CLUSTER;
            }
        }
    }
    doc.exit_code
}
