//! Rate-limit figures by registry host ([`RateLimitBoard`]): the last figures each registry
//! sent, recorded from every finished probe, for `/v1/node`. At most [`MAX_REGISTRIES`] hosts
//! are remembered, so a caller naming many registries cannot grow it without bound.

use crate::diagnose::Diagnosed;
use crate::probe::ratelimit::RateLimit;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Registries remembered by [`RateLimitBoard`].
pub const MAX_REGISTRIES: usize = 256;

/// The last rate-limit figures one registry sent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenRateLimit {
    /// The host that sent them (registry or mirror URL).
    pub registry: String,
    /// The figures.
    pub rate_limit: RateLimit,
    /// The image being probed then.
    pub image: String,
    /// When, seconds since the Unix epoch.
    pub seen_at: u64,
}

/// Rate-limit figures by registry host, from every finished probe.
#[derive(Debug, Default)]
pub struct RateLimitBoard {
    map: Mutex<HashMap<String, SeenRateLimit>>,
}

impl RateLimitBoard {
    /// Records the figures of every attempt of a diagnosis that carried any.
    pub fn record(&self, d: &Diagnosed) {
        let report = &d.report;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for (a, evidence) in report.attempts.iter().zip(&d.evidence) {
            let Some(rl) = &evidence.rate_limit else {
                continue;
            };
            if map.len() >= MAX_REGISTRIES && !map.contains_key(&a.host) {
                continue;
            }
            map.insert(
                a.host.clone(),
                SeenRateLimit {
                    registry: a.host.clone(),
                    rate_limit: rl.clone(),
                    image: report.image.clone(),
                    seen_at: now,
                },
            );
        }
    }

    /// Everything seen, by registry.
    pub fn all(&self) -> Vec<SeenRateLimit> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.values().cloned().collect();
        v.sort_by(|a, b| a.registry.cmp(&b.registry));
        v
    }
}
