//! Manifests, indexes and image configs: no panic in `parse`, `config_platform`, `verify_digest`
//! or `select`. The first byte picks the Content-Type; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::probe::manifest;

const TYPES: [&str; 8] = [
    manifest::OCI_INDEX,
    manifest::OCI_MANIFEST,
    manifest::DOCKER_LIST,
    manifest::DOCKER_MANIFEST,
    manifest::DOCKER_SCHEMA1_SIGNED,
    "",
    "application/json; charset=utf-8",
    "text/html",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = TYPES[selector as usize % TYPES.len()];
    let _ = manifest::parse(content_type, body);
    if let Ok(platform) = manifest::config_platform(body) {
        let _ = manifest::select(&platform, &[Some(platform.clone()), None]);
    }
    let digest = manifest::sha256(body);
    assert_eq!(manifest::verify_digest(body, &digest).ok(), Some(digest));
    if let Ok(s) = std::str::from_utf8(body) {
        let _ = manifest::verify_digest(b"", s);
    }
});
