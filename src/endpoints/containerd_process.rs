//! The containerd daemon as `/proc` shows it: processes whose `comm` is `containerd`, and their
//! environment. A thin view over [`crate::procfs`], which the kubelet's view shares. See [`find`].

use std::io;
use std::path::Path;

pub use crate::procfs::{environ, parse_environ};

/// The pids of processes named `containerd`, lowest first (shims are `containerd-shim…`).
pub fn find(proc_root: &Path) -> io::Result<Vec<u32>> {
    crate::procfs::find_by_comm(proc_root, "containerd")
}

/// A fake /proc with (pid, comm, environ) entries, for tests.
#[cfg(test)]
pub(crate) use crate::procfs::fake_proc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_containerd_not_its_shims() {
        let p = fake_proc(&[
            (900, "containerd-shim", b""),
            (812, "containerd", b"A=1\0"),
            (77, "kubelet", b""),
            (1200, "containerd", b""),
        ]);
        assert_eq!(find(p.path()).unwrap(), [812, 1200]);
        assert!(find(Path::new("/nonexistent/proc")).is_err());
        assert_eq!(environ(p.path(), 812).unwrap(), [("A".into(), "1".into())]);
    }
}
