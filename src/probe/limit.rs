//! How long one exchange may take ([`Limit`]): its own step limit and the whole probe's
//! deadline, whichever ends first. `--timeout` (the agent's `timeout`) bounds a whole probe —
//! every host, credential, redirect hop, token round and layer check together — so a registry
//! that answers each step just in time cannot hold a probe (and an agent's slot) for the sum
//! of them. Each redirect hop gets what is left of its request's limit, not a limit of its own.

use std::time::{Duration, Instant};

/// The time limits one exchange runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The most one request (all its redirect hops) may take.
    pub step: Duration,
    /// When the whole probe must be done, if it has a deadline.
    pub until: Option<Instant>,
}

/// Why a hop gets no time at all.
pub const DEADLINE_PASSED: &str =
    "not sent: the probe's time limit (--timeout) had run out before this step";
/// What a hop cut by the probe's deadline says.
pub const DEADLINE_CUT: &str =
    "timed out: the probe's time limit (--timeout) ran out during this step (every step of a probe shares it)";

impl Limit {
    /// A step limit alone (no probe deadline).
    pub fn step(step: Duration) -> Self {
        Limit { step, until: None }
    }

    /// The time a hop of a request begun at `begun` may take now; `None` when nothing is left.
    pub fn for_hop(&self, begun: Instant) -> Option<Duration> {
        let now = Instant::now();
        let step_left = self
            .step
            .checked_sub(now.saturating_duration_since(begun))?;
        let left = match self.until {
            Some(until) => step_left.min(until.checked_duration_since(now)?),
            None => step_left,
        };
        (!left.is_zero()).then_some(left)
    }

    /// Whether the probe's deadline (not the step's own limit) has passed.
    pub fn deadline_passed(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() >= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_gets_what_is_left_of_the_step_and_the_probe() {
        let begun = Instant::now();
        let plain = Limit::step(Duration::from_secs(10));
        assert!(plain.for_hop(begun).unwrap() <= Duration::from_secs(10));
        assert!(!plain.deadline_passed());
        // The probe's deadline is nearer than the step's own limit: it decides.
        let near = Limit {
            step: Duration::from_secs(10),
            until: Some(begun + Duration::from_millis(50)),
        };
        assert!(near.for_hop(begun).unwrap() <= Duration::from_millis(50));
        // A step begun long ago has nothing left, whatever the deadline.
        let old = begun.checked_sub(Duration::from_secs(20)).unwrap_or(begun);
        if old < begun {
            assert_eq!(plain.for_hop(old), None);
        }
        // A deadline in the past leaves nothing, and says so.
        let gone = Limit {
            step: Duration::from_secs(10),
            until: Some(begun),
        };
        assert_eq!(gone.for_hop(begun), None);
        assert!(gone.deadline_passed());
    }
}
