//! What the monitor watches, read from pods: every container (init, regular, ephemeral) of a pod
//! bound to this node as a [`Workload`] row (namespace, owner kind and name, container, image),
//! the [`TargetKey`] it is probed under — the image × that pod's namespace and ordered
//! `imagePullSecrets`, never merged across namespaces — and the containers the kubelet reports
//! as failing to pull ([`Failing`]).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use std::fmt;

/// Waiting reasons the kubelet gives a container whose image cannot be pulled. An
/// `InvalidImageName` never reaches the runtime; the kubelet retries it forever all the same, and
/// the diagnosis (the reference and why it is malformed) is what the SRE needs.
pub const PULL_FAILURE_REASONS: [&str; 3] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

/// Whose credentials a target is probed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Creds {
    /// The node's own (node files, plugins, cloud identity): a watch-list entry without secrets.
    Node,
    /// A pod's: its namespace and `imagePullSecrets` names in order (the kubelet's keyring).
    Pod {
        /// The pod's namespace.
        namespace: String,
        /// Its pull secrets, in spec order.
        secrets: Vec<String>,
    },
    /// Pull secrets named by a watch-list entry (`namespace/name`, in order).
    Listed(Vec<String>),
}

impl fmt::Display for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Creds::Node => f.write_str("node credentials"),
            Creds::Pod { namespace, secrets } if secrets.is_empty() => {
                write!(f, "namespace {namespace}, no pull secrets")
            }
            Creds::Pod { namespace, secrets } => {
                write!(f, "namespace {namespace}, secrets {}", secrets.join(","))
            }
            Creds::Listed(s) => write!(f, "secrets {}", s.join(",")),
        }
    }
}

/// One probe the monitor repeats: an image with one credential set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// The reference as the pod spec or watch list has it.
    pub image: String,
    /// Whose credentials.
    pub creds: Creds,
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.image, self.creds)
    }
}

/// One container of a pod, labelled like k8s-image-availability-exporter's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Workload {
    /// The pod's namespace.
    pub namespace: String,
    /// The owner's kind, lower case (`deployment`, `statefulset`, `daemonset`, `job`,
    /// `replicaset`, `cronjob`, or `pod` for a pod without a controller).
    pub kind: String,
    /// The owner's name (the pod's own for `pod`).
    pub name: String,
    /// The container's name.
    pub container: String,
    /// Its image, as the spec has it.
    pub image: String,
}

/// A container the kubelet cannot pull for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// The container's name.
    pub container: String,
    /// `spec.containers{NAME}`, `spec.initContainers{NAME}` or `spec.ephemeralContainers{NAME}`
    /// (what the kubelet's own events name).
    pub field_path: String,
    /// Its image.
    pub image: String,
    /// `ErrImagePull` or `ImagePullBackOff`.
    pub reason: String,
    /// The waiting message (the runtime's error, wrapped by the kubelet).
    pub message: String,
}

/// What the monitor needs of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// The pod's UID (events refer to it).
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its containers with the target each is probed under.
    pub containers: Vec<(Workload, TargetKey)>,
    /// Containers waiting on a pull failure.
    pub failing: Vec<Failing>,
}

/// The pod's controller as k8s-image-availability-exporter names it: a ReplicaSet made by a
/// Deployment (its name is the Deployment's plus `-<pod-template-hash>`) is the Deployment.
fn owner(pod: &Pod, name: &str) -> (String, String) {
    let owner = pod
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true));
    let Some(o) = owner else {
        return ("pod".into(), name.to_string());
    };
    if o.kind == "ReplicaSet" {
        let hash = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"));
        if let Some(deployment) = hash.and_then(|h| o.name.strip_suffix(&format!("-{h}"))) {
            return ("deployment".into(), deployment.to_string());
        }
    }
    if o.kind == "Node" {
        // A static pod's mirror: the pod is the workload.
        return ("pod".into(), name.to_string());
    }
    (o.kind.to_ascii_lowercase(), o.name.clone())
}

fn failing(list: &str, statuses: Option<&Vec<ContainerStatus>>, out: &mut Vec<Failing>) {
    for s in statuses.into_iter().flatten() {
        let Some(w) = s.state.as_ref().and_then(|st| st.waiting.as_ref()) else {
            continue;
        };
        let Some(reason) = w.reason.as_deref() else {
            continue;
        };
        if PULL_FAILURE_REASONS.contains(&reason) {
            out.push(Failing {
                container: s.name.clone(),
                field_path: format!("spec.{list}{{{}}}", s.name),
                image: s.image.clone(),
                reason: reason.to_string(),
                message: w.message.clone().unwrap_or_default(),
            });
        }
    }
}

