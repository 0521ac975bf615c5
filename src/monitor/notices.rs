//! The words of the monitor's events, without I/O: a failing container's diagnosis (the live
//! probe with the pod's identity beside what the kubelet's message says) and a watched image's
//! transitions on the node.

use super::events::{Notice, Subject, NODE_FAILING_REASON, NODE_RECOVERED_REASON, POD_REASON};
use super::state::FailingEntry;
use super::targets::TargetKey;
use crate::classify::runtime_message::MessageDiagnosis;
use crate::classify::Verdict;
use crate::report::summary::Summary;

fn who(s: &Summary) -> String {
    s.identity
        .clone()
        .unwrap_or_else(|| "no credential (the probe stopped before one was chosen)".into())
}

/// The `PullDiagnosis` event for a failing container.
pub fn pod_notice(f: &FailingEntry, probe: &Summary, message: &MessageDiagnosis) -> Notice {
    let text = if probe.verdict == Verdict::Ok {
        format!(
            "{image}: the registry answers ok now as {who}, but the kubelet reported {mv}: {mr}. Fix: {fix}",
            image = f.image,
            who = who(probe),
            mv = message.verdict,
            mr = message.reason,
            fix = message.remediation,
        )
    } else {
        let agrees = if message.verdict == probe.verdict {
            String::new()
        } else {
            format!(" (the kubelet's message reads as {})", message.verdict)
        };
        format!(
            "{image}: {v} as {who}: {reason}. Fix: {fix}{agrees}",
            image = f.image,
            v = probe.verdict,
            who = who(probe),
            reason = probe.reason,
            fix = probe.remediation,
        )
    };
    Notice {
        subject: Subject {
            kind: "Pod",
            namespace: f.pod.namespace.clone(),
            name: f.pod.name.clone(),
            uid: f.uid.clone(),
            field_path: Some(f.field_path.clone()),
        },
        kind: "Warning",
        reason: POD_REASON,
        message: text,
        identity: format!(
            "{}\n{}\n{}\n{}",
            f.container, probe.verdict, probe.identity_label, message.verdict
        ),
    }
}

/// The node event for a watched image that changed between pullable and not; `None` when
/// the change is not one (first answer, or failing → another failure).
pub fn node_notice(
    node: &str,
    key: &TargetKey,
    previous: Option<Verdict>,
    now: &Summary,
    since_epoch: u64,
) -> Option<Notice> {
    let (kind, reason, message) = match (previous?, now.verdict) {
        (Verdict::Ok, v) if v != Verdict::Ok => (
            "Warning",
            NODE_FAILING_REASON,
            format!(
                "{key} is no longer pullable from this node: {v} as {who}: {reason}. Fix: {fix}",
                who = who(now),
                reason = now.reason,
                fix = now.remediation,
            ),
        ),
        (p, Verdict::Ok) if p != Verdict::Ok => (
            "Normal",
            NODE_RECOVERED_REASON,
            format!("{key} is pullable again as {} (was {p})", who(now)),
        ),
        _ => return None,
    };
    Some(Notice {
        subject: Subject {
            kind: "Node",
            namespace: "default".into(),
            name: node.to_string(),
            uid: node.to_string(),
            field_path: None,
        },
        kind,
        reason,
        message,
        identity: format!("{key}\n{}\n{since_epoch}", now.verdict),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::kube_secrets::ObjectRef;
    use crate::monitor::targets::Creds;
    use std::time::Instant;

    fn failing() -> FailingEntry {
        FailingEntry {
            pod: ObjectRef {
                namespace: "team-a".into(),
                name: "web-0".into(),
            },
            uid: "u".into(),
            container: "app".into(),
            field_path: "spec.containers{app}".into(),
            image: "r.example/app:1".into(),
            reason: "ErrImagePull".into(),
            message: String::new(),
            first_seen: Instant::now(),
            running: false,
            diagnosed: None,
            retry_at: None,
        }
    }

    #[test]
    fn pod_message_names_verdict_identity_and_fix() {
        let mut s = Summary::bare(
            Verdict::Unauthorized,
            "the registry rejected the credentials",
        );
        s.identity = Some("user \"x\" from secret team-a/pull".into());
        s.remediation = "update the secret".into();
        let m = crate::classify::runtime_message::explain(
            "failed to pull and unpack image \"r.example/app:1\": failed to resolve reference \"r.example/app:1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
        );
        let n = pod_notice(&failing(), &s, &m);
        assert!(
            n.message
                .starts_with("r.example/app:1: unauthorized as user \"x\" from secret team-a/pull"),
            "{}",
            n.message
        );
        assert!(n.message.contains("Fix: update the secret"));
        assert_eq!(n.reason, "PullDiagnosis");
        assert_eq!(
            n.subject.field_path.as_deref(),
            Some("spec.containers{app}")
        );
    }

    #[test]
    fn node_notices_only_on_transitions() {
        let key = TargetKey {
            image: "r/base:1".into(),
            creds: Creds::Node,
        };
        let ok = Summary::bare(Verdict::Ok, "");
        let bad = Summary::bare(Verdict::Forbidden, "no permission");
        assert!(node_notice("n1", &key, None, &bad, 1).is_none());
        assert!(node_notice("n1", &key, Some(Verdict::Timeout), &bad, 1).is_none());
        let n = node_notice("n1", &key, Some(Verdict::Ok), &bad, 1).unwrap();
        assert_eq!((n.kind, n.reason), ("Warning", "ImageNoLongerPullable"));
        assert_eq!(n.subject.namespace, "default");
        let n = node_notice("n1", &key, Some(Verdict::Forbidden), &ok, 2).unwrap();
        assert_eq!((n.kind, n.reason), ("Normal", "ImagePullable"));
    }
}
