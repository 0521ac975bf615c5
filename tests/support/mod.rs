//! The shared test bed (scripts/testbed.py: docker-registry, nginx, openssl, skopeo on
//! loopback) and helpers to run the `pullcheck` binary against it.
//!
//! `PULLCHECK_TESTBED=/path/bed.json` reuses a running bed (`scripts/testbed.py up DIR`); otherwise
//! the first test starts one in a temporary directory. The bed exits when this process does:
//! it watches its standard input, which only this process holds.
#![allow(dead_code)]

pub mod agent;
pub mod cluster;
pub mod containerd;
pub mod fakes;
pub mod kube_fake;
pub mod table;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Proxy variables cleared for every program the tests start (the bed is on loopback).
pub const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub struct Bed {
    pub json: Value,
    pub dir: PathBuf,
    _child: Option<Mutex<Child>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Bed {
    pub fn port(&self, name: &str) -> u64 {
        self.json["ports"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("bed has no port {name}"))
    }
    pub fn addr(&self, name: &str) -> String {
        format!("127.0.0.1:{}", self.port(name))
    }
    pub fn str(&self, key: &str) -> String {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("bed has no {key}"))
            .to_string()
    }
    pub fn password(&self) -> String {
        self.str("password")
    }
    pub fn user(&self) -> String {
        self.str("user")
    }
}

pub fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(start_bed)
}

fn start_bed() -> Bed {
    if let Ok(path) = std::env::var("PULLCHECK_TESTBED") {
        let json: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read PULLCHECK_TESTBED"))
                .expect("bed.json");
        let dir = PathBuf::from(json["dir"].as_str().unwrap());
        return Bed {
            json,
            dir,
            _child: None,
            _tmp: None,
        };
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed.py");
    // The bed outlives this process (it stops when our end of its stdin closes) and removes
    // its directory then: this process never drops the static that holds it.
    let child = Command::new("python3")
        .arg(script)
        .arg("up")
        .arg(tmp.path())
        .arg("--remove-on-exit")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start scripts/testbed.py (python3)");
    let bed_json = tmp.path().join("bed.json");
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut child = child;
    while !bed_json.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("test bed exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "test bed did not come up in 180 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let json: Value = serde_json::from_slice(&std::fs::read(&bed_json).unwrap()).unwrap();
    Bed {
        json,
        dir: tmp.path().to_path_buf(),
        _child: Some(Mutex::new(child)),
        _tmp: Some(tmp),
    }
}

/// The result of one CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

pub fn pullcheck(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    run_with_env(env!("CARGO_BIN_EXE_pullcheck"), args, stdin, env)
}

/// Runs any program (e.g. `nsenter … pullcheck …`) with the proxy variables cleared.
pub fn run_program(program: &str, args: &[&str], stdin: Option<&str>) -> Run {
    run_with_env(program, args, stdin, &[])
}

/// [`run_program`] with more environment variables.
pub fn run_with_env(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    // A containerd running on this machine (Docker's, or a test's) must not lend its proxy
    // environment to these probes: they use pullcheck's own.
    cmd.env("PULLCHECK_PROC_ROOT", "/nonexistent/proc");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run pullcheck");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `pullcheck probe IMAGE -o json EXTRA…`, as it ran.
pub fn probe_run(image: &str, extra: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut args = vec!["probe", image, "-o", "json"];
    args.extend_from_slice(extra);
    pullcheck(&args, stdin, env)
}

/// `pullcheck probe IMAGE -o json EXTRA…`, asserting the verdict and returning the report.
pub fn probe_json(
    image: &str,
    extra: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
    verdict: &str,
) -> Value {
    let run = probe_run(image, extra, stdin, env);
    let report = run.json();
    assert_eq!(
        report["verdict"], verdict,
        "image {image} {extra:?}:\n{}",
        run.stdout
    );
    assert_eq!(
        run.code as i64,
        report["exitCode"].as_i64().unwrap(),
        "exit code matches the report"
    );
    assert_no_secret(&run);
    report
}

/// Panics when a run's output holds the bed's password, or `PULLCHECK_TEST_NEVER`'s value.
pub fn assert_no_secret(run: &Run) {
    let mut secrets = vec![bed().password()];
    secrets.extend(std::env::var("PULLCHECK_TEST_NEVER").ok());
    for secret in &secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a credential leaked into output"
        );
    }
}

/// The bed's redirect sink's record of the requests whose path holds `marker`: each redirected
/// request, and whether it carried an `Authorization` header. The broken registry redirects
/// `/v2/redirect/<repo>/…` to the sink under the same path, so a test that redirects its own
/// repository reads only its own requests.
pub fn redirect_record(marker: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(bed().str("sink_record")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["path"].as_str().is_some_and(|p| p.contains(marker)))
        .collect()
}

/// A certs.d root with one hosts.toml per (registry host, body).
pub fn hosts_dir(entries: &[(&str, String)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (host, body) in entries {
        let dir = d.path().join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts.toml"), body).unwrap();
    }
    d
}

/// hosts.toml for a plain-HTTP registry.
pub fn http_hosts(addr: &str) -> tempfile::TempDir {
    hosts_dir(&[(addr, format!("server = \"http://{addr}\"\n"))])
}

/// The description of `pullcheck node`'s identity line of `kind` (`eks`, `gke`, `cloud`, …).
pub fn node_identity(node: &Value, kind: &str) -> Option<String> {
    node["identities"]
        .as_array()?
        .iter()
        .find(|i| i["kind"] == kind)
        .and_then(|i| i["description"].as_str())
        .map(str::to_string)
}

/// The first manifest GET of the report's evidence (a HEAD comes first, and has no body).
pub fn manifest_get(report: &Value) -> &Value {
    report["evidence"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|x| x["step"] == "manifest" && x["method"] == "GET")
        })
        .unwrap_or(&Value::Null)
}

