//! containerd `hosts.toml`: no panic (error positions are computed from byte offsets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::endpoints::hosts_toml;
use std::path::Path;

fuzz_target!(|text: &str| {
    let file = Path::new("/etc/containerd/certs.d/registry.example:5000/hosts.toml");
    if let Ok(h) = hosts_toml::parse(text, file, "registry.example:5000") {
        let _ = format!("{h:?}");
    }
    if let Err(e) = hosts_toml::parse(text, file, "docker.io") {
        let _ = e.to_string();
    }
});
