//! An agent's report as the plugin reads it ([`AgentReport`]): the fields it shows — verdict,
//! reason, remediation, the identity, the evidence exchanges — as typed data, deserialized once
//! when the answer arrives, and the report itself kept as the agent sent it, for `-o json`
//! (a newer agent's fields pass through unchanged). A report without a verdict is not one.

use super::outcome::AgentVerdict;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// The report and its typed view.
#[derive(Debug, Clone)]
pub struct AgentReport {
    raw: Value,
    view: View,
}

/// The fields shown. Each optional one is read leniently: an agent's field of an unexpected
/// shape is shown as absent, never a reason to discard the verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct View {
    verdict: AgentVerdict,
    #[serde(default, deserialize_with = "lenient")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    remediation: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    identity: Option<Identity>,
    #[serde(default, deserialize_with = "lenient_list")]
    evidence: Vec<Exchange>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Identity {
    #[serde(default, deserialize_with = "lenient")]
    description: Option<String>,
}

/// A value of type `T`, or its default when the JSON has another shape.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// The entries of a list that have the expected shape (none when it is not a list).
fn lenient_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// One evidence exchange, as far as the plugin shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exchange {
    #[serde(default, deserialize_with = "lenient")]
    step: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    method: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    url: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    status: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    transport: Option<Transport>,
    #[serde(default, deserialize_with = "lenient_list")]
    oci_errors: Vec<OciError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Transport {
    #[serde(default, deserialize_with = "lenient")]
    message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct OciError {
    #[serde(default, deserialize_with = "lenient")]
    code: Option<String>,
}

impl AgentReport {
    /// Reads an agent's answer body (already parsed as JSON); a body that is no report (no
    /// verdict named) is given back.
    pub fn parse(raw: Value) -> Result<Self, Value> {
        match View::deserialize(&raw) {
            Ok(view) => Ok(AgentReport { raw, view }),
            Err(_) => Err(raw),
        }
    }

    /// The verdict.
    pub fn verdict(&self) -> &AgentVerdict {
        &self.view.verdict
    }

    /// Why, in one line.
    pub fn reason(&self) -> Option<&str> {
        self.view.reason.as_deref()
    }

    /// What fixes it.
    pub fn remediation(&self) -> Option<&str> {
        self.view.remediation.as_deref()
    }

    /// The identity the verdict is for (`identity.description`).
    pub fn identity(&self) -> Option<&str> {
        self.view.identity.as_ref()?.description.as_deref()
    }

    /// One line per evidence exchange: `manifest HEAD URL → HTTP 404 MANIFEST_UNKNOWN`.
    pub fn evidence_lines(&self) -> Vec<String> {
        self.view
            .evidence
            .iter()
            .map(|x| {
                let transport = x.transport.as_ref().and_then(|t| t.message.as_deref());
                let answer = match (x.status, transport) {
                    (_, Some(t)) => t.to_string(),
                    (Some(s), None) => {
                        let codes: Vec<&str> = x
                            .oci_errors
                            .iter()
                            .filter_map(|e| e.code.as_deref())
                            .collect();
                        if codes.is_empty() {
                            format!("HTTP {s}")
                        } else {
                            format!("HTTP {s} {}", codes.join(", "))
                        }
                    }
                    (None, None) => "no answer".into(),
                };
                format!(
                    "{} {} {} → {answer}",
                    x.step.as_deref().unwrap_or("?"),
                    x.method.as_deref().unwrap_or("GET"),
                    x.url.as_deref().unwrap_or("?")
                )
            })
            .collect()
    }
}

impl Serialize for AgentReport {
    /// The report as the agent sent it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for AgentVerdict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(AgentVerdict::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evidence_lines_name_the_step_url_and_answer() {
        let r = AgentReport::parse(json!({"verdict": "manifest_unknown", "evidence": [
            {"step": "ping", "method": "GET", "url": "https://r/v2/", "status": 401},
            {"step": "manifest", "method": "HEAD", "url": "https://r/v2/a/manifests/v1", "status": 404,
             "ociErrors": [{"code": "MANIFEST_UNKNOWN"}]},
            {"step": "ping", "method": "GET", "url": "https://s/v2/", "transport": {"message": "connection refused"}}]}))
        .unwrap();
        assert_eq!(
            r.evidence_lines(),
            [
                "ping GET https://r/v2/ → HTTP 401",
                "manifest HEAD https://r/v2/a/manifests/v1 → HTTP 404 MANIFEST_UNKNOWN",
                "ping GET https://s/v2/ → connection refused"
            ]
        );
    }

    #[test]
    fn the_report_passes_through_and_a_newer_verdict_is_kept_by_name() {
        let raw = json!({"verdict": "quantum_flux", "reason": "r", "futureField": [1, 2],
                         "identity": {"description": "anonymous"}});
        let r = AgentReport::parse(raw.clone()).unwrap();
        assert_eq!(r.verdict(), &AgentVerdict::Newer("quantum_flux".into()));
        assert_eq!(
            (r.reason(), r.identity(), r.remediation()),
            (Some("r"), Some("anonymous"), None)
        );
        assert_eq!(serde_json::to_value(&r).unwrap(), raw);
        assert!(AgentReport::parse(json!({"reason": "no verdict"})).is_err());
        assert!(AgentReport::parse(json!({"verdict": 5})).is_err());
    }

    #[test]
    fn fields_of_another_shape_read_as_absent_and_keep_the_verdict() {
        let r = AgentReport::parse(
            json!({"verdict": "ok", "reason": 7, "identity": "anonymous",
            "evidence": [{"step": "manifest", "status": 70000, "ociErrors": "none"}, 5]}),
        )
        .unwrap();
        assert!(r.verdict().is_ok());
        assert_eq!((r.reason(), r.identity()), (None, None));
        assert_eq!(r.evidence_lines(), ["manifest GET ? → HTTP 70000"]);
        let r = AgentReport::parse(json!({"verdict": "ok", "evidence": {}})).unwrap();
        assert!(r.evidence_lines().is_empty());
    }
}
