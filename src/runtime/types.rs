//! pullcheck's own view of the runtime: what it is, its conditions, its image filesystem, and
//! the images it holds. Generated CRI types never leave [`crate::runtime`].

use serde::Serialize;
use std::path::Path;

/// Name, versions and conditions of the runtime.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeInfo {
    /// `containerd`, `cri-o`, …
    pub name: String,
    /// The runtime's version (e.g. `1.6.20~ds1`, `v2.1.4`).
    pub version: String,
    /// The CRI API version it serves (`v1`).
    pub api_version: String,
    /// RuntimeReady, NetworkReady, …
    pub conditions: Vec<Condition>,
}

/// One runtime condition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// RuntimeReady, NetworkReady.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub ok: bool,
    /// CamelCase reason when it does not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human message when it does not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The filesystem images are unpacked to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageFs {
    /// Mountpoint as the runtime reports it.
    pub mountpoint: String,
    /// Bytes used by images (from the runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// Filesystem size (statvfs of the mountpoint, when visible from here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// Bytes available to unprivileged writers (statvfs `f_bavail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    /// Why capacity is missing, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ImageFs {
    /// Adds capacity and free space by `statvfs` of the mountpoint.
    pub fn measure(mountpoint: String, used_bytes: Option<u64>) -> Self {
        let mut fs = Self {
            mountpoint,
            used_bytes,
            capacity_bytes: None,
            available_bytes: None,
            note: None,
        };
        if fs.mountpoint.is_empty() {
            fs.note = Some("the runtime reported no mountpoint".into());
            return fs;
        }
        match rustix::fs::statvfs(Path::new(&fs.mountpoint)) {
            Ok(st) => {
                fs.capacity_bytes = Some(st.f_blocks.saturating_mul(st.f_frsize));
                fs.available_bytes = Some(st.f_bavail.saturating_mul(st.f_frsize));
            }
            Err(e) => {
                fs.note = Some(format!(
                    "cannot measure {} from here: {e} (mount the host path to see free space)",
                    fs.mountpoint
                ))
            }
        }
        fs
    }
}

/// An image the runtime holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// Image ID (config digest).
    pub id: String,
    /// Tags it is known by.
    pub repo_tags: Vec<String>,
    /// Repository digests it is known by.
    pub repo_digests: Vec<String>,
    /// Unpacked size in bytes.
    pub size_bytes: u64,
    /// Exempt from image GC.
    pub pinned: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_visible_mountpoint() {
        let dir = tempfile::tempdir().unwrap();
        let fs = ImageFs::measure(dir.path().display().to_string(), Some(7));
        assert!(fs.capacity_bytes.unwrap() > 0);
        assert!(fs.available_bytes.unwrap() <= fs.capacity_bytes.unwrap());
        assert!(fs.note.is_none());
    }

    #[test]
    fn explains_an_invisible_mountpoint() {
        let fs = ImageFs::measure("/nonexistent/pullcheck/imagefs".into(), None);
        assert!(fs.capacity_bytes.is_none());
        assert!(fs
            .note
            .unwrap()
            .contains("cannot measure /nonexistent/pullcheck/imagefs"));
    }
}
