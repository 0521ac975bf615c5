//! A real containerd (Debian `containerd` + `runc`) for the runtime tests: its own root, state,
//! socket, `config_path` and snapshotter `native` under a temporary directory, in a private mount
//! namespace whose `/etc/hosts` maps `*.registry.test` names to 127.0.0.1 (containerd treats
//! loopback registries without hosts.toml as plain HTTP, so TLS mistakes only reproduce under a
//! name), and whose `/etc/resolv.conf` names a resolver of the tests' own that answers
//! NXDOMAIN for every other name (a storage host that does not resolve). It stops when this
//! test process exits: a shell holding its stdin kills it on EOF.
//! [`containerd`] is the one shared instance; [`Private`] is a test's own, which it may kill
//! and start again on the same socket (the fault tests).
//!
//! Which containerd: `PULLCHECK_CONTAINERD` names its binary (the version matrix of
//! `scripts/test` runs the runtime tests once per version, fetched by
//! `scripts/lib/containerd-versions.sh`); otherwise the `containerd` on `PATH` (Debian's 1.6).
//! Each is started with the configuration layout its major version wants ([`config_toml`]).
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

/// The resolver containerd's namespace uses (NXDOMAIN for everything; `/etc/hosts` has the
/// names that resolve).
pub const RESOLVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 154);

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

    /// Writes `certs.d/<host>/hosts.toml` for as long as the guard lives (for a host:port
    /// other tests use without one).
    pub fn scoped_hosts_toml(&self, host: &str, body: &str) -> ScopedHosts {
        self.hosts_toml(host, body);
        ScopedHosts(self.certs_d.join(host))
    }

    /// Writes `certs.d/<host>/hosts.toml` (each test uses its own registry host:port).
    pub fn hosts_toml(&self, host: &str, body: &str) {
        write_hosts_toml(&self.certs_d, host, body);
    }
}

/// Writes `<certs_d>/<host>/hosts.toml`.
fn write_hosts_toml(certs_d: &Path, host: &str, body: &str) {
    let dir = certs_d.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts.toml"), body).unwrap();
}

/// The containerd binary the tests run.
pub fn binary() -> String {
    std::env::var("PULLCHECK_CONTAINERD").unwrap_or_else(|_| "containerd".into())
}

/// The tested containerd's version as it prints it (`containerd --version`'s third word,
/// `v` removed: `1.6.20~ds1`, `1.7.24~ds1`, `2.1.9+unknown`).
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let out = Command::new(binary())
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{} --version: {e}", binary()));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no version in {text:?}"))
            .trim_start_matches('v')
            .to_string()
    })
}

/// (major, minor) of [`version`].
pub fn major_minor() -> (u32, u32) {
    let v = pullcheck::runtime::version::RuntimeVersion::from_runtime("containerd", version());
    (v.major, v.minor)
}

/// `major.minor.patch` of [`version`], for fixture names (`containerd-1.7.24-messages.tsv`).
pub fn plain_version() -> String {
    version()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("")
        .to_string()
}

/// Removes a `certs.d/<host>` directory when dropped (see [`Containerd::scoped_hosts_toml`]).
pub struct ScopedHosts(PathBuf);

impl Drop for ScopedHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn containerd() -> &'static Containerd {
    static CTD: OnceLock<Containerd> = OnceLock::new();
    CTD.get_or_init(start)
}

fn start() -> Containerd {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    prepare(d);
    let (child, pid) = launch(d, None);
    Containerd {
        dir: d.to_path_buf(),
        socket: d.join("containerd.sock"),
        config: d.join("config.toml"),
        certs_d: d.join("certs.d"),
        pid,
        _child: Mutex::new(child),
        _tmp: tmp,
    }
}

/// Writes the private `/etc/hosts`, `certs.d/` and `config.toml` under `d`.
fn prepare(d: &Path) {
    std::fs::create_dir_all(d.join("certs.d")).unwrap();
    std::fs::create_dir_all(d.join("cni/conf")).unwrap();
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
    for n in NAMES {
        text.push_str(&format!("127.0.0.1 {n}\n"));
    }
    std::fs::write(d.join("hosts"), text).unwrap();
    std::fs::write(
        d.join("resolv.conf"),
        format!("nameserver {RESOLVER}\noptions timeout:1 attempts:1\n"),
    )
    .unwrap();
    std::fs::write(d.join("config.toml"), config_toml(d)).unwrap();
}

/// The resolver every containerd of this process names in its `resolv.conf`: started once,
/// before the first containerd, and kept for the life of the process (one address, so one
/// owner; a containerd that outlives the test that started the resolver still has it).
/// When the address is taken (a DNS server of the machine on `*:53`), that server answers
/// instead, and the tests say so on stderr.
fn resolver() {
    static RESOLVER_UP: OnceLock<Option<super::fakes::Resolver>> = OnceLock::new();
    RESOLVER_UP.get_or_init(|| {
        super::fakes::Resolver::start(RESOLVER, super::fakes::Dns::NxDomain)
            .inspect_err(|e| {
                eprintln!("containerd tests: no resolver of their own on {RESOLVER}:53 ({e})")
            })
            .ok()
    });
}

