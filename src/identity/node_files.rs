//! The node's docker config file, found the way the kubelet finds it
//! (`ReadDockerConfigFile`): `config.json` in `<root-dir>`, the kubelet's working directory,
//! `$HOME/.docker`, `/.docker`, then `.dockercfg` in `<root-dir>`, the working directory,
//! `$HOME`, `/`. The first file that exists *and* parses wins; files are never merged. Every
//! file looked at is reported with why it was skipped. See [`search`].

use super::docker_config::{self, DockerConfig, Format};
use super::keyring::{Keyring, Origin};
use super::kubelet::KubeletView;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What happened to one candidate file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum FileOutcome {
    /// It does not exist.
    Missing,
    /// It exists but could not be read (the kubelet skips it too).
    Unreadable {
        /// Why.
        reason: String,
    },
    /// It does not parse (the kubelet skips it and looks further).
    Invalid {
        /// Why (no file content).
        reason: String,
    },
    /// The kubelet uses this file.
    Used {
        /// How many entries it has.
        entries: usize,
    },
}

/// One candidate file, in kubelet order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedFile {
    /// The absolute path.
    pub path: String,
    /// The shape the kubelet reads it as.
    pub format: Format,
    /// What happened.
    #[serde(flatten)]
    pub outcome: FileOutcome,
}

/// The result of the search.
#[derive(Debug, Clone, Default)]
pub struct NodeFiles {
    /// Every file looked at, up to the one used.
    pub checked: Vec<CheckedFile>,
    used: Option<(String, DockerConfig)>,
}

/// The candidate files in kubelet order, for the kubelet root `root` (absolute, or relative
/// to the kubelet's working directory).
pub fn candidates(root: &Path, kubelet: &KubeletView) -> Vec<(PathBuf, Format)> {
    let home = Path::new(&kubelet.home);
    let json_dirs = [
        root.to_path_buf(),
        kubelet.cwd.clone(),
        home.join(".docker"),
        PathBuf::from("/.docker"),
    ];
    let cfg_dirs = [
        root.to_path_buf(),
        kubelet.cwd.clone(),
        home.to_path_buf(),
        PathBuf::from("/"),
    ];
    json_dirs
        .iter()
        .map(|d| (kubelet.resolve(&d.join("config.json")), Format::ConfigJson))
        .chain(
            cfg_dirs
                .iter()
                .map(|d| (kubelet.resolve(&d.join(".dockercfg")), Format::Dockercfg)),
        )
        .collect()
}

