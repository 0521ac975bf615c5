//! The OCI distribution error envelope `{"errors":[{"code","message","detail"}]}`.

use serde::{Deserialize, Serialize};

/// One entry of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciError {
    /// Code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `UNAUTHORIZED`, `DENIED`, `TOOMANYREQUESTS`, …),
    /// upper-cased.
    #[serde(default)]
    pub code: String,
    /// Human message (bounded).
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    message: serde_json::Value,
}

const MAX_MESSAGE: usize = 1024;
const MAX_ERRORS: usize = 16;

/// Parses an envelope; `None` when the body is not one.
pub fn parse(body: &[u8]) -> Option<Vec<OciError>> {
    let env: Envelope = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    Some(
        env.errors
            .iter()
            .take(MAX_ERRORS)
            .map(|e| OciError {
                code: text(&e.code).to_ascii_uppercase(),
                message: truncate(&text(&e.message), MAX_MESSAGE),
            })
            .collect(),
    )
}

use crate::bounded::clip as truncate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_and_quay_shapes() {
        let e = parse(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#).unwrap();
        assert_eq!(e[0].code, "MANIFEST_UNKNOWN");
        let e = parse(br#"{"errors":[{"code":"unauthorized","message":null}]}"#).unwrap();
        assert_eq!(e[0].code, "UNAUTHORIZED");
        assert!(parse(b"<html>nope</html>").is_none());
        assert!(parse(b"{}").is_none());
        assert!(parse(br#"{"errors":[{"code":5,"message":{"a":1}}]}"#).is_some());
    }

    #[test]
    fn bounded() {
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#,
            "é".repeat(5000)
        );
        assert!(parse(long.as_bytes()).unwrap()[0].message.len() <= MAX_MESSAGE + 4);
    }
}
