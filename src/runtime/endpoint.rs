//! Where the container runtime listens: `unix:///…` endpoints as the kubelet's
//! `--container-runtime-endpoint` writes them, and auto-detection of containerd and CRI-O.

use std::path::{Path, PathBuf};

/// Sockets tried, in order, when no endpoint is given (the kubelet's own defaults).
pub const KNOWN_SOCKETS: &[(&str, &str)] = &[
    ("containerd", "/run/containerd/containerd.sock"),
    ("cri-o", "/var/run/crio/crio.sock"),
];

/// Why an endpoint string is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not `unix:///absolute/path` (or an absolute path).
    #[error("invalid runtime endpoint {input:?}: {why} (expected unix:///path/to/socket)")]
    Invalid {
        /// What was given.
        input: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Auto-detection found no socket.
    #[error(
        "no container runtime socket found (tried {tried}); pass --runtime-endpoint unix:///…"
    )]
    NotFound {
        /// The paths tried.
        tried: String,
    },
}

/// A runtime endpoint: a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEndpoint {
    /// The socket path.
    pub path: PathBuf,
}

impl RuntimeEndpoint {
    /// Parses `unix:///path` (or a bare absolute path, as older kubelets accepted).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |why| Error::Invalid {
            input: input.to_string(),
            why,
        };
        let path = if let Some(rest) = input.strip_prefix("unix://") {
            rest
        } else if input.contains("://") {
            return Err(invalid("only unix sockets are supported"));
        } else {
            input
        };
        if path.is_empty() {
            return Err(invalid("empty socket path"));
        }
        if !path.starts_with('/') {
            return Err(invalid("the socket path must be absolute"));
        }
        Ok(Self {
            path: PathBuf::from(path),
        })
    }

    /// The first known socket that exists under `root` (`/` on a node; a host mount such as
    /// `/host` in a container).
    pub fn detect(root: &Path) -> Result<Self, Error> {
        for (_, path) in KNOWN_SOCKETS {
            let candidate = root.join(path.trim_start_matches('/'));
            if candidate.exists() {
                return Ok(Self { path: candidate });
            }
        }
        Err(Error::NotFound {
            tried: KNOWN_SOCKETS
                .iter()
                .map(|(_, p)| *p)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// `unix:///path`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_urls_and_bare_paths() {
        assert_eq!(
            RuntimeEndpoint::parse("unix:///run/containerd/containerd.sock")
                .unwrap()
                .path,
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            RuntimeEndpoint::parse("/var/run/crio/crio.sock")
                .unwrap()
                .url(),
            "unix:///var/run/crio/crio.sock"
        );
    }

    #[test]
    fn rejects_other_schemes_and_relative_paths() {
        for bad in [
            "tcp://127.0.0.1:1234",
            "unix://",
            "unix://relative.sock",
            "",
            "x.sock",
        ] {
            let e = RuntimeEndpoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid runtime endpoint"), "{bad}: {e}");
        }
    }

    #[test]
    fn detects_the_first_known_socket_under_a_root() {
        let root = tempfile::tempdir().unwrap();
        assert!(RuntimeEndpoint::detect(root.path())
            .unwrap_err()
            .to_string()
            .contains("/run/containerd/containerd.sock"));
        let crio = root.path().join("var/run/crio");
        std::fs::create_dir_all(&crio).unwrap();
        std::fs::write(crio.join("crio.sock"), "").unwrap();
        assert_eq!(
            RuntimeEndpoint::detect(root.path()).unwrap().path,
            crio.join("crio.sock")
        );
    }
}