/// Looks for the node file; the first that exists and parses wins.
pub fn search(root: &Path, kubelet: &KubeletView) -> NodeFiles {
    let mut out = NodeFiles::default();
    for (path, format) in candidates(root, kubelet) {
        let display = path.display().to_string();
        let outcome = match docker_config::read_file(&path) {
            Err(e) if e.is_not_found() => FileOutcome::Missing,
            Err(docker_config::Error::Read { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                FileOutcome::Unreadable {
                    reason: format!(
                        "{source} (the kubelet runs as root and may read it: run pullcheck as root)"
                    ),
                }
            }
            Err(docker_config::Error::Read { source, .. }) => FileOutcome::Unreadable {
                reason: source.to_string(),
            },
            Err(e) => FileOutcome::Unreadable {
                reason: e.to_string(),
            },
            Ok(bytes) => match docker_config::parse(&display, &bytes, format) {
                Ok(config) => {
                    let entries = config.entries.len();
                    out.used = Some((display.clone(), config));
                    FileOutcome::Used { entries }
                }
                Err(e) => FileOutcome::Invalid {
                    reason: match e {
                        docker_config::Error::Parse { detail, .. } => detail,
                        other => other.to_string(),
                    },
                },
            },
        };
        let used = matches!(outcome, FileOutcome::Used { .. });
        out.checked.push(CheckedFile {
            path: display,
            format,
            outcome,
        });
        if used {
            break;
        }
    }
    out
}

impl NodeFiles {
    /// The file the kubelet uses, if any.
    pub fn used_path(&self) -> Option<&str> {
        self.used.as_ref().map(|(p, _)| p.as_str())
    }

    /// The used file's config.
    pub fn config(&self) -> Option<&DockerConfig> {
        self.used.as_ref().map(|(_, c)| c)
    }

    /// The node keyring (empty when no file is used).
    pub fn keyring(&self) -> Keyring {
        let mut k = Keyring::new();
        if let Some((path, config)) = &self.used {
            k.add(Origin::NodeFile { path: path.clone() }, config);
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::RegistryAuth;
    use crate::procfs::{fake_proc_full, FakeProcess};

    struct Node {
        _proc: tempfile::TempDir,
        dir: tempfile::TempDir,
        kubelet: KubeletView,
    }

    /// A kubelet whose root, cwd and HOME are directories under one temp dir.
    fn node() -> Node {
        let dir = tempfile::tempdir().unwrap();
        for d in ["root", "cwd", "home/.docker"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let env = format!("HOME={}\0", dir.path().join("home").display());
        let cwd = dir.path().join("cwd");
        let proc = fake_proc_full(&[FakeProcess {
            pid: 7,
            comm: "kubelet",
            environ: env.as_bytes(),
            cwd: Some(&cwd),
            cmdline: &["kubelet"],
        }]);
        let kubelet = KubeletView::detect(proc.path());
        Node {
            _proc: proc,
            dir,
            kubelet,
        }
    }

    impl Node {
        fn write(&self, rel: &str, body: &str) {
            std::fs::write(self.dir.path().join(rel), body).unwrap();
        }
        fn search(&self) -> NodeFiles {
            search(&self.dir.path().join("root"), &self.kubelet)
        }
    }

    #[test]
    fn kubelet_order_is_config_json_everywhere_then_dockercfg() {
        let n = node();
        let c = candidates(&n.dir.path().join("root"), &n.kubelet);
        let d = n.dir.path().display().to_string();
        let got: Vec<String> = c.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(
            got,
            [
                format!("{d}/root/config.json"),
                format!("{d}/cwd/config.json"),
                format!("{d}/home/.docker/config.json"),
                "/.docker/config.json".into(),
                format!("{d}/root/.dockercfg"),
                format!("{d}/cwd/.dockercfg"),
                format!("{d}/home/.dockercfg"),
                "/.dockercfg".into(),
            ]
        );
    }

    #[test]
    fn first_valid_file_wins_and_skips_are_reported() {
        let n = node();
        n.write("root/config.json", "{not json");
        n.write(
            "cwd/config.json",
            r#"{"auths":{"r.io":{"username":"cwd","password":"p"}}}"#,
        );
        n.write(
            "home/.docker/config.json",
            r#"{"auths":{"r.io":{"username":"home"}}}"#,
        );
        let f = n.search();
        assert!(f.used_path().unwrap().ends_with("cwd/config.json"));
        assert_eq!(f.checked.len(), 2, "stops at the first valid file");
        assert!(
            matches!(&f.checked[0].outcome, FileOutcome::Invalid { reason } if reason.contains("line 1"))
        );
        let creds = f.keyring().lookup("r.io/app");
        assert_eq!(creds.len(), 1, "files are not merged");
        assert!(
            matches!(&creds[0].auth, RegistryAuth::Basic { username, .. } if username == "cwd")
        );
        assert!(
            matches!(&creds[0].source, crate::identity::Source::NodeFile { path, .. } if path.ends_with("cwd/config.json"))
        );
    }

    #[test]
    fn home_docker_config_and_legacy_dockercfg() {
        let n = node();
        n.write(
            "home/.docker/config.json",
            r#"{"auths":{"r.io":{"username":"home"}}}"#,
        );
        let f = n.search();
        assert!(f.used_path().unwrap().ends_with("home/.docker/config.json"));
        assert_eq!(f.checked[0].outcome, FileOutcome::Missing);
        std::fs::remove_file(n.dir.path().join("home/.docker/config.json")).unwrap();
        n.write("home/.dockercfg", r#"{"r.io":{"auth":"dTpw"}}"#);
        let f = n.search();
        assert!(f.used_path().unwrap().ends_with("home/.dockercfg"));
        assert_eq!(f.config().unwrap().format, Format::Dockercfg);
        assert_eq!(f.keyring().lookup("r.io/x").len(), 1);
    }

    #[test]
    fn a_config_json_without_auths_still_wins_with_no_credentials() {
        let n = node();
        n.write("root/config.json", r#"{"r.io":{"auth":"dTpw"}}"#);
        n.write("home/.dockercfg", r#"{"r.io":{"auth":"dTpw"}}"#);
        let f = n.search();
        assert!(f.used_path().unwrap().ends_with("root/config.json"));
        assert!(f.keyring().lookup("r.io/x").is_empty());
    }

    #[test]
    fn unreadable_files_are_skipped_with_a_reason() {
        let n = node();
        std::fs::create_dir_all(n.dir.path().join("root/config.json")).unwrap();
        n.write("cwd/.dockercfg", r#"{"r.io":{"username":"u"}}"#);
        let f = n.search();
        assert!(matches!(
            &f.checked[0].outcome,
            FileOutcome::Unreadable { .. }
        ));
        assert!(f.used_path().unwrap().ends_with("cwd/.dockercfg"));
    }

    #[test]
    fn empty_home_means_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let proc = fake_proc_full(&[FakeProcess {
            pid: 7,
            comm: "kubelet",
            environ: b"PATH=/bin\0",
            cwd: Some(dir.path()),
            cmdline: &["kubelet"],
        }]);
        let k = KubeletView::detect(proc.path());
        let c = candidates(Path::new("/var/lib/kubelet"), &k);
        let d = dir.path().display().to_string();
        assert_eq!(c[2].0, PathBuf::from(format!("{d}/.docker/config.json")));
        assert_eq!(c[6].0, PathBuf::from(format!("{d}/.dockercfg")));
    }
}
