//! The versioned JSON document for `pullcheck explain`: a classified pull-failure message
//! ([`MessageDiagnosis`]) with `apiVersion`, `kind` and the CLI exit code. A paste of several
//! messages keeps that shape for the first and lists the next in `others` (at most
//! [`MAX_OTHERS`](crate::classify::runtime_message::MAX_OTHERS)), with `notShown` counting the rest.

use super::API_VERSION;
use crate::classify::runtime_message::{Explained, MessageDiagnosis};
use serde::Serialize;

/// What a pull-failure message says, as `pullcheck explain -o json` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageExplanation {
    /// Schema version.
    pub api_version: &'static str,
    /// `MessageExplanation`.
    pub kind: &'static str,
    /// The classification, its fields inline.
    #[serde(flatten)]
    pub diagnosis: MessageDiagnosis,
    /// The CLI exit code for the (first message's) verdict.
    pub exit_code: i32,
    /// The paste's other messages, each classified alike.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<MessageDiagnosis>,
    /// How many more messages the paste held than are listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_shown: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl From<MessageDiagnosis> for MessageExplanation {
    fn from(diagnosis: MessageDiagnosis) -> Self {
        Explained {
            first: diagnosis,
            others: Vec::new(),
            not_shown: 0,
        }
        .into()
    }
}

impl From<Explained> for MessageExplanation {
    fn from(e: Explained) -> Self {
        MessageExplanation {
            api_version: API_VERSION,
            kind: "MessageExplanation",
            exit_code: e.first.verdict.exit_code(),
            diagnosis: e.first,
            others: e.others,
            not_shown: e.not_shown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::runtime_message::explain;

    #[test]
    fn runtime_message_explanation_is_flat_and_versioned() {
        let d = explain("rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve image: docker.io/library/nginx:x: not found");
        let v = serde_json::to_value(MessageExplanation::from(d)).unwrap();
        assert_eq!(v["apiVersion"], "pullcheck.dev/v1alpha1");
        assert_eq!(v["kind"], "MessageExplanation");
        assert_eq!(v["verdict"], "manifest_unknown");
        assert_eq!(v["grpcCode"], "NotFound");
        assert_eq!(v["exitCode"], 4);
        assert!(v.get("others").is_none() && v.get("notShown").is_none());
    }

    #[test]
    fn a_paste_lists_the_other_messages_and_counts_the_rest() {
        let row = |i: usize| {
            format!("  Warning  Failed  1m  kubelet  Failed to pull image \"r.example/app{i}:v1\": rpc error: code = NotFound desc = failed to pull and unpack image \"r.example/app{i}:v1\": failed to resolve reference \"r.example/app{i}:v1\": r.example/app{i}:v1: not found\n")
        };
        use crate::classify::runtime_message::MAX_OTHERS;
        let paste: String = (0..MAX_OTHERS + 3).map(row).collect();
        let e = crate::classify::runtime_message::explain_all(&paste);
        let v = serde_json::to_value(MessageExplanation::from(e)).unwrap();
        assert_eq!(v["image"], "r.example/app0:v1");
        assert_eq!(v["others"].as_array().unwrap().len(), MAX_OTHERS);
        assert_eq!(v["others"][0]["image"], "r.example/app1:v1");
        assert_eq!(v["others"][0]["verdict"], "manifest_unknown");
        assert!(v["others"][0].get("apiVersion").is_none());
        assert_eq!(v["notShown"], 2);
    }
}
