//! The drift monitor inside `pullcheck agent`, against the fake Kubernetes API server
//! (tests/support/kube_fake.rs: list + watch with resourceVersion, Events created by POST,
//! outages) and the real test bed's token registry:
//! - two namespaces with different secrets for one image are two targets with their own
//!   verdicts, metrics and identities — never merged;
//! - a failing pod gets exactly one `PullDiagnosis` Event, however often it is re-probed;
//! - revoking a secret flips the verdict, the metrics, and produces one Event;
//! - an API server outage keeps the last state, reports it, and the watch recovers;
//! - the metrics' series cap holds.
//!
//! The cost of re-probing (requests per hour for 500 watched images) is printed by
//! `monitor_cost` (tests/bed/monitor_cost.rs).

use crate::support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::agent::*;
use support::kube_fake::KubeFake;
use support::*;

const NODE: &str = "node-1";

/// A `kubernetes.io/dockerconfigjson` secret for `registry`.
fn secret(ns: &str, name: &str, registry: &str, user: &str, password: &str) -> Value {
    dockerconfigjson_secret(ns, name, registry, user, password)
}

/// A Deployment's pod on `node`, pulling `image` with `secrets`; `waiting` is a container
/// waiting reason and message.
fn pod(
    ns: &str,
    name: &str,
    node: &str,
    image: &str,
    secrets: &[&str],
    waiting: Option<(&str, &str)>,
) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"pod-template-hash": "5d8f"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f",
                                 "uid": "rs-1", "controller": true}]},
        "spec": {"nodeName": node,
                 "imagePullSecrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
                 "containers": [{"name": "app", "image": image}]},
        "status": {"phase": "Pending"}
    });
    if let Some((reason, message)) = waiting {
        p["status"]["containerStatuses"] = json!([{
            "name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}]);
    }
    p
}

/// containerd 1.6's message for a rejected credential, as the kubelet wraps it.
fn unauthorized_message(image: &str, registry: &str) -> String {
    format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to http://{registry}/token?scope=repository%3Aprivate%2Fapp%3Apull&service=registry: 401 Unauthorized"
    )
}

struct Setup {
    kube: KubeFake,
    _dir: tempfile::TempDir,
    _hosts: tempfile::TempDir,
    kubeconfig: String,
    hosts: String,
    registry: String,
    image: String,
}

fn setup() -> Setup {
    let b = bed();
    let registry = b.addr("token");
    let hosts = http_hosts(&registry);
    let kube = KubeFake::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    KubeFake::write_kubeconfig(&kubeconfig, &[("fake", &kube.url(), "default")]);
    Setup {
        kube,
        kubeconfig: path(&kubeconfig).to_string(),
        hosts: path(hosts.path()).to_string(),
        _dir: dir,
        _hosts: hosts,
        image: format!("{registry}/private/app:both"),
        registry,
    }
}

impl Setup {
    fn agent(&self, extra: &[&str]) -> Agent {
        let mut args = vec![
            "--kubeconfig",
            &self.kubeconfig,
            "--node-name",
            NODE,
            "--hosts-dir",
            &self.hosts,
            "--monitor-interval",
            "1s",
            "--event-grace",
            "1s",
        ];
        args.extend_from_slice(extra);
        Agent::start(&args, &[])
    }

    /// `ns/pull` with the bed's right credentials for the token registry.
    fn good_secret(&self, ns: &str) -> Value {
        let b = bed();
        secret(ns, "pull", &self.registry, &b.user(), &b.password())
    }

    fn events(&self, ns: &str) -> Vec<Value> {
        self.kube
            .objects(&format!("/api/v1/namespaces/{ns}/events/"))
    }
}

async fn monitor(agent: &Agent) -> Value {
    let a = get(&agent.url("/v1/monitor")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

async fn metrics(agent: &Agent) -> String {
    get(&agent.metrics_url("/metrics")).await.text
}

/// Polls `/metrics` until it contains `needle` (the monitor updates its gauges every second).
async fn until_metric(agent: &Agent, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics(agent).await;
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "waited 30 s for {needle} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `/v1/monitor` until `done` holds (60 s at most).
async fn until(agent: &Agent, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = monitor(agent).await;
        if done(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "waited 60 s for {what}; /v1/monitor:\n{m:#}\nagent log:\n{}",
            agent.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn target<'a>(m: &'a Value, credentials: &str) -> Option<&'a Value> {
    m["targets"]
        .as_array()?
        .iter()
        .find(|t| t["credentials"] == credentials)
}

fn verdict_of(m: &Value, credentials: &str) -> Option<String> {
    target(m, credentials)?["verdict"]
        .as_str()
        .map(str::to_string)
}

fn probes_of(m: &Value, credentials: &str) -> u64 {
    target(m, credentials).map_or(0, |t| t["probes"].as_u64().unwrap_or(0))
}

const TEAM_A: &str = "namespace team-a, secrets pull";
const TEAM_B: &str = "namespace team-b, secrets pull";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_stay_separate_failing_pods_get_one_event_and_revocation_flips() {
    let s = setup();
    let b = bed();
    s.kube.put(s.good_secret("team-a"));
    s.kube.put(secret(
        "team-b",
        "pull",
        &s.registry,
        &b.user(),
        "wrong-password",
    ));
    s.kube.put(pod(
        "team-a",
        "web-5d8f-aaaaa",
        NODE,
        &s.image,
        &["pull"],
        None,
    ));
    let failing = unauthorized_message(&s.image, &s.registry);
    s.kube.put(pod(
        "team-b",
        "web-5d8f-bbbbb",
        NODE,
        &s.image,
        &["pull"],
        Some(("ErrImagePull", &failing)),
    ));
    // Another node's pod is none of this agent's business.
    s.kube
        .put(pod("team-c", "other", "node-2", &s.image, &["pull"], None));
    // The watch list: the same image with team-a's secret, watched for transitions.
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("watch.yaml");
    std::fs::write(
        &list,
        format!(
            "images:\n  - image: {}\n    secrets: [team-a/pull]\n",
            s.image
        ),
    )
    .unwrap();
    let agent = s.agent(&["--watch-list", path(&list)]);

    let m = until(&agent, "both namespaces' verdicts", |m| {
        verdict_of(m, TEAM_A).is_some()
            && verdict_of(m, TEAM_B).is_some()
            && verdict_of(m, "secrets team-a/pull").is_some()
    })
    .await;
    assert_eq!(verdict_of(&m, TEAM_A).as_deref(), Some("ok"), "{m:#}");
    assert_eq!(
        verdict_of(&m, TEAM_B).as_deref(),
        Some("unauthorized"),
        "{m:#}"
    );
    assert!(
        target(&m, TEAM_B).unwrap()["identity"]
            .as_str()
            .unwrap()
            .contains("secret team-b/pull"),
        "{m:#}"
    );
    assert!(
        target(&m, "namespace team-c, secrets pull").is_none(),
        "another node's pod is not watched: {m:#}"
    );
    assert_eq!(m["kubernetes"]["up"], true);

    // Metrics: the exporter-compatible gauges per workload and ours per identity.
    let text = metrics(&agent).await;
    let iae = |ns: &str, mode: &str| {
        format!(
            "k8s_image_availability_exporter_{mode}{{node=\"{NODE}\",namespace=\"{ns}\",container=\"app\",image=\"{}\",kind=\"deployment\",name=\"web\"}} 1",
            s.image
        )
    };
    assert!(text.contains(&iae("team-a", "available")), "{text}");
    assert!(
        text.contains(&iae("team-b", "authentication_failure")),
        "{text}"
    );
    let ours = |ns: &str, verdict: &str| {
        format!(
            "pullcheck_probe_verdict{{node=\"{NODE}\",registry=\"{}\",repository=\"private/app\",identity=\"secret:{ns}/pull\",verdict=\"{verdict}\",image=\"{}\"}} 1",
            s.registry, s.image
        )
    };
    assert!(text.contains(&ours("team-a", "ok")), "{text}");
    assert!(text.contains(&ours("team-b", "unauthorized")), "{text}");
    assert!(
        text.contains("pullcheck_monitor_kubernetes_up{node=\"node-1\"} 1"),
        "{text}"
    );

    // One PullDiagnosis Event on the failing pod, however many re-probes follow.
    let m = until(&agent, "the failing pod's diagnosis", |m| {
        m["failing"][0]["event"].is_string()
    })
    .await;
    // `failing` lists the failing container first, then the watched image that fails with
    // team-b's credentials (team-a's, which pull, are not there).
    assert_eq!(m["failing"][0]["kind"], "container", "{m:#}");
    let images: Vec<&Value> = m["failing"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "image")
        .collect();
    assert!(
        images.iter().any(|f| f["credentials"] == TEAM_B
            && f["verdict"] == "unauthorized"
            && f["image"] == s.image.as_str()),
        "{m:#}"
    );
    assert!(images.iter().all(|f| f["credentials"] != TEAM_A), "{m:#}");
    let before = probes_of(&m, TEAM_B);
    until(&agent, "three more re-probes of team-b", |m| {
        probes_of(m, TEAM_B) >= before + 3
    })
    .await;
    let events = s.events("team-b");
    assert_eq!(events.len(), 1, "one event: {events:#?}");
    let e = &events[0];
    assert_eq!(e["reason"], "PullDiagnosis");
    assert_eq!(e["type"], "Warning");
    assert_eq!(e["involvedObject"]["name"], "web-5d8f-bbbbb");
    assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{app}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("unauthorized as"), "{msg}");
    assert!(msg.contains("secret team-b/pull"), "{msg}");
    assert!(msg.contains("Fix: "), "{msg}");
    assert!(!msg.contains("wrong-password"), "{msg}");
    assert!(s.events("team-a").is_empty(), "team-a's pod pulls fine");
    assert!(s.events("default").is_empty(), "no transition yet");

    // Revoke team-a's secret: its verdicts flip, the watched image's transition is one Node
    // event, and its pod, once the kubelet fails too, one PullDiagnosis.
    s.kube
        .put(secret("team-a", "pull", &s.registry, &b.user(), "revoked"));
    let m = until(&agent, "team-a to flip", |m| {
        verdict_of(m, TEAM_A).as_deref() == Some("unauthorized")
            && verdict_of(m, "secrets team-a/pull").as_deref() == Some("unauthorized")
    })
    .await;
    assert_eq!(verdict_of(&m, TEAM_B).as_deref(), Some("unauthorized"));
    let text = metrics(&agent).await;
    assert!(
        text.contains(&iae("team-a", "authentication_failure")),
        "{text}"
    );
    assert!(text.contains(&ours("team-a", "unauthorized")), "{text}");
    assert!(
        !text.contains(&ours("team-a", "ok")),
        "the ok series is gone: {text}"
    );
    assert!(
        text.contains(&format!(
            "pullcheck_verdict_transitions_total{{node=\"{NODE}\",registry=\"{}\",repository=\"private/app\",from=\"ok\",to=\"unauthorized\"}}",
            s.registry
        )),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.events("default").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let node_events = s.events("default");
    assert_eq!(node_events.len(), 1, "{node_events:#?}");
    assert_eq!(node_events[0]["reason"], "ImageNoLongerPullable");
    assert_eq!(node_events[0]["involvedObject"]["kind"], "Node");
    assert_eq!(node_events[0]["involvedObject"]["name"], NODE);

    s.kube.put(pod(
        "team-a",
        "web-5d8f-aaaaa",
        NODE,
        &s.image,
        &["pull"],
        Some((
            "ImagePullBackOff",
            &format!("Back-off pulling image \"{}\"", s.image),
        )),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.events("team-a").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = probes_of(&monitor(&agent).await, TEAM_A);
    until(&agent, "more re-probes of team-a", |m| {
        probes_of(m, TEAM_A) >= before + 2
    })
    .await;
    let a_events = s.events("team-a");
    assert_eq!(a_events.len(), 1, "{a_events:#?}");
    assert!(a_events[0]["message"]
        .as_str()
        .unwrap()
        .contains("secret team-a/pull"));
    assert_eq!(s.events("default").len(), 1, "still one node event");
    let logs = agent.logs();
    assert!(!logs.contains(&b.password()), "no secret in the logs");
    assert!(!logs.contains("wrong-password") && !logs.contains("revoked\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_keeps_the_last_state_and_recovers() {
    let s = setup();
    s.kube.put(s.good_secret("team-a"));
    s.kube.put(pod(
        "team-a",
        "web-5d8f-aaaaa",
        NODE,
        &s.image,
        &["pull"],
        None,
    ));
    let agent = s.agent(&[]);
    until(&agent, "team-a's verdict", |m| {
        verdict_of(m, TEAM_A).as_deref() == Some("ok")
    })
    .await;

    s.kube.set_available(false);
    let m = until(&agent, "the watch to report the outage", |m| {
        m["kubernetes"]["up"] == false
    })
    .await;
    assert!(m["kubernetes"]["error"].is_string(), "{m:#}");
    assert_eq!(
        verdict_of(&m, TEAM_A).as_deref(),
        Some("ok"),
        "the last verdict stays: {m:#}"
    );
    let text = until_metric(&agent, "pullcheck_monitor_kubernetes_up{node=\"node-1\"} 0").await;
    assert!(
        text.contains(
            "k8s_image_availability_exporter_available{node=\"node-1\",namespace=\"team-a\""
        ),
        "the last state is still exported: {text}"
    );
    let health = get(&agent.url("/healthz")).await;
    assert_eq!(health.status, 200);
    // A re-probe needs the pod from the API: it gives no verdict, and says why.
    let m = until(&agent, "a re-probe to fail on the API", |m| {
        target(m, TEAM_A).is_some_and(|t| t["error"].is_string())
    })
    .await;
    assert_eq!(verdict_of(&m, TEAM_A).as_deref(), Some("ok"));

    // While it is down, a pod arrives; once back, the watch sees it without a restart.
    s.kube.put(pod(
        "team-b",
        "web-5d8f-bbbbb",
        NODE,
        &format!("{}/public/app:both", s.registry),
        &[],
        None,
    ));
    s.kube.set_available(true);
    let m = until(&agent, "the watch to recover and see the new pod", |m| {
        m["kubernetes"]["up"] == true
            && verdict_of(m, "namespace team-b, no pull secrets").as_deref() == Some("ok")
    })
    .await;
    assert!(m["kubernetes"]["error"].is_null(), "{m:#}");
    until(&agent, "team-a to be probed again", |m| {
        target(m, TEAM_A).is_some_and(|t| t["error"].is_null())
    })
    .await;
    until_metric(&agent, "pullcheck_monitor_kubernetes_up{node=\"node-1\"} 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_cap_holds_and_counts_what_it_drops() {
    let s = setup();
    let public = format!("{}/public/app:both", s.registry);
    for i in 0..5 {
        let mut p = pod("team-a", &format!("job-{i}"), NODE, &public, &[], None);
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job",
            "name": format!("job-{i}"), "uid": format!("j{i}"), "controller": true}]);
        s.kube.put(p);
    }
    let agent = s.agent(&["--max-series", "3"]);
    until(&agent, "the target's verdict", |m| {
        verdict_of(m, "namespace team-a, no pull secrets").is_some()
    })
    .await;
    let text = metrics(&agent).await;
    let exported = text
        .lines()
        .filter(|l| l.starts_with("k8s_image_availability_exporter_available{"))
        .count();
    assert_eq!(exported, 3, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with(
            "pullcheck_monitor_series_dropped_total{node=\"node-1\",family=\"k8s_image_availability_exporter\"}"
        ) && !l.ends_with(" 0")),
        "{text}"
    );
    assert!(text.contains("kind=\"job\""), "{text}");
}
