use super::*;
use crate::endpoints::containerd_process::fake_proc;

fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

fn config(text: &str) -> ContainerdConfig {
    containerd_config::parse(text, Path::new("/etc/containerd/config.toml")).unwrap()
}

fn write(root: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(root.join(name)).unwrap();
    std::fs::write(root.join(name).join("hosts.toml"), text).unwrap();
}

fn known(major: u32, minor: u32) -> ForVersion {
    ForVersion {
        major,
        minor,
        assumed: false,
    }
}

fn urls(e: &Endpoints) -> Vec<&str> {
    e.hosts.iter().map(|h| h.url.as_str()).collect()
}

#[test]
fn no_config_file_means_default_roots() {
    let c = RegistryConfig::from_config(None, None).unwrap();
    assert_eq!(c.mode, Mode::Default);
    assert_eq!(
        c.config_path,
        [
            PathBuf::from("/etc/containerd/certs.d"),
            PathBuf::from("/etc/docker/certs.d")
        ]
    );
    assert!(c.containerd_config.is_none());
    let c = RegistryConfig::from_config(Some(config("version = 2\n")), None).unwrap();
    assert_eq!(c.mode, Mode::Default);
    assert_eq!(serde_json::to_value(&c).unwrap()["mode"], "default");
}

#[test]
fn config_path_roots_searched_in_order() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(
        b.path(),
        "ghcr.io",
        "server = \"https://ghcr.io\"\n[host.\"https://m.example\"]\ncapabilities = [\"pull\"]\n",
    );
    write(b.path(), "docker.io", "[host.\"https://mirror.gcr.io\"]\n");
    write(
        a.path(),
        "docker.io",
        "server = \"https://registry-1.docker.io\"\n",
    );
    write(b.path(), "_default", "[host.\"https://catch.example\"]\n");
    let text = format!(
        "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\nconfig_path = \"{}:{}\"\n",
        a.path().display(),
        b.path().display()
    );
    let c = RegistryConfig::from_config(Some(config(&text)), None).unwrap();
    assert_eq!(c.mode, Mode::HostsDir);
    assert_eq!(
        c.config_path,
        [a.path().to_path_buf(), b.path().to_path_buf()]
    );
    let e = c.resolve(&image("ghcr.io/o/r:1")).unwrap();
    assert_eq!(urls(&e), ["https://m.example", "https://ghcr.io"]);
    assert!(!e.hosts[0].resolve && e.hosts[0].ns.as_deref() == Some("ghcr.io"));
    let e = c.resolve(&image("nginx")).unwrap();
    assert_eq!(
        urls(&e),
        ["https://registry-1.docker.io"],
        "root a wins for docker.io"
    );
    let e = c.resolve(&image("quay.io/o/r")).unwrap();
    assert_eq!(urls(&e), ["https://catch.example", "https://quay.io"]);

    let by_name: Vec<(&str, bool)> = c
        .registries
        .iter()
        .map(|r| (r.name.as_str(), r.shadowed))
        .collect();
    assert_eq!(
        by_name,
        [
            ("docker.io", false),
            ("_default", false),
            ("docker.io", true),
            ("ghcr.io", false)
        ]
    );
    let default = &c.registries[1];
    assert_eq!(default.registry, None);
    assert_eq!(default.hosts.last().unwrap().url, "(the image's registry)");
    let ghcr = &c.registries[3];
    assert_eq!(ghcr.hosts[0].capabilities, ["pull"]);
    assert_eq!(ghcr.hosts[1].capabilities, ["resolve", "pull"]);
}

#[test]
fn broken_hosts_toml_listed_with_its_error() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reg.example_5000_", "server = 42\n");
    let c = RegistryConfig::from_config(None, Some(d.path())).unwrap();
    assert_eq!(c.mode, Mode::HostsDir);
    let r = &c.registries[0];
    assert_eq!(r.registry.as_deref(), Some("reg.example:5000"));
    assert!(r.error.as_deref().unwrap().contains("line 1"), "{r:?}");
    assert!(c.resolve(&image("reg.example:5000/a")).is_err());
}

#[test]
fn mirrors_and_config_path_is_containerds_error() {
    let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.gcr.io"]
"#;
    let err = RegistryConfig::from_config(Some(config(text)), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/etc/containerd/config.toml")
            && err.contains("line 3")
            && err.contains("line 5")
            && err.contains("`mirrors` cannot be set when `config_path` is provided"),
        "{err}"
    );
    // --hosts-dir replaces config_path: a note, not an error.
    let c = RegistryConfig::from_config(Some(config(text)), Some(Path::new("/tmp/x"))).unwrap();
    assert!(
        c.notes.iter().any(|n| n.contains("refuses")),
        "{:?}",
        c.notes
    );
}

