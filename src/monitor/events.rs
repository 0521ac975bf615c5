//! Kubernetes Events the monitor publishes (core/v1, as the kubelet's own): a Warning
//! `PullDiagnosis` on a pod whose container cannot pull — verdict, identity, one-line
//! remediation, and what the kubelet's message says — and on the Node when a watched image
//! stops being pullable (`ImageNoLongerPullable`) or becomes pullable again
//! (`ImagePullable`).
//!
//! Deduplication: an event's name is derived from what it says (object UID, container,
//! verdict, identity), so the same diagnosis is created once — also across agent restarts,
//! since the API server answers a second create with 409 AlreadyExists.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;

/// `reason` of pod events.
pub const POD_REASON: &str = "PullDiagnosis";
/// `reason` of the node event when a watched image stops being pullable.
pub const NODE_FAILING_REASON: &str = "ImageNoLongerPullable";
/// `reason` of the node event when it is pullable again.
pub const NODE_RECOVERED_REASON: &str = "ImagePullable";
/// The component named in `source` and `reportingComponent`.
pub const COMPONENT: &str = "pullcheck";

/// Longest message (the API server refuses more than 1 KiB for events.k8s.io; kept for both).
const MAX_MESSAGE: usize = 1024;

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("failed to create event {name} in namespace {namespace}: {source}")]
    Create {
        /// The event's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `Pod` or `Node`.
    pub kind: &'static str,
    /// The pod's namespace (`default` for a node, as the kubelet does).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its UID (a node's events use the node name, as the kubelet does).
    pub uid: String,
    /// `spec.containers{NAME}` and the like, for a container.
    pub field_path: Option<String>,
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// About what.
    pub subject: Subject,
    /// `Warning` or `Normal`.
    pub kind: &'static str,
    /// The reason.
    pub reason: &'static str,
    /// The message (cut to 1 KiB).
    pub message: String,
    /// What makes two notices the same (hashed into the name).
    pub identity: String,
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

impl Notice {
    /// The event's name: the object's name and a hash of what the notice says.
    pub fn name(&self) -> String {
        let digest = Sha256::digest(
            format!(
                "{}\n{}\n{}\n{}",
                self.subject.uid, self.reason, self.identity, self.kind
            )
            .as_bytes(),
        );
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let base: String = self.subject.name.chars().take(200).collect();
        format!("{base}.pullcheck-{hex}")
    }

    /// The core/v1 Event.
    pub fn event(&self, node: &str) -> Event {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        Event {
            metadata: ObjectMeta {
                name: Some(self.name()),
                namespace: Some(self.subject.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some(self.subject.kind.into()),
                name: Some(self.subject.name.clone()),
                namespace: (self.subject.kind != "Node").then(|| self.subject.namespace.clone()),
                uid: Some(self.subject.uid.clone()),
                field_path: self.subject.field_path.clone(),
                ..ObjectReference::default()
            },
            reason: Some(self.reason.into()),
            message: Some(cut(crate::secrets::scrub(&self.message).into_owned())),
            type_: Some(self.kind.into()),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: Some(node.to_string()),
            }),
            reporting_component: Some(format!("{COMPONENT}.dev/agent")),
            reporting_instance: Some(format!("{COMPONENT}-{node}")),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        }
    }
}

/// Publishes notices once each.
pub struct Publisher {
    client: kube::Client,
    node: String,
    done: Mutex<HashSet<String>>,
}

/// What [`Publisher::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Created now.
    Created,
    /// This agent, or an earlier run of it, already created it.
    Duplicate,
}

/// Names remembered for deduplication before the set is cleared (the API server's 409 still
/// deduplicates after that).
const MAX_REMEMBERED: usize = 10_000;

impl Publisher {
    /// A publisher for this node's agent.
    pub fn new(client: kube::Client, node: String) -> Self {
        Publisher {
            client,
            node,
            done: Mutex::new(HashSet::new()),
        }
    }

    /// Creates the notice's event unless it exists.
    pub async fn publish(&self, notice: &Notice) -> Result<Published, Error> {
        let name = notice.name();
        if self
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name)
        {
            return Ok(Published::Duplicate);
        }
        let api: Api<Event> = Api::namespaced(self.client.clone(), &notice.subject.namespace);
        let outcome = match api
            .create(&PostParams::default(), &notice.event(&self.node))
            .await
        {
            Ok(_) => Published::Created,
            Err(kube::Error::Api(s)) if s.code == 409 => Published::Duplicate,
            Err(source) => {
                return Err(Error::Create {
                    namespace: notice.subject.namespace.clone(),
                    name,
                    source,
                })
            }
        };
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.len() >= MAX_REMEMBERED {
            done.clear();
        }
        done.insert(name);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(identity: &str) -> Notice {
        Notice {
            subject: Subject {
                kind: "Pod",
                namespace: "team-a".into(),
                name: "web-0".into(),
                uid: "uid-1".into(),
                field_path: Some("spec.containers{app}".into()),
            },
            kind: "Warning",
            reason: POD_REASON,
            message: "x".repeat(3000),
            identity: identity.into(),
        }
    }

    #[test]
    fn names_follow_content_and_messages_are_cut() {
        let a = notice("app unauthorized secret:team-a/pull");
        assert_eq!(
            a.name(),
            notice("app unauthorized secret:team-a/pull").name()
        );
        assert_ne!(a.name(), notice("app forbidden secret:team-a/pull").name());
        assert!(a.name().starts_with("web-0.pullcheck-"));
        let e = a.event("node-1");
        assert_eq!(e.message.as_ref().unwrap().len(), MAX_MESSAGE);
        assert_eq!(e.involved_object.uid.as_deref(), Some("uid-1"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.source.unwrap().host.as_deref(), Some("node-1"));
    }
}
