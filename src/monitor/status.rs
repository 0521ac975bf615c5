//! `GET /v1/monitor`: what the drift monitor watches and what it last saw — the pod watch's
//! health, the watch list, every target with its verdict, identity, since when and when it is
//! probed next, what fails ([`failing`]: containers failing to pull and watched images that do
//! not answer `ok`) and the events published.

use super::pods::WatchStatus;
use super::state::State;
use crate::classify::Verdict;
use serde::Serialize;
use std::time::{Instant, SystemTime};

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
    /// What fails now: containers failing to pull, then watched images (targets) whose last
    /// verdict is not `ok`.
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

/// What a [`FailingStatus`] entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailingKind {
    /// A container the kubelet reports as failing to pull (`ErrImagePull`, `ImagePullBackOff`).
    Container,
    /// A watched image × credential set (a pod's, or the watch list's) whose last probe did
    /// not answer `ok`: pods using it will fail to pull, whether or not one does yet.
    Image,
}

/// One failing container or watched image: every container failing to pull, and every target
/// whose last verdict is not `ok`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingStatus {
    /// `container` or `image`.
    pub kind: FailingKind,
    /// `namespace/name` (containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The container (containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The image.
    pub image: String,
    /// Whose credentials the image is probed with (images), as in `targets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// The identity the probe used (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// `ErrImagePull` or `ImagePullBackOff` (containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds since first seen failing (containers), or since the verdict holds (images).
    pub failing_for_seconds: u64,
    /// The live probe's verdict: the image's last one, or the container's once diagnosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verdict: Option<crate::classify::Verdict>,
    /// The kubelet message's verdict, once diagnosed (containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_verdict: Option<crate::classify::Verdict>,
    /// The event published (containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// The failing list of `/v1/monitor`: the containers failing to pull (by pod and container),
/// then the targets whose last verdict is not `ok` (by image and credentials). A watched image
/// that fails shows here even while no container fails: a watch-list image no pod uses yet, or
/// a running pod's image whose credentials stopped working.
pub fn failing(st: &State, now: Instant, wall: SystemTime) -> Vec<FailingStatus> {
    let mut containers: Vec<FailingStatus> = st
        .failing
        .values()
        .map(|f| FailingStatus {
            kind: FailingKind::Container,
            pod: Some(f.pod.to_string()),
            container: Some(f.container.clone()),
            image: f.image.clone(),
            credentials: None,
            identity: None,
            reason: Some(f.reason.clone()),
            failing_for_seconds: now.saturating_duration_since(f.first_seen).as_secs(),
            verdict: f.diagnosed.as_ref().map(|d| d.probe.verdict),
            message_verdict: f.diagnosed.as_ref().map(|d| d.message_verdict),
            event: f.diagnosed.as_ref().map(|d| d.event.clone()),
        })
        .collect();
    containers.sort_by(|a, b| (&a.pod, &a.container).cmp(&(&b.pod, &b.container)));
    // `targets` is a BTreeMap: images come out sorted by image, then credentials.
    let images = st.targets.iter().filter_map(|(k, t)| {
        let last = t.last.as_ref().filter(|s| s.verdict != Verdict::Ok)?;
        Some(FailingStatus {
            kind: FailingKind::Image,
            pod: None,
            container: None,
            image: k.image.clone(),
            credentials: Some(k.creds.to_string()),
            identity: last.identity.clone(),
            reason: None,
            failing_for_seconds: t
                .since
                .and_then(|since| wall.duration_since(since).ok())
                .map_or(0, |d| d.as_secs()),
            verdict: Some(last.verdict),
            message_verdict: None,
            event: None,
        })
    });
    containers.extend(images);
    containers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::schedule::Schedule;
    use crate::monitor::targets::{Creds, TargetKey};
    use crate::report::summary::Summary;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn failing_watched_images_are_listed_without_a_failing_container() {
        let mut st = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        let key = |image: &str| TargetKey {
            image: image.into(),
            creds: Creds::Node,
        };
        st.sync(&[], &[key("r/app:v1"), key("r/app:v2"), key("r/new:1")], t0);
        let wall = SystemTime::now();
        let answer = |v: Verdict| Some(Arc::new(Summary::bare(v, "why")));
        st.targets.get_mut(&key("r/app:v1")).unwrap().last = answer(Verdict::Ok);
        let v2 = st.targets.get_mut(&key("r/app:v2")).unwrap();
        v2.last = answer(Verdict::Unauthorized);
        v2.since = Some(wall - Duration::from_secs(90));
        // r/new:1 is not probed yet: no verdict, not failing.
        let list = failing(&st, t0, wall);
        assert_eq!(list.len(), 1, "{list:?}");
        let f = &list[0];
        assert_eq!(f.kind, FailingKind::Image);
        assert_eq!(f.image, "r/app:v2");
        assert_eq!(f.credentials.as_deref(), Some("node credentials"));
        assert_eq!(f.verdict, Some(Verdict::Unauthorized));
        assert_eq!(f.failing_for_seconds, 90);
        let json = serde_json::to_value(f).unwrap();
        assert_eq!(json["kind"], "image");
        assert!(json.get("pod").is_none(), "{json}");
    }
}
