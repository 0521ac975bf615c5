//! Why the probe service gave no report ([`Refusal`]): the registry policy refused the image,
//! the service is saturated, the registry's budget of manifest GETs is spent, the Kubernetes
//! API is needed and absent or failed, or the node's configuration is unusable. Each carries
//! one line for humans (no secrets) and, for the retryable kinds, when to try again. The HTTP
//! edge maps kinds to API error codes; the drift monitor reschedules on them.

use std::time::Duration;

/// What kind of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The registry is refused by the registry policy.
    RegistryNotAllowed,
    /// Too many probes in flight.
    Saturated,
    /// The registry's budget of manifest GETs is spent.
    RegistryBudgetExhausted,
    /// A pod or secrets were asked for, and there is no Kubernetes API client.
    KubernetesUnavailable,
    /// The pod does not exist.
    PodNotFound,
    /// A pull secret holds invalid docker config JSON.
    InvalidPullSecret,
    /// A pod or secret reference is not one.
    InvalidReference,
    /// The Kubernetes API failed or refused to answer.
    KubernetesError,
    /// The node's registry or credential configuration is unusable.
    NodeConfiguration,
    /// A bug: no answer could be produced.
    Internal,
}

impl RefusalKind {
    /// The metrics label (`pullcheck_agent_probe_refusals_total{code}`): the API error code for
    /// the kinds a caller can act on, `other` for the rest.
    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::RegistryNotAllowed => "registry_not_allowed",
            RefusalKind::Saturated => "saturated",
            RefusalKind::RegistryBudgetExhausted => "registry_budget_exhausted",
            RefusalKind::KubernetesUnavailable => "kubernetes_unavailable",
            RefusalKind::PodNotFound => "pod_not_found",
            RefusalKind::InvalidPullSecret => "invalid_pull_secret",
            RefusalKind::KubernetesError => "kubernetes_error",
            RefusalKind::NodeConfiguration => "node_configuration",
            RefusalKind::InvalidReference | RefusalKind::Internal => "other",
        }
    }
}

/// A probe that produced no report, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The kind.
    pub kind: RefusalKind,
    /// One line for humans (no secrets).
    pub message: String,
    /// When to try again, for the kinds that pass.
    pub retry_after: Option<Duration>,
}

impl Refusal {
    /// A refusal with a message.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds when to try again.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// How long to wait, when waiting is the remedy (saturation, a spent budget).
    pub fn wait(&self) -> Option<Duration> {
        self.retry_after.filter(|_| {
            matches!(
                self.kind,
                RefusalKind::Saturated | RefusalKind::RegistryBudgetExhausted
            )
        })
    }
}
