//! `kubectl pullcheck pod`: which of a pod's containers fail to pull ([`containers`]: waiting
//! with `ErrImagePull`, `ImagePullBackOff`, … and their image from the spec), the
//! classification of each waiting message (the same classifier as `pullcheck explain`), and
//! the document that pairs them with the agent's answer ([`PodCheck`]).

use super::outcome::{NodeResult, NodeStatus};
use crate::classify::runtime_message::{self, MessageDiagnosis};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde::Serialize;

/// Waiting reasons the kubelet gives while an image cannot be pulled.
pub const PULL_WAITING_REASONS: [&str; 7] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "SignatureValidationFailed",
    "ErrImageInspect",
];

/// What a waiting message cannot tell, said when no agent could be asked.
pub const UNCHECKED_WITHOUT_AGENT: &str = "the verdict above comes from the kubelet's message alone: without an agent on the node, the registry's answer now, the identity the node would send, its mirrors and the layers are not checked";

/// What is not checked of the pod's pull secrets without an agent (it reads them itself).
pub const SECRETS_UNCHECKED_WITHOUT_AGENT: &str = "nor whether these pull secrets exist, are of type kubernetes.io/dockerconfigjson and hold credentials for the image's registry (the agent reads them)";

/// The pod's `imagePullSecrets` names, in spec order (its service account's are already
/// there: admission copies them into the pod).
pub fn pull_secrets(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .filter(|r| !r.name.is_empty())
        .map(|r| r.name.clone())
        .collect()
}

/// One container to check.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerCheck {
    /// The container's name.
    pub name: String,
    /// An init container.
    pub init: bool,
    /// Its image, as the spec has it.
    pub image: String,
    /// The waiting reason (`ImagePullBackOff`, …), when waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// The waiting message, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_message: Option<String>,
    /// The waiting message, classified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_classification: Option<MessageDiagnosis>,
    /// What the node's agent says, asked with the pod's identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<NodeResult>,
}

impl ContainerCheck {
    /// Whether it waits on an image pull.
    pub fn failing(&self) -> bool {
        self.waiting_reason
            .as_deref()
            .is_some_and(|r| PULL_WAITING_REASONS.contains(&r))
    }
}

/// The pod's containers (init containers first): those waiting on an image pull when any are,
/// else all of them (with `all`, all of them in any case). The second value says whether any
/// container is failing to pull.
pub fn containers(pod: &Pod, all: bool) -> (Vec<ContainerCheck>, bool) {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let empty = Vec::new();
    let mut out = Vec::new();
    let groups = [
        (
            true,
            spec.and_then(|s| s.init_containers.as_ref())
                .unwrap_or(&empty),
            status.and_then(|s| s.init_container_statuses.as_ref()),
        ),
        (
            false,
            spec.map(|s| &s.containers).unwrap_or(&empty),
            status.and_then(|s| s.container_statuses.as_ref()),
        ),
    ];
    for (init, specs, statuses) in groups {
        for c in specs {
            let st: Option<&ContainerStatus> =
                statuses.and_then(|ss| ss.iter().find(|s| s.name == c.name));
            let waiting = st
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.waiting.as_ref());
            let message = waiting.and_then(|w| w.message.clone());
            out.push(ContainerCheck {
                name: c.name.clone(),
                init,
                image: c
                    .image
                    .clone()
                    .or_else(|| st.map(|s| s.image.clone()))
                    .unwrap_or_default(),
                waiting_reason: waiting.and_then(|w| w.reason.clone()),
                message_classification: message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                    .map(runtime_message::explain),
                waiting_message: message,
                agent: None,
            });
        }
    }
    let any = out.iter().any(ContainerCheck::failing);
    if any && !all {
        out.retain(ContainerCheck::failing);
    }
    (out, any)
}

/// `kubectl pullcheck pod -o json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCheck {
    /// `pullcheck.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `PodCheck`.
    pub kind: &'static str,
    /// `namespace/name`.
    pub pod: String,
    /// The pod's node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Whether any container waits on an image pull.
    pub failing: bool,
    /// The pod's `imagePullSecrets` names, in spec order.
    pub image_pull_secrets: Vec<String>,
    /// The containers checked.
    pub containers: Vec<ContainerCheck>,
    /// The exit code.
    pub exit_code: u8,
}

impl PodCheck {
    /// Assembles the document; the exit code: 1 when the agent says a container's image
    /// cannot be pulled, else 3 when a container's image could not be checked, else 0.
    pub fn new(
        pod: String,
        node: Option<String>,
        (failing, image_pull_secrets): (bool, Vec<String>),
        containers: Vec<ContainerCheck>,
    ) -> Self {
        fn asked(c: &ContainerCheck) -> Option<&NodeResult> {
            c.agent
                .as_ref()
                .filter(|a| a.status == NodeStatus::Answered)
        }
        // The agent's verdict where it answered; else what the waiting message says.
        let cannot: Vec<&str> = containers
            .iter()
            .filter_map(|c| match asked(c) {
                Some(a) => a.cannot_pull().then(|| {
                    a.verdict
                        .as_ref()
                        .map_or("unknown", super::outcome::AgentVerdict::as_str)
                }),
                None => c
                    .message_classification
                    .as_ref()
                    .filter(|d| c.failing() && d.verdict != crate::classify::Verdict::Ok)
                    .map(|d| d.verdict.as_str()),
            })
            .collect();
        let exit_code = if !cannot.is_empty() {
            super::exit::cannot_pull(cannot)
        } else if containers.iter().any(|c| asked(c).is_none()) {
            super::exit::NOT_ASKED
        } else {
            super::exit::OK
        };
        PodCheck {
            api_version: crate::report::API_VERSION,
            kind: "PodCheck",
            pod,
            node,
            failing,
            image_pull_secrets,
            containers,
            exit_code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {"nodeName": "n1",
                     "initContainers": [{"name": "init", "image": "busybox"}],
                     "containers": [{"name": "app", "image": "registry.example/app:v1"},
                                    {"name": "side", "image": "nginx"}]},
            "status": {
                "initContainerStatuses": [{"name": "init", "image": "busybox", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [
                    {"name": "app", "image": "registry.example/app:v1", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ImagePullBackOff",
                        "message": "Back-off pulling image \"registry.example/app:v1\": ErrImagePull: failed to pull and unpack image \"registry.example/app:v1\": failed to resolve reference \"registry.example/app:v1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"}}},
                    {"name": "side", "image": "nginx", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn failing_containers_are_found_and_their_message_classified() {
        let (cs, failing) = containers(&pod(), false);
        assert!(failing);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].name, "app");
        assert_eq!(cs[0].image, "registry.example/app:v1");
        let c = cs[0].message_classification.as_ref().unwrap();
        assert_eq!(c.verdict.as_str(), "not_found_or_unauthorized", "{c:?}");
        let (all, _) = containers(&pod(), true);
        assert_eq!(
            all.iter()
                .map(|c| (c.name.as_str(), c.init))
                .collect::<Vec<_>>(),
            [("init", true), ("app", false), ("side", false)]
        );
    }
}
