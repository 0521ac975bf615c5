//! When each target is probed next: every `interval` with ±10 % jitter while it answers the
//! same, sooner (a quarter of the interval, at least 15 s) while it fails so a recovery shows,
//! spread over the first minute when it first appears (an agent start with hundreds of pods does
//! not burst), and after the registry budget's Retry-After when the budget is spent.
//! Pure: times and the random source are passed in.

use std::time::{Duration, Instant};

/// The shortest re-probe delay of a failing target.
pub const MIN_RETRY: Duration = Duration::from_secs(15);

/// The longest first-probe spread.
pub const MAX_SPREAD: Duration = Duration::from_secs(60);

/// A small deterministic random source (SplitMix64) for jitter.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `d` scaled by a factor in `[1 - f, 1 + f)`.
    pub fn around(&mut self, d: Duration, f: f64) -> Duration {
        d.mul_f64(1.0 - f + 2.0 * f * self.unit())
    }
}

/// The scheduling policy.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Re-probe interval of a target whose answer is `ok`.
    pub interval: Duration,
    jitter: Jitter,
}

impl Schedule {
    /// A policy with this interval.
    pub fn new(interval: Duration, seed: u64) -> Self {
        Schedule {
            interval,
            jitter: Jitter::new(seed),
        }
    }

    /// When a new target is first probed.
    pub fn first(&mut self, now: Instant) -> Instant {
        let spread = self.interval.min(MAX_SPREAD);
        now + spread.mul_f64(self.jitter.unit())
    }

    /// When a target is probed again after an answer.
    pub fn next(&mut self, now: Instant, failing: bool) -> Instant {
        let base = if failing {
            (self.interval / 4).max(MIN_RETRY).min(self.interval)
        } else {
            self.interval
        };
        now + self.jitter.around(base, 0.1)
    }

    /// When a target is tried again after the registry budget refused it.
    pub fn after_budget(&mut self, now: Instant, retry_after: Duration) -> Instant {
        now + retry_after + self.jitter.around(Duration::from_secs(5), 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let mut s = Schedule::new(Duration::from_secs(600), 7);
        let t0 = Instant::now();
        let mut firsts = Vec::new();
        for _ in 0..1000 {
            let n = s.next(t0, false) - t0;
            assert!(
                n >= Duration::from_secs(540) && n < Duration::from_secs(660),
                "{n:?}"
            );
            let f = s.first(t0) - t0;
            assert!(f < MAX_SPREAD);
            firsts.push(f.as_secs());
        }
        firsts.sort_unstable();
        firsts.dedup();
        assert!(firsts.len() > 50, "first probes are spread over the minute");
        let retry = s.next(t0, true) - t0;
        assert!(retry >= Duration::from_secs(135) && retry < Duration::from_secs(165));
    }

    #[test]
    fn short_intervals_are_not_stretched() {
        let mut s = Schedule::new(Duration::from_secs(2), 1);
        let t0 = Instant::now();
        assert!(s.next(t0, true) - t0 <= Duration::from_millis(2200));
        assert!(s.first(t0) - t0 < Duration::from_secs(2));
    }
}