#[test]
fn configs_tls_next_to_config_path_is_noted() {
    let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/nonexistent/certs.d"
[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".tls]
  insecure_skip_verify = true
"#;
    let c = RegistryConfig::from_config(Some(config(text)), None).unwrap();
    assert!(
        c.notes.iter().any(|n| n.contains("configs.tls")),
        "{:?}",
        c.notes
    );
    assert!(c.notes.iter().any(|n| n.contains("/nonexistent/certs.d")));
}

#[test]
fn legacy_mode_with_auth_and_headers() {
    let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry.headers]
  X-Meta = "node-1"
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5001"]
  endpoint = ["http://kind-registry:5000"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."kind-registry:5000".auth]
  username = "u"
  password = "never-shown"
"#;
    let c = RegistryConfig::from_config(Some(config(text)), None).unwrap();
    assert_eq!(c.mode, Mode::Legacy);
    assert!(c.config_path.is_empty() && c.registries.is_empty());
    let e = c.resolve(&image("localhost:5001/app:1")).unwrap();
    assert_eq!(
        urls(&e),
        ["http://kind-registry:5000", "http://localhost:5001"]
    );
    assert!(e.hosts[0].node_auth && !e.hosts[1].node_auth);
    assert!(e
        .notes
        .iter()
        .any(|n| n.contains("only when the kubelet sends no credentials")));
    assert_eq!(
        e.hosts[1].headers,
        [("X-Meta".to_string(), "node-1".to_string())]
    );
    let j = serde_json::to_string(&c).unwrap();
    assert!(
        j.contains("\"mode\":\"legacy\"") && j.contains("\"auth\":true"),
        "{j}"
    );
    assert!(
        j.contains("kind-registry:5000") && j.contains("X-Meta"),
        "{j}"
    );
    assert!(!j.contains("never-shown") && !j.contains("node-1"), "{j}");
}

#[test]
fn configs_only_is_legacy_with_default_host() {
    let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example".tls]
  ca_file = "/etc/reg-ca.pem"
"#;
    let c = RegistryConfig::from_config(Some(config(text)), None).unwrap();
    assert_eq!(c.mode, Mode::Legacy);
    let e = c.resolve(&image("reg.example/app")).unwrap();
    assert_eq!(urls(&e), ["https://reg.example"]);
    assert_eq!(e.hosts[0].tls.ca, [PathBuf::from("/etc/reg-ca.pem")]);
}

#[test]
fn load_reads_files_and_containerd_proxy() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("config.toml");
    std::fs::write(&file, "version = 3\n").unwrap();
    let proc_root = fake_proc(&[(42, "containerd", b"HTTPS_PROXY=http://u:pw@proxy:3128\0")]);
    let c = RegistryConfig::load(Some(&file), Some(d.path()), proc_root.path()).unwrap();
    assert_eq!(c.containerd_config.as_deref(), Some(file.as_path()));
    assert_eq!(c.config_version, Some(3));
    let p = c.proxy.as_ref().unwrap();
    assert!(p.set && p.https_proxy.as_deref() == Some("http://proxy:3128"));
    assert!(c.proxy_env().is_some());
    let e = c.resolve(&image("ghcr.io/a/b")).unwrap();
    assert_eq!(
        e.proxy.unwrap().source,
        crate::net::proxy::ProxySource::Containerd { pid: 42 }
    );
    assert!(!serde_json::to_string(&c).unwrap().contains(":pw@"));
    let err = RegistryConfig::load(Some(&d.path().join("nope.toml")), None, proc_root.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn the_transfer_service_reads_a_colon_separated_config_path_as_one_directory() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(a.path(), "r.example", "server = \"http://r.example\"\n");
    let roots = format!("{}:{}", a.path().display(), b.path().display());
    let text = |extra: &str| {
        format!(
            "version = 3\n[plugins.\"io.containerd.cri.v1.images\"]\n{extra}[plugins.\"io.containerd.cri.v1.images\".registry]\nconfig_path = \"{roots}\"\n"
        )
    };
    let img = image("r.example/app:v1");
    // 2.0: the local pull, the list split, the file read; no pull path reported (1.x would
    // refuse this file, which has no [host] table).
    let c = RegistryConfig::from_config(Some(config(&text(""))), None).unwrap();
    {
        let (major, minor) = (2, 0);
        let e = c.resolve_for(&img, known(major, minor)).unwrap();
        assert_eq!(urls(&e), ["http://r.example"], "{major}.{minor}");
        assert!(e.pull_mode.is_none());
    }
    // 2.1+: the transfer service, the whole value as one directory, no hosts.toml.
    for minor in [1, 2, 3] {
        let e = c.resolve_for(&img, known(2, minor)).unwrap();
        assert_eq!(urls(&e), ["https://r.example"], "2.{minor}");
        assert_eq!(e.pull_mode.as_ref().unwrap().mode, PullMode::Transfer);
        assert!(e.source.is_none());
        let notes = e.notes.join("\n");
        assert!(
            notes.contains("pulls through the transfer service"),
            "{notes}"
        );
        assert!(notes.contains("as ONE directory"), "{notes}");
        assert!(
            notes.contains(&format!(
                "so {}/r.example/hosts.toml is not read",
                a.path().display()
            )),
            "{notes}"
        );
    }
    // A key the transfer service cannot honour: the local pull, the file read, and why.
    let c = RegistryConfig::from_config(
        Some(config(&text("discard_unpacked_layers = true\n"))),
        None,
    )
    .unwrap();
    let e = c.resolve_for(&img, known(2, 1)).unwrap();
    assert_eq!(urls(&e), ["http://r.example"]);
    assert_eq!(e.pull_mode.as_ref().unwrap().mode, PullMode::Local);
    assert!(
        e.notes[0].contains("discard_unpacked_layers = true (line 3)"),
        "{:?}",
        e.notes
    );
    // One directory: the transfer service reads it too.
    let one = format!(
        "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\nconfig_path = \"{}\"\n",
        a.path().display()
    );
    let c = RegistryConfig::from_config(Some(config(&one)), None).unwrap();
    let e = c.resolve_for(&img, known(2, 1)).unwrap();
    assert_eq!(urls(&e), ["http://r.example"]);
    assert_eq!(e.pull_mode.as_ref().unwrap().mode, PullMode::Transfer);
    assert!(!e.notes.join("\n").contains("ONE directory"));
    // --hosts-dir is the operator's own choice: read as given.
    let c = RegistryConfig::from_config(Some(config(&text(""))), Some(a.path())).unwrap();
    assert_eq!(
        urls(&c.resolve_for(&img, known(2, 1)).unwrap()),
        ["http://r.example"]
    );
}

