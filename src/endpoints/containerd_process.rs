//! The containerd daemon as `/proc` shows it: processes whose `comm` is `containerd`, their
//! environment, and the config file their command line names ([`config_flag`]). A thin view
//! over [`crate::procfs`], which the kubelet's view shares. See [`find`].

use std::io;
use std::path::{Path, PathBuf};

pub use crate::procfs::{environ, parse_environ};

/// The pids of processes named `containerd`, lowest first (shims are `containerd-shim…`).
pub fn find(proc_root: &Path) -> io::Result<Vec<u32>> {
    crate::procfs::find_by_comm(proc_root, "containerd")
}

/// The config file containerd `pid` was started with: the last `--config`/`-c` on its command
/// line in any of the forms Go's flag parsing takes (`-c X`, `--config X`, `-config=X`,
/// `--config=X`, …), resolved against its working directory as containerd opens it. `None`
/// without the flag (containerd then reads /etc/containerd/config.toml) or when the command
/// line cannot be read.
pub fn config_flag(proc_root: &Path, pid: u32) -> Option<PathBuf> {
    let args = crate::procfs::cmdline(proc_root, pid).ok()?;
    let mut found = None;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        match flag.split_once('=') {
            Some(("config" | "c", value)) => found = Some(value.to_string()),
            None if matches!(flag, "config" | "c") => found = rest.next().cloned(),
            _ => {}
        }
    }
    let path = PathBuf::from(found?);
    if path.is_absolute() {
        Some(path)
    } else {
        Some(crate::procfs::cwd(proc_root, pid).ok()?.join(path))
    }
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

    fn with_cmdline(args: &[&str], cwd: Option<&Path>) -> (tempfile::TempDir, u32) {
        let p = crate::procfs::fake_proc_full(&[crate::procfs::FakeProcess {
            pid: 812,
            comm: "containerd",
            cmdline: args,
            cwd,
            ..Default::default()
        }]);
        (p, 812)
    }

    #[test]
    fn the_config_flag_in_every_form_go_reads() {
        for (args, want) in [
            (
                &["containerd", "--config", "/k3s/config.toml"][..],
                "/k3s/config.toml",
            ),
            (&["containerd", "-c", "/a.toml"][..], "/a.toml"),
            (&["containerd", "--config=/b.toml"][..], "/b.toml"),
            (
                &["containerd", "-config=/c.toml", "--log-level", "debug"][..],
                "/c.toml",
            ),
            (
                &["containerd", "-c", "/first.toml", "-c=/last.toml"][..],
                "/last.toml",
            ),
        ] {
            let (p, pid) = with_cmdline(args, None);
            assert_eq!(
                config_flag(p.path(), pid),
                Some(PathBuf::from(want)),
                "{args:?}"
            );
        }
        let (p, pid) = with_cmdline(&["containerd", "--log-level", "debug"], None);
        assert_eq!(config_flag(p.path(), pid), None);
        // A dangling `--config` names nothing.
        let (p, pid) = with_cmdline(&["containerd", "--config"], None);
        assert_eq!(config_flag(p.path(), pid), None);
    }

    #[test]
    fn a_relative_config_is_read_from_containerds_working_directory() {
        let (p, pid) = with_cmdline(
            &["containerd", "-c", "etc/config.toml"],
            Some(Path::new("/srv/node")),
        );
        assert_eq!(
            config_flag(p.path(), pid),
            Some(PathBuf::from("/srv/node/etc/config.toml"))
        );
    }
}
