//! Faults of a real cluster:
//!
//! - the agent pod killed mid-watch: the DaemonSet controller replaces it, the new agent's
//!   monitor diagnoses new failures, and a failure already diagnosed gets no second Event;
//! - the API server restarted: the agent's watch resumes (a pod that fails afterwards is
//!   diagnosed);
//! - a pull secret deleted while a pod uses it: `pullcheck probe --pod` and `kubectl pullcheck
//!   pod` follow (the registry's answer changes from a missing tag to an anonymous refusal).
//!
//! These restart shared parts of the cluster; each takes [`exclusive`], the other tests
//! [`shared`], so nothing else runs while the agent or the API server is down.

use crate::kube::{cluster, wait_for};
use crate::support::{b64, bed, pullcheck};
use serde_json::{json, Value};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

const NS: &str = "faults";

static CLUSTER_LOCK: RwLock<()> = RwLock::new(());

/// Held by tests that need the agent and the API server up.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    CLUSTER_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by tests that stop parts of the cluster or change what the node pulls with.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CLUSTER_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

fn failing_pod(name: &str, image: &str, secret: Option<&str>) {
    let secrets: Vec<Value> = secret.iter().map(|s| json!({"name": s})).collect();
    cluster().apply(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"hostNetwork": true, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                 "automountServiceAccountToken": false, "imagePullSecrets": secrets,
                 "containers": [{"name": "app", "image": image, "imagePullPolicy": "Always",
                                 "command": ["/app"]}]}
    }));
}

fn diagnoses(name: &str) -> Vec<Value> {
    cluster()
        .pod_events(NS, name)
        .into_iter()
        .filter(|e| e["reason"] == "PullDiagnosis")
        .collect()
}

fn wait_diagnosed(name: &str) -> Vec<Value> {
    wait_for(
        &format!("the agent's PullDiagnosis on {NS}/{name}"),
        Duration::from_secs(150),
        || {
            let d = diagnoses(name);
            (!d.is_empty()).then_some(d)
        },
    )
}

fn agent_pods() -> Vec<(String, bool)> {
    let c = cluster();
    let ns = c.str("/agent_namespace");
    let list = c.get(&["pods", "-n", &ns, "-l", "app.kubernetes.io/name=pullcheck"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (p["metadata"]["name"].as_str().unwrap().to_string(), ready)
        })
        .collect()
}

#[test]
fn a_killed_agent_is_replaced_and_resumes_without_duplicate_events() {
    if !crate::kube::present("a_killed_agent_is_replaced_and_resumes_without_duplicate_events") {
        return;
    }
    let _x = exclusive();
    cluster().ensure_namespace(NS);
    let c = cluster();
    let image = format!("{}/app:gone-before", bed().addr("plain"));
    failing_pod("before-kill", &image, None);
    let first = wait_diagnosed("before-kill");
    assert_eq!(first.len(), 1, "{first:#?}");

    let old = agent_pods();
    assert_eq!(old.len(), 1, "{old:?}");
    let ns = c.str("/agent_namespace");
    c.kubectl_ok(
        &[
            "-n",
            &ns,
            "delete",
            "pod",
            &old[0].0,
            "--grace-period=0",
            "--force",
        ],
        None,
    );
    let new = wait_for(
        "the DaemonSet's replacement agent, Ready",
        Duration::from_secs(120),
        || {
            let pods = agent_pods();
            (pods.len() == 1 && pods[0].0 != old[0].0 && pods[0].1).then(|| pods[0].0.clone())
        },
    );
    println!("agent {} replaced by {new}", old[0].0);

    // The new agent works: a failure after the restart is diagnosed ...
    let image2 = format!("{}/app:gone-after", bed().addr("plain"));
    failing_pod("after-kill", &image2, None);
    wait_diagnosed("after-kill");
    // ... and the one diagnosed before got no second event (same name: the API server answered
    // the new agent's create with AlreadyExists).
    let again = diagnoses("before-kill");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0]["count"].as_u64().unwrap_or(1), 1, "{again:#?}");
}

#[test]
fn the_watch_resumes_after_the_api_server_restarts() {
    if !crate::kube::present("the_watch_resumes_after_the_api_server_restarts") {
        return;
    }
    let _x = exclusive();
    cluster().ensure_namespace(NS);
    let c = cluster();
    let dir = c.str("/dir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster");
    let out = std::process::Command::new(&script)
        .args(["restart", &dir, "kube-apiserver"])
        .output()
        .expect("scripts/cluster restart");
    assert!(
        out.status.success(),
        "restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = format!("{}/app:gone-after-restart", bed().addr("plain"));
    failing_pod("after-api-restart", &image, None);
    let d = wait_diagnosed("after-api-restart");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("manifest_unknown"),
        "{d:#?}"
    );
}

fn verdict_of_probe(image: &str, pod: &str) -> String {
    let c = cluster();
    let run = pullcheck(
        &[
            "probe",
            image,
            "--pod",
            &format!("{NS}/{pod}"),
            "--kubeconfig",
            &c.kubeconfig(),
            "--containerd-config",
            &c.str("/containerd/config"),
            "-o",
            "json",
        ],
        None,
        &[],
    );
    run.json()["verdict"].as_str().unwrap().to_string()
}

fn verdict_of_plugin(pod: &str) -> String {
    let run = cluster().kubectl(
        &[
            "pullcheck",
            "pod",
            "-n",
            NS,
            pod,
            "--all-containers",
            "-o",
            "json",
        ],
        None,
    );
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("kubectl pullcheck pod: {e}: {}{}", run.stdout, run.stderr));
    doc["containers"][0]["agent"]["verdict"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

#[test]
fn deleting_a_pull_secret_the_verdict_follows() {
    if !crate::kube::present("deleting_a_pull_secret_the_verdict_follows") {
        return;
    }
    let _s = shared();
    cluster().ensure_namespace(NS);
    let c = cluster();
    let b = bed();
    let token = b.addr("token");
    let auth = b64(&format!("{}:{}", b.user(), b.password()));
    let config = json!({"auths": {&token: {"auth": auth}}}).to_string();
    c.apply(&json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-pull", "namespace": NS},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(&config)}
    }));
    // Authorised, but the tag is missing: the secret is what lets the registry say so.
    let image = format!("{token}/private/app:missing");
    failing_pod("secret-goes", &image, Some("team-pull"));
    assert_eq!(verdict_of_probe(&image, "secret-goes"), "manifest_unknown");
    wait_for(
        "the plugin's manifest_unknown",
        Duration::from_secs(60),
        || (verdict_of_plugin("secret-goes") == "manifest_unknown").then_some(()),
    );
    c.kubectl_ok(&["-n", NS, "delete", "secret", "team-pull"], None);
    // Without it the pull is anonymous, and the registry no longer says which.
    assert_eq!(
        verdict_of_probe(&image, "secret-goes"),
        "not_found_or_unauthorized"
    );
    wait_for(
        "the plugin following the deleted secret",
        Duration::from_secs(60),
        || (verdict_of_plugin("secret-goes") == "not_found_or_unauthorized").then_some(()),
    );
}
