//! The containerd daemon as `/proc` shows it: processes whose `comm` is `containerd`, and their
//! environment (`/proc/<pid>/environ`, NUL-separated). The `/proc` root is a parameter so a
//! DaemonSet can mount the host's at another path, and tests can fake one. See [`find`].

use std::io;
use std::path::Path;

/// The pids of processes named `containerd`, lowest first (shims are `containerd-shim…`).
pub fn find(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc_root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm"))
                .is_ok_and(|c| c.trim_end_matches('\n') == "containerd")
        })
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// The environment of a process (needs the same user or `CAP_SYS_PTRACE`).
pub fn environ(proc_root: &Path, pid: u32) -> io::Result<Vec<(String, String)>> {
    let raw = std::fs::read(proc_root.join(pid.to_string()).join("environ"))?;
    Ok(parse_environ(&raw))
}

/// `KEY=value` entries separated by NUL; entries without `=` are dropped.
pub fn parse_environ(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let s = String::from_utf8_lossy(e);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// A fake /proc with (pid, comm, environ) entries, for tests.
#[cfg(test)]
pub(crate) fn fake_proc(entries: &[(u32, &str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (pid, comm, env) in entries {
        let dir = d.path().join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(dir.join("environ"), env).unwrap();
    }
    std::fs::create_dir_all(d.path().join("self")).unwrap();
    d
}

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
    }

    #[test]
    fn environ_is_nul_separated() {
        let env = parse_environ(b"HTTPS_PROXY=http://u:p@proxy:3128\0NO_PROXY=a,b=c\0JUNK\0\0");
        assert_eq!(
            env,
            [
                (
                    "HTTPS_PROXY".to_string(),
                    "http://u:p@proxy:3128".to_string()
                ),
                ("NO_PROXY".to_string(), "a,b=c".to_string())
            ]
        );
        let p = fake_proc(&[(5, "containerd", b"X=1\0")]);
        assert_eq!(environ(p.path(), 5).unwrap(), [("X".into(), "1".into())]);
        assert!(environ(p.path(), 6).is_err());
    }
}
