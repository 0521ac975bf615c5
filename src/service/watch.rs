//! What the service asks the node again and again, at a bounded rate: the runtime's state
//! ([`RuntimeWatch`], for `/readyz` and the monitor's `pullcheck_runtime_up`; asked at most every
//! [`RUNTIME_RECHECK`], waited for at most [`READY_WAIT`]) and the cloud identities
//! ([`CloudWatch`], for `/v1/node`; asked at most every [`CLOUD_RECHECK`]).

use super::context::NodeContext;
use crate::classify::Verdict;
use crate::identity::cloud::CloudSettings;
use crate::node_facts::{cloud_facts, IdentityFact};
use crate::runtime::RuntimeClient;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long a runtime answer is reused by `/readyz`.
pub const RUNTIME_RECHECK: Duration = Duration::from_secs(10);

/// How long `/readyz` waits for the runtime. The runtime is reported, not required: a hung
/// containerd (accepting on its socket, never answering) must not hold readiness answers for
/// `--runtime-timeout` (10 s by default, beyond the kubelet's readiness `timeoutSeconds`) and
/// so turn the agent unready.
pub const READY_WAIT: Duration = Duration::from_secs(1);

/// How long `/v1/node` reuses what the cloud metadata services said.
pub const CLOUD_RECHECK: Duration = Duration::from_secs(10);

/// The cloud identities as `/v1/node` last saw them (IMDS role, GKE service account): asked
/// at most every [`CLOUD_RECHECK`], so a busy `/v1/node` does not load the metadata services,
/// and an outage or its end shows within that time.
#[derive(Debug, Default)]
pub struct CloudWatch {
    last: tokio::sync::Mutex<Option<(Instant, Vec<IdentityFact>)>>,
}

impl CloudWatch {
    /// The current (or recent) facts; none with `--no-cloud-identity`.
    pub async fn facts(&self, settings: Option<&CloudSettings>) -> Vec<IdentityFact> {
        let Some(settings) = settings else {
            return Vec::new();
        };
        let mut last = self.last.lock().await;
        if let Some((at, f)) = last.as_ref() {
            if at.elapsed() < CLOUD_RECHECK {
                return f.clone();
            }
        }
        let f = cloud_facts(settings).await;
        *last = Some((Instant::now(), f.clone()));
        f
    }
}

/// The runtime's state, as `/readyz` reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    /// `unix:///…`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `ok` or `runtime_unavailable`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// Runtime name and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The runtime state, reused for [`RUNTIME_RECHECK`].
#[derive(Debug, Default)]
pub struct RuntimeWatch {
    last: tokio::sync::Mutex<Option<(Instant, RuntimeState)>>,
}

impl RuntimeWatch {
    /// The current (or recent) state.
    pub async fn state(&self, ctx: &NodeContext) -> RuntimeState {
        let mut last = self.last.lock().await;
        if let Some((at, s)) = last.as_ref() {
            if at.elapsed() < RUNTIME_RECHECK {
                return s.clone();
            }
        }
        let s = match &ctx.runtime {
            Err(e) => RuntimeState {
                endpoint: None,
                verdict: Verdict::RuntimeUnavailable,
                version: None,
                error: Some(e.clone()),
            },
            Ok(c) => ask(c, READY_WAIT).await,
        };
        *last = Some((Instant::now(), s.clone()));
        s
    }
}

/// Asks the runtime its name and version, waiting at most `wait`.
async fn ask(c: &RuntimeClient, wait: Duration) -> RuntimeState {
    let unavailable = |error: String| RuntimeState {
        endpoint: Some(c.endpoint().url()),
        verdict: Verdict::RuntimeUnavailable,
        version: None,
        error: Some(error),
    };
    match tokio::time::timeout(wait, c.info()).await {
        Ok(Ok(info)) => RuntimeState {
            endpoint: Some(c.endpoint().url()),
            verdict: Verdict::Ok,
            version: Some(format!("{} {}", info.name, info.version)),
            error: None,
        },
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!(
            "container runtime at {} did not answer Version/Status within {} (hung?)",
            c.endpoint().url(),
            humantime::format_duration(wait)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::endpoint::RuntimeEndpoint;

    /// A runtime socket that accepts and never answers: readiness learns it within the
    /// readiness wait, not the runtime's own (longer) call limit.
    #[tokio::test]
    async fn a_hung_runtime_does_not_hold_readiness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cri.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        });
        let client = RuntimeClient::new(RuntimeEndpoint { path }, Duration::from_secs(600));
        let state = tokio::time::timeout(
            Duration::from_secs(60),
            ask(&client, Duration::from_millis(200)),
        )
        .await
        .expect("bounded by the readiness wait, not the 600 s call limit");
        assert_eq!(state.verdict, Verdict::RuntimeUnavailable);
        let error = state.error.unwrap();
        assert!(
            error.contains("did not answer") && error.contains("200ms"),
            "{error}"
        );
        held.abort();
    }

    /// `--no-cloud-identity` asks nothing; otherwise an unreachable metadata service is a
    /// note saying so, reused until the recheck.
    #[tokio::test]
    async fn cloud_identities_are_reported_and_reused() {
        let w = CloudWatch::default();
        assert!(w.facts(None).await.is_empty());
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let settings = CloudSettings {
            imds_endpoint: Some(format!("http://{closed}")),
            gce_metadata_host: Some(closed.to_string()),
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let first = w.facts(Some(&settings)).await;
        let eks = first.iter().find(|f| f.kind == "eks").expect("an eks line");
        assert!(
            eks.description.starts_with("not available"),
            "{}",
            eks.description
        );
        assert!(first.iter().any(|f| f.kind == "gke"));
        let again = w.facts(Some(&settings)).await;
        assert_eq!(again.len(), first.len());
        assert!(w.last.lock().await.is_some());
    }
}
