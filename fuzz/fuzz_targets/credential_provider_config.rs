//! The kubelet's `CredentialProviderConfig` (YAML or JSON): no panic in decoding or in
//! validating what decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::identity::credential_provider::{config::ProviderConfig, validate};
use std::path::PathBuf;

fuzz_target!(|bytes: &[u8]| {
    match ProviderConfig::decode_one("fuzz.yaml", bytes) {
        Ok(providers) => {
            let config = ProviderConfig {
                path: PathBuf::from("fuzz.yaml"),
                files: vec!["fuzz.yaml".into()],
                providers,
            };
            let _ = validate::validate(&config);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