impl PodView {
    /// Reads a pod; `None` without a namespace, name or UID (not a stored object) or once it
    /// has finished (`Succeeded`/`Failed` pods pull nothing more).
    pub fn of(pod: &Pod) -> Option<PodView> {
        let namespace = pod.metadata.namespace.clone()?;
        let name = pod.metadata.name.clone()?;
        let uid = pod.metadata.uid.clone()?;
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return None;
        }
        let (kind, owner_name) = owner(pod, &name);
        let mut containers = Vec::new();
        if let Some(spec) = &pod.spec {
            let secrets: Vec<String> = spec
                .image_pull_secrets
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter(|r| !r.name.is_empty())
                .map(|r| r.name.clone())
                .collect();
            let creds = Creds::Pod {
                namespace: namespace.clone(),
                secrets,
            };
            let images = spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .map(|c| (c.name.clone(), c.image.clone()))
                .chain(
                    spec.ephemeral_containers
                        .iter()
                        .flatten()
                        .map(|c| (c.name.clone(), c.image.clone())),
                );
            for (container, image) in images {
                let Some(image) = image.filter(|i| !i.trim().is_empty()) else {
                    continue;
                };
                containers.push((
                    Workload {
                        namespace: namespace.clone(),
                        kind: kind.clone(),
                        name: owner_name.clone(),
                        container,
                        image: image.clone(),
                    },
                    TargetKey {
                        image,
                        creds: creds.clone(),
                    },
                ));
            }
        }
        let mut failed = Vec::new();
        if let Some(status) = &pod.status {
            failing(
                "initContainers",
                status.init_container_statuses.as_ref(),
                &mut failed,
            );
            failing(
                "containers",
                status.container_statuses.as_ref(),
                &mut failed,
            );
            failing(
                "ephemeralContainers",
                status.ephemeral_container_statuses.as_ref(),
                &mut failed,
            );
        }
        Some(PodView {
            uid,
            namespace,
            name,
            containers,
            failing: failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_container_kind_with_the_pods_own_secrets() {
        let p = pod(json!({
            "metadata": {"name": "web-5d8f-abcde", "namespace": "team-a", "uid": "u1",
                "labels": {"pod-template-hash": "5d8f"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f",
                                     "uid": "rs", "controller": true}]},
            "spec": {"imagePullSecrets": [{"name": "b"}, {"name": "a"}],
                     "initContainers": [{"name": "init", "image": "r.example/init:1"}],
                     "containers": [{"name": "app", "image": "r.example/app:1"}],
                     "ephemeralContainers": [{"name": "debug", "image": "busybox"}]},
            "status": {"phase": "Pending"}
        }));
        let v = PodView::of(&p).unwrap();
        let names: Vec<_> = v
            .containers
            .iter()
            .map(|(w, _)| w.container.as_str())
            .collect();
        assert_eq!(names, ["init", "app", "debug"]);
        let (w, t) = &v.containers[1];
        assert_eq!((w.kind.as_str(), w.name.as_str()), ("deployment", "web"));
        assert_eq!(
            t.creds,
            Creds::Pod {
                namespace: "team-a".into(),
                secrets: vec!["b".into(), "a".into()]
            }
        );
    }

    #[test]
    fn an_invalid_image_name_is_a_failure_to_diagnose_and_creating_is_not() {
        let status = |reason: &str| {
            pod(json!({
                "metadata": {"name": "w", "namespace": "n", "uid": "u3"},
                "spec": {"containers": [{"name": "c", "image": "r.example/App:v1"}]},
                "status": {"phase": "Pending", "containerStatuses": [{
                    "name": "c", "image": "r.example/App:v1", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": reason}}}]}
            }))
        };
        let v = PodView::of(&status("InvalidImageName")).unwrap();
        assert_eq!(v.failing.len(), 1);
        assert_eq!(v.failing[0].reason, "InvalidImageName");
        let v = PodView::of(&status("ContainerCreating")).unwrap();
        assert!(v.failing.is_empty());
    }

    #[test]
    fn owners_and_failures() {
        let p = pod(json!({
            "metadata": {"name": "db-0", "namespace": "n", "uid": "u2",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                     "uid": "s", "controller": true}]},
            "spec": {"containers": [{"name": "db", "image": "pg:16"}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "db", "image": "pg:16", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                          "message": "Back-off pulling image \"pg:16\""}}}]}
        }));
        let v = PodView::of(&p).unwrap();
        assert_eq!(v.containers[0].0.kind, "statefulset");
        assert_eq!(v.failing.len(), 1);
        assert_eq!(v.failing[0].reason, "ImagePullBackOff");
        assert_eq!(v.failing[0].field_path, "spec.containers{db}");
        let bare = pod(
            json!({"metadata": {"name": "x", "namespace": "n", "uid": "u"},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        );
        let v = PodView::of(&bare).unwrap();
        assert_eq!(
            (
                v.containers[0].0.kind.as_str(),
                v.containers[0].0.name.as_str()
            ),
            ("pod", "x")
        );
        // A ReplicaSet without the hash label stays a ReplicaSet.
        let rs = pod(
            json!({"metadata": {"name": "x-1", "namespace": "n", "uid": "u",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x",
                                 "uid": "r", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        );
        assert_eq!(PodView::of(&rs).unwrap().containers[0].0.kind, "replicaset");
    }

    #[test]
    fn finished_and_incomplete_pods_are_skipped() {
        let done = pod(
            json!({"metadata": {"name": "x", "namespace": "n", "uid": "u"},
                              "spec": {"containers": [{"name": "c", "image": "i"}]},
                              "status": {"phase": "Succeeded"}}),
        );
        assert!(PodView::of(&done).is_none());
        let no_uid = pod(json!({"metadata": {"name": "x", "namespace": "n"}}));
        assert!(PodView::of(&no_uid).is_none());
    }
}
