//! Which cloud the node runs on, decided once: from `--cloud` when given, else from the
//! machine's DMI strings (`/sys/class/dmi/id/sys_vendor` and `product_name`, the firmware's own
//! words, readable without privileges and the same inside a container). Only that cloud's
//! metadata service is asked for a node identity: off EC2 the EKS identity says "not an EC2
//! instance" instead of an IMDS error, and on GCE or Azure no IMDSv2 `PUT` is sent to their
//! metadata servers at the same address. Without readable DMI (some sandboxes, unusual
//! hypervisors) every identity is asked, as before, and the report says why.

use serde::Serialize;
use std::fmt;
use std::path::Path;

/// Where the DMI strings are on Linux.
pub const DMI_DIR: &str = "/sys/class/dmi/id";

/// A `--cloud` value that is not one of the choices.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not auto, aws, gcp, azure or other.
    #[error("invalid cloud {input:?}: expected auto, aws, gcp, azure or other")]
    Choice {
        /// What was given.
        input: String,
    },
}

/// The node's cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cloud", rename_all = "camelCase")]
pub enum Cloud {
    /// Amazon EC2 (EKS).
    Aws {
        /// What said so.
        from: String,
    },
    /// Google Compute Engine (GKE).
    Gcp {
        /// What said so.
        from: String,
    },
    /// Microsoft Azure (AKS).
    Azure {
        /// What said so.
        from: String,
    },
    /// Another machine: no built-in identity applies.
    Other {
        /// What said so.
        from: String,
    },
    /// Not known: every built-in identity is asked.
    Unknown {
        /// Why not.
        why: String,
    },
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cloud::Aws { from } => write!(f, "Amazon EC2 ({from})"),
            Cloud::Gcp { from } => write!(f, "Google Compute Engine ({from})"),
            Cloud::Azure { from } => write!(f, "Microsoft Azure ({from})"),
            Cloud::Other { from } => write!(f, "not a cloud pullcheck has identities for ({from})"),
            Cloud::Unknown { why } => write!(f, "unknown ({why})"),
        }
    }
}

fn read_dmi(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    let bytes = crate::nodefile::read(&path, 4096).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    (!text.is_empty()).then(|| crate::bounded::clip(&text, 128))
}

/// From the DMI strings under `dir` (normally [`DMI_DIR`]).
pub fn detect(dir: &Path) -> Cloud {
    let vendor = read_dmi(dir, "sys_vendor");
    let product = read_dmi(dir, "product_name");
    let (Some(v), p) = (vendor.clone(), product.clone()) else {
        return Cloud::Unknown {
            why: format!("no DMI sys_vendor under {}", dir.display()),
        };
    };
    let p = p.unwrap_or_default();
    let from = format!("DMI sys_vendor {v:?}, product_name {p:?}");
    // EC2 Nitro instances say "Amazon EC2"; older Xen ones say "Xen", with "amazon" in the
    // BIOS version. Another Xen host cannot be told apart: unknown, so IMDS is still asked.
    if v.starts_with("Amazon EC2") {
        Cloud::Aws { from }
    } else if v == "Xen" {
        match read_dmi(dir, "bios_version") {
            Some(b) if b.to_ascii_lowercase().contains("amazon") => Cloud::Aws {
                from: format!("{from}, bios_version {b:?}"),
            },
            _ => Cloud::Unknown {
                why: format!("{from}: a Xen guest, EC2 or not"),
            },
        }
    } else if v == "Google" || p == "Google Compute Engine" {
        Cloud::Gcp { from }
    } else if v == "Microsoft Corporation" && p == "Virtual Machine" {
        Cloud::Azure { from }
    } else {
        Cloud::Other { from }
    }
}

/// `--cloud`: `auto` detects, the others force.
pub fn choose(flag: &str, dir: &Path) -> Result<Cloud, Error> {
    let forced = |s: &str| format!("--cloud {s}");
    match flag.trim() {
        "auto" | "" => Ok(detect(dir)),
        "aws" => Ok(Cloud::Aws {
            from: forced("aws"),
        }),
        "gcp" => Ok(Cloud::Gcp {
            from: forced("gcp"),
        }),
        "azure" => Ok(Cloud::Azure {
            from: forced("azure"),
        }),
        "other" => Ok(Cloud::Other {
            from: forced("other"),
        }),
        other => Err(Error::Choice {
            input: crate::bounded::clip(other, 32),
        }),
    }
}

impl Cloud {
    /// Whether the EKS identity (IMDS) may be asked.
    pub fn may_ask_aws(&self) -> bool {
        matches!(self, Cloud::Aws { .. } | Cloud::Unknown { .. })
    }

    /// Whether the GKE identity (GCE metadata) may be asked.
    pub fn may_ask_gcp(&self) -> bool {
        matches!(self, Cloud::Gcp { .. } | Cloud::Unknown { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dmi(vendor: &str, product: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("sys_vendor"), format!("{vendor}\n")).unwrap();
        std::fs::write(d.path().join("product_name"), format!("{product}\n")).unwrap();
        d
    }

    #[test]
    fn each_cloud_by_its_firmware_strings() {
        for (vendor, product, aws, gcp) in [
            ("Amazon EC2", "m6i.large", true, false),
            ("Google", "Google Compute Engine", false, true),
            ("Microsoft Corporation", "Virtual Machine", false, false),
            ("QEMU", "Standard PC (Q35 + ICH9, 2009)", false, false),
        ] {
            let d = dmi(vendor, product);
            let c = detect(d.path());
            assert_eq!((c.may_ask_aws(), c.may_ask_gcp()), (aws, gcp), "{c}");
        }
        let d = dmi("Microsoft Corporation", "Virtual Machine");
        assert!(matches!(detect(d.path()), Cloud::Azure { .. }));
        // No DMI: unknown, every identity asked.
        let empty = tempfile::tempdir().unwrap();
        let c = detect(empty.path());
        assert!(c.may_ask_aws() && c.may_ask_gcp(), "{c}");
        assert!(c.to_string().contains("no DMI"));
        // Forced, and refused.
        assert!(matches!(choose("gcp", empty.path()), Ok(Cloud::Gcp { .. })));
        assert!(choose("ec2", empty.path()).is_err());
    }
}
