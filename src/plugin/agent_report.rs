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

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct View {
    verdict: AgentVerdict,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    remediation: Option<String>,
    #[serde(default)]
    identity: Option<Identity>,
    #[serde(default)]
    evidence: Vec<Exchange>,
}

#[derive(Debug, Clone, Deserialize)]
struct Identity {
    description: Option<String>,
}

/// One evidence exchange, as far as the plugin shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exchange {
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    transport: Option<Transport>,
    #[serde(default)]
    oci_errors: Vec<OciError>,
}

#[derive(Debug, Clone, Deserialize)]
struct Transport {
    message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct OciError {
    code: Option<String>,
}

impl AgentReport {
    /// Reads an agent's answer body (already parsed as JSON).
    pub fn parse(raw: Value) -> Result<Self, serde_json::Error> {
        let view = View::deserialize(&raw)?;
        Ok(AgentReport { raw, view })
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
}
