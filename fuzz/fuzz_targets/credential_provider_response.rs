//! A kubelet credential-provider plugin's stdout (`CredentialProviderResponse`): no panic.
//! The first byte picks the expected apiVersion; the rest is the plugin's output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::identity::credential_provider::{config::PLUGIN_API_VERSIONS, run};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stdout)) = data.split_first() else {
        return;
    };
    let api_version = PLUGIN_API_VERSIONS[selector as usize % PLUGIN_API_VERSIONS.len()];
    match run::parse_response(stdout, api_version) {
        Ok(r) => {
            let _ = format!("{r:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
