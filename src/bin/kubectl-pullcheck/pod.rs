//! `kubectl pullcheck pod NAME [-n NS]`: the pod's failing containers, their waiting messages
//! classified, and the verdict of the agent on the pod's node, asked with the pod's identity
//! (`pod=NS/NAME`: the agent reads the pod's pull secrets itself).

use crate::args::{print_document, DocOutput, GlobalArgs};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use pullcheck::plugin::cluster::api_message;
use pullcheck::plugin::discovery::{self, rbac_hint, ClusterNode};
use pullcheck::plugin::exit;
use pullcheck::plugin::fanout::{ask_image, ImageQuestion};
use pullcheck::plugin::outcome::{NodeResult, NodeStatus};
use pullcheck::plugin::pod::{containers, pull_secrets, PodCheck};
use pullcheck::plugin::render::{self, Format};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct PodArgs {
    /// The pod's name (in -n's namespace).
    pub(crate) name: String,
    /// Check every container's image, not only those waiting on a pull.
    #[arg(long)]
    pub(crate) all_containers: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: DocOutput,
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
            pullcheck::term::eprint_error(format_args!(
                "pod {ns}/{} not found (see kubectl get pods -n {ns})",
                a.name
            ));
            return exit::USAGE;
        }
        Err(e) => {
            pullcheck::term::eprint_error(format_args!(
                "cannot read pod {ns}/{}: {}{}{}",
                a.name,
                api_message(&e),
                rbac_hint(&e, "get", "pods", Some(&ns)),
                cluster.unreachable(Some(&e))
            ));
            return exit::CLUSTER;
        }
    };
    let pod_id = format!("{ns}/{}", a.name);
    let (mut checks, failing) = containers(&pod, a.all_containers);
    let secrets = pull_secrets(&pod);
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let mut agent_pod = None;
    match &node {
        None => {
            for c in &mut checks {
                c.agent = Some(NodeResult::not_asked(
                    ClusterNode::new("", &Default::default()),
                    None,
                    NodeStatus::NoAgent,
                    format!("pod {pod_id} is not scheduled to a node yet: no node to ask"),
                ));
            }
        }
        Some(node) => {
            let agents = match discovery::agents(
                &cluster.client,
                &g.agent_namespace,
                &g.agent_selector,
                Some(node),
            )
            .await
            {
                Ok(a) => Arc::new(a),
                // Without agents the waiting messages are still classified: say what that
                // leaves unchecked instead of failing the whole answer.
                Err(e @ discovery::Error::NotInstalled { .. }) => {
                    let why = e.to_string();
                    for c in &mut checks {
                        c.agent = Some(NodeResult::not_asked(
                            ClusterNode::new(node, &Default::default()),
                            None,
                            NodeStatus::NoAgent,
                            why.clone(),
                        ));
                    }
                    let doc = PodCheck::new(pod_id, Some(node.clone()), (failing, secrets), checks);
                    return print(&doc, a.output, None);
                }
                Err(e) => {
                    pullcheck::term::eprint_error(format_args!(
                        "{e}{}",
                        cluster.unreachable(e.kube_source())
                    ));
                    return e.exit_code();
                }
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
                    Some(ask_image(&question, ClusterNode::new(node, &Default::default())).await);
            }
        }
    }
    let doc = PodCheck::new(pod_id, node, (failing, secrets), checks);
    print(&doc, a.output, agent_pod.as_deref())
}

/// Prints the document as `-o` asks; its exit code.
fn print(doc: &PodCheck, output: DocOutput, agent_pod: Option<&str>) -> u8 {
    let format = Format::from(output);
    match format {
        Format::Text | Format::Wide => pullcheck::secrets::print(&render::pod_text(doc, agent_pod)),
        _ => {
            if !print_document(doc, format) {
                return exit::CLUSTER;
            }
        }
    }
    doc.exit_code
}