/// Each exchange of the report's evidence as (step, status); a manifest HEAD is
/// `manifest HEAD`.
pub fn steps(report: &Value) -> Vec<(String, Option<u64>)> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let step = e["step"].as_str().unwrap();
            let step = if step == "manifest" && e["method"] == "HEAD" {
                "manifest HEAD".to_string()
            } else {
                step.to_string()
            };
            (step, e["status"].as_u64())
        })
        .collect()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The test binary's fake Kubernetes API server (the one fake: [`kube_fake::KubeFake`]),
/// started on first use, with a kubeconfig naming it and a token of its own for the agent.
pub struct Kube {
    /// The server.
    pub fake: kube_fake::KubeFake,
    kubeconfig: tempfile::NamedTempFile,
}

impl Kube {
    /// The kubeconfig's path.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig.path().to_str().unwrap().to_string()
    }
}

/// A kubeconfig for `server` (`http://HOST:PORT`) with the bearer token `token`.
pub fn kubeconfig_for(server: &str, token: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: agent\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: agent\ncurrent-context: fake\n"
        ),
    )
    .unwrap();
    f
}

/// The fake Kubernetes API of this test binary.
pub fn kube() -> &'static Kube {
    static KUBE: OnceLock<Kube> = OnceLock::new();
    KUBE.get_or_init(|| {
        let fake = kube_fake::KubeFake::start();
        let kubeconfig = kubeconfig_for(&fake.url(), "pullcheck-test-kube-token");
        Kube { fake, kubeconfig }
    })
}

/// Stores an object in [`kube`]'s store, under the path its kind and metadata give it.
pub fn kube_put(body: Value) {
    kube().fake.put(body);
}

/// Standard base64, as Kubernetes secrets and docker configs carry values.
pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `kubernetes.io/dockerconfigjson` secret with one `auths` entry for `registry`.
pub fn dockerconfigjson_secret(
    ns: &str,
    name: &str,
    registry: &str,
    user: &str,
    password: &str,
) -> Value {
    let config =
        serde_json::json!({"auths": {registry: {"auth": b64(&format!("{user}:{password}"))}}});
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
           "metadata": {"name": name, "namespace": ns},
           "data": {".dockerconfigjson": b64(&config.to_string())}})
}

/// The environment that sends the EKS identity's ECR API calls to the bed's moto server and
/// keeps the machine's AWS configuration out.
pub fn ecr_env() -> Vec<(&'static str, String)> {
    let b = bed();
    assert!(
        b.json["moto"].as_bool().unwrap_or(false),
        "moto_server (PyPI moto[server]) is needed for the ECR API; scripts/test installs it"
    );
    vec![
        (
            "AWS_ENDPOINT_URL_ECR",
            format!("http://127.0.0.1:{}", b.port("ecr")),
        ),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials".into(),
        ),
    ]
}
