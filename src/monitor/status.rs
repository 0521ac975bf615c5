//! `GET /v1/monitor`: what the drift monitor watches and what it last saw — the pod watch's
//! health, the watch list, every target with its verdict, identity, since when and when it is
//! probed next, the failing containers and the events published.

use super::pods::WatchStatus;
use serde::Serialize;

/// The monitor's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitorStatus {
    /// Whether the monitor runs (`--monitor`).
    pub enabled: bool,
    /// This node (pods are watched only when it is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why pods are not watched, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods_not_watched: Option<String>,
    /// The pod watch.
    pub kubernetes: WatchStatus,
    /// The watch list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_list: Option<WatchListStatus>,
    /// Re-probe interval of a pullable target.
    pub interval: String,
    /// Targets (image × credential set), sorted.
    pub targets: Vec<TargetStatus>,
    /// Containers failing to pull.
    pub failing: Vec<FailingStatus>,
    /// Events created.
    pub events_created: u64,
    /// Events that could not be created (retried).
    pub event_errors: u64,
}

/// The watch list's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchListStatus {
    /// The file.
    pub path: String,
    /// Entries in force.
    pub entries: usize,
    /// Why the file's current content is rejected (the previous list stays in force).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// The image.
    pub image: String,
    /// Whose credentials (`namespace team-a, secrets pull`, `node credentials`).
    pub credentials: String,
    /// From the watch list.
    pub listed: bool,
    /// Workload containers using it.
    pub workloads: usize,
    /// The last verdict (absent before the first probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verdict: Option<crate::classify::Verdict>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The identity used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// What fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// Since when (RFC 3339) the verdict holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When it was last probed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probed_at: Option<String>,
    /// Seconds until the next probe.
    pub next_probe_in_seconds: u64,
    /// Why the last attempt gave no verdict (budget spent, pod gone, API down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Probes sent.
    pub probes: u64,
}

/// One failing container.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingStatus {
    /// `namespace/name`.
    pub pod: String,
    /// The container.
    pub container: String,
    /// Its image.
    pub image: String,
    /// `ErrImagePull` or `ImagePullBackOff`.
    pub reason: String,
    /// Seconds since first seen failing.
    pub failing_for_seconds: u64,
    /// The live probe's verdict, once diagnosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verdict: Option<crate::classify::Verdict>,
    /// The kubelet message's verdict, once diagnosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_verdict: Option<crate::classify::Verdict>,
    /// The event published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}
