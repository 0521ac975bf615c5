//! The report's verdict as a whole: the decisive attempt's diagnosis (per attempt, in
//! [`super::classify`]) and then, in a fixed order, what else the node says about the pull —
//! the node identity that could not be had, CRI-O's signature policy, the image filesystem,
//! a CRI-O short name resolved through several candidates, and the runtime's own pull. Each
//! step here decides a [`Change`]; the report only applies it, so every verdict the report can
//! carry is decided in `classify/`.

use super::disk::Judgement;
use super::{Diagnosis, Verdict};
use crate::endpoints::signature_policy::Decision;

/// How one more fact changes the report's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing changes.
    Keep,
    /// A warning; the verdict stands.
    Warn(String),
    /// The verdict stands, with a longer reason.
    Reason(String),
    /// A new verdict (its reason and remediation with it).
    Verdict(Diagnosis),
    /// The verdict stands; the exit code is another's (the question asked was not answered yes).
    Exit(i32),
}

/// The verdict so far.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// Its verdict.
    pub verdict: Verdict,
    /// Its reason.
    pub reason: &'a str,
}

/// The node's identity source failed (`why`) and nothing else could authenticate. When the
/// registry refused the (anonymous) pull, the failed identity is the verdict, and the
/// registry's answer stays in the reason; otherwise it is a warning.
pub fn identity_unavailable(now: Current<'_>, why: &str) -> Change {
    match now.verdict {
        Verdict::Unauthorized | Verdict::NotFoundOrUnauthorized | Verdict::Forbidden => {
            Change::Verdict(Diagnosis::new(
                Verdict::IdentityUnavailable,
                format!("{why}; without it the registry answered: {}", now.reason),
            ))
        }
        Verdict::Ok => Change::Warn(format!("{why} (the pull works without it)")),
        _ => Change::Warn(why.to_string()),
    }
}

/// CRI-O's signature policy: a pull the registry would serve but the policy refuses is
/// `signature_rejected`; a signature that exists but is not verified here is a warning, and so
/// is a refusal behind a failure that comes first.
pub fn signature(now: Current<'_>, decision: Decision) -> Change {
    match decision {
        Decision::Accept { unverified: None } => Change::Keep,
        Decision::Accept {
            unverified: Some(w),
        } => Change::Warn(w),
        Decision::Rejected { why, .. } if now.verdict == Verdict::Ok => {
            Change::Verdict(Diagnosis::new(
                Verdict::SignatureRejected,
                format!(
                    "the registry serves the image, and CRI-O's signature policy refuses it: {why}"
                ),
            ))
        }
        Decision::Rejected { why, .. } => Change::Warn(format!(
            "once pullable, CRI-O's signature policy refuses it too: {why}"
        )),
    }
}

/// The image filesystem: not even the compressed layers fit → `insufficient_disk` in place of
/// `ok` (a warning behind another failure); near the GC threshold → a warning.
pub fn disk(now: Current<'_>, judgement: Judgement) -> Change {
    match judgement {
        Judgement::Fits => Change::Keep,
        Judgement::Warn(w) => Change::Warn(w),
        Judgement::Insufficient(d) if now.verdict == Verdict::Ok => Change::Verdict(d),
        Judgement::Insufficient(d) => Change::Warn(d.reason),
    }
}

/// A CRI-O short name whose `tried` candidates led here (this report is the last one's): a
/// failure is the last of several, as CRI-O reports it; a success after failures warns that
/// every pull asks the failing ones again.
pub fn short_name(now: Current<'_>, tried: usize) -> Change {
    if tried <= 1 {
        Change::Keep
    } else if now.verdict != Verdict::Ok {
        Change::Reason(format!(
            "{} (the last of {tried} candidates; CRI-O reports the last failure)",
            now.reason
        ))
    } else {
        Change::Warn(format!(
            "{} earlier candidate(s) failed first: each pull of this short name asks them again, and an image pushed there later would win",
            tried - 1
        ))
    }
}

/// The runtime's own pull beside the registry verdict: when the registry says `ok` and the
/// runtime failed, or could not be asked, the runtime decides the exit code (the verdict
/// stays the registry's, and the report shows both).
pub fn runtime_pull(now: Current<'_>, runtime: Verdict) -> Change {
    if now.verdict == Verdict::Ok && runtime != Verdict::Ok {
        Change::Exit(runtime.exit_code())
    } else {
        Change::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(verdict: Verdict) -> Current<'static> {
        Current {
            verdict,
            reason: "manifest: HTTP 401",
        }
    }

    #[test]
    fn a_missing_identity_is_the_verdict_only_when_the_registry_refused() {
        let Change::Verdict(d) = identity_unavailable(now(Verdict::Unauthorized), "IMDS down")
        else {
            panic!("a refused pull is the identity's fault");
        };
        assert_eq!(d.verdict, Verdict::IdentityUnavailable);
        assert_eq!(
            d.reason,
            "IMDS down; without it the registry answered: manifest: HTTP 401"
        );
        assert_eq!(
            identity_unavailable(now(Verdict::Ok), "IMDS down"),
            Change::Warn("IMDS down (the pull works without it)".into())
        );
        assert_eq!(
            identity_unavailable(now(Verdict::ManifestUnknown), "IMDS down"),
            Change::Warn("IMDS down".into())
        );
    }

    #[test]
    fn signature_and_disk_replace_only_ok() {
        let rejected = || Decision::Rejected {
            scope: "default".into(),
            why: "reject".into(),
        };
        assert!(matches!(
            signature(now(Verdict::Ok), rejected()),
            Change::Verdict(d) if d.verdict == Verdict::SignatureRejected
        ));
        assert!(matches!(
            signature(now(Verdict::ManifestUnknown), rejected()),
            Change::Warn(_)
        ));
        let full = || Judgement::Insufficient(Diagnosis::new(Verdict::InsufficientDisk, "full"));
        assert!(
            matches!(disk(now(Verdict::Ok), full()), Change::Verdict(d) if d.verdict == Verdict::InsufficientDisk)
        );
        assert_eq!(
            disk(now(Verdict::Unauthorized), full()),
            Change::Warn("full".into())
        );
        assert_eq!(disk(now(Verdict::Ok), Judgement::Fits), Change::Keep);
    }

    #[test]
    fn the_runtime_decides_the_exit_only_behind_a_registry_ok() {
        assert_eq!(
            runtime_pull(now(Verdict::Ok), Verdict::TlsUnknownAuthority),
            Change::Exit(Verdict::TlsUnknownAuthority.exit_code())
        );
        assert_eq!(
            runtime_pull(now(Verdict::Unauthorized), Verdict::Ok),
            Change::Keep
        );
        assert_eq!(short_name(now(Verdict::Ok), 1), Change::Keep);
        assert!(
            matches!(short_name(now(Verdict::Unauthorized), 3), Change::Reason(r) if r.ends_with("(the last of 3 candidates; CRI-O reports the last failure)"))
        );
    }
}
