//! The credential: an expired token (in the server's words), the token service's refusals,
//! 403 (naming the missing permission when the registry does) and 401 — telling "private or
//! missing" (`insufficient_scope`, registries that answer both alike) from "rejected" and
//! "none offered".

use super::Facts;
use crate::classify::phrases::{EXPIRED_TOKEN, MAY_NOT_EXIST};
use crate::classify::{named_permission, Diagnosis, Verdict};
use crate::probe::Step;

pub(super) fn rule(f: &Facts<'_>) -> Option<Diagnosis> {
    if f.has_any(&EXPIRED_TOKEN) {
        return Some(Diagnosis::new(
            Verdict::CredentialsExpired,
            format!("{}: {}{}", f.at, f.status, f.server),
        ));
    }
    if f.t.step == Step::Token {
        return Some(token(f));
    }
    match f.status {
        403 => Some(forbidden(f)),
        401 => Some(unauthorized(f)),
        _ => None,
    }
}

/// The token service refused (or failed).
fn token(f: &Facts<'_>) -> Diagnosis {
    let (at, status, server) = (&f.at, f.status, &f.server);
    match status {
        401 | 403 if f.ev.authenticated => Diagnosis::new(Verdict::Unauthorized, format!("{at}: {status}: the token service rejected the credentials{server}")),
        401 | 403 if f.ambiguous_401 => Diagnosis::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: {status}: anonymous token refused — the repository is private or does not exist{server}"),
        ),
        401 | 403 => Diagnosis::new(Verdict::Unauthorized, format!("{at}: {status}: the token service requires credentials and none were offered{server}")),
        _ => Diagnosis::new(Verdict::RegistryError, format!("failed to fetch token: {at}: {status}{server}")),
    }
}

fn forbidden(f: &Facts<'_>) -> Diagnosis {
    let (at, server) = (&f.at, &f.server);
    if f.lower.contains(MAY_NOT_EXIST) {
        return Diagnosis::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: 403: permission denied, or the repository does not exist (the registry does not say which){server}"),
        );
    }
    let perm = named_permission(&f.text);
    let reason = match &perm {
        Some(p) => format!("{at}: 403: the identity lacks {p}{server}"),
        None => format!("{at}: 403 Forbidden{server}"),
    };
    let d = Diagnosis::new(Verdict::Forbidden, reason);
    match perm {
        Some(p) => d.fix(grant(&p)),
        None => d,
    }
}

/// The fix for a permission the registry named: that registry's advice only (an ECR denial
/// gets no GAR or ACR advice).
fn grant(permission: &str) -> String {
    let also = if permission.starts_with("ecr:") {
        " A node pulls with ecr:BatchGetImage (manifests) and ecr:GetDownloadUrlForLayer (layers), and ecr:GetAuthorizationToken for its token; the managed policy AmazonEC2ContainerRegistryReadOnly holds all three, and a repository policy must not deny them."
    } else if permission.starts_with("artifactregistry.") {
        " roles/artifactregistry.reader on the repository (or its project) holds it."
    } else if permission
        .to_ascii_lowercase()
        .contains("containerregistry")
    {
        " The AcrPull role on the registry holds it."
    } else {
        ""
    };
    format!("Grant {permission} to the identity that pulls (the message names the principal and the resource).{also}")
}

fn unauthorized(f: &Facts<'_>) -> Diagnosis {
    let (ev, t, at, server) = (f.ev, f.t, &f.at, &f.server);
    let insufficient =
        t.challenge.as_ref().and_then(|c| c.error.as_deref()) == Some("insufficient_scope");
    if insufficient {
        let who = if ev.authenticated {
            "the credentials were accepted but grant no pull on this repository, or it does not exist"
        } else {
            "anonymous pull refused: the repository is private or does not exist"
        };
        Diagnosis::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: 401 insufficient_scope: {who}{server}"),
        )
    } else if ev.authenticated {
        Diagnosis::new(
            Verdict::Unauthorized,
            format!("{at}: 401: the registry rejected the credentials{server}"),
        )
    } else if f.ambiguous_401 {
        Diagnosis::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: 401: the repository is private or does not exist{server}"),
        )
    } else {
        let scheme = t
            .challenge
            .as_ref()
            .map(|c| c.scheme.as_str())
            .unwrap_or("unknown");
        Diagnosis::new(Verdict::Unauthorized, format!("{at}: 401: no basic auth credentials (the registry requires {scheme} authentication){server}"))
    }
}

#[cfg(test)]
mod tests {
    use super::grant;

    #[test]
    fn a_named_permission_gets_its_own_registry_s_advice_only() {
        let ecr = grant("ecr:BatchGetImage");
        assert!(
            ecr.starts_with("Grant ecr:BatchGetImage to the identity that pulls"),
            "{ecr}"
        );
        assert!(ecr.contains("ecr:GetDownloadUrlForLayer"), "{ecr}");
        for other in ["artifactregistry", "AcrPull", "GAR", "ACR"] {
            assert!(!ecr.contains(other), "no {other} advice for ECR: {ecr}");
        }
        let gar = grant("artifactregistry.repositories.downloadArtifacts");
        assert!(
            gar.contains("roles/artifactregistry.reader") && !gar.contains("ecr:"),
            "{gar}"
        );
        let acr = grant("Microsoft.ContainerRegistry/registries/pull/read");
        assert!(acr.contains("AcrPull") && !acr.contains("ecr:"), "{acr}");
        assert!(!grant("custom.read").contains("ecr:"));
    }
}
