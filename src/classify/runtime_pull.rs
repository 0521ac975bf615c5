//! The verdict of the runtime's own pull (`--runtime-pull`) from what it observed
//! ([`PullObservation`]: pulled, a status the runtime chose, no answer in time, unreachable),
//! classified by the same runtime-message classifier as `pullcheck explain`, and whether it says
//! the same as the registry verdict ([`compare`]). The runtime client observes; this decides.

use super::runtime_message::explain_status;
use super::{Diagnosis, Family, Verdict};

/// What the runtime's `PullImage` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullObservation<'a> {
    /// The runtime pulled the image.
    Pulled,
    /// The runtime answered with an error status (gRPC code name and message, verbatim).
    Status {
        /// `NotFound`, `Unknown`, …
        code: &'a str,
        /// The runtime's message.
        message: &'a str,
    },
    /// No answer within the pull's time limit (`reason` says how long).
    Timeout {
        /// `no answer within 2m`.
        reason: &'a str,
    },
    /// The runtime could not be asked at all.
    Unavailable {
        /// Why, in words.
        reason: &'a str,
    },
}

/// The runtime pull's verdict, reason and remediation.
pub fn judge(o: PullObservation<'_>) -> Diagnosis {
    match o {
        PullObservation::Pulled => Diagnosis::new(Verdict::Ok, "the runtime pulled the image"),
        PullObservation::Status { code, message } => {
            let d = explain_status(code, message);
            Diagnosis {
                verdict: d.verdict,
                reason: d.reason,
                remediation: d.remediation,
            }
        }
        PullObservation::Timeout { reason } => Diagnosis::new(
            Verdict::Timeout,
            format!(
                "the runtime's PullImage did not finish: {reason} (a registry that stalls, or a very large image)"
            ),
        ),
        PullObservation::Unavailable { reason } => {
            Diagnosis::new(Verdict::RuntimeUnavailable, reason)
        }
    }
}

/// Whether two verdicts say the same thing. The runtime's message is often coarser than the
/// registry's evidence (containerd's HEAD cannot tell a missing tag from a missing repository,
/// and a HEAD 403 has no body), so verdicts of one family that only differ in precision agree.
pub fn compatible(registry: Verdict, runtime: Verdict) -> bool {
    use Verdict::*;
    if registry == runtime {
        return true;
    }
    matches!(
        (registry, runtime),
        (RepositoryUnknown, ManifestUnknown)
            | (ManifestUnknown, RepositoryUnknown)
            | (NotFoundOrUnauthorized, Unauthorized)
            | (Unauthorized, NotFoundOrUnauthorized)
            | (RepositoryUnknown | ManifestUnknown, NotFoundOrUnauthorized)
            | (CredentialsExpired, Forbidden)
            | (NotFoundOrUnauthorized, Forbidden)
            | (
                TlsHostnameMismatch | TlsCertificateExpired | TlsUnknownAuthority,
                TlsError
            )
    )
}

/// `(agrees, interpretation)` for a registry verdict and a runtime verdict.
pub fn compare(registry: Verdict, runtime: Verdict) -> (bool, Option<String>) {
    if compatible(registry, runtime) {
        return (true, None);
    }
    let text = if registry == Verdict::Ok {
        match runtime.family() {
            Family::Tls => "registry reachable directly but the runtime fails TLS: containerd trusts a different set of CAs — compare the hosts.toml `ca`/`skip_verify` and the node trust store with what this probe used".to_string(),
            Family::Network => "registry reachable directly but the runtime cannot reach it: compare mirrors / hosts.toml / proxy (containerd's HTTP(S)_PROXY and NO_PROXY)".to_string(),
            Family::Node => "registry reachable directly but the runtime fails on the node itself: check the runtime's health and image filesystem".to_string(),
            Family::Content => "the registry serves the image but the runtime rejects its content: check the runtime version (schema1, media types) and the node platform".to_string(),
            _ => "registry reachable directly but the runtime fails: compare mirrors / hosts.toml / proxy, and the credentials the runtime sends".to_string(),
        }
    } else if runtime == Verdict::Ok {
        format!(
            "the runtime pulls the image but the direct probe says {}: the runtime may use a mirror, node-level credentials (registry.configs auth), a proxy or a CA this probe did not see, or its version accepts what the probe flags (schema1 before containerd 2.0)",
            registry.as_str()
        )
    } else if runtime == Verdict::RuntimeUnavailable {
        "the runtime could not be asked; only the registry verdict is known".to_string()
    } else {
        format!(
            "both fail, differently (registry: {}, runtime: {}): the runtime contacted other hosts or sent other credentials — compare mirrors / hosts.toml / proxy",
            registry.as_str(),
            runtime.as_str()
        )
    };
    (false, Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarser_runtime_verdicts_agree() {
        assert!(compare(Verdict::RepositoryUnknown, Verdict::ManifestUnknown).0);
        assert!(compare(Verdict::CredentialsExpired, Verdict::Forbidden).0);
        assert!(compare(Verdict::Ok, Verdict::Ok).0);
        assert!(!compare(Verdict::Forbidden, Verdict::CredentialsExpired).0);
    }

    #[test]
    fn registry_ok_runtime_failing_points_at_node_configuration() {
        let (agrees, why) = compare(Verdict::Ok, Verdict::TlsUnknownAuthority);
        assert!(!agrees);
        assert!(why.unwrap().contains("hosts.toml"));
        let (_, why) = compare(Verdict::Ok, Verdict::ConnectionRefused);
        assert!(why
            .unwrap()
            .contains("compare mirrors / hosts.toml / proxy"));
    }

    #[test]
    fn runtime_ok_registry_failing_names_the_registry_verdict() {
        let (agrees, why) = compare(Verdict::UnsupportedManifest, Verdict::Ok);
        assert!(!agrees);
        assert!(why.unwrap().contains("unsupported_manifest"));
    }

    #[test]
    fn a_pull_without_an_answer_in_time_is_a_timeout_not_an_unavailable_runtime() {
        let d = judge(PullObservation::Timeout {
            reason: "no answer within 2m",
        });
        assert_eq!(d.verdict, Verdict::Timeout);
        assert!(d.reason.contains("no answer within 2m"), "{}", d.reason);
        let d = judge(PullObservation::Unavailable {
            reason: "connection refused",
        });
        assert_eq!(
            (d.verdict, d.reason.as_str()),
            (Verdict::RuntimeUnavailable, "connection refused")
        );
        assert_eq!(judge(PullObservation::Pulled).verdict, Verdict::Ok);
        let d = judge(PullObservation::Status {
            code: "NotFound",
            message: "failed to resolve reference \"r.example/a:b\": r.example/a:b: not found",
        });
        assert_eq!(d.verdict, Verdict::ManifestUnknown);
    }
}
