//! A simulated cluster for the kubectl plugin tests: the fake API server
//! ([`super::kube_fake`]) holding nodes and agent pods whose port-forwards lead to real
//! `pullcheck agent` processes, a kubeconfig pointing at it, and a runner for the
//! `kubectl-pullcheck` binary.

use super::agent::Agent;
use super::b64;
use super::kube_fake::{Forward, KubeFake};
use super::{bed, hosts_dir, path, Run};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The agent namespace and selector the plugin defaults to.
pub const AGENT_NS: &str = "pullcheck";

/// A Node object with a pool (EKS node group label), zone and architecture.
pub fn node(name: &str, pool: &str, zone: &str, arch: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {
               "kubernetes.io/hostname": name,
               "eks.amazonaws.com/nodegroup": pool,
               "node.kubernetes.io/instance-type": "m5.large",
               "topology.kubernetes.io/zone": zone,
               "kubernetes.io/arch": arch}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

/// An agent pod on `node` (DaemonSet labels, Running; Ready as given).
pub fn agent_pod(name: &str, node: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": AGENT_NS,
                        "labels": {"app.kubernetes.io/name": "pullcheck", "app.kubernetes.io/instance": "pullcheck"}},
           "spec": {"nodeName": node, "hostNetwork": true,
                    "containers": [{"name": "agent", "image": "registry.example/pullcheck:0.1.0"}]},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

/// A fake API server with a kubeconfig for it.
pub struct Sim {
    pub fake: KubeFake,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Sim {
    /// An empty cluster; the kubeconfig's context `sim` (namespace `default`) is current.
    pub fn new() -> Sim {
        let fake = KubeFake::start();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        KubeFake::write_kubeconfig(&kubeconfig, &[("sim", &fake.url(), "default")]);
        Sim {
            fake,
            kubeconfig,
            dir,
        }
    }

    /// Adds node `name` in `pool`, with an agent pod `agent-<name>` forwarding to `agent`
    /// (None: no agent pod on the node).
    pub fn add_node(&self, name: &str, pool: &str, agent: Option<Forward>) {
        let arch = if pool.contains("arm") {
            "arm64"
        } else {
            "amd64"
        };
        self.fake.put(node(name, pool, "zone-a", arch));
        if let Some(f) = agent {
            let pod = format!("agent-{name}");
            self.fake.put(agent_pod(&pod, name, true));
            self.fake.forward(AGENT_NS, &pod, f);
        }
    }

    /// `count` nodes `{prefix}-{i:04}` in `pool`, their agents forwarding to `to`.
    pub fn add_nodes(&self, prefix: &str, pool: &str, count: usize, to: SocketAddr) {
        for i in 0..count {
            self.add_node(&format!("{prefix}-{i:04}"), pool, Some(Forward::To(to)));
        }
    }

    /// Runs `kubectl-pullcheck ARGS` with `--kubeconfig` set to this cluster's.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--kubeconfig", self.kubeconfig.to_str().unwrap()];
        all.extend_from_slice(args);
        kubectl_pullcheck(&all, &[])
    }
}

/// Runs the plugin binary with the proxy variables cleared, KUBECONFIG unset unless `env`
/// sets it.
pub fn kubectl_pullcheck(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-pullcheck"));
    cmd.args(args);
    for var in super::PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.env_remove("KUBERNETES_SERVICE_HOST");
    cmd.env("KUBECONFIG", "/nonexistent/pullcheck-test-kubeconfig");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-pullcheck");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "kubectl-pullcheck panicked:\n{}",
        run.stderr
    );
    run
}

/// Two agents behind the simulated nodes; keeps their directories alive.
pub struct RegistryAgents {
    pub right: Agent,
    pub wrong: Agent,
    pub image: String,
    _dirs: Vec<tempfile::TempDir>,
}

/// The bed's TLS registry with basic auth, as a node docker config.
fn docker_config(registry: &str, user: &str, password: &str) -> String {
    json!({"auths": {registry: {"auth": b64(&format!("{user}:{password}"))}}}).to_string()
}

/// Starts the two agents (they read pods and secrets from `sim`'s API server).
pub fn agents(sim: &Sim) -> RegistryAgents {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = hosts_dir(&[(
        &tls,
        format!("server = \"https://{tls}\"\nca = \"{}\"\n", b.str("ca")),
    )]);
    let node_dir = |password: &str| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            docker_config(&tls, &b.user(), password),
        )
        .unwrap();
        d
    };
    let (right_dir, wrong_dir) = (node_dir(&b.password()), node_dir("not-the-password"));
    let kubeconfig = sim.kubeconfig.to_str().unwrap().to_string();
    let start = |dir: &tempfile::TempDir| {
        Agent::start(
            &[
                "--hosts-dir",
                path(hosts.path()),
                "--kubelet-root-dir",
                path(dir.path()),
                "--kubeconfig",
                &kubeconfig,
            ],
            &[],
        )
    };
    RegistryAgents {
        right: start(&right_dir),
        wrong: start(&wrong_dir),
        image: format!("{tls}/app:amd64"),
        _dirs: vec![hosts, right_dir, wrong_dir],
    }
}

/// A dockerconfigjson Secret in the fake API server.
pub fn put_secret(sim: &Sim, ns: &str, name: &str, registry: &str, user: &str, password: &str) {
    sim.fake.put(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": ns},
        "data": {".dockerconfigjson": b64(&docker_config(registry, user, password))}}));
}
