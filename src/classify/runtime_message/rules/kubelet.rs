//! The kubelet's own conditions: its reasons and messages that carry no runtime error
//! (back-off, ErrImageNeverPull, InvalidImageName), its pull throttle, and a `kubectl describe
//! pod` block whose events have expired (only the containers' waiting reasons are left).

use super::{Facts, Finding};
use crate::classify::runtime_message::envelope::{Envelope, Kubelet};
use crate::classify::Verdict;

const FIND_THE_CAUSE: &str = "Explain the earlier `Failed to pull image …` event instead \
     (kubectl get events --field-selector involvedObject.name=<pod>,reason=Failed), or run \
     `pullcheck probe <image>` on the node.";

/// Kubelet messages that carry no runtime error.
pub(super) fn kubelet_only(env: &Envelope<'_>) -> Option<Finding> {
    let image = env.image.as_deref().unwrap_or("the image");
    let f = match env.kubelet {
        Kubelet::ReasonOnly => Finding::new(
            Verdict::Unknown,
            "the kubelet's reason alone (ErrImagePull / ImagePullBackOff) carries no cause: the \
             cause is in the earlier \"Failed to pull image\" event",
        )
        .fix(FIND_THE_CAUSE),
        Kubelet::BackOff => Finding::new(
            Verdict::Unknown,
            format!(
                "the kubelet is backing off after a failed pull of {image}; the cause is in the \
                 earlier \"Failed to pull image\" event"
            ),
        )
        .fix(FIND_THE_CAUSE),
        Kubelet::NeverPull => Finding::new(
            Verdict::PullPolicyNever,
            format!("{image} is not on the node and imagePullPolicy is Never, so the kubelet does not pull it; no registry was asked"),
        ),
        // The bare reason; with its message (`Failed to apply default image tag "X": …`) the
        // runtime rules read the parser's words.
        Kubelet::DefaultTag if env.runtime.trim().is_empty() => Finding::new(
            Verdict::InvalidReference,
            format!("the kubelet cannot parse {image} as an image reference (InvalidImageName), so it does not pull it; no registry was asked"),
        )
        .fix(format!(
            "The pod's waiting message says what is wrong (kubectl get pod <pod> -o \
             jsonpath='{{.status.containerStatuses[*].state.waiting.message}}'). {}",
            Verdict::InvalidReference.remediation()
        )),
        _ => return None,
    };
    Some(f)
}

/// `pull QPS exceeded.`: the kubelet refused to start the pull; no registry was asked. A rate
/// limit, but the node's own.
pub(super) fn throttle(f: &Facts<'_>) -> Option<Finding> {
    f.scan.has("pull qps exceeded").then(|| {
        Finding::new(
            Verdict::RateLimited,
            "the kubelet's own pull throttle (registryPullQPS / registryBurst) refused the pull; \
             the registry was not contacted, so this is not a registry 429",
        )
        .fix(
            "Raise registryPullQPS and registryBurst in the KubeletConfiguration (defaults 5 and \
             10; 0 disables the limit), or stagger rollouts that pull many images on one node; \
             the kubelet retries on its own.",
        )
    })
}

/// A container a `kubectl describe pod` block shows waiting on `image` with `reason`, when the
/// block has no event with the cause (events last an hour by default). `pod`: `NAME -n NS`
/// when the block names them.
pub(in crate::classify::runtime_message) fn waiting(
    reason: &str,
    image: &str,
    container: &str,
    pod: Option<&str>,
) -> Finding {
    let plugin = pod.map_or_else(
        || "kubectl pullcheck pod <pod>".to_string(),
        |p| format!("kubectl pullcheck pod {p}"),
    );
    match reason {
        "InvalidImageName" => Finding::new(
            Verdict::InvalidReference,
            format!("container {container}: the kubelet cannot parse {image} as an image reference (InvalidImageName), so it does not pull it; no registry was asked"),
        ),
        "ErrImageNeverPull" => Finding::new(
            Verdict::PullPolicyNever,
            format!("container {container}: {image} is not on the node and imagePullPolicy is Never (ErrImageNeverPull), so the kubelet does not pull it; no registry was asked"),
        ),
        _ => Finding::new(
            Verdict::Unknown,
            format!("events expired: run `{plugin}` or `pullcheck probe {image}` — container {container} is waiting ({reason}) for {image}, but the paste has no \"Failed to pull image\" event with the cause"),
        )
        .fix(format!(
            "The kubelet's events (kept for an hour by default) no longer hold the cause: run `{plugin}` (it asks the pod's node, with the pod's pull secrets) or `pullcheck probe {image}` on the node; while the kubelet retries, a fresh event appears in `kubectl get events --field-selector reason=Failed`."
        )),
    }
}
