//! Go's `time.ParseDuration` with its sign: `metav1.Duration` fields (`defaultCacheDuration`,
//! a response's `cacheDuration`) accept negative values, which the kubelet then treats as
//! "invalid" (config) or "already expired" (response). See [`parse_signed`].

use std::time::Duration;

/// `(negative, magnitude)` of a Go duration string (`12h`, `-1m30s`, `0`).
pub fn parse_signed(s: &str) -> Result<(bool, Duration), String> {
    match s.strip_prefix('-') {
        Some(rest) if !rest.starts_with(['-', '+']) => {
            let d = crate::endpoints::go_duration::parse(rest)
                .map_err(|_| format!("invalid duration {s:?} (Go syntax, e.g. 12h, 90m)"))?;
            Ok((!d.is_zero(), d))
        }
        _ => crate::endpoints::go_duration::parse(s)
            .map(|d| (false, d))
            .map_err(|_| format!("invalid duration {s:?} (Go syntax, e.g. 12h, 90m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_go_durations() {
        assert_eq!(
            parse_signed("12h"),
            Ok((false, Duration::from_secs(12 * 3600)))
        );
        assert_eq!(
            parse_signed("6h0m0s"),
            Ok((false, Duration::from_secs(6 * 3600)))
        );
        assert_eq!(parse_signed("0"), Ok((false, Duration::ZERO)));
        assert_eq!(parse_signed("-0"), Ok((false, Duration::ZERO)));
        assert_eq!(parse_signed("-1m30s"), Ok((true, Duration::from_secs(90))));
        assert_eq!(parse_signed("+5s"), Ok((false, Duration::from_secs(5))));
        assert!(parse_signed("12").is_err(), "a unit is required");
        assert!(parse_signed("--1s").is_err());
        assert!(parse_signed("soon").is_err());
    }
}
