//! A real containerd (Debian `containerd` + `runc`) for the runtime tests: its own root, state,
//! socket, `config_path` and snapshotter `native` under a temporary directory, in a private mount
//! namespace whose `/etc/hosts` maps `*.registry.test` names to 127.0.0.1 (containerd treats
//! loopback registries without hosts.toml as plain HTTP, so TLS mistakes only reproduce under a
//! name). It stops when this test process exits: a shell holding its stdin kills it on EOF.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Names the private `/etc/hosts` resolves to 127.0.0.1.
pub const NAMES: &[&str] = &[
    "tls.registry.test",
    "plain.registry.test",
    "mirror.registry.test",
    "pullonly.registry.test",
];

pub struct Containerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub certs_d: PathBuf,
    pub pid: u32,
    _child: Mutex<Child>,
    _tmp: tempfile::TempDir,
}

impl Containerd {
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Writes `certs.d/<host>/hosts.toml` (each test uses its own registry host:port).
    pub fn hosts_toml(&self, host: &str, body: &str) {
        let dir = self.certs_d.join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts.toml"), body).unwrap();
    }
}

pub fn containerd() -> &'static Containerd {
    static CTD: OnceLock<Containerd> = OnceLock::new();
    CTD.get_or_init(start)
}

fn start() -> Containerd {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let socket = d.join("containerd.sock");
    let certs_d = d.join("certs.d");
    std::fs::create_dir_all(&certs_d).unwrap();
    std::fs::create_dir_all(d.join("cni/conf")).unwrap();
    let hosts = d.join("hosts");
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
    for n in NAMES {
        text.push_str(&format!("127.0.0.1 {n}\n"));
    }
    std::fs::write(&hosts, text).unwrap();
    let config = d.join("config.toml");
    std::fs::write(&config, config_toml(d)).unwrap();
    let log = std::fs::File::create(d.join("containerd.log")).unwrap();
    // unshare gives containerd its own mount namespace; the bind mount of /etc/hosts is
    // visible only there. `cat` holds our pipe: when this process exits, containerd is killed.
    let script = format!(
        "mount --bind '{hosts}' /etc/hosts && {{ containerd --config '{config}' & pid=$!; echo $pid > '{pidfile}'; cat >/dev/null; kill $pid; wait $pid; }}",
        hosts = hosts.display(),
        config = config.display(),
        pidfile = d.join("pid").display(),
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start containerd (unshare, containerd)");
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(30);
    let pidfile = d.join("pid");
    while !(socket.exists() && pidfile.exists()) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "containerd exited early: {status}\n{}",
                std::fs::read_to_string(d.join("containerd.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "containerd did not start in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Containerd {
        dir: d.to_path_buf(),
        socket,
        config,
        certs_d,
        pid,
        _child: Mutex::new(child),
        _tmp: tmp,
    }
}

/// containerd 1.x configuration (version 2 schema), everything under `d`.
pub fn config_toml(d: &Path) -> String {
    let d = d.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#
    )
}
