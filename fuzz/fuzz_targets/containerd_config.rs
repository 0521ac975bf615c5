//! containerd `config.toml`: no panic (versions 1–3, CRI registry sections, error positions).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::endpoints::containerd_config;
use std::path::Path;

fuzz_target!(|text: &str| {
    match containerd_config::parse(text, Path::new(containerd_config::DEFAULT_PATH)) {
        Ok(c) => {
            let _ = format!("{c:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
