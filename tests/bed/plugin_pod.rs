//! `kubectl pullcheck pod`: a pod in ImagePullBackOff on a simulated node whose agent is real
//! (node docker config with a wrong password for the test bed's registry). The plugin reads the
//! pod, classifies its waiting message, and asks the node's agent with the pod's identity: the
//! agent reads the pod and its pull secrets from the (fake) API server itself.

use crate::support;

use serde_json::{json, Value};
use support::bed;
use support::cluster::{agents, put_secret, Sim};
use support::kube_fake::Forward;

fn failing_pod(name: &str, image: &str, secrets: &[&str]) -> Value {
    let message = format!(
        "Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": unexpected status from HEAD request to https://{}/v2/app/manifests/amd64: 401 Unauthorized",
        image.split('/').next().unwrap()
    );
    let secrets: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "team-a"},
           "spec": {"nodeName": "n1", "imagePullSecrets": secrets,
                    "containers": [{"name": "app", "image": image}, {"name": "sidecar", "image": "127.0.0.1:1/sidecar:v1"}]},
           "status": {"phase": "Pending", "containerStatuses": [
               {"name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}},
               {"name": "sidecar", "image": "127.0.0.1:1/sidecar:v1", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}})
}

#[test]
fn pod_asks_the_pods_node_with_the_pods_identity() {
    let sim = Sim::new();
    let a = agents(&sim);
    sim.add_node("n1", "ng-1", Some(Forward::To(a.wrong.api)));
    let b = bed();
    let registry = a.image.split('/').next().unwrap().to_string();
    put_secret(
        &sim,
        "team-a",
        "regcred",
        &registry,
        &b.user(),
        &b.password(),
    );
    sim.fake
        .put(failing_pod("web-fixed", &a.image, &["regcred"]));
    sim.fake.put(failing_pod("web-broken", &a.image, &[]));

    // The pod's own pull secret works: the agent says ok as that secret, though the node's
    // credential is wrong and the waiting message still says 401.
    let run = sim.run(&["pod", "web-fixed", "-n", "team-a"]);
    let out = &run.stdout;
    assert_eq!(run.code, 0, "{out}\n{}", run.stderr);
    assert!(
        out.starts_with("Pod team-a/web-fixed on node n1 (agent pullcheck/agent-n1)"),
        "{out}"
    );
    assert!(out.contains("Container app — image "), "{out}");
    assert!(!out.contains("sidecar"), "only failing containers: {out}");
    assert!(out.contains("Waiting:       ImagePullBackOff"), "{out}");
    assert!(out.contains("Message says:  unauthorized"), "{out}");
    assert!(out.contains("Agent says:    ok"), "{out}");
    assert!(out.contains("team-a/regcred"), "{out}");
    let reqs = sim.fake.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/team-a/pods/web-fixed?"))
            && reqs
                .iter()
                .any(|r| r.starts_with("GET /api/v1/namespaces/team-a/secrets/regcred")),
        "the agent read the pod and its secret: {reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/pullcheck/pods?")
                && r.contains("spec.nodeName%3Dn1")),
        "the agent pod was looked up on the pod's node: {reqs:?}"
    );

    // Without a pull secret the node's wrong credential is the verdict: exit 5 (unauthorized's
    // family, as `pullcheck probe` exits), with evidence and remediation.
    let run = sim.run(&["pod", "web-broken", "-n", "team-a"]);
    let out = &run.stdout;
    assert_eq!(run.code, 5, "{out}\n{}", run.stderr);
    assert!(out.contains("Agent says:    unauthorized"), "{out}");
    assert!(out.contains("config.json"), "{out}");
    assert!(
        out.contains("Evidence:")
            && out.contains("manifest GET https://")
            && out.contains("→ HTTP 401"),
        "{out}"
    );
    assert!(out.contains("Remediation:   "), "{out}");
    assert!(!out.contains(&b.password()) && !run.stderr.contains(&b.password()));

    // -o json: the classification and the agent's full report per container.
    let run = sim.run(&["pod", "web-broken", "-n", "team-a", "-o", "json"]);
    assert_eq!(run.code, 5);
    let doc = run.json();
    assert_eq!(doc["kind"], "PodCheck");
    assert_eq!(doc["node"], "n1");
    assert_eq!(doc["failing"], true);
    let c = &doc["containers"][0];
    assert_eq!(c["name"], "app");
    assert_eq!(c["waitingReason"], "ImagePullBackOff");
    assert_eq!(c["messageClassification"]["verdict"], "unauthorized");
    assert_eq!(c["agent"]["status"], "answered");
    assert_eq!(c["agent"]["report"]["verdict"], "unauthorized");

    // --all-containers checks the running sidecar's image too (on a closed loopback port, so
    // the agent answers connection_refused): exit 8, the network family's.
    let run = sim.run(&[
        "pod",
        "web-fixed",
        "-n",
        "team-a",
        "--all-containers",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 8, "{}", run.stderr);
    let doc = run.json();
    let verdicts: Vec<(&str, &str)> = doc["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["agent"]["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(verdicts, [("app", "ok"), ("sidecar", "connection_refused")]);

    // The pod's node has no agent: said, the message still classified, and its verdict is the
    // exit code (4: not found), with what it leaves unchecked.
    sim.fake.put(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "lonely", "namespace": "team-a"},
        "spec": {"nodeName": "n2", "containers": [{"name": "app", "image": a.image}]},
        "status": {"containerStatuses": [{"name": "app", "image": a.image, "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "rpc error: code = NotFound desc = failed to pull and unpack image: not found"}}}]}}));
    sim.fake
        .put(support::cluster::node("n2", "ng-1", "zone-a", "amd64"));
    let run = sim.run(&["pod", "lonely", "-n", "team-a"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.stdout.contains("Not checked:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("not asked: no agent pod on node n2"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Message says:"), "{}", run.stdout);
}
