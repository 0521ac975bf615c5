//! The runtime's own pull as ground truth beside the registry probe: a real CRI `PullImage`
//! with the same credential, its status kept verbatim, the image removed afterwards when only
//! the probe pulled it. What it observed is judged by [`crate::classify::runtime_pull`] (the
//! verdict, and what a disagreement with the registry verdict means).

use super::client::{Error, RuntimeClient};
use crate::classify::runtime_pull::{self, PullObservation};
use crate::classify::Verdict;
use crate::identity::RegistryAuth;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The outcome of the runtime's pull (`runtime` in the JSON report).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePull {
    /// `unix:///…` of the runtime.
    pub endpoint: String,
    /// The runtime's verdict, classified from its message.
    pub verdict: Verdict,
    /// gRPC code name (`OK`, `NotFound`, `Unknown`, …), verbatim.
    pub code: String,
    /// The runtime's message, verbatim (empty on success).
    pub message: String,
    /// One-line reason for the verdict.
    pub reason: String,
    /// What fixes it.
    pub remediation: String,
    /// Image reference (ID) the runtime returned on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// The image (by ID, under any name) was already on the node before the probe, or that
    /// could not be told: then it is never removed.
    pub already_present: bool,
    /// The probe removed the image it pulled (`--keep` leaves it).
    pub removed: bool,
    /// Removal problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_error: Option<String>,
    /// Whether the registry verdict and the runtime verdict say the same thing.
    pub agrees: bool,
    /// What a disagreement means and where to look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<String>,
    /// Time the pull took.
    pub duration_ms: u64,
}

/// Pulls `image` through the runtime with `auth`, then removes it unless it was already present
/// or `keep` is set. `registry` is the direct probe's verdict, for the comparison.
pub async fn pull(
    client: &RuntimeClient,
    image: &str,
    auth: &RegistryAuth,
    keep: bool,
    limit: Duration,
    registry: Verdict,
) -> RuntimePull {
    let started = Instant::now();
    let endpoint = client.endpoint().url();
    // The images on the node first: they tell whether to remove the image afterwards, and a
    // runtime that cannot list them is unavailable — no point waiting for a pull. CRI's
    // RemoveImage removes an image by ID with all its names, so the pulled image is removed
    // only when its ID was on the node under no name at all.
    let (before, result) = match client.list_images().await {
        Err(e) if e.is_unavailable() => (None, Err(e)),
        listed => (listed.ok(), client.pull(image, auth, limit).await),
    };
    let already_present = match (&before, &result) {
        (Some(images), Ok(id)) => images.iter().any(|i| &i.id == id),
        // Unknown: never remove what might have been there.
        _ => true,
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // What the runtime said, verbatim, and the verdict classify gives it.
    let (code, message, image_ref, judged) = match &result {
        Ok(image_ref) => (
            "OK".to_string(),
            String::new(),
            Some(image_ref.clone()),
            runtime_pull::judge(PullObservation::Pulled),
        ),
        Err(Error::Rpc { code, message, .. }) => {
            let judged = runtime_pull::judge(PullObservation::Status { code, message });
            (code.clone(), message.clone(), None, judged)
        }
        Err(Error::Timeout {
            call: "PullImage", ..
        }) => {
            let reason = Error::no_answer_within(limit);
            let judged = runtime_pull::judge(PullObservation::Timeout { reason: &reason });
            ("DeadlineExceeded".to_string(), reason, None, judged)
        }
        Err(e) => {
            let reason = e.to_string();
            let judged = runtime_pull::judge(PullObservation::Unavailable { reason: &reason });
            ("Unavailable".to_string(), reason, None, judged)
        }
    };
    let (verdict, reason, remediation) = (judged.verdict, judged.reason, judged.remediation);
    let (mut removed, mut remove_error) = (false, None);
    if verdict == Verdict::Ok && !already_present && !keep {
        match client.remove(image).await {
            Ok(()) => removed = true,
            Err(e) => remove_error = Some(e.to_string()),
        }
    }
    let (agrees, interpretation) = runtime_pull::compare(registry, verdict);
    RuntimePull {
        endpoint,
        verdict,
        code,
        message,
        reason,
        remediation,
        image_ref,
        already_present,
        removed,
        remove_error,
        agrees,
        interpretation,
        duration_ms,
    }
}
