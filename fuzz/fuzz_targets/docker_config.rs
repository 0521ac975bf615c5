//! Docker config JSON (`config.json`, `.dockerconfigjson`, legacy `.dockercfg`): no panic in
//! `parse` (both formats), `parse_sniffed` or `decode_auth`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::identity::docker_config::{self, Format};

fuzz_target!(|bytes: &[u8]| {
    let _ = docker_config::parse("fuzz/config.json", bytes, Format::ConfigJson);
    let _ = docker_config::parse("fuzz/.dockercfg", bytes, Format::Dockercfg);
    if let Ok(c) = docker_config::parse_sniffed("fuzz/config.json", bytes) {
        let _ = format!("{c:?}");
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = docker_config::decode_auth(s);
    }
});
