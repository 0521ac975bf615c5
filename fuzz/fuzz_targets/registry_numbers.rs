//! The numbers a registry sends: rate-limit headers (`name: value` lines) and a token reply
//! (`expires_in`). No panic, no overflow; text fields stay short; a token's lifetime stays
//! between 1 s and the cache's maximum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::probe::{ratelimit, token};
use std::time::Duration;

fuzz_target!(|text: &str| {
    let headers: Vec<(String, &str)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v))
        .collect();
    if let Some(rl) = ratelimit::from_headers(headers.iter().map(|(n, v)| (n.as_str(), *v))) {
        assert!(rl.source.as_ref().is_none_or(|s| s.chars().count() <= 128));
        assert!(rl.retry_after.as_ref().is_none_or(|s| s.chars().count() <= 64));
    }
    if let Ok(reply) = token::read_reply(text.as_bytes()) {
        assert!(reply.lifetime >= Duration::from_secs(1));
        assert!(reply.lifetime <= token::MAX_TOKEN_LIFETIME);
        assert!(reply.note.len() < 120);
    }
});
