//! `WWW-Authenticate` parsing: no panic; the scheme is non-empty and lower-case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::probe::challenge;

fuzz_target!(|value: &str| {
    if let Some(c) = challenge::parse(value) {
        assert!(!c.scheme.is_empty());
        assert_eq!(c.scheme, c.scheme.to_lowercase());
        let _ = c.is_bearer();
    }
});
