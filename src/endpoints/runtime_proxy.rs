//! The proxy environment of the runtime that pulls, as containerd (or CRI-O) has it: the
//! runtime process's environment when `/proc` shows it, else pullcheck's own, with a note
//! saying why ([`detect_for`]; [`detect`] for containerd). Registry requests then go through
//! that [`ProxyEnv`].

use super::containerd_process;
use super::runtime_kind::RuntimeKind;
use crate::net::proxy::{ProxyEnv, ProxySource};
use std::path::Path;

/// The proxy environment containerd runs with, read under `proc_root` (normally `/proc`; the
/// host's needs `hostPID` or a mount). Falls back to pullcheck's environment, saying why.
pub fn detect(proc_root: &Path) -> ProxyEnv {
    detect_for(proc_root, RuntimeKind::Containerd)
}

/// The proxy environment of the runtime that pulls (`containerd`, or `crio` for CRI-O), as
/// [`detect`] reads containerd's.
pub fn detect_for(proc_root: &Path, kind: RuntimeKind) -> ProxyEnv {
    let (comm, name) = match kind {
        RuntimeKind::Containerd => ("containerd", "containerd"),
        RuntimeKind::Crio => ("crio", "CRI-O"),
    };
    let source = |pid| match kind {
        RuntimeKind::Containerd => ProxySource::Containerd { pid },
        RuntimeKind::Crio => ProxySource::Crio { pid },
    };
    let pids = match crate::procfs::find_by_comm(proc_root, comm) {
        Ok(p) => p,
        Err(e) => {
            return ProxyEnv::from_env().with_note(format!(
                "cannot list {}: {e}; using pullcheck's environment",
                proc_root.display()
            ))
        }
    };
    let Some(&pid) = pids.first() else {
        return ProxyEnv::from_env().with_note(format!(
            "no {name} process under {} (run with hostPID to see the node's); using pullcheck's environment",
            proc_root.display()
        ));
    };
    match containerd_process::environ(proc_root, pid) {
        Ok(vars) => {
            let env = ProxyEnv::from_vars(&vars, source(pid));
            if pids.len() > 1 {
                env.with_note(format!(
                    "{} {name} processes ({}); using the lowest pid",
                    pids.len(),
                    pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ))
            } else {
                env
            }
        }
        Err(e) => ProxyEnv::from_env().with_note(format!(
            "cannot read {}/{pid}/environ: {e} (needs CAP_SYS_PTRACE — root alone is not enough — and, on AppArmor nodes, an unconfined profile); using pullcheck's environment",
            proc_root.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::containerd_process::fake_proc;

    fn u(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn detect_reads_containerd_environ() {
        let p = fake_proc(&[
            (
                812,
                "containerd",
                b"PATH=/usr/bin\0HTTPS_PROXY=http://u:pw@proxy:3128\0no_proxy=.svc\0",
            ),
            (900, "containerd-shim", b"HTTPS_PROXY=http://other:1\0"),
        ]);
        let e = detect(p.path());
        assert_eq!(e.source(), &ProxySource::Containerd { pid: 812 });
        assert_eq!(
            e.for_url(&u("https://ghcr.io/")).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(e.for_url(&u("https://a.svc/")), None);
        assert!(e.summary().note.is_none());
    }

    #[test]
    fn detect_without_proxy_vars_means_none_from_containerd() {
        let p = fake_proc(&[(5, "containerd", b"PATH=/usr/bin\0")]);
        let e = detect(p.path());
        assert_eq!(e.source(), &ProxySource::Containerd { pid: 5 });
        assert!(!e.is_set());
        assert_eq!(
            e.describe(),
            "no proxy: none set in containerd's environment (pid 5)"
        );
    }

    #[test]
    fn detect_falls_back_with_a_note() {
        let e = detect(Path::new("/nonexistent/proc"));
        assert_eq!(e.source(), &ProxySource::Pullcheck);
        assert!(e
            .summary()
            .note
            .unwrap()
            .contains("cannot list /nonexistent/proc"));
        let p = fake_proc(&[(7, "kubelet", b"")]);
        let note = detect(p.path()).summary().note.unwrap();
        assert!(note.contains("no containerd process"), "{note}");
        // Unreadable environ (here: missing) falls back too.
        let p = fake_proc(&[(9, "containerd", b"")]);
        std::fs::remove_file(p.path().join("9/environ")).unwrap();
        let e = detect(p.path());
        assert_eq!(e.source(), &ProxySource::Pullcheck);
        assert!(e.summary().note.unwrap().contains("9/environ"));
        let p = fake_proc(&[(3, "containerd", b""), (4, "containerd", b"")]);
        assert!(detect(p.path())
            .summary()
            .note
            .unwrap()
            .contains("2 containerd processes"));
    }

    #[test]
    fn on_a_cri_o_node_the_crio_process_s_environment_is_read() {
        let p = fake_proc(&[
            (
                700,
                "crio",
                b"HTTPS_PROXY=http://crio-proxy:3128\0NO_PROXY=.corp\0",
            ),
            (812, "containerd", b"HTTPS_PROXY=http://other:1\0"),
        ]);
        let e = detect_for(p.path(), RuntimeKind::Crio);
        assert_eq!(e.source(), &ProxySource::Crio { pid: 700 });
        assert!(e
            .summary()
            .description
            .starts_with("proxy from CRI-O (pid 700)"));
        assert_eq!(
            e.for_url(&u("https://quay.io/")).as_deref(),
            Some("http://crio-proxy:3128")
        );
        let none = fake_proc(&[(812, "containerd", b"")]);
        let e = detect_for(none.path(), RuntimeKind::Crio);
        assert!(e.summary().note.unwrap().contains("no CRI-O process"));
    }
}
