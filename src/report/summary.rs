//! [`Summary`]: what the monitor, metrics and events need of a finished [`Report`] — verdict,
//! reason, remediation, the identity as a short label, the registry and repository, the
//! rate-limit figures and when the credential used expires — without re-reading the JSON.

use super::Report;
use crate::bounded::clip;
use crate::classify::Verdict;
use crate::identity::cloud::CloudOutcome;
use crate::probe::ratelimit::RateLimit;
use crate::probe::Evidence;
use crate::reference::ImageRef;
use std::time::{SystemTime, UNIX_EPOCH};

/// A report in brief.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one line.
    pub reason: String,
    /// What fixes it.
    pub remediation: String,
    /// The identity used, one line (`user "x" from secret team-a/pull (…)`); `None` when the
    /// probe never got as far as a credential.
    pub identity: Option<String>,
    /// The identity as a short label ([`Source::label`](crate::identity::Source::label)),
    /// `none` without one.
    pub identity_label: String,
    /// The image's registry (`docker.io`, `host:port`), empty for an invalid reference.
    pub registry: String,
    /// The repository (`library/nginx`).
    pub repository: String,
    /// The manifest digest, when resolved.
    pub digest: Option<String>,
    /// The registry's latest rate-limit figures and the host that sent them.
    pub rate_limit: Option<(String, RateLimit)>,
    /// When the credentials used expire, by source label, seconds since the Unix epoch.
    pub expiries: Vec<(String, f64)>,
    /// Wall time of the probe, seconds.
    pub seconds: f64,
}

/// `host[:port]` of a host URL (`https://registry-1.docker.io/v2` → `registry-1.docker.io`).
/// The most a summary keeps of one text field (reason, remediation, identity): the monitor
/// holds one summary per target for as long as the target lives, and a registry writes most of
/// the reason, so what it keeps is bounded per target, not only per report.
pub const MAX_TEXT: usize = 2048;

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn epoch(rfc3339: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

impl Summary {
    /// Summarises `report`, with the evidence of its attempts (in order; the registry whose
    /// rate-limit figures it names is the attempt's).
    pub fn of(report: &Report, attempts: &[Evidence]) -> Self {
        let (registry, repository) = ImageRef::parse(&report.image)
            .map(|r| (r.registry, r.repository))
            .unwrap_or_default();
        let rate_limit = report
            .attempts
            .iter()
            .zip(attempts)
            .rev()
            .find_map(|(a, e)| e.rate_limit.clone().map(|r| (host_of(&a.host), r)))
            .or_else(|| report.rate_limit.clone().map(|r| (registry.clone(), r)));
        let mut expiries = Vec::new();
        match &report.identity_sources.cloud {
            Some(CloudOutcome::Eks {
                region,
                role,
                expires_at: Some(at),
                ..
            }) => {
                if let Some(t) = epoch(at) {
                    let role = role.as_deref().unwrap_or("unknown");
                    expiries.push((format!("eks:{role}:{region}"), t));
                }
            }
            Some(CloudOutcome::Gke {
                email,
                expires_at: Some(at),
                ..
            }) => {
                if let Some(t) = epoch(at) {
                    let email = email.as_deref().unwrap_or("unknown");
                    expiries.push((format!("gke:{email}"), t));
                }
            }
            _ => {}
        }
        Summary {
            verdict: report.verdict,
            reason: clip(&report.reason, MAX_TEXT),
            remediation: clip(&report.remediation, MAX_TEXT),
            identity: report
                .identity
                .as_ref()
                .map(|i| clip(&i.description, MAX_TEXT)),
            identity_label: report
                .identity
                .as_ref()
                .map_or_else(|| "none".into(), |i| i.source.label()),
            registry: clip(&registry, MAX_TEXT),
            repository: clip(&repository, MAX_TEXT),
            digest: report.digest.as_deref().map(|d| clip(d, MAX_TEXT)),
            rate_limit,
            expiries,
            seconds: report.duration_ms / 1000.0,
        }
    }

    /// A summary for an answer that has no report (tests, refusals).
    pub fn bare(verdict: Verdict, reason: &str) -> Self {
        Summary {
            verdict,
            reason: clip(reason, MAX_TEXT),
            remediation: String::new(),
            identity: None,
            identity_label: "none".into(),
            registry: String::new(),
            repository: String::new(),
            digest: None,
            rate_limit: None,
            expiries: Vec::new(),
            seconds: 0.0,
        }
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_url() {
        assert_eq!(
            host_of("https://registry-1.docker.io"),
            "registry-1.docker.io"
        );
        assert_eq!(host_of("http://127.0.0.1:5000/v2/x"), "127.0.0.1:5000");
        assert_eq!(host_of("mirror:5000"), "mirror:5000");
    }

    #[test]
    fn rfc3339_to_epoch() {
        assert_eq!(epoch("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(epoch("nonsense"), None);
    }

    #[test]
    fn the_rate_limit_named_is_the_last_attempt_that_carried_one() {
        use crate::platform::Platform;
        let mut r = Report::invalid_reference("r.example/app:v1", "x", Platform::host());
        let attempt = |host: &str| super::super::Attempt {
            identity: super::super::Identity::of(&crate::identity::Source::Anonymous),
            host: host.into(),
            verdict: Verdict::Ok,
            reason: String::new(),
            answer: String::new(),
            requests: 1,
        };
        r.attempts = vec![
            attempt("https://mirror.example:5000"),
            attempt("https://r.example"),
            attempt("https://other.example"),
        ];
        let limited = |remaining| Evidence {
            rate_limit: Some(RateLimit {
                remaining: Some(remaining),
                ..RateLimit::default()
            }),
            ..Evidence::new("x", false, Platform::host())
        };
        let plain = Evidence::new("x", false, Platform::host());
        let s = Summary::of(&r, &[limited(5), limited(9), plain]);
        let (host, rl) = s.rate_limit.expect("a rate limit");
        assert_eq!((host.as_str(), rl.remaining), ("r.example", Some(9)));
        let s = Summary::of(&r, &[limited(5)]);
        assert_eq!(s.rate_limit.unwrap().0, "mirror.example:5000");
    }

    #[test]
    fn an_invalid_reference_summarises_without_registry() {
        let r = Report::invalid_reference("UPPER", "bad", crate::platform::Platform::host());
        let s = Summary::of(&r, &[]);
        assert_eq!(s.verdict, Verdict::InvalidReference);
        assert_eq!(s.registry, "");
        assert_eq!(s.identity_label, "none");
    }

    #[test]
    fn a_registry_written_reason_is_kept_bounded_per_target() {
        let mut r = Report::invalid_reference("UPPER", "bad", crate::platform::Platform::host());
        r.reason = "é".repeat(100_000);
        r.remediation = "x".repeat(100_000);
        let s = Summary::of(&r, &[]);
        assert!(
            s.reason.len() <= MAX_TEXT + '…'.len_utf8(),
            "{}",
            s.reason.len()
        );
        assert!(s.reason.ends_with('…'));
        assert!(s.remediation.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(Summary::bare(Verdict::Unknown, &r.reason).reason.len() <= MAX_TEXT + 3);
    }
}
