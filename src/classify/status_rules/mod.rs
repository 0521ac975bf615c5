//! Verdicts from an HTTP status and what came with it (the OCI error codes, the challenge, the
//! server's words), in rule families as [`super::runtime_message`]'s rules are: rate limits
//! ([`rate_limit`]), the credential (expired, token service, 401, 403: [`auth`]), TLS-shaped
//! 400s ([`tls`]), not found ([`not_found`]) and the registry's own failures. The phrase lists
//! both classifiers look for are shared ([`super::phrases`]).

mod auth;
mod not_found;
mod rate_limit;
mod tls;

use super::{step_name, Diagnosis, Verdict, AMBIGUOUS_401_HOSTS};
use crate::probe::{Evidence, Exchange};

/// What a failing exchange says, gathered once for every rule.
struct Facts<'a> {
    ev: &'a Evidence,
    t: &'a Exchange,
    status: u16,
    /// The step, for reasons (`manifest`, `token`, …).
    at: String,
    /// The server's error text, as sent.
    text: String,
    /// It, lower case.
    lower: String,
    /// ` — server message: …`, or nothing.
    server: String,
    /// The registry is one whose 401 means "private or missing" alike.
    ambiguous_401: bool,
}

impl<'a> Facts<'a> {
    fn new(ev: &'a Evidence, t: &'a Exchange, status: u16) -> Self {
        let text = t.error_text();
        let server = if text.trim().is_empty() {
            String::new()
        } else {
            format!(" — server message: {}", text.trim())
        };
        Facts {
            ev,
            t,
            status,
            at: step_name(t),
            lower: text.to_ascii_lowercase(),
            text,
            server,
            ambiguous_401: reqwest::Url::parse(&ev.host)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .is_some_and(|h| AMBIGUOUS_401_HOSTS.contains(&h.as_str())),
        }
    }

    fn has_any(&self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.lower.contains(p))
    }
}

/// The verdict of an exchange that ended with `status`. The first family that speaks wins;
/// a status none of them knows is the registry's error.
pub(super) fn rule(ev: &Evidence, t: &Exchange, status: u16) -> Diagnosis {
    let f = Facts::new(ev, t, status);
    rate_limit::rule(&f)
        .or_else(|| auth::rule(&f))
        .or_else(|| tls::rule(&f))
        .or_else(|| not_found::rule(&f))
        .unwrap_or_else(|| registry(&f))
}

/// The registry failed, or answered a status no rule knows.
fn registry(f: &Facts<'_>) -> Diagnosis {
    let (at, status, server) = (&f.at, f.status, &f.server);
    match status {
        500..=599 => Diagnosis::new(Verdict::RegistryError, format!("{at}: {status}{server}")),
        _ => Diagnosis::new(
            Verdict::RegistryError,
            format!("{at}: unexpected status {status}{server}"),
        ),
    }
}
