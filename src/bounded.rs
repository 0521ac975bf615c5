//! A map bounded in bytes, for everything a registry can make large: tokens, manifests, blob
//! answers, finished reports. Each entry carries its weight (the bytes it holds, as the caller
//! counts them, plus [`OVERHEAD`]) and an expiry; an insert that would pass the budget drops
//! expired entries first, then the soonest to expire, down to [`LOW_WATER`] of the budget so a
//! full map does not sort on every insert. An entry heavier than the whole budget is not kept.
//! Counting entries instead would let a registry fill the agent with one megabyte per entry.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Bytes counted for every entry on top of what the caller weighs: the map's slot, the
/// expiry and the allocator's share.
pub const OVERHEAD: usize = 96;
/// After an eviction the map holds at most this share of its budget, in percent.
pub const LOW_WATER: usize = 90;

struct Slot<V> {
    value: V,
    weight: usize,
    expires: Instant,
}

/// Key → value with a byte budget and per-entry expiry (and, optionally, an entry limit).
pub struct ByteMap<K, V> {
    map: HashMap<K, Slot<V>>,
    bytes: usize,
    budget: usize,
    max_entries: usize,
}

impl<K: Hash + Eq + Clone, V> ByteMap<K, V> {
    /// An empty map that holds at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self::with_max_entries(budget, usize::MAX)
    }

    /// An empty map that holds at most `budget` bytes and `max_entries` entries (at least one).
    pub fn with_max_entries(budget: usize, max_entries: usize) -> Self {
        ByteMap {
            map: HashMap::new(),
            bytes: 0,
            budget,
            max_entries: max_entries.max(1),
        }
    }

    /// The value for `key` if it has not expired at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.map
            .get(key)
            .filter(|s| s.expires > now)
            .map(|s| &s.value)
    }

    /// Keeps `value` until `expires`, counting `weight` bytes (plus [`OVERHEAD`]). Returns
    /// whether it was kept: an entry heavier than the budget is not.
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        weight: usize,
        expires: Instant,
        now: Instant,
    ) -> bool {
        self.remove(&key);
        let weight = weight.saturating_add(OVERHEAD);
        if weight > self.budget {
            return false;
        }
        if self.bytes.saturating_add(weight) > self.budget || self.map.len() >= self.max_entries {
            self.evict(weight, now);
        }
        self.bytes = self.bytes.saturating_add(weight);
        self.map.insert(
            key,
            Slot {
                value,
                weight,
                expires,
            },
        );
        true
    }

    /// Drops `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.map.remove(key)?;
        self.bytes = self.bytes.saturating_sub(slot.weight);
        Some(slot.value)
    }

    /// Makes room for `incoming` bytes and one entry: expired entries go, then the soonest to
    /// expire, until the map and the newcomer fit in [`LOW_WATER`] percent of the budget and
    /// the entry limit.
    fn evict(&mut self, incoming: usize, now: Instant) {
        let target = (self.budget / 100)
            .saturating_mul(LOW_WATER)
            .saturating_sub(incoming);
        let before = self.map.len();
        self.map.retain(|_, s| s.expires > now);
        if self.map.len() != before {
            self.bytes = self.map.values().map(|s| s.weight).sum();
        }
        let fits = |m: &Self| m.bytes <= target && m.map.len() < m.max_entries;
        if fits(self) {
            return;
        }
        let mut by_expiry: Vec<(Instant, K)> = self
            .map
            .iter()
            .map(|(k, s)| (s.expires, k.clone()))
            .collect();
        by_expiry.sort_by_key(|(e, _)| *e);
        for (_, k) in by_expiry {
            if fits(self) {
                break;
            }
            self.remove(&k);
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Entries held (expired ones until pushed out).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes held, as weighed.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

/// At most `max` bytes of `s`, cut on a char boundary and marked with `…` when cut: for text a
/// registry or a caller controls (OCI error messages, reasons the monitor keeps per target,
/// echoed input in error messages).
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Numbers as a hostile peer may write them, for the property tests of every parser of
/// registry numbers (token lifetimes, rate-limit figures, sizes): the integer and float
/// boundaries, signs, exponents, fractions, junk around digits, and pseudo-random values
/// across the whole `u64` range.
#[cfg(test)]
pub(crate) fn hostile_numbers() -> Vec<String> {
    let mut out: Vec<String> = [
        "0",
        "-0",
        "1",
        "-1",
        "0.5",
        "0.999999",
        "1.0",
        "1e0",
        "1e3",
        "1e19",
        "1e20",
        "1e300",
        "1e308",
        "-1e308",
        "1e-300",
        "4.9e-324",
        "1.7976931348623157e308",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "340282366920938463463374607431768211456",
        "00000000000000000000000000000000000001",
        "+5",
        " 7 ",
        "0x10",
        "1_000",
        "5s",
        "",
        "-",
        ".",
        "1.2.3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for shift in 0..64 {
        // splitmix64: deterministic, so a failure names its input and reproduces.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let v = z >> shift;
        out.push(v.to_string());
        out.push(format!("-{v}"));
        out.push(format!("{}.{}", v, z % 1000));
        out.push(format!("{v}e{}", shift * 5));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_budget_is_never_passed_and_expired_entries_go_first() {
        let now = Instant::now();
        let mut m = ByteMap::new(10_000);
        // One long-lived entry, then many short-lived ones that expire.
        assert!(m.insert(0u32, (), 1_000, now + Duration::from_secs(3600), now));
        for i in 1..50u32 {
            m.insert(i, (), 1_000, now + Duration::from_secs(1), now);
            assert!(m.bytes() <= m.budget());
        }
        let later = now + Duration::from_secs(2);
        m.insert(100, (), 1_000, later + Duration::from_secs(60), later);
        assert!(m.get(&0, later).is_some(), "the long-lived entry was kept");
        assert!(m.get(&100, later).is_some());
        assert!(m.bytes() <= m.budget());
    }

    #[test]
    fn the_soonest_to_expire_goes_when_nothing_has_expired() {
        let now = Instant::now();
        let mut m = ByteMap::new(3 * (1_000 + OVERHEAD));
        m.insert("soon", (), 1_000, now + Duration::from_secs(10), now);
        m.insert("late", (), 1_000, now + Duration::from_secs(100), now);
        m.insert("later", (), 1_000, now + Duration::from_secs(200), now);
        m.insert("new", (), 1_000, now + Duration::from_secs(50), now);
        assert!(m.get(&"soon", now).is_none());
        assert!(m.get(&"later", now).is_some());
        assert!(m.get(&"new", now).is_some());
    }

    #[test]
    fn an_entry_heavier_than_the_budget_is_refused_and_weights_do_not_overflow() {
        let now = Instant::now();
        let mut m = ByteMap::new(1_000);
        assert!(!m.insert(1, (), usize::MAX, now + Duration::from_secs(1), now));
        assert!(!m.insert(2, (), 1_000, now + Duration::from_secs(1), now));
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn the_entry_limit_holds_too() {
        let now = Instant::now();
        let mut m = ByteMap::with_max_entries(1 << 20, 3);
        for i in 0..10u64 {
            m.insert(i, (), 1, now + Duration::from_secs(i + 1), now);
            assert!(m.len() <= 3);
        }
        assert!(m.get(&9, now).is_some());
        assert!(m.get(&0, now).is_none());
    }

    #[test]
    fn replacing_a_key_does_not_count_it_twice() {
        let now = Instant::now();
        let mut m = ByteMap::new(100_000);
        for _ in 0..10 {
            m.insert("k", 1, 500, now + Duration::from_secs(5), now);
        }
        assert_eq!(m.len(), 1);
        assert_eq!(m.bytes(), 500 + OVERHEAD);
        assert_eq!(m.remove(&"k"), Some(1));
        assert_eq!(m.bytes(), 0);
    }
}
