use super::*;
use crate::identity::Source;
use crate::procfs::{fake_proc_full, FakeProcess};
use std::os::unix::fs::PermissionsExt;

const CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: plug\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  env:\n  - name: SECRET_ENV\n    value: s3cr3t-env\n";

/// A node: kubelet root, cwd, home, a plugin config and bin dir, and a fake /proc whose
/// kubelet names them on its command line.
struct Node {
    dir: tempfile::TempDir,
    proc: tempfile::TempDir,
}

impl Node {
    fn new(kubelet_flags: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| dir.path().join(s);
        for d in ["root", "cwd", "home", "bin"] {
            std::fs::create_dir_all(p(d)).unwrap();
        }
        std::fs::write(p("creds.yaml"), CONFIG).unwrap();
        let script = p("bin/plug");
        std::fs::write(
            &script,
            "#!/bin/sh\ncat >/dev/null\necho '{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\",\"auth\":{\"r.io\":{\"username\":\"plugin-user\",\"password\":\"x\"}}}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = format!("HOME={}\0PATH=/usr/bin:/bin\0", p("home").display());
        let root = format!("--root-dir={}", p("root").display());
        let config = p("creds.yaml").display().to_string();
        let bin = format!("--image-credential-provider-bin-dir={}", p("bin").display());
        let cmdline: Vec<&str> = if kubelet_flags {
            vec![
                "kubelet",
                &root,
                "--image-credential-provider-config",
                &config,
                &bin,
            ]
        } else {
            vec!["kubelet"]
        };
        let cwd = p("cwd");
        let proc = fake_proc_full(&[FakeProcess {
            pid: 11,
            comm: "kubelet",
            environ: env.as_bytes(),
            cwd: Some(&cwd),
            cmdline: &cmdline,
        }]);
        Node { dir, proc }
    }
    fn path(&self, s: &str) -> PathBuf {
        self.dir.path().join(s)
    }
    fn config(&self) -> NodeIdentityConfig {
        NodeIdentityConfig {
            proc_root: self.proc.path().to_path_buf(),
            kubelet_root_dir: None,
            provider_config: None,
            provider_bin_dir: None,
            plugin_timeout: Duration::from_secs(10),
        }
    }
}

#[tokio::test]
async fn settings_come_from_the_kubelet_command_line() {
    let n = Node::new(true);
    std::fs::write(
        n.path("root/config.json"),
        r#"{"auths":{"r.io":{"username":"node-user","password":"y"}}}"#,
    )
    .unwrap();
    let id = NodeIdentity::load(&n.config()).unwrap();
    assert_eq!(id.root_dir.from, SettingFrom::Kubelet);
    let s = id.sources();
    assert!(s
        .node_file
        .as_deref()
        .unwrap()
        .ends_with("root/config.json"));
    let pc = s.plugin_config.as_ref().unwrap();
    assert_eq!(pc.config.from, SettingFrom::Kubelet);
    assert_eq!(pc.providers[0].env_names, ["SECRET_ENV"]);
    let found = id.lookup("r.io/app").await;
    assert!(
        matches!(&found.node_file[0].source, Source::NodeFile { username, .. } if username == "node-user")
    );
    assert!(
        matches!(&found.plugins[0].source, Source::Plugin { username, .. } if username == "plugin-user")
    );
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        !json.contains("s3cr3t") && !format!("{id:?}").contains("s3cr3t"),
        "{json}"
    );
}

#[test]
fn flags_win_over_the_kubelet_and_the_default_root_is_var_lib_kubelet() {
    let n = Node::new(false);
    let id = NodeIdentity::load(&n.config()).unwrap();
    assert_eq!(
        id.root_dir,
        Setting {
            path: DEFAULT_KUBELET_ROOT.into(),
            from: SettingFrom::Default
        }
    );
    assert!(id.plugins.is_none());
    let mut cfg = n.config();
    cfg.kubelet_root_dir = Some(n.path("root"));
    cfg.provider_config = Some(n.path("creds.yaml"));
    cfg.provider_bin_dir = Some(n.path("bin"));
    let id = NodeIdentity::load(&cfg).unwrap();
    assert_eq!(id.root_dir.from, SettingFrom::Flag);
    assert_eq!(id.plugin_config().unwrap().bin_dir.from, SettingFrom::Flag);
}

#[test]
fn explicit_bad_settings_are_errors_kubelet_ones_are_notes() {
    let n = Node::new(false);
    let mut cfg = n.config();
    cfg.provider_config = Some(n.path("creds.yaml"));
    let e = NodeIdentity::load(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("--image-credential-provider-bin-dir is required"),
        "{e}"
    );
    cfg.provider_bin_dir = Some(n.path("nope"));
    let e = NodeIdentity::load(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("plugin binary directory") && e.contains("nope"),
        "{e}"
    );
    let mut cfg = n.config();
    cfg.provider_bin_dir = Some(n.path("bin"));
    assert!(NodeIdentity::load(&cfg).is_err(), "bin dir without config");
    // The same problem on the kubelet's command line: a note, no plugins.
    std::fs::write(n.path("creds.yaml"), "kind: Nope\n").unwrap();
    let n2 = Node::new(true);
    std::fs::write(n2.path("creds.yaml"), "kind: Nope\n").unwrap();
    let id = NodeIdentity::load(&n2.config()).unwrap();
    assert!(id.plugins.is_none());
    assert!(
        id.notes
            .iter()
            .any(|n| n.contains("plugins not run") && n.contains("creds.yaml")),
        "{:?}",
        id.notes
    );
}
