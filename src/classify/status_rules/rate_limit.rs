//! 429, or `TOOMANYREQUESTS` in the envelope: rate limited, with the quota the registry's
//! headers told (what is left, the window, when to retry, whom it is counted against).

use super::Facts;
use crate::classify::{Diagnosis, Verdict};

pub(super) fn rule(f: &Facts<'_>) -> Option<Diagnosis> {
    let (ev, t, status) = (f.ev, f.t, f.status);
    if !(status == 429 || t.has_code("TOOMANYREQUESTS")) {
        return None;
    }
    let quota = ev.rate_limit.as_ref().map(|rl| {
        let mut parts = Vec::new();
        if let (Some(r), Some(l)) = (rl.remaining, rl.limit) {
            parts.push(format!("{r} of {l} pulls left"));
        }
        if let Some(w) = rl.window_seconds {
            parts.push(format!("per {} h window", w as f64 / 3600.0));
        }
        if let Some(ra) = &rl.retry_after {
            parts.push(format!("retry after {ra}"));
        }
        if let Some(s) = &rl.source {
            parts.push(format!("counted against {s}"));
        }
        parts.join(", ")
    });
    let quota = quota
        .filter(|q| !q.is_empty())
        .map(|q| format!(" ({q})"))
        .unwrap_or_default();
    Some(Diagnosis::new(
        Verdict::RateLimited,
        format!("{}: {status} Too Many Requests{quota}{}", f.at, f.server),
    ))
}
