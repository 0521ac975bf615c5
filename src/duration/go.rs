//! Go's `time.ParseDuration`, which containerd uses for hosts.toml `dial_timeout` and the
//! kubelet for `metav1.Duration` fields: one or more `<number><unit>` terms (`300ms`, `1.5h`,
//! `2h45m`), units `ns us µs ms s m h`, a bare `0`. See [`parse`] (no negatives) and
//! [`parse_signed`] (the kubelet's credential-provider durations, which may be negative).

use std::time::Duration;

/// Parses a Go duration string. Negative durations are refused (containerd would accept them
/// and fail every dial at once).
pub fn parse(input: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {input:?} (Go syntax, e.g. 5s, 500ms, 1m30s)");
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        if rest != "0" {
            return Err(format!("negative duration {input:?}"));
        }
        s = rest;
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = s.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per = unit_nanos(unit).ok_or_else(bad)?;
        total = total
            .checked_add(term_nanos(int, frac, nanos_per).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        s = rest;
    }
    // Go's limit: a Duration is an int64 of nanoseconds.
    if total > i64::MAX as u128 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total as u64))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// `int.frac` × `per` nanoseconds, truncating below a nanosecond as Go does.
fn term_nanos(int: &str, frac: &str, per: u128) -> Option<u128> {
    let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut nanos = whole.checked_mul(per)?;
    let mut scale = per;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(d - b'0') * scale)?;
    }
    Some(nanos)
}

/// `(negative, magnitude)` of a Go duration string (`12h`, `-1m30s`, `0`).
pub fn parse_signed(s: &str) -> Result<(bool, Duration), String> {
    match s.strip_prefix('-') {
        Some(rest) if !rest.starts_with(['-', '+']) => {
            let d = parse(rest)
                .map_err(|_| format!("invalid duration {s:?} (Go syntax, e.g. 12h, 90m)"))?;
            Ok((!d.is_zero(), d))
        }
        _ => parse(s)
            .map(|d| (false, d))
            .map_err(|_| format!("invalid duration {s:?} (Go syntax, e.g. 12h, 90m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_go_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse("5s"), Ok(ms(5000)));
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse(".5s"), Ok(ms(500)));
        assert_eq!(parse("1.s"), Ok(ms(1000)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("+2s"), Ok(ms(2000)));
        assert_eq!(parse("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("1.0000000001s"), Ok(ms(1000)), "below 1ns truncated");
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            "",
            "5",
            "s",
            "5 s",
            "5sec",
            "1d",
            ".s",
            "1h 30m",
            "-",
            "5S",
            "9999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
        let err = parse("-5s").unwrap_err();
        assert!(err.contains("negative"), "{err}");
        assert!(parse("abc").unwrap_err().contains("\"abc\""));
    }

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
