//! The kubelet's own view, which decides its node files and its plugins' environment: the
//! process whose `comm` is `kubelet` under an injectable `/proc` root, its working directory
//! (`/proc/<pid>/cwd`), `HOME` and environment (`/proc/<pid>/environ`), and the flags on its
//! command line that matter here (`--root-dir`, `--image-credential-provider-config`,
//! `--image-credential-provider-bin-dir`). Without a visible kubelet: cwd `/`, `HOME=/root` and
//! pullcheck's own environment, with a note. See [`KubeletView::detect`].

use crate::procfs;
use serde::Serialize;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Whose environment a plugin runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "camelCase")]
pub enum EnvSource {
    /// The kubelet process's environment.
    Kubelet {
        /// Its pid.
        pid: u32,
    },
    /// pullcheck's own (the kubelet's was not readable).
    Pullcheck,
}

/// Kubelet command-line flags relevant to credentials (as given; relative paths resolved
/// against the kubelet's working directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletFlags {
    /// `--root-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_dir: Option<PathBuf>,
    /// `--image-credential-provider-config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_credential_provider_config: Option<PathBuf>,
    /// `--image-credential-provider-bin-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_credential_provider_bin_dir: Option<PathBuf>,
}

/// The kubelet as seen from here.
#[derive(Clone)]
pub struct KubeletView {
    /// Its pid, when visible.
    pub pid: Option<u32>,
    /// Its working directory (`/` when unknown).
    pub cwd: PathBuf,
    /// Its `HOME` (empty when unset: Go then looks in the working directory).
    pub home: String,
    /// Where [`KubeletView::env`] comes from.
    pub env_source: EnvSource,
    /// Credential-related flags from its command line.
    pub flags: KubeletFlags,
    /// Why values are what they are (fallbacks).
    pub notes: Vec<String>,
    env: Vec<(String, String)>,
}

impl fmt::Debug for KubeletView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KubeletView")
            .field("pid", &self.pid)
            .field("cwd", &self.cwd)
            .field("home", &self.home)
            .field("env_source", &self.env_source)
            .field("env_names", &names)
            .field("flags", &self.flags)
            .finish()
    }
}

/// A report-safe summary of [`KubeletView`] (no environment values).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletSummary {
    /// The kubelet's pid, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its working directory.
    pub cwd: String,
    /// Its `HOME`.
    pub home: String,
    /// Whose environment plugins run with.
    pub env: EnvSource,
    /// Fallback notes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl KubeletView {
    /// Finds the kubelet under `proc_root` (the lowest pid if several), or falls back.
    pub fn detect(proc_root: &Path) -> Self {
        let pids = match procfs::find_by_comm(proc_root, "kubelet") {
            Ok(p) => p,
            Err(e) => {
                return Self::fallback(format!(
                    "cannot list {}: {e}; no kubelet visible (in a pod: hostPID; with kubectl debug node/NAME: --host-root /host)",
                    proc_root.display()
                ))
            }
        };
        let Some(&pid) = pids.first() else {
            return Self::fallback(format!(
                "no kubelet process under {} (in a pod: hostPID; with kubectl debug node/NAME: --host-root /host)",
                proc_root.display()
            ));
        };
        let mut notes = Vec::new();
        if pids.len() > 1 {
            notes.push(format!(
                "{} kubelet processes; using the lowest pid {pid}",
                pids.len()
            ));
        }
        let cwd = match procfs::cwd(proc_root, pid) {
            Ok(c) => c,
            Err(e) => {
                notes.push(format!(
                    "cannot read {}/{pid}/cwd: {e}; assuming the kubelet runs in /",
                    proc_root.display()
                ));
                PathBuf::from("/")
            }
        };
        let (env, env_source, home) = match procfs::environ(proc_root, pid) {
            Ok(env) => {
                let home = env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "HOME")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                if home.is_empty() {
                    notes.push(
                        "the kubelet has no HOME: its $HOME files are looked up in its working directory"
                            .into(),
                    );
                }
                (env, EnvSource::Kubelet { pid }, home)
            }
            Err(e) => {
                notes.push(format!(
                    "cannot read {}/{pid}/environ: {e} (needs CAP_SYS_PTRACE — root alone is not enough — and, on AppArmor nodes, an unconfined profile); assuming HOME=/root, plugins get pullcheck's environment",
                    proc_root.display()
                ));
                (
                    std::env::vars().collect(),
                    EnvSource::Pullcheck,
                    "/root".into(),
                )
            }
        };
        let mut view = KubeletView {
            pid: Some(pid),
            cwd,
            home,
            env_source,
            flags: KubeletFlags::default(),
            notes,
            env,
        };
        match procfs::cmdline(proc_root, pid) {
            Ok(args) => view.flags = view.parse_flags(&args),
            Err(e) => view.notes.push(format!(
                "cannot read {}/{pid}/cmdline: {e}; kubelet flags unknown",
                proc_root.display()
            )),
        }
        view
    }

    /// The view when no kubelet is visible: cwd `/`, `HOME=/root`, pullcheck's environment.
    pub fn fallback(why: String) -> Self {
        KubeletView {
            pid: None,
            cwd: PathBuf::from("/"),
            home: "/root".into(),
            env_source: EnvSource::Pullcheck,
            flags: KubeletFlags::default(),
            notes: vec![format!(
                "{why}; assuming cwd / and HOME=/root, plugins get pullcheck's environment"
            )],
            env: std::env::vars().collect(),
        }
    }

    /// The environment plugins inherit (values may be secret: never report them).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `filepath.Abs` from the kubelet's point of view: relative paths against its cwd, then
    /// cleaned lexically.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        clean(&self.cwd.join(p))
    }

    /// The report-safe summary.
    pub fn summary(&self) -> KubeletSummary {
        KubeletSummary {
            pid: self.pid,
            cwd: self.cwd.display().to_string(),
            home: self.home.clone(),
            env: self.env_source.clone(),
            notes: self.notes.clone(),
        }
    }

    /// pflag parsing of the three flags (`--f=v` or `--f v`; the last one wins; `--` ends).
    fn parse_flags(&self, args: &[String]) -> KubeletFlags {
        let mut flags = KubeletFlags::default();
        let mut i = 1;
        while i < args.len() {
            let arg = &args[i];
            if arg == "--" {
                break;
            }
            i += 1;
            let Some(body) = arg.strip_prefix("--") else {
                continue;
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let slot = match name {
                "root-dir" => &mut flags.root_dir,
                "image-credential-provider-config" => &mut flags.image_credential_provider_config,
                "image-credential-provider-bin-dir" => &mut flags.image_credential_provider_bin_dir,
                _ => continue,
            };
            let value = match value {
                Some(v) => v,
                None => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        v.clone()
                    }
                    None => continue,
                },
            };
            *slot = (!value.is_empty()).then(|| self.resolve(Path::new(&value)));
        }
        flags
    }
}

