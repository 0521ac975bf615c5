//! What each party says about one pod's pull, read the way an SRE would: the kubelet (its
//! waiting reason and message, its `Failed`/`Pulled` event, through the API server), `pullcheck
//! explain` of its text, the agent's `PullDiagnosis` event, `kubectl pullcheck pod` (the real
//! kubectl and port-forward), and `pullcheck probe --pod` on the node. Shared by the agreement
//! scenarios and the kubelet-identity cases.

use crate::kube::cluster;
use crate::support::{b64, pullcheck};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A `kubernetes.io/dockerconfigjson` pull secret NS/NAME for one registry.
pub fn pull_secret(ns: &str, name: &str, registry: &str, user: &str, password: &str) -> Value {
    let auth = b64(&format!("{user}:{password}"));
    let config = json!({"auths": {registry: {"auth": auth}}}).to_string();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(&config)},
    })
}

/// Pod NS/NAME running IMAGE once (pulled always), on the node's network, with these pull
/// secrets.
pub fn pod(ns: &str, name: &str, image: &str, secrets: &[String]) -> Value {
    let secrets: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"pullcheck.dev/scenario": name}},
        "spec": {
            // The cluster has no pod network: every pod shares the node's (its own namespace).
            "hostNetwork": true,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "imagePullSecrets": secrets,
            "containers": [{"name": "app", "image": image, "imagePullPolicy": "Always",
                            "command": ["/app"]}],
        }
    })
}

/// What the kubelet said about a pod's pull: the waiting reason and message, and its `Failed`
/// (or `Pulled`) event.
#[derive(Default, Clone)]
pub struct Kubelet {
    pub reason: String,
    pub message: String,
    pub event: String,
}

impl Kubelet {
    /// Its verdict as `pullcheck explain` reads the event and the waiting message (`ok` when
    /// it pulled).
    pub fn explained(&self) -> (String, String) {
        if self.reason == "Pulled" {
            return ("ok".into(), "ok".into());
        }
        let from_event = explain(&self.event);
        let from_waiting = if self.message.is_empty() {
            from_event.clone()
        } else {
            explain(&self.message)
        };
        (from_event, from_waiting)
    }
}

const PULL_WAITING: &[&str] = &["ErrImagePull", "InvalidImageName", "ErrImageNeverPull"];

/// The kubelet's outcome for pod NS/NAME, once it has one.
pub fn kubelet_outcome(ns: &str, name: &str) -> Option<Kubelet> {
    let c = cluster();
    let pod = c.get(&["pod", "-n", ns, name]);
    let events = c.pod_events(ns, name);
    let event = |reason: &str| {
        events
            .iter()
            .filter(|e| e["reason"] == reason && e["source"]["component"] == "kubelet")
            .filter_map(|e| e["message"].as_str())
            .find(|m| reason != "Failed" || m.starts_with("Failed to pull image"))
            .map(str::to_string)
    };
    if let Some(pulled) = event("Pulled") {
        return Some(Kubelet {
            reason: "Pulled".into(),
            message: String::new(),
            event: pulled,
        });
    }
    let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    let reason = waiting["reason"].as_str()?;
    if !PULL_WAITING.contains(&reason) {
        return None;
    }
    let event = match reason {
        "InvalidImageName" => event("InspectFailed")?,
        _ => event("Failed")?,
    };
    Some(Kubelet {
        reason: reason.into(),
        message: waiting["message"].as_str().unwrap_or_default().into(),
        event,
    })
}

/// `pullcheck explain TEXT`'s verdict.
pub fn explain(text: &str) -> String {
    let run = pullcheck(&["explain", "-o", "json", text], None, &[]);
    run.json()["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("explain {text:?}: {}", run.stdout))
        .to_string()
}

/// The verdict in the agent's `PullDiagnosis` event on pod NS/NAME: "IMAGE: VERDICT as WHO: …".
pub fn agent_event(ns: &str, name: &str, image: &str) -> Option<String> {
    agent_event_text(ns, name, image).map(|rest| rest.split(' ').next().unwrap_or("").to_string())
}

/// The agent's whole `PullDiagnosis` message for IMAGE on pod NS/NAME, after "IMAGE: ".
pub fn agent_event_text(ns: &str, name: &str, image: &str) -> Option<String> {
    let events = cluster().pod_events(ns, name);
    events
        .iter()
        .filter(|e| e["reason"] == "PullDiagnosis")
        .filter_map(|e| e["message"].as_str())
        .find_map(|m| Some(m.strip_prefix(image)?.strip_prefix(": ")?.to_string()))
}

/// Waits (at most two monitor intervals) for the agent's event on every pod of `failing` (pod
/// name, image); returns the verdicts that came.
pub fn agent_events(ns: &str, failing: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut agent = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(150);
    while Instant::now() < deadline && agent.len() < failing.len() {
        for (name, image) in failing {
            if !agent.contains_key(*name) {
                if let Some(v) = agent_event(ns, name, image) {
                    agent.insert(name.to_string(), v);
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    agent
}

/// `kubectl pullcheck pod NS/NAME`: its verdict (the agent's where it answered, else what the
/// kubelet's waiting message says: the plugin's own rule) and a line of detail.
pub fn plugin(ns: &str, name: &str) -> (String, String) {
    let c = cluster();
    let run = c.kubectl(
        &[
            "pullcheck",
            "pod",
            "-n",
            ns,
            name,
            "--all-containers",
            "-o",
            "json",
        ],
        None,
    );
    let doc: Value = match serde_json::from_str(&run.stdout) {
        Ok(doc) => doc,
        Err(_) => return (format!("exit {}", run.code), run.stderr),
    };
    // An invalid name never reaches the agent's registry path: it answers 400.
    let container = &doc["containers"][0];
    let agent = &container["agent"];
    let verdict = if agent["status"] == "answered" {
        agent["verdict"].as_str()
    } else {
        container["messageClassification"]["verdict"].as_str()
    };
    (
        verdict.unwrap_or("none").to_string(),
        format!(
            "exit {}; {}: {}",
            run.code, agent["status"], agent["message"]
        ),
    )
}

/// `pullcheck probe IMAGE --pod NS/NAME -o json` on the node (its pull secrets through the
/// API, the node's containerd configuration, the kubelet's plugins): the report, or the exit
/// code and standard error when there is none.
pub fn probe_pod(ns: &str, name: &str, image: &str) -> Result<Value, String> {
    let c = cluster();
    let pod = format!("{ns}/{name}");
    let run = pullcheck(
        &[
            "probe",
            image,
            "--pod",
            &pod,
            "--kubeconfig",
            &c.kubeconfig(),
            "--containerd-config",
            &c.str("/containerd/config"),
            "--runtime-endpoint",
            &format!("unix://{}", c.str("/containerd/socket")),
            "-o",
            "json",
        ],
        None,
        // This is the node: its kubelet's flags and environment (the credential plugins) are
        // read from its /proc, as on any node (the other tiers hide the machine's).
        &[("PULLCHECK_PROC_ROOT", "/proc")],
    );
    serde_json::from_str::<Value>(&run.stdout)
        .map_err(|_| format!("exit {}: {}", run.code, run.stderr))
}

/// A Markdown table of `rows` under `head`, columns as wide as their widest cell.
pub fn print_rows<const N: usize>(head: &[&str; N], rows: &[[String; N]]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    println!("{}", line(head.to_vec()));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("{}", line(rule.iter().map(String::as_str).collect()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}
