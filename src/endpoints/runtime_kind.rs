//! Which runtime pulls on this node — containerd or CRI-O — and so whose registry
//! configuration the probe follows (containerd's `hosts.toml`, or containers/image's
//! `registries.conf`): `--runtime-kind`, else the CRI `Version` name, else the socket found.

use serde::Serialize;
use std::path::Path;

/// A runtime whose pull path pullcheck models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// containerd (`hosts.toml`, `config.toml`).
    Containerd,
    /// CRI-O (containers/image: `registries.conf`, `certs.d`).
    Crio,
}

/// A `--runtime-kind` value that is not one.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not `containerd` or `crio`.
    #[error("invalid runtime kind {0:?}: expected containerd or crio")]
    Flag(String),
}

/// How the kind was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KindSource {
    /// `--runtime-kind`.
    Flag,
    /// The runtime's CRI `Version` name.
    Runtime,
    /// The CRI socket's path.
    Socket,
    /// Nothing said: containerd.
    Default,
}

/// The kind and how it was chosen, as the report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chosen {
    /// The kind.
    pub kind: RuntimeKind,
    /// Where it came from.
    pub source: KindSource,
}

impl RuntimeKind {
    /// Parses `--runtime-kind`.
    pub fn from_flag(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "containerd" => Ok(RuntimeKind::Containerd),
            "crio" | "cri-o" => Ok(RuntimeKind::Crio),
            _ => Err(Error::Flag(crate::bounded::clip(s, 64))),
        }
    }

    /// The name of a CRI `Version` answer (`cri-o`, `containerd`), if it is one of these.
    pub fn from_runtime_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "containerd" => Some(RuntimeKind::Containerd),
            "cri-o" | "crio" => Some(RuntimeKind::Crio),
            _ => None,
        }
    }

    /// The kind a CRI socket's path suggests (`/var/run/crio/crio.sock`).
    pub fn from_socket(path: &Path) -> Option<Self> {
        let p = path.to_string_lossy();
        if p.contains("crio") {
            Some(RuntimeKind::Crio)
        } else if p.contains("containerd") {
            Some(RuntimeKind::Containerd)
        } else {
            None
        }
    }

    /// The flag's, else the runtime's own name, else the socket's, else containerd.
    pub fn choose(flag: Option<Self>, runtime_name: Option<&str>, socket: Option<&Path>) -> Chosen {
        let (kind, source) = if let Some(k) = flag {
            (k, KindSource::Flag)
        } else if let Some(k) = runtime_name.and_then(Self::from_runtime_name) {
            (k, KindSource::Runtime)
        } else if let Some(k) = socket.and_then(Self::from_socket) {
            (k, KindSource::Socket)
        } else {
            (RuntimeKind::Containerd, KindSource::Default)
        };
        Chosen { kind, source }
    }

    /// `containerd` or `crio`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Containerd => "containerd",
            RuntimeKind::Crio => "crio",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_then_the_runtime_then_the_socket() {
        let sock = Path::new("/var/run/crio/crio.sock");
        let c = RuntimeKind::choose(Some(RuntimeKind::Containerd), Some("cri-o"), Some(sock));
        assert_eq!(
            (c.kind, c.source),
            (RuntimeKind::Containerd, KindSource::Flag)
        );
        let c = RuntimeKind::choose(None, Some("cri-o"), None);
        assert_eq!((c.kind, c.source), (RuntimeKind::Crio, KindSource::Runtime));
        let c = RuntimeKind::choose(None, Some("something"), Some(sock));
        assert_eq!((c.kind, c.source), (RuntimeKind::Crio, KindSource::Socket));
        let c = RuntimeKind::choose(None, None, None);
        assert_eq!(
            (c.kind, c.source),
            (RuntimeKind::Containerd, KindSource::Default)
        );
        assert!(RuntimeKind::from_flag("podman").is_err());
        assert_eq!(RuntimeKind::from_flag("CRI-O"), Ok(RuntimeKind::Crio));
    }
}