/// Go's `filepath.Clean` for absolute paths: drops `.`, resolves `..` lexically.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::{fake_proc_full, FakeProcess};

    #[test]
    fn reads_cwd_home_env_and_flags_of_the_kubelet() {
        let work = tempfile::tempdir().unwrap();
        let p = fake_proc_full(&[
            FakeProcess {
                pid: 40,
                comm: "kubelet-helper",
                ..FakeProcess::default()
            },
            FakeProcess {
                pid: 41,
                comm: "kubelet",
                environ: b"PATH=/usr/bin\0HOME=/home/kube\0TOKEN=s3cr3t\0",
                cwd: Some(work.path()),
                cmdline: &[
                    "/usr/bin/kubelet",
                    "--root-dir=/data/kubelet",
                    "--image-credential-provider-config",
                    "creds/config.yaml",
                    "--image-credential-provider-bin-dir=/opt/bin/",
                    "--v=2",
                ],
            },
        ]);
        let k = KubeletView::detect(p.path());
        assert_eq!(k.pid, Some(41));
        assert_eq!(k.cwd, work.path());
        assert_eq!(k.home, "/home/kube");
        assert_eq!(k.env_source, EnvSource::Kubelet { pid: 41 });
        assert!(k.env().iter().any(|(n, _)| n == "PATH"));
        assert_eq!(
            k.flags.root_dir.as_deref(),
            Some(Path::new("/data/kubelet"))
        );
        assert_eq!(
            k.flags.image_credential_provider_config,
            Some(work.path().join("creds/config.yaml"))
        );
        assert_eq!(
            k.flags.image_credential_provider_bin_dir.as_deref(),
            Some(Path::new("/opt/bin"))
        );
        let dbg = format!("{k:?} {}", serde_json::to_string(&k.summary()).unwrap());
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
    }

    #[test]
    fn falls_back_to_root_and_own_env_with_a_note() {
        let k = KubeletView::detect(Path::new("/nonexistent/proc"));
        assert_eq!(k.pid, None);
        assert_eq!(k.cwd, Path::new("/"));
        assert_eq!(k.home, "/root");
        assert_eq!(k.env_source, EnvSource::Pullcheck);
        assert!(k.notes[0].contains("cannot list"), "{:?}", k.notes);
        let p = fake_proc_full(&[FakeProcess {
            pid: 3,
            comm: "containerd",
            ..FakeProcess::default()
        }]);
        let k = KubeletView::detect(p.path());
        assert!(k.notes[0].contains("no kubelet process"), "{:?}", k.notes);
    }

    #[test]
    fn unreadable_parts_fall_back_one_by_one() {
        // No cwd link and an environ without HOME.
        let p = fake_proc_full(&[FakeProcess {
            pid: 9,
            comm: "kubelet",
            environ: b"PATH=/bin\0",
            cmdline: &["kubelet", "--root-dir", "rel/dir", "--", "--root-dir=/x"],
            ..FakeProcess::default()
        }]);
        let k = KubeletView::detect(p.path());
        assert_eq!(k.cwd, Path::new("/"));
        assert_eq!(k.home, "");
        assert_eq!(k.flags.root_dir.as_deref(), Some(Path::new("/rel/dir")));
        let notes = k.notes.join("\n");
        assert!(
            notes.contains("cwd") && notes.contains("no HOME"),
            "{notes}"
        );
    }

    #[test]
    fn clean_is_lexical() {
        assert_eq!(clean(Path::new("/a/./b/../c//d/")), Path::new("/a/c/d"));
        assert_eq!(clean(Path::new("/../x")), Path::new("/x"));
    }
}
