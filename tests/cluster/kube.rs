//! The cluster of `scripts/cluster up` as the tests reach it: its `cluster.json`
//! (PULLCHECK_CLUSTER), the real kubectl of the same minor with the admin kubeconfig, pods and
//! their events read back through the API server, and polling with a deadline.

use crate::support::{run_with_env, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub json: Value,
}

/// Whether the tier has a cluster (PULLCHECK_CLUSTER). Without one a test says it was skipped
/// and passes: `scripts/test` builds every tier with one feature set (`bed,cluster`), runs the
/// hermetic and bed tiers without a cluster, then this binary inside each minor's cluster.
pub fn present(test: &str) -> bool {
    if std::env::var_os("PULLCHECK_CLUSTER").is_some() {
        return true;
    }
    println!(
        "SKIPPED {test}: PULLCHECK_CLUSTER is not set (scripts/cluster up DIR; scripts/cluster exec DIR -- cargo test --features cluster --test cluster)"
    );
    false
}

/// The cluster named by PULLCHECK_CLUSTER (a `cluster.json`); the tier runs inside its
/// namespaces (`scripts/cluster exec DIR -- …`).
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let path = std::env::var("PULLCHECK_CLUSTER").expect(
            "PULLCHECK_CLUSTER names the cluster.json of `scripts/cluster up DIR` (scripts/test sets it)",
        );
        let json: Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        Cluster { json }
    })
}

impl Cluster {
    pub fn str(&self, pointer: &str) -> String {
        self.json
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("cluster.json has no {pointer}"))
            .to_string()
    }

    pub fn kubeconfig(&self) -> String {
        self.str("/kubeconfig")
    }

    pub fn minor(&self) -> String {
        self.str("/kubernetes")
    }

    /// The directory holding the binaries the tests put first on PATH: the cluster's kubectl
    /// and this build's `kubectl-pullcheck`.
    pub fn path_env(&self) -> String {
        let kubectl = PathBuf::from(self.str("/bin/kubectl"));
        let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-pullcheck"));
        format!(
            "{}:{}:{}",
            plugin.parent().unwrap().display(),
            kubectl.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `kubectl ARGS…` (the cluster's own kubectl) as the cluster admin (KUBECONFIG: kubectl
    /// refuses flags before a plugin's name).
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.kubectl_as(&self.kubeconfig(), args, stdin)
    }

    /// `kubectl ARGS…` with KUBECONFIG=`kubeconfig`.
    pub fn kubectl_as(&self, kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let path = self.path_env();
        run_with_env(
            &self.str("/bin/kubectl"),
            args,
            stdin,
            &[("PATH", &path), ("KUBECONFIG", kubeconfig)],
        )
    }

    /// kubectl that must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.kubectl(args, stdin);
        assert_eq!(
            run.code,
            0,
            "kubectl {}: {}{}",
            args.join(" "),
            run.stderr,
            run.stdout
        );
        run.stdout
    }

    pub fn apply(&self, doc: &Value) {
        self.kubectl_ok(&["apply", "-f", "-"], Some(&doc.to_string()));
    }

    pub fn get(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl_ok(&all, None);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {args:?}: {e}"))
    }

    /// A fresh namespace of this name (deleted first when a previous run left it).
    pub fn namespace(&self, name: &str) {
        let _ = self.kubectl(
            &[
                "delete",
                "namespace",
                name,
                "--ignore-not-found",
                "--wait=true",
            ],
            None,
        );
        self.ensure_namespace(name);
    }

    /// Namespace NAME, kept when it exists (applied, not created: tests running side by side
    /// may ask for the same one), once its default service account exists (the controller
    /// manager makes it).
    pub fn ensure_namespace(&self, name: &str) {
        self.apply(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
        wait_for(
            &format!("service account {name}/default"),
            Duration::from_secs(60),
            || {
                let r = self.kubectl(&["-n", name, "get", "serviceaccount", "default"], None);
                (r.code == 0).then_some(())
            },
        );
    }

    /// Events whose involved object is pod NS/NAME.
    pub fn pod_events(&self, ns: &str, name: &str) -> Vec<Value> {
        let sel = format!("involvedObject.kind=Pod,involvedObject.name={name}");
        let list = self.get(&["events", "-n", ns, "--field-selector", &sel]);
        list["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Polls `f` until it returns Some, at most `limit`; panics naming `what` otherwise.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not after {} s",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
