//! The versioned JSON document for `pullcheck explain`: a classified pull-failure message
//! ([`MessageDiagnosis`]) with `apiVersion`, `kind` and the CLI exit code.

use super::API_VERSION;
use crate::classify::runtime_message::MessageDiagnosis;
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
    /// The CLI exit code for the verdict.
    pub exit_code: i32,
}

impl From<MessageDiagnosis> for MessageExplanation {
    fn from(diagnosis: MessageDiagnosis) -> Self {
        MessageExplanation {
            api_version: API_VERSION,
            kind: "MessageExplanation",
            exit_code: diagnosis.verdict.exit_code(),
            diagnosis,
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
    }
}
