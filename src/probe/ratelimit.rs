//! Rate-limit headers on every response: `ratelimit-limit: 100;w=21600`, `ratelimit-remaining`,
//! `docker-ratelimit-source`, `Retry-After`.

use serde::Serialize;

/// Quota figures as the registry announced them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests allowed per window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Requests left in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// Window length, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// What the quota is counted against (`docker-ratelimit-source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `Retry-After` as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// `Retry-After` in seconds when given as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// `100;w=21600` → (100, Some(21600)).
fn quota(v: &str) -> (Option<u64>, Option<u64>) {
    let mut parts = v.split(';');
    let n = parts.next().and_then(|n| n.trim().parse().ok());
    let w = parts.find_map(|p| {
        p.trim()
            .strip_prefix("w=")
            .and_then(|w| w.trim().parse().ok())
    });
    (n, w)
}

/// Reads the figures from lower-cased header name/value pairs; `None` when there are none.
pub fn from_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<RateLimit> {
    let mut rl = RateLimit::default();
    let mut any = false;
    for (name, value) in headers {
        match name {
            "ratelimit-limit" | "x-ratelimit-limit" => {
                let (n, w) = quota(value);
                rl.limit = n;
                rl.window_seconds = rl.window_seconds.or(w);
                any |= n.is_some();
            }
            "ratelimit-remaining" | "x-ratelimit-remaining" => {
                let (n, w) = quota(value);
                rl.remaining = n;
                rl.window_seconds = rl.window_seconds.or(w);
                any |= n.is_some();
            }
            "docker-ratelimit-source" => {
                rl.source = Some(value.chars().take(128).collect());
                any = true;
            }
            "retry-after" => {
                rl.retry_after = Some(value.chars().take(64).collect());
                rl.retry_after_seconds = value.trim().parse().ok();
                any = true;
            }
            _ => {}
        }
    }
    any.then_some(rl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_figures_parse_exactly_or_not_at_all_and_stay_short() {
        let long = "9".repeat(100_000);
        let mut values = crate::bounded::hostile_numbers();
        values.push(long.clone());
        values.push(format!("{long};w={long}"));
        for v in &values {
            for quota in [
                v.clone(),
                format!("{v};w={v}"),
                format!("10;w={v}"),
                format!("{v};w="),
            ] {
                let rl = from_headers([
                    ("ratelimit-limit", quota.as_str()),
                    ("ratelimit-remaining", quota.as_str()),
                    ("retry-after", v.as_str()),
                    ("docker-ratelimit-source", quota.as_str()),
                ])
                .expect("the source header alone makes figures");
                // A figure is the exact u64 the header wrote, or absent: never wrapped or clamped.
                let exact = |n: &str| n.trim().parse::<u64>().ok();
                let mut parts = quota.split(';');
                assert_eq!(rl.limit, exact(parts.next().unwrap()), "{quota}");
                assert_eq!(rl.retry_after_seconds, exact(v), "{v}");
                assert!(rl.retry_after.as_ref().unwrap().chars().count() <= 64);
                assert!(rl.source.as_ref().unwrap().chars().count() <= 128);
            }
        }
    }

    #[test]
    fn docker_hub_headers() {
        let rl = from_headers([
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "0;w=21600"),
            ("docker-ratelimit-source", "192.0.2.10"),
            ("retry-after", "3600"),
        ])
        .unwrap();
        assert_eq!(
            (rl.limit, rl.remaining, rl.window_seconds),
            (Some(100), Some(0), Some(21600))
        );
        assert_eq!(rl.retry_after_seconds, Some(3600));
        assert!(from_headers([("content-type", "x")]).is_none());
        let rl = from_headers([
            ("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT"),
            ("ratelimit-limit", "junk;w="),
        ])
        .unwrap();
        assert_eq!(rl.retry_after_seconds, None);
        assert_eq!(rl.limit, None);
    }
}
