//! Which runtime version the probe predicts for: the node runtime's own (CRI `Version`), the
//! `--runtime-version` flag, or a stated default — never a silent guess. The rules that differ
//! between versions are looked up here ([`RuntimeVersion::host_rules`]); everything else the
//! probe does is common to containerd 1.6, 1.7 and 2.x.

use crate::endpoints::version_rules::HostRules;
use serde::Serialize;

/// The version assumed when no runtime answers and no flag is given: the oldest containerd
/// still common in fleets, whose rules the probe applied before it knew versions.
pub const DEFAULT: (u32, u32) = (1, 6);

/// A `--runtime-version` value that does not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not `containerd/MAJOR.MINOR[.PATCH]`.
    #[error(
        "invalid runtime version {input:?}: expected containerd/MAJOR.MINOR (e.g. containerd/2.1)"
    )]
    Flag {
        /// What was given.
        input: String,
    },
}

/// Where the version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionSource {
    /// The runtime's CRI `Version` answer.
    Runtime,
    /// `--runtime-version`.
    Flag,
    /// Neither: [`DEFAULT`].
    Default,
}

/// The runtime version the probe's rules are those of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeVersion {
    /// `containerd`, or what the runtime called itself.
    pub name: String,
    /// The version as reported (`1.7.24~ds1`, `v2.1.9`).
    pub version: String,
    /// Parsed major version (0 when the text has none).
    pub major: u32,
    /// Parsed minor version.
    pub minor: u32,
    /// Where it came from.
    pub source: VersionSource,
    /// What was assumed, when the version was unknown or not containerd's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn numbers(text: &str) -> Option<(u32, u32)> {
    let t = text.trim().trim_start_matches('v');
    let mut parts = t.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl RuntimeVersion {
    /// The default, saying so.
    pub fn default_assumed(why: &str) -> Self {
        RuntimeVersion {
            name: "containerd".into(),
            version: format!("{}.{}", DEFAULT.0, DEFAULT.1),
            major: DEFAULT.0,
            minor: DEFAULT.1,
            source: VersionSource::Default,
            note: Some(format!(
                "{why}: predicting with containerd {}.{}'s rules; pass --runtime-version containerd/2.1 (or the node's) to predict for another",
                DEFAULT.0, DEFAULT.1
            )),
        }
    }

    /// From the runtime's CRI `Version` (`runtime_name`, `runtime_version`). A version that
    /// does not parse, or a runtime other than containerd, falls back to [`DEFAULT`]'s rules
    /// with a note.
    pub fn from_runtime(name: &str, version: &str) -> Self {
        let clean = crate::bounded::clip(version, 64);
        let name_clean = crate::bounded::clip(name, 64);
        match (name == "containerd", numbers(version)) {
            (true, Some((major, minor))) if (1..=2).contains(&major) => RuntimeVersion {
                name: name_clean,
                version: clean,
                major,
                minor,
                source: VersionSource::Runtime,
                note: None,
            },
            (true, parsed) => RuntimeVersion {
                note: Some(format!(
                    "containerd reports version {clean:?}, {}: predicting with containerd {}.{}'s rules",
                    if parsed.is_some() { "a major version pullcheck has no rules for" } else { "which does not parse" },
                    DEFAULT.0,
                    DEFAULT.1
                )),
                source: VersionSource::Runtime,
                ..Self::fixed(name_clean, clean, DEFAULT)
            },
            (false, _) => RuntimeVersion {
                note: Some(format!(
                    "the runtime is {name_clean} {clean}, not containerd: the registry probe follows containerd {}.{}'s rules",
                    DEFAULT.0, DEFAULT.1
                )),
                source: VersionSource::Runtime,
                ..Self::fixed(name_clean, clean, DEFAULT)
            },
        }
    }

    fn fixed(name: String, version: String, (major, minor): (u32, u32)) -> Self {
        RuntimeVersion {
            name,
            version,
            major,
            minor,
            source: VersionSource::Default,
            note: None,
        }
    }

    /// `--runtime-version containerd/2.1`.
    pub fn from_flag(input: &str) -> Result<Self, Error> {
        let err = || Error::Flag {
            input: crate::bounded::clip(input, 64),
        };
        let (name, version) = input.split_once('/').ok_or_else(err)?;
        if name != "containerd" {
            return Err(err());
        }
        let (major, minor) = numbers(version)
            .filter(|(m, _)| (1..=2).contains(m))
            .ok_or_else(err)?;
        Ok(RuntimeVersion {
            name: name.into(),
            version: version.into(),
            major,
            minor,
            source: VersionSource::Flag,
            note: None,
        })
    }

    /// `containerd 2.1`, for notes.
    pub fn label(&self) -> String {
        format!("containerd {}.{}", self.major, self.minor)
    }

    /// The version the registry configuration is resolved for (assumed when it is the default).
    pub fn for_endpoints(&self) -> crate::endpoints::registry_config::ForVersion {
        crate::endpoints::registry_config::ForVersion {
            major: self.major,
            minor: self.minor,
            assumed: self.source == VersionSource::Default,
        }
    }

    /// How this version builds its host list from the configuration.
    pub fn host_rules(&self) -> HostRules {
        match (self.major, self.minor) {
            (1, m) if m < 7 => HostRules::Containerd16,
            (1, _) => HostRules::Containerd17,
            _ => HostRules::Containerd2,
        }
    }

    /// Whether the runtime's own messages name the resolve step `failed to resolve image`
    /// (2.x) rather than `failed to resolve reference` (1.x).
    pub fn says_resolve_image(&self) -> bool {
        self.major >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_runtimes_report_them_and_flags_give_them() {
        let v = RuntimeVersion::from_runtime("containerd", "1.6.20~ds1");
        assert_eq!(
            (v.major, v.minor, v.host_rules()),
            (1, 6, HostRules::Containerd16)
        );
        let v = RuntimeVersion::from_runtime("containerd", "1.7.24~ds1");
        assert_eq!(v.host_rules(), HostRules::Containerd17);
        let v = RuntimeVersion::from_runtime("containerd", "v2.1.9");
        assert_eq!((v.major, v.host_rules()), (2, HostRules::Containerd2));
        assert!(v.note.is_none());
        // Unknown, unparsable or foreign: the default's rules, said.
        for (name, version) in [
            ("containerd", "banana"),
            ("containerd", "9.0"),
            ("cri-o", "1.30.0"),
            ("containerd", ""),
        ] {
            let v = RuntimeVersion::from_runtime(name, version);
            assert_eq!((v.major, v.minor), DEFAULT, "{name} {version}");
            assert!(v.note.is_some(), "{name} {version}");
        }
        assert_eq!(
            RuntimeVersion::from_flag("containerd/2.1").unwrap().source,
            VersionSource::Flag
        );
        assert_eq!(
            RuntimeVersion::from_flag("containerd/1.7.24")
                .unwrap()
                .minor,
            7
        );
        for bad in ["2.1", "crio/1.30", "containerd/x", "containerd/3.0", ""] {
            assert!(RuntimeVersion::from_flag(bad).is_err(), "{bad}");
        }
        let d = RuntimeVersion::default_assumed("no runtime answered");
        assert!(d.note.unwrap().contains("--runtime-version"));
    }
}
