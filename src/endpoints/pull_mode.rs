//! containerd's CRI pull path from 2.1 on, and the hosts directory each path reads. 2.1 made
//! the transfer service the default; the CRI falls back to the local pull when
//! `use_local_image_pull` is set or when a key the transfer service cannot honour is
//! (`CheckLocalImagePullConfigs`, checked in this order, the first match wins):
//! `disable_snapshot_annotations = false`, `discard_unpacked_layers = true`, `registry.mirrors`,
//! `registry.configs` (and `auths`, folded into them), `max_concurrent_downloads` other than 3,
//! `image_pull_with_sync_fs = true`. The two paths read `registry.config_path` differently: the
//! local pull splits it into roots (`filepath.SplitList`), the transfer service takes the whole
//! value as ONE directory (`HostDirFromRoot`, containerd#12808, open in 2.1.9, 2.2.10 and
//! 2.3.7), so a colon-separated list reads no hosts.toml at all: no mirror, no CA, no plain
//! HTTP. Since 2.2 an unset `config_path` (with no mirrors) is that list,
//! `/etc/containerd/certs.d:/etc/docker/certs.d`; in 2.1 it is empty (no hosts directory).
//! See [`decide`] and [`config_path`].

use super::containerd_config::PullKeys;
use super::hosts_dir::DEFAULT_ROOTS;
use super::legacy::Legacy;
use serde::Serialize;

/// How the CRI pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullMode {
    /// Through the transfer service (the default since 2.1).
    Transfer,
    /// The local (client) pull, as 1.x and 2.0 always do.
    Local,
}

/// The pull path of one containerd configuration, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullPath {
    /// The path.
    pub mode: PullMode,
    /// Why, naming the key and its line when one decided it.
    pub why: String,
}

/// Whether containerd MAJOR.MINOR chooses a pull path (2.1 and later).
pub fn chooses(major: u32, minor: u32) -> bool {
    (major, minor) >= (2, 1)
}

/// The path containerd 2.1+ takes with these keys and legacy registry settings.
pub fn decide(keys: &PullKeys, legacy: &Legacy) -> PullPath {
    let local = |why: String| PullPath {
        mode: PullMode::Local,
        why,
    };
    if let Some((true, line)) = keys.use_local_image_pull {
        return local(format!("use_local_image_pull = true (line {line})"));
    }
    let fallback = |what: String| {
        local(format!(
            "{what}, which the transfer service cannot honour: containerd falls back to the local pull \
             (its log: \"Falling back to local image pull mode\")"
        ))
    };
    if let Some((false, line)) = keys.disable_snapshot_annotations {
        return fallback(format!(
            "disable_snapshot_annotations = false (line {line})"
        ));
    }
    if let Some((true, line)) = keys.discard_unpacked_layers {
        return fallback(format!("discard_unpacked_layers = true (line {line})"));
    }
    if !legacy.mirrors.is_empty() {
        return fallback("registry.mirrors is set".into());
    }
    if !legacy.configs.is_empty() {
        return fallback("registry.configs (or auths) is set".into());
    }
    if let Some((n, line)) = keys.max_concurrent_downloads.filter(|(n, _)| *n != 3) {
        return fallback(format!("max_concurrent_downloads = {n} (line {line})"));
    }
    if let Some((true, line)) = keys.image_pull_with_sync_fs {
        return fallback(format!("image_pull_with_sync_fs = true (line {line})"));
    }
    PullPath {
        mode: PullMode::Transfer,
        why: "the transfer service, containerd's default since 2.1 (no key forces the local pull)"
            .into(),
    }
}

/// The `config_path` containerd 2.MINOR runs with: the one set, else (since 2.2, when no
/// mirror is set) the colon-separated default; `None`: no hosts directory.
pub fn config_path(minor: u32, set: Option<&str>, legacy: &Legacy) -> Option<String> {
    match set {
        Some(p) => Some(p.to_string()),
        None if minor >= 2 && legacy.mirrors.is_empty() => Some(DEFAULT_ROOTS.join(":")),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::legacy::{HostConfig, MirrorEndpoint};

    fn keys() -> PullKeys {
        PullKeys::default()
    }

    #[test]
    fn the_transfer_service_unless_a_key_forces_the_local_pull() {
        let none = Legacy::default();
        assert_eq!(decide(&keys(), &none).mode, PullMode::Transfer);
        // Set to their defaults, the keys change nothing.
        let defaults = PullKeys {
            disable_snapshot_annotations: Some((true, 4)),
            discard_unpacked_layers: Some((false, 5)),
            max_concurrent_downloads: Some((3, 6)),
            image_pull_with_sync_fs: Some((false, 7)),
            use_local_image_pull: Some((false, 8)),
        };
        assert_eq!(decide(&defaults, &none).mode, PullMode::Transfer);
        for (k, needle) in [
            (
                PullKeys {
                    use_local_image_pull: Some((true, 3)),
                    ..keys()
                },
                "use_local_image_pull = true (line 3)",
            ),
            (
                PullKeys {
                    disable_snapshot_annotations: Some((false, 9)),
                    ..keys()
                },
                "disable_snapshot_annotations = false (line 9)",
            ),
            (
                PullKeys {
                    discard_unpacked_layers: Some((true, 2)),
                    ..keys()
                },
                "discard_unpacked_layers = true (line 2)",
            ),
            (
                PullKeys {
                    max_concurrent_downloads: Some((0, 11)),
                    ..keys()
                },
                "max_concurrent_downloads = 0 (line 11)",
            ),
            (
                PullKeys {
                    image_pull_with_sync_fs: Some((true, 12)),
                    ..keys()
                },
                "image_pull_with_sync_fs = true (line 12)",
            ),
        ] {
            let p = decide(&k, &none);
            assert_eq!(p.mode, PullMode::Local, "{k:?}");
            assert!(p.why.contains(needle), "{}", p.why);
        }
    }

    #[test]
    fn legacy_mirrors_and_configs_force_the_local_pull() {
        let mut mirrors = Legacy::default();
        mirrors.mirrors.insert(
            "docker.io".into(),
            vec![MirrorEndpoint {
                url: "https://mirror.example".into(),
                line: 4,
            }],
        );
        assert!(decide(&keys(), &mirrors).why.contains("registry.mirrors"));
        let mut configs = Legacy::default();
        configs
            .configs
            .insert("r.example".into(), HostConfig::default());
        assert!(decide(&keys(), &configs).why.contains("registry.configs"));
        // The first trigger in containerd's order decides the reason.
        let both = PullKeys {
            discard_unpacked_layers: Some((true, 2)),
            ..keys()
        };
        assert!(decide(&both, &mirrors)
            .why
            .contains("discard_unpacked_layers"));
    }

    #[test]
    fn the_default_config_path_by_minor() {
        let none = Legacy::default();
        assert_eq!(config_path(1, None, &none), None);
        assert_eq!(
            config_path(2, None, &none).as_deref(),
            Some("/etc/containerd/certs.d:/etc/docker/certs.d")
        );
        assert_eq!(config_path(3, Some("/x"), &none).as_deref(), Some("/x"));
        assert!(chooses(2, 1) && chooses(2, 3) && !chooses(2, 0) && !chooses(1, 7));
    }
}
