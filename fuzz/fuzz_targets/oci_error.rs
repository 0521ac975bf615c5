//! OCI error envelopes: no panic; `truncate` never exceeds its bound by more than the ellipsis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::probe::oci_error;

fuzz_target!(|body: &[u8]| {
    if let Some(errors) = oci_error::parse(body) {
        for e in &errors {
            let _ = format!("{e:?}");
        }
    }
    if let Ok(s) = std::str::from_utf8(body) {
        for max in [0, 1, 7, 80] {
            let t = oci_error::truncate(s, max);
            assert!(t.chars().count() <= s.chars().count().max(max + 1));
        }
    }
});
