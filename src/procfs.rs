//! Node daemons as `/proc` shows them: processes found by `comm` (`containerd`, `kubelet`), their
//! environment (`/proc/<pid>/environ`), working directory (`/proc/<pid>/cwd`) and command line
//! (`/proc/<pid>/cmdline`). The `/proc` root is a parameter so a DaemonSet can mount the host's
//! at another path, and tests can fake one. See [`find_by_comm`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one scan of the process table answers every lookup (a CLI run looks up the
/// kubelet and containerd once; the agent sees a restarted daemon within seconds).
pub const SCAN_FRESH: Duration = Duration::from_secs(2);

/// `comm` of every process, by one scan of `proc_root`.
struct Scan {
    root: PathBuf,
    at: Instant,
    comms: Vec<(u32, String)>,
}

fn scan(proc_root: &Path) -> io::Result<Vec<(u32, String)>> {
    let mut comms: Vec<(u32, String)> = std::fs::read_dir(proc_root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let comm =
                std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).ok()?;
            Some((pid, comm.trim_end_matches('\n').to_string()))
        })
        .collect();
    comms.sort_unstable();
    Ok(comms)
}

/// The pids of processes whose `comm` is exactly `comm`, lowest first (so `containerd` does
/// not match `containerd-shim…`). One scan of the process table serves the lookups made
/// within [`SCAN_FRESH`].
pub fn find_by_comm(proc_root: &Path, comm: &str) -> io::Result<Vec<u32>> {
    static LAST: Mutex<Option<Scan>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = last
        .as_ref()
        .is_some_and(|s| s.root == proc_root && s.at.elapsed() < SCAN_FRESH);
    if !fresh {
        *last = Some(Scan {
            root: proc_root.to_path_buf(),
            at: Instant::now(),
            comms: scan(proc_root)?,
        });
    }
    let comms = last
        .as_ref()
        .map(|s| s.comms.as_slice())
        .unwrap_or_default();
    Ok(comms
        .iter()
        .filter(|(_, c)| c == comm)
        .map(|(pid, _)| *pid)
        .collect())
}

/// The environment of a process (needs the same user or `CAP_SYS_PTRACE`).
pub fn environ(proc_root: &Path, pid: u32) -> io::Result<Vec<(String, String)>> {
    let raw = std::fs::read(proc_root.join(pid.to_string()).join("environ"))?;
    Ok(parse_environ(&raw))
}

/// The working directory of a process: the target of the `/proc/<pid>/cwd` link.
pub fn cwd(proc_root: &Path, pid: u32) -> io::Result<PathBuf> {
    std::fs::read_link(proc_root.join(pid.to_string()).join("cwd"))
}

/// The command line of a process (`/proc/<pid>/cmdline`, NUL-separated), program first.
pub fn cmdline(proc_root: &Path, pid: u32) -> io::Result<Vec<String>> {
    let raw = std::fs::read(proc_root.join(pid.to_string()).join("cmdline"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect())
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

/// One fake process for [`fake_proc`].
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeProcess<'a> {
    pub pid: u32,
    pub comm: &'a str,
    pub environ: &'a [u8],
    pub cwd: Option<&'a Path>,
    pub cmdline: &'a [&'a str],
}

/// A fake /proc with (pid, comm, environ) entries, for tests.
#[cfg(test)]
pub(crate) fn fake_proc(entries: &[(u32, &str, &[u8])]) -> tempfile::TempDir {
    let procs: Vec<FakeProcess> = entries
        .iter()
        .map(|(pid, comm, environ)| FakeProcess {
            pid: *pid,
            comm,
            environ,
            ..FakeProcess::default()
        })
        .collect();
    fake_proc_full(&procs)
}

/// A fake /proc with full process entries (cwd link, cmdline), for tests.
#[cfg(test)]
pub(crate) fn fake_proc_full(procs: &[FakeProcess]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for p in procs {
        let dir = d.path().join(p.pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("comm"), format!("{}\n", p.comm)).unwrap();
        std::fs::write(dir.join("environ"), p.environ).unwrap();
        let mut cmdline = Vec::new();
        for a in p.cmdline {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
        if let Some(cwd) = p.cwd {
            std::os::unix::fs::symlink(cwd, dir.join("cwd")).unwrap();
        }
    }
    std::fs::create_dir_all(d.path().join("self")).unwrap();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_exact_comm() {
        let p = fake_proc(&[
            (900, "containerd-shim", b""),
            (812, "containerd", b"A=1\0"),
            (77, "kubelet", b""),
            (1200, "containerd", b""),
        ]);
        assert_eq!(find_by_comm(p.path(), "containerd").unwrap(), [812, 1200]);
        assert_eq!(find_by_comm(p.path(), "kubelet").unwrap(), [77]);
        assert!(find_by_comm(Path::new("/nonexistent/proc"), "kubelet").is_err());
    }

    #[test]
    fn environ_cwd_and_cmdline() {
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
        let work = tempfile::tempdir().unwrap();
        let p = fake_proc_full(&[FakeProcess {
            pid: 5,
            comm: "kubelet",
            environ: b"X=1\0",
            cwd: Some(work.path()),
            cmdline: &["/usr/bin/kubelet", "--root-dir=/data/kubelet"],
        }]);
        assert_eq!(environ(p.path(), 5).unwrap(), [("X".into(), "1".into())]);
        assert!(environ(p.path(), 6).is_err());
        assert_eq!(cwd(p.path(), 5).unwrap(), work.path());
        assert!(cwd(p.path(), 6).is_err());
        assert_eq!(
            cmdline(p.path(), 5).unwrap(),
            ["/usr/bin/kubelet", "--root-dir=/data/kubelet"]
        );
    }
}
