//! Durations on the command line and in the agent's configuration (`10s`, `1500ms`, `5m`, in
//! humantime's syntax), within bounds: [`within`].

use std::time::Duration;

/// A duration between `min` and `max` (`10s`, `1500ms`, `5m`).
pub fn within(min: Duration, max: Duration) -> impl Fn(&str) -> Result<Duration, String> {
    move |s| {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("not a duration ({e}); e.g. 10s, 1500ms, 5m"))?;
        if d < min || d > max {
            return Err(format!(
                "must be between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_named() {
        let p = within(Duration::from_millis(1), Duration::from_secs(3600));
        assert_eq!(p(" 1500ms "), Ok(Duration::from_millis(1500)));
        assert_eq!(p("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(p("2h").unwrap_err(), "must be between 1ms and 1h");
        assert!(p("soon").unwrap_err().starts_with("not a duration"));
    }
}
