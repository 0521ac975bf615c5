//! `--host-root DIR`: answer for the node whose root filesystem is mounted at DIR, as
//! `kubectl debug node/NAME` mounts it at `/host`. The process changes its root to DIR
//! (chroot, then `/` as its working directory) before reading anything, so every path —
//! containerd's or CRI-O's files, the kubelet's, the trust store, `/etc/resolv.conf`, `/proc`
//! (the host's with the debug pod's hostPID), the CRI socket, the credential plugins the kubelet
//! runs — is the node's, exactly as the node's own runtime sees it. Paths given as flags are the
//! node's paths too. It needs CAP_SYS_CHROOT (root in a container has it by default).

use std::path::Path;

/// Why the switch failed, named with the directory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// DIR is not a directory holding a root filesystem.
    #[error("--host-root {0}: not a node's root filesystem (no {0}/etc): with kubectl debug node/NAME it is /host")]
    NotRoot(String),
    /// chroot or chdir failed.
    #[error("--host-root {path}: cannot switch to it: {source} (run as root: chroot needs CAP_SYS_CHROOT)")]
    Switch {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Makes `dir` this process's root directory.
pub(crate) fn enter(dir: &Path) -> Result<(), Error> {
    let shown = dir.display().to_string();
    if !dir.join("etc").is_dir() {
        return Err(Error::NotRoot(shown));
    }
    std::os::unix::fs::chroot(dir)
        .and_then(|()| std::env::set_current_dir("/"))
        .map_err(|source| Error::Switch {
            path: shown,
            source,
        })
}
