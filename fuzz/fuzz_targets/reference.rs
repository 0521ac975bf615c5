//! `ImageRef::parse`: no panic; a parsed reference prints to a string that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::reference::ImageRef;

fuzz_target!(|input: &str| {
    if let Ok(r) = ImageRef::parse(input) {
        let _ = r.endpoint_host();
        let _ = r.manifest_reference();
        let _ = r.name();
        let _ = r.is_loopback_registry();
        let printed = r.to_string();
        let again = ImageRef::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} (from {input:?}) does not re-parse: {e}"));
        assert_eq!(again, r, "round trip of {input:?} through {printed:?}");
    }
});
