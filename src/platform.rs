//! Platforms (`os/arch[/variant]`) normalised and matched the way containerd's `platforms`
//! package does: aarch64→arm64, arm64/v8→arm64, x86_64→amd64, and `Only()` fallbacks.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An OS/architecture/variant triple, always kept normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system (`linux`, `windows`).
    pub os: String,
    /// Architecture (`amd64`, `arm64`, `arm`, …).
    pub architecture: String,
    /// Variant (`v7`); empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// Why a platform string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {input:?}: expected os/arch[/variant], e.g. linux/arm64")]
pub struct Error {
    /// The text given.
    pub input: String,
}

impl Platform {
    /// Builds a normalised platform.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        let os = os.to_ascii_lowercase();
        let os = if os == "macos" {
            "darwin".to_string()
        } else {
            os
        };
        let (architecture, variant) = normalize_arch(
            &architecture.to_ascii_lowercase(),
            &variant.to_ascii_lowercase(),
        );
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform::new(os, arch, "")),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => {
                Ok(Platform::new(os, arch, variant))
            }
            _ => Err(Error {
                input: s.to_string(),
            }),
        }
    }

    /// This machine's platform, as containerd's `platforms.DefaultSpec()` would report it.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform::new(std::env::consts::OS, arch, variant)
    }

    /// The platforms a node of this platform accepts, best first (containerd `Only`).
    pub fn accepted(&self) -> Vec<Platform> {
        let mut out = vec![self.clone()];
        let with = |arch: &str, variant: &str| Platform {
            os: self.os.clone(),
            architecture: arch.into(),
            variant: variant.into(),
        };
        match self.architecture.as_str() {
            "amd64" => {
                if let Some(level) = self
                    .variant
                    .strip_prefix('v')
                    .and_then(|v| v.parse::<u32>().ok())
                {
                    for l in (1..level).rev() {
                        let variant = if l == 1 {
                            String::new()
                        } else {
                            format!("v{l}")
                        };
                        out.push(with("amd64", &variant));
                    }
                }
                if self.os != "windows" {
                    out.push(with("386", ""));
                }
            }
            "arm" => {
                if let Some(level) = self
                    .variant
                    .strip_prefix('v')
                    .and_then(|v| v.parse::<u32>().ok())
                {
                    for l in (5..level).rev() {
                        out.push(with("arm", &format!("v{l}")));
                    }
                }
            }
            "arm64" => {
                for l in (5..=8).rev() {
                    out.push(with("arm", &format!("v{l}")));
                }
            }
            _ => {}
        }
        out
    }

    /// Whether a node of this platform can run `candidate` (OS, architecture and variant equal to
    /// one of [`Platform::accepted`]).
    pub fn accepts(&self, candidate: &Platform) -> bool {
        self.accepted().iter().any(|p| p == candidate)
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v): (&str, &str) = match (arch, variant) {
        ("i386", _) => ("386", ""),
        ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64", ""),
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64" | "arm64", "8" | "v8" | "v8.0") => ("arm64", ""),
        ("aarch64", v) => ("arm64", v),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "" | "7") => ("arm", "v7"),
        ("arm", "5" | "6" | "8") => (
            "arm",
            match variant {
                "5" => "v5",
                "6" => "v6",
                _ => "v8",
            },
        ),
        (a, v) => (a, v),
    };
    (a.to_string(), v.to_string())
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_containerd() {
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/armhf").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("Linux/AMD64").unwrap().to_string(),
            "linux/amd64"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn matching_uses_only_fallbacks() {
        let amd = Platform::parse("linux/amd64").unwrap();
        assert!(amd.accepts(&Platform::parse("linux/386").unwrap()));
        assert!(!amd.accepts(&Platform::parse("linux/arm64").unwrap()));
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.accepts(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(arm64.accepts(&Platform::parse("linux/arm/v7").unwrap()));
        assert!(!arm64.accepts(&Platform::parse("linux/amd64").unwrap()));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.accepts(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(!v7.accepts(&Platform::parse("linux/arm/v8").unwrap()));
        assert!(!amd.accepts(&Platform::parse("windows/amd64").unwrap()));
    }

    #[test]
    fn host_is_normalised() {
        let h = Platform::host();
        assert!(!h.architecture.contains("x86_64") && !h.architecture.contains("aarch64"));
    }
}