#[test]
fn version_2_files_keep_the_pull_keys_where_1x_had_them() {
    let c = config(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nmax_concurrent_downloads = 10\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndiscard_unpacked_layers = true\n",
    );
    assert_eq!(c.pull.max_concurrent_downloads, Some((10, 3)));
    assert_eq!(c.pull.discard_unpacked_layers, Some((true, 5)));
    assert_eq!(c.pull.use_local_image_pull, None);
    let p = pull_mode::decide(&c.pull, &c.registry.legacy);
    assert_eq!(p.mode, PullMode::Local);
    assert!(p.why.contains("discard_unpacked_layers"), "{}", p.why);
}

#[test]
fn containerd_1x_refuses_a_hosts_toml_without_a_host_table() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "r.example:5000",
        "server = \"http://r.example:5000\"\n",
    );
    std::fs::write(root.path().join("r.example:5000/ca.crt"), "").unwrap();
    let text = format!(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"{}\"\n",
        root.path().display()
    );
    let c = RegistryConfig::from_config(Some(config(&text)), None).unwrap();
    let img = image("r.example:5000/app:v1");
    for (major, minor) in [(1, 6), (1, 7)] {
        let e = c.resolve_for(&img, known(major, minor)).unwrap();
        // The registry's default, with the directory's certificate files.
        assert_eq!(urls(&e), ["https://r.example:5000"], "{major}.{minor}");
        assert!(!e.from_hosts_toml());
        assert_eq!(e.hosts[0].tls.ca.len(), 1);
        let notes = e.notes.join("\n");
        assert!(notes.contains("invalid `host` tree"), "{notes}");
        assert!(notes.contains("add a [host.\"URL\"] table"), "{notes}");
    }
    for minor in [0, 1] {
        let e = c.resolve_for(&img, known(2, minor)).unwrap();
        assert_eq!(urls(&e), ["http://r.example:5000"], "2.{minor}");
        assert!(e.from_hosts_toml());
    }
    // With a [host] table (even an empty one), 1.x reads the file.
    write(
        root.path(),
        "r.example:5000",
        "server = \"http://r.example:5000\"\n[host]\n",
    );
    let e = c.resolve_for(&img, known(1, 7)).unwrap();
    assert_eq!(urls(&e), ["http://r.example:5000"]);
}

#[test]
fn an_assumed_1x_version_only_notes_the_refusal() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "r.example", "server = \"http://r.example\"\n");
    let c = RegistryConfig::from_config(None, Some(root.path())).unwrap();
    let assumed = ForVersion {
        major: 1,
        minor: 6,
        assumed: true,
    };
    let e = c.resolve_for(&image("r.example/app:v1"), assumed).unwrap();
    assert_eq!(urls(&e), ["http://r.example"]);
    let notes = e.notes.join("\n");
    assert!(
        notes.contains("if this node runs containerd 1.6 or 1.7: containerd 1.x refuses"),
        "{notes}"
    );
}
