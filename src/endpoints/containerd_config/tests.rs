use super::*;

fn parse_text(text: &str) -> Result<ContainerdConfig> {
    parse(text, Path::new("/etc/containerd/config.toml"))
}

/// EKS AL2023 as nodeadm renders it (containerd 2.x, version 3).
const EKS_AL2023: &str = r#"version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
address = "/run/containerd/containerd.sock"

[plugins.'io.containerd.cri.v1.images']
discard_unpacked_layers = true

[plugins.'io.containerd.cri.v1.images'.pinned_images]
sandbox = "localhost/kubernetes/pause"

[plugins."io.containerd.cri.v1.images".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"

[plugins.'io.containerd.cri.v1.runtime']
enable_cdi = true

[plugins.'io.containerd.cri.v1.runtime'.containerd]
default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
base_runtime_spec = "/etc/containerd/base-runtime-spec.json"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
BinaryName = "/usr/sbin/runc"
SystemdCgroup = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
bin_dir = "/opt/cni/bin"
conf_dir = "/etc/cni/net.d"
"#;

/// EKS AL2 (containerd 1.x, version 2).
const EKS_AL2: &str = r#"version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "runc"
discard_unpacked_layers = true

[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/pause:3.5"

[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".cni]
bin_dir = "/opt/cni/bin"
conf_dir = "/etc/cni/net.d"
"#;

/// GKE-style (COS, containerd 1.x): hosts directory under /etc/containerd/hosts.d.
const GKE: &str = r#"version = 2
required_plugins = ["io.containerd.grpc.v1.cri"]
# Kubernetes doesn't use containerd restart manager.
disabled_plugins = ["io.containerd.internal.v1.restart"]
oom_score = -999

[debug]
  level = "info"

[grpc]
  gid = 412

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  max_container_log_line_size = 262144
  sandbox_image = "gke.gcr.io/pause:3.8"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/home/kubernetes/bin"
  conf_dir = "/etc/cni/net.d"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
  discard_unpacked_layers = true
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/hosts.d"
"#;

/// kind before config_path, with the local-registry patch.
const KIND_LEGACY: &str = r#"# explicitly use v2 config format
version = 2

[proxy_plugins]
[proxy_plugins."fuse-overlayfs"]
  type = "snapshot"
  address = "/run/containerd-fuse-overlayfs.sock"

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.7"
  tolerate_missing_hugetlb_controller = true
  restrict_oom_score_adj = false

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5001"]
  endpoint = ["http://kind-registry:5000"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = [
    "https://mirror.gcr.io",
    "https://registry-1.docker.io",
  ]
"#;

#[test]
fn eks_al2023_version_3() {
    let c = parse_text(EKS_AL2023).unwrap();
    assert_eq!(c.version, 3);
    assert_eq!(
        c.registry.config_path,
        Some((
            "/etc/containerd/certs.d:/etc/docker/certs.d".to_string(),
            15
        ))
    );
    assert_eq!(c.section.as_deref(), Some(IMAGES));
    assert!(c.registry.legacy.mirrors.is_empty() && c.notes.is_empty());
}

#[test]
fn eks_al2_and_gke_version_2() {
    let c = parse_text(EKS_AL2).unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.section.as_deref(), Some(GRPC_CRI));
    assert_eq!(
        c.registry.config_path.as_ref().map(|p| p.0.as_str()),
        Some("/etc/containerd/certs.d:/etc/docker/certs.d")
    );
    let c = parse_text(GKE).unwrap();
    assert_eq!(
        c.registry.config_path,
        Some(("/etc/containerd/hosts.d".to_string(), 26))
    );
}

#[test]
fn kind_legacy_mirrors_with_lines_in_order() {
    let c = parse_text(KIND_LEGACY).unwrap();
    assert!(c.registry.config_path.is_none());
    let m = &c.registry.legacy.mirrors;
    assert_eq!(m["localhost:5001"][0].url, "http://kind-registry:5000");
    assert_eq!(m["localhost:5001"][0].line, 25);
    let hub: Vec<(&str, usize)> = m["docker.io"]
        .iter()
        .map(|e| (e.url.as_str(), e.line))
        .collect();
    assert_eq!(
        hub,
        [
            ("https://mirror.gcr.io", 28),
            ("https://registry-1.docker.io", 29)
        ]
    );
}

#[test]
fn version_1_layout() {
    let c = parse_text(
        "root = \"/var/lib/containerd\"\n[plugins.cri]\nsandbox_image = \"p\"\n[plugins.cri.registry]\nconfig_path = \"/etc/containerd/certs.d\"\n",
    )
    .unwrap();
    assert_eq!(c.version, 1);
    assert_eq!(c.section.as_deref(), Some(V1_CRI));
    assert!(c.registry.config_path.is_some());
}

#[test]
fn configs_tls_and_auth_presence_only() {
    let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example:5000".tls]
  ca_file = "/etc/ca.pem"
  cert_file = "/etc/c.pem"
  key_file = "/etc/k.pem"
  insecure_skip_verify = true
[plugins."io.containerd.grpc.v1.cri".registry.configs."gcr.io".auth]
  username = "_json_key"
  password = "s3cr3t-value"
[plugins."io.containerd.grpc.v1.cri".registry.auths."https://quay.io"]
  auth = "dXNlcjpzM2NyM3Q="
[plugins."io.containerd.grpc.v1.cri".registry.headers]
  X-Custom = ["a"]
"#;
    let c = parse_text(text).unwrap();
    let configs = &c.registry.legacy.configs;
    let tls = configs["reg.example:5000"].tls.as_ref().unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert_eq!(tls.key_file.as_deref(), Some(Path::new("/etc/k.pem")));
    assert!(tls.insecure_skip_verify && tls.line == 2);
    assert!(configs["gcr.io"].auth && configs["quay.io"].auth);
    assert!(!configs["reg.example:5000"].auth);
    assert_eq!(c.registry.headers, [("X-Custom".into(), "a".into())]);
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains("dXNlcjpz"),
        "{debug}"
    );
}

#[test]
fn unknown_keys_and_other_plugins_are_ignored() {
    let text = r#"version = 2
imports = ["/etc/containerd/conf.d/*.toml"]
[plugins."io.containerd.snapshotter.v1.stargz".registry.mirrors."docker.io"]
  endpoint = 42
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
  something_new = true
[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".tls]
  insecure_skip_verify = false
  future_key = "x"
"#;
    let c = parse_text(text).unwrap();
    assert!(
        c.registry.config_path.is_none(),
        "empty config_path is unset"
    );
    assert!(c.registry.legacy.configs.contains_key("r.example"));
    assert!(c.notes[0].contains("imports"), "{:?}", c.notes);
    assert!(parse_text("").unwrap().registry.is_empty());
}

#[test]
fn version_mismatched_sections() {
    let v3_with_old =
        "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/x\"\n";
    let c = parse_text(v3_with_old).unwrap();
    assert!(c.registry.config_path.is_none());
    assert!(
        c.notes[0].contains("ignored by containerd 2.x"),
        "{:?}",
        c.notes
    );
    let v2_with_new =
        "version = 2\n[plugins.\"io.containerd.cri.v1.images\".registry]\nconfig_path = \"/x\"\n";
    let c = parse_text(v2_with_new).unwrap();
    assert!(c.registry.config_path.is_some());
    assert!(c.notes[0].contains("containerd 2.x only"), "{:?}", c.notes);
    let err = parse_text("version = 4\n").unwrap_err().to_string();
    assert!(err.contains("unsupported version 4"), "{err}");
}

#[test]
fn malformed_toml_names_file_and_line() {
    let err = parse_text(
        "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry\nconfig_path = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/etc/containerd/config.toml") && err.contains("line 3"),
        "{err}"
    );
    let err = parse_text(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3"), "{err}");
    let err = parse_text(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = \"https://m\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn missing_default_is_defaults_missing_explicit_is_error() {
    let err = load(Some(Path::new("/nonexistent/config.toml"))).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/config.toml"));
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("config.toml");
    std::fs::write(&f, EKS_AL2023).unwrap();
    let c = load(Some(&f)).unwrap().unwrap();
    assert_eq!(c.path, f);
}