/// Starts containerd on the configuration under `d` and waits for its socket; returns the
/// `unshare` shell holding it and containerd's pid. `root_size`: containerd's root is a tmpfs
/// of that size (a node whose image filesystem is nearly full), visible in its namespace only.
fn launch(d: &Path, root_size: Option<&str>) -> (Child, u32) {
    resolver();
    let socket = d.join("containerd.sock");
    let pidfile = d.join("pid");
    let _ = std::fs::remove_file(&pidfile);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("containerd.log"))
        .unwrap();
    // unshare gives containerd its own mount namespace; the bind mount of /etc/hosts is
    // visible only there. `cat` holds our pipe: when this process exits, containerd is killed.
    let root = d.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let small_root = root_size
        .map(|size| {
            format!(
                "mount -t tmpfs -o size={size} tmpfs '{}' && ",
                root.display()
            )
        })
        .unwrap_or_default();
    let script = format!(
        "mount --bind '{hosts}' /etc/hosts && mount --bind '{resolv}' /etc/resolv.conf && {small_root}{{ '{binary}' --config '{config}' & pid=$!; echo $pid > '{pidfile}'; cat >/dev/null; kill $pid; wait $pid; }}",
        hosts = d.join("hosts").display(),
        resolv = d.join("resolv.conf").display(),
        config = d.join("config.toml").display(),
        pidfile = pidfile.display(),
        binary = binary(),
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start containerd (unshare, containerd)");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let (Some(pid), true) = (pid, socket.exists()) {
            break pid;
        }
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
    };
    (child, pid)
}

/// A containerd of one test's own, which the test may stop and start again on the same root,
/// state and socket (the fault tests). Stopped when dropped.
pub struct Private {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    running: Option<(Child, u32)>,
    root_size: Option<String>,
    _tmp: tempfile::TempDir,
}

impl Private {
    pub fn start() -> Private {
        Self::start_with(None)
    }

    /// A containerd whose root (content store and snapshots) is a tmpfs of `size` (`16m`).
    pub fn with_small_root(size: &str) -> Private {
        Self::start_with(Some(size))
    }

    /// A containerd on the tests' configuration as `edit` rewrites it (given the directory and
    /// the text).
    pub fn with_config(edit: impl FnOnce(&Path, String) -> String) -> Private {
        Self::start_edited(None, edit)
    }

    fn start_with(root_size: Option<&str>) -> Private {
        Self::start_edited(root_size, |_, text| text)
    }

    fn start_edited(
        root_size: Option<&str>,
        edit: impl FnOnce(&Path, String) -> String,
    ) -> Private {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path().to_path_buf();
        prepare(&d);
        let config = d.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, edit(&d, text)).unwrap();
        let running = Some(launch(&d, root_size));
        Private {
            socket: d.join("containerd.sock"),
            config: d.join("config.toml"),
            dir: d,
            running,
            root_size: root_size.map(str::to_string),
            _tmp: tmp,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Writes `certs.d/<host>/hosts.toml`.
    pub fn hosts_toml(&self, host: &str, body: &str) {
        write_hosts_toml(&self.dir.join("certs.d"), host, body);
    }

    /// containerd's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|(_, pid)| *pid)
    }

    /// Kills containerd (SIGKILL, as a crash or an OOM kill would: in-flight calls break,
    /// the socket file stays behind) and waits until it is gone.
    pub fn stop(&mut self) {
        let Some((mut child, pid)) = self.running.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        drop(child.stdin.take());
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends containerd SIGSTOP (`pause`) or SIGCONT (`resume`): stopped, it still accepts on
    /// its socket (the kernel's backlog) and never answers, as a hung runtime does.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("containerd runs");
        let ok = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {pid}");
    }

    /// Starts containerd again on the same configuration (it removes the stale socket).
    pub fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
        self.running = Some(launch(&self.dir, self.root_size.as_deref()));
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        self.stop();
        // A failing test's containerd leaves its last words in the test's output (its
        // directory goes with it).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "containerd log ({}), last {} lines:",
                self.dir.display(),
                tail.len()
            );
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
    }
}

/// The configuration for the tested containerd, everything under `d`: the version 2 schema
/// for 1.x, version 3 for 2.x (given version 2, 2.x migrates it but its transfer service then
/// wants overlayfs: the `native` unpack configuration is version 3's).
pub fn config_toml(d: &Path) -> String {
    if major_minor().0 >= 2 {
        config_v3(d)
    } else {
        config_v2(d)
    }
}

/// What both layouts share: root, state, sockets, opt, the CRI stream server.
fn config_common(d: &std::path::Display<'_>, version: u32, extra_disabled: &str) -> String {
    format!(
        r#"version = {version}
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"{extra_disabled}]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#
    )
}

/// containerd 1.x configuration (version 2 schema).
pub fn config_v2(d: &Path) -> String {
    let d = d.display();
    let common = config_common(&d, 2, "");
    format!(
        r#"{common}  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#
    )
}

/// containerd 2.x configuration (version 3 schema).
pub fn config_v3(d: &Path) -> String {
    let d = d.display();
    let common = config_common(&d, 3, r#", "io.containerd.snapshotter.v1.erofs""#);
    format!(
        r#"{common}
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "native"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{d}/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"

# 2.x runs NRI by default, on one socket for the machine: each containerd of the tests gets its
# own, as several run at once.
[plugins."io.containerd.nri.v1.nri"]
  socket_path = "{d}/nri.sock"

[plugins."io.containerd.transfer.v1.local"]
  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "linux/amd64"
    snapshotter = "native"
"#
    )
}
