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
        Some(p) => d.fix(format!("Grant {p} to the identity that pulls (see the message for the principal and resource); {}", Verdict::Forbidden.remediation())),
        None => d,
    }
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
