//! The pods bound to this node, kept current by a Kubernetes watch (kube's `watcher`: list,
//! then watch from the list's resourceVersion, re-listing on `410 Gone`, with backoff on
//! errors) with the field selector `spec.nodeName=NODE`. While the API server is unreachable
//! the last known pods stay in force and [`PodStore::status`] says since when the watch is
//! down and why; the watch recovers by itself.

use super::targets::PodView;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The watch's health, for `/v1/monitor` and metrics.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    /// `true` once a full list arrived and no error followed it.
    pub up: bool,
    /// Whether a full list ever arrived (before that, there are no pods to report).
    pub synced: bool,
    /// The latest error, while the watch is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when (RFC 3339) the watch is in its current state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    pods: HashMap<String, PodView>,
    status: WatchStatus,
    /// Bumped on every change of `pods`.
    generation: u64,
}

/// The pods on this node.
#[derive(Debug, Default)]
pub struct PodStore {
    inner: Mutex<Inner>,
    /// Signalled on every change.
    pub changed: Notify,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl PodStore {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    fn set_up(inner: &mut Inner) {
        if !inner.status.up {
            inner.status = WatchStatus {
                up: true,
                synced: true,
                error: None,
                since: Some(now()),
            };
        }
    }

    /// Replaces every pod (a full list arrived).
    pub fn replace(&self, pods: HashMap<String, PodView>) {
        self.with(|i| {
            i.pods = pods;
            i.generation += 1;
            i.status.up = false;
            Self::set_up(i);
        });
        self.changed.notify_one();
    }

    /// Adds or updates a pod.
    pub fn apply(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        self.with(|i| {
            match PodView::of(pod) {
                Some(v) => i.pods.insert(uid, v),
                None => i.pods.remove(&uid),
            };
            i.generation += 1;
            if i.status.synced {
                Self::set_up(i);
            }
        });
        self.changed.notify_one();
    }

    /// Removes a pod.
    pub fn delete(&self, pod: &Pod) {
        if let Some(uid) = &pod.metadata.uid {
            self.with(|i| {
                i.pods.remove(uid);
                i.generation += 1;
            });
            self.changed.notify_one();
        }
    }

    /// The watch failed; the pods stay as they were.
    pub fn down(&self, why: String) {
        self.with(|i| {
            if i.status.up || i.status.error.is_none() {
                i.status.since = Some(now());
            }
            i.status.up = false;
            i.status.error = Some(why);
        });
    }

    /// The pods known now, and the generation they are.
    pub fn pods(&self) -> (u64, Vec<PodView>) {
        self.with(|i| (i.generation, i.pods.values().cloned().collect()))
    }

    /// Changes so far (compare with the generation [`pods`](Self::pods) gave).
    pub fn generation(&self) -> u64 {
        self.with(|i| i.generation)
    }

    /// The watch's health.
    pub fn status(&self) -> WatchStatus {
        self.with(|i| i.status.clone())
    }
}

/// Watches the pods of `node` into `store` until the task is dropped.
pub async fn watch(client: kube::Client, node: String, store: std::sync::Arc<PodStore>) {
    let api: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut buffer: Option<HashMap<String, PodView>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => buffer = Some(HashMap::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(b), Some(v), Some(uid)) =
                    (buffer.as_mut(), PodView::of(&pod), pod.metadata.uid.clone())
                {
                    b.insert(uid, v);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let pods = buffer.take().unwrap_or_default();
                tracing::info!(node = %node, pods = pods.len(), "pod watch synced");
                store.replace(pods);
            }
            Ok(watcher::Event::Apply(pod)) => store.apply(&pod),
            Ok(watcher::Event::Delete(pod)) => store.delete(&pod),
            Err(e) => {
                let why = crate::error_text::error_chain(&e);
                if store.status().up {
                    tracing::warn!(error = %why, "pod watch failed; keeping the last known pods and retrying");
                }
                store.down(why);
            }
        }
    }
}
