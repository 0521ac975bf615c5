//! Faults against a running `pullcheck agent`, one test each: containerd killed mid-pull and
//! restarted, a registry that dies mid-body, one that trickles, IMDS / GCE metadata / the
//! Kubernetes API refusing or hanging, and DNS failing in three ways. Each asserts that the
//! agent stays up, the verdict is the right one and says why, `/readyz` and `/v1/node` tell the
//! truth, and the next probe after the fault is removed succeeds in the same agent process.

use crate::support;

use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::agent::*;
use support::fakes::{BlobGate, Body, Dns, Misbehaving, Mode, Resolver, Switch};
use support::*;

/// Bound on anything a test waits for (never a performance claim).
const GUARD: Duration = Duration::from_secs(30);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The agent is still the same running process.
fn assert_alive(agent: &mut Agent, pid: u32) {
    assert_eq!(agent.child.id(), pid);
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent exited:\n{}",
        agent.logs()
    );
}

/// `/v1/probe` with `fresh=true` (a POST with a JSON body when it asks for a runtime pull,
/// which is POST-only); asserts 200 and returns the report.
async fn fresh_probe(agent: &Agent, query: &[(&str, &str)]) -> Value {
    let mut q = query.to_vec();
    q.push(("fresh", "true"));
    let a = if q.iter().any(|(k, _)| *k == "runtimePull") {
        let mut body = serde_json::Map::new();
        for (k, v) in &q {
            let v = match *k {
                "runtimePull" | "fresh" => json!(*v == "true"),
                _ => json!(v),
            };
            body.insert(k.to_string(), v);
        }
        send(post_json(&agent.url("/v1/probe"), &Value::Object(body))).await
    } else {
        probe(agent, &q).await
    };
    assert_eq!(a.status, 200, "{query:?}: {}", a.text);
    a.json()
}

fn assert_verdict(r: &Value, verdict: &str, why: &[&str]) {
    assert_eq!(r["verdict"], verdict, "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    for w in why {
        assert!(reason.contains(w), "reason lacks {w:?}: {reason}");
    }
}

/// `/readyz` answers 200 ready (no fault here makes the agent unready); returns it.
async fn ready(agent: &Agent) -> Value {
    let a = get(&agent.url("/readyz")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(v["ready"], true, "{v}");
    v
}

/// Polls `/readyz` until its runtime verdict is `verdict` (it re-asks the runtime every 10 s).
async fn readyz_runtime(agent: &Agent, verdict: &str) -> Value {
    let deadline = Instant::now() + GUARD;
    loop {
        let v = ready(agent).await;
        if v["runtime"]["verdict"] == verdict {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never said {verdict}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_killed_mid_pull_then_restarted() {
    let b = bed();
    let mut ctd = support::containerd::Private::start();
    // containerd pulls through the gate, which holds its blob requests: the pull is in
    // flight when containerd dies.
    let gate = BlobGate::start(addr(&b.addr("plain")));
    let reg = gate.addr.to_string();
    let hosts = http_hosts(&reg);
    let endpoint = ctd.endpoint();
    let mut agent = Agent::start(
        &[
            "--runtime-endpoint",
            &endpoint,
            "--runtime-timeout",
            "2s",
            "--runtime-pull-timeout",
            "60s",
            "--hosts-dir",
            path(hosts.path()),
        ],
        &[],
    );
    let pid = agent.child.id();
    readyz_runtime(&agent, "ok").await;
    let image = format!("{reg}/app:amd64");
    // runtimePull acts on the node: POST only (a GET is 405, checked here too).
    let query = [
        ("image", image.as_str()),
        ("platform", "linux/amd64"),
        ("runtimePull", "true"),
        ("fresh", "true"),
    ];
    get(&probe_url(&agent, &query))
        .await
        .assert_error(405, "method_not_allowed");
    let body =
        json!({"image": image, "platform": "linux/amd64", "runtimePull": true, "fresh": true});
    let url = agent.url("/v1/probe");
    let in_flight = tokio::spawn(async move { send(post_json(&url, &body)).await });
    let deadline = Instant::now() + GUARD;
    while gate.held() == 0 {
        assert!(
            Instant::now() < deadline,
            "containerd never asked for a blob"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ctd.stop();
    let a = tokio::time::timeout(GUARD, in_flight)
        .await
        .expect("the in-flight probe answered")
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    let r = a.json();
    assert_verdict(&r, "ok", &[]);
    let rt = &r["runtime"];
    assert_eq!(rt["verdict"], "runtime_unavailable", "{rt:#}");
    let why = rt["reason"].as_str().unwrap();
    assert!(
        why.contains("PullImage") && why.contains(&endpoint),
        "the reason names the call and the socket: {why}"
    );
    assert_eq!(rt["agrees"], false);
    assert_alive(&mut agent, pid);

    // While containerd is down: a new runtime pull, /v1/node and /readyz all say so, and the
    // agent stays ready (the runtime is reported, not required).
    let r = fresh_probe(&agent, &query[..3]).await;
    assert_eq!(r["runtime"]["verdict"], "runtime_unavailable", "{r:#}");
    let node = get(&agent.url("/v1/node")).await.json();
    assert_eq!(
        node["runtime"]["verdict"], "runtime_unavailable",
        "{node:#}"
    );
    assert!(node["runtime"]["error"].as_str().is_some(), "{node:#}");
    let v = readyz_runtime(&agent, "runtime_unavailable").await;
    assert!(v["runtime"]["error"].as_str().is_some(), "{v}");

    // containerd back on the same socket: the agent's client reconnects by itself.
    gate.open();
    ctd.restart();
    let r = fresh_probe(&agent, &query[..3]).await;
    assert_eq!(r["runtime"]["verdict"], "ok", "{r:#}");
    let node = get(&agent.url("/v1/node")).await.json();
    assert_eq!(node["runtime"]["verdict"], "ok", "{node:#}");
    assert!(node["runtime"]["info"]["version"].as_str().is_some());
    readyz_runtime(&agent, "ok").await;
    assert_alive(&mut agent, pid);
}

/// containerd hung (SIGSTOP: its socket still accepts, nothing answers) with the agent's
/// runtime limit at 8 s: `/readyz` keeps answering — ready, runtime `runtime_unavailable` —
/// within the DaemonSet's readiness `timeoutSeconds` (5 s, the client's limit here), runtime
/// calls end at the limit, and after SIGCONT the runtime is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_hung_then_resumed() {
    let ctd = support::containerd::Private::start();
    let endpoint = ctd.endpoint();
    let mut agent = Agent::start(
        &["--runtime-endpoint", &endpoint, "--runtime-timeout", "8s"],
        &[],
    );
    let pid = agent.child.id();
    readyz_runtime(&agent, "ok").await;
    ctd.signal("-STOP");
    let kubelet = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + GUARD;
    let v = loop {
        let a = kubelet
            .get(agent.url("/readyz"))
            .send()
            .await
            .expect("/readyz answered within the readiness probe's 5 s");
        assert_eq!(a.status(), 200);
        let v: Value = serde_json::from_str(&a.text().await.unwrap()).unwrap();
        assert_eq!(v["ready"], true, "{v}");
        if v["runtime"]["verdict"] == "runtime_unavailable" {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never reported the hung runtime: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        v["runtime"]["error"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{v}"
    );
    // /v1/node waits the runtime's own limit, then says so.
    let node = get(&agent.url("/v1/node")).await.json();
    assert_eq!(
        node["runtime"]["verdict"], "runtime_unavailable",
        "{node:#}"
    );
    assert_alive(&mut agent, pid);
    ctd.signal("-CONT");
    let node = get(&agent.url("/v1/node")).await.json();
    assert_eq!(node["runtime"]["verdict"], "ok", "{node:#}");
    readyz_runtime(&agent, "ok").await;
    assert_alive(&mut agent, pid);
}

/// A registry that sends the manifest's headers and part of its body, then closes or resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_dies_mid_body() {
    let regs = [
        (Misbehaving::start(Body::CutClosed { sent: 40 }), "closed"),
        (Misbehaving::start(Body::CutReset { sent: 40 }), "reset"),
    ];
    let plain = bed().addr("plain");
    let mut entries: Vec<(String, String)> = regs
        .iter()
        .map(|(r, _)| {
            (
                r.addr.to_string(),
                format!("server = \"http://{}\"\n", r.addr),
            )
        })
        .collect();
    entries.push((plain.clone(), format!("server = \"http://{plain}\"\n")));
    let refs: Vec<(&str, String)> = entries
        .iter()
        .map(|(h, b)| (h.as_str(), b.clone()))
        .collect();
    let hosts = hosts_dir(&refs);
    let mut agent = Agent::start(&["--hosts-dir", path(hosts.path())], &[]);
    let pid = agent.child.id();
    for (reg, how) in &regs {
        let image = format!("{}/app:v1", reg.addr);
        let r = fresh_probe(&agent, &[("image", &image)]).await;
        assert_eq!(r["verdict"], "registry_error", "{how}: {r:#}");
        let text = r.to_string();
        assert!(
            text.contains("body truncated: the connection broke after 40 of 246 bytes"),
            "{how}: the evidence names the truncated body: {r:#}"
        );
        assert!(reg.manifest_gets() >= 1, "{how}: the body was asked for");
        assert_alive(&mut agent, pid);
        ready(&agent).await;
    }
    // The fault gone (a healthy registry), the same agent answers ok.
    let image = format!("{plain}/app:amd64");
    let r = fresh_probe(&agent, &[("image", &image), ("platform", "linux/amd64")]).await;
    assert_verdict(&r, "ok", &[]);
    assert_alive(&mut agent, pid);
}

/// A registry that sends one byte of the manifest every 200 ms (about a minute in all): the
/// manifest step times out at `--timeout`, once for every caller, and nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_registry_times_out_the_step() {
    let reg = Misbehaving::start(Body::Trickle {
        every: Duration::from_millis(200),
    });
    let hosts = http_hosts(&reg.addr.to_string());
    let mut agent = Agent::start(&["--timeout", "2s", "--hosts-dir", path(hosts.path())], &[]);
    let pid = agent.child.id();
    let image = format!("{}/app:v1", reg.addr);
    let started = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let url = probe_url(&agent, &[("image", image.as_str()), ("fresh", "true")]);
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    for c in callers {
        let a = c.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.text);
        let r = a.json();
        assert_verdict(&r, "timeout", &["manifest", "timed out reading the body"]);
    }
    assert!(started.elapsed() < GUARD, "bounded by the step timeout");
    // Eight concurrent callers, one upstream exchange: no amplification, no retry.
    assert_eq!(reg.manifest_gets(), 1, "manifest GETs upstream");
    let sent = reg.requests();
    assert!(
        sent <= 3,
        "{sent} requests upstream (ping, HEAD, GET at most)"
    );
    // Asked again at once: the answer is cached briefly, nothing goes upstream.
    let a = probe(&agent, &[("image", &image)]).await;
    assert_eq!(a.header("x-pullcheck-cache").as_deref(), Some("hit"));
    assert_eq!(reg.requests(), sent);
    assert_alive(&mut agent, pid);
    ready(&agent).await;
}

/// hosts.toml sending `registry` to the bed's Basic-auth TLS registry.
fn to_bed_tls(registry: &str) -> tempfile::TempDir {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    hosts_dir(&[(
        registry,
        format!("server = \"https://{tls}\"\nca = \"{}\"\n", b.str("ca")),
    )])
}

/// Polls `/v1/node` until its `kind` identity line starts with `start`.
async fn node_identity(agent: &Agent, kind: &str, start: &str) {
    let deadline = Instant::now() + GUARD;
    loop {
        let node = get(&agent.url("/v1/node")).await.json();
        let line = node["identities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == kind)
            .map(|i| i["description"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("/v1/node has no {kind} identity: {node:#}"));
        if line.starts_with(start) {
            return;
        }
        assert!(Instant::now() < deadline, "/v1/node {kind}: {line}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A cloud metadata service refusing, then hanging, then back: `identity_unavailable` naming
/// the identity and the failure each time, then `ok` with no restart.
async fn metadata_outage(
    image: &str,
    flag: &str,
    upstream: &str,
    identity: &str,
    env: &[(&str, String)],
) {
    let registry = image.split('/').next().unwrap();
    let hosts = to_bed_tls(registry);
    let switch = Switch::start(addr(upstream));
    let endpoint = match flag {
        "--imds-endpoint" => format!("http://{}", switch.addr),
        _ => switch.addr.to_string(),
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            flag,
            &endpoint,
            "--metadata-timeout",
            "1s",
        ],
        &env,
    );
    let pid = agent.child.id();
    let kind = if identity.starts_with("EKS") {
        "eks"
    } else {
        "gke"
    };
    let query = [("image", image), ("platform", "linux/amd64")];
    for (mode, why) in [(Mode::Refused, "refused"), (Mode::Hang, "")] {
        switch.set(mode);
        let started = Instant::now();
        let r = fresh_probe(&agent, &query).await;
        assert_verdict(&r, "identity_unavailable", &[identity, why]);
        assert!(started.elapsed() < GUARD, "{mode:?}: bounded");
        // What the registry said without the identity stays visible.
        assert!(r["reason"].as_str().unwrap().contains("401"), "{r:#}");
        assert_alive(&mut agent, pid);
        ready(&agent).await;
    }
    // /v1/node says the identity is not available (it asks again every 10 s).
    node_identity(&agent, kind, "not available").await;
    switch.set(Mode::Up);
    let r = fresh_probe(&agent, &query).await;
    assert_verdict(&r, "ok", &[]);
    assert_eq!(r["identity"]["source"]["kind"], kind);
    node_identity(
        &agent,
        kind,
        if kind == "eks" {
            "instance role"
        } else {
            "node service account"
        },
    )
    .await;
    // A cached negative answer never outlives the outage: the plain query is fresh too now.
    let a = probe(&agent, &query).await;
    assert_eq!(a.json()["verdict"], "ok", "{}", a.text);
    assert_alive(&mut agent, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imds_down_then_back() {
    let b = bed();
    metadata_outage(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:amd64",
        "--imds-endpoint",
        &b.addr("imds"),
        "EKS node identity",
        &ecr_env(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gce_metadata_down_then_back() {
    let b = bed();
    metadata_outage(
        "europe-docker.pkg.dev/app:amd64",
        "--gce-metadata-host",
        &b.addr("gce"),
        "GKE node identity",
        &[],
    )
    .await;
}

/// The Kubernetes API refusing, then hanging, then back, for a `pod=` probe: 502
/// `kubernetes_error` naming the pod and why (bounded when the API hangs), then `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_api_down_then_back() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = to_bed_tls(&tls);
    let auth = b64(&format!("{}:{}", b.user(), b.password()));
    let config = json!({"auths": {&tls: {"auth": auth}}});
    let ns = "faults";
    kube_put(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
               "metadata": {"name": "pull", "namespace": ns},
               "data": {".dockerconfigjson": b64(&config.to_string())}}),
    );
    kube_put(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": ns},
               "spec": {"imagePullSecrets": [{"name": "pull"}],
                        "containers": [{"name": "app", "image": "x"}]}}),
    );
    let switch = Switch::start(kube().fake.addr);
    let kubeconfig = kubeconfig_for(&format!("http://{}", switch.addr), "t");
    let kubeconfig = kubeconfig.path();
    let mut agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--kubeconfig",
            path(kubeconfig),
        ],
        &[],
    );
    let pid = agent.child.id();
    let image = format!("{tls}/app:amd64");
    let query = [
        ("image", image.as_str()),
        ("pod", "faults/web"),
        ("platform", "linux/amd64"),
        ("fresh", "true"),
    ];
    for (mode, why) in [
        (Mode::Refused, "refused"),
        (Mode::Hang, "no answer within 10s"),
    ] {
        switch.set(mode);
        let started = Instant::now();
        let a = probe(&agent, &query).await;
        a.assert_error(502, "kubernetes_error");
        let msg = a.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("pod faults/web") && msg.to_lowercase().contains(why),
            "{mode:?}: {msg}"
        );
        assert!(started.elapsed() < GUARD, "{mode:?}: bounded");
        assert_alive(&mut agent, pid);
        ready(&agent).await;
    }
    switch.set(Mode::Up);
    let a = probe(&agent, &query).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let r = a.json();
    assert_verdict(&r, "ok", &[]);
    assert_eq!(r["identity"]["source"]["name"], "pull", "{r:#}");
    assert_alive(&mut agent, pid);
}

/// DNS failing, with the agent in a private mount namespace whose `/etc/resolv.conf` names a
/// resolver of the test's own on 127.0.0.153:53: a name that does not exist, a resolver that
/// answers SERVFAIL, one that does not answer, and no resolver at all are each `dns_failure`
/// (or `timeout`) saying which; then the resolver answers and the same agent pulls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failures_say_which() {
    let b = bed();
    let ip = Ipv4Addr::new(127, 0, 0, 153);
    let resolver = Resolver::start(ip, Dns::NxDomain)
        .expect("bind 127.0.0.153:53 (the fault tests run as root, like the runtime tests)");
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, resolver.resolv_conf()).unwrap();
    let etc_hosts = dir.path().join("hosts");
    std::fs::write(&etc_hosts, "127.0.0.1 localhost\n").unwrap();
    let name = format!("reg.pullcheck.test:{}", b.port("plain"));
    let hosts = http_hosts(&name);
    let script = format!(
        "mount --bind '{}' /etc/resolv.conf && mount --bind '{}' /etc/hosts && exec \"$0\" \"$@\"",
        resolv.display(),
        etc_hosts.display()
    );
    let mut agent = Agent::start_in(
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ],
        &["--hosts-dir", path(hosts.path()), "--timeout", "5s"],
        &[],
    );
    let pid = agent.child.id();
    let image = format!("{name}/app:amd64");
    let query = [("image", image.as_str()), ("platform", "linux/amd64")];

    let r = fresh_probe(&agent, &query).await;
    assert_verdict(&r, "dns_failure", &["reg.pullcheck.test", "does not exist"]);
    for mode in [Dns::ServFail, Dns::Silent] {
        resolver.set(mode);
        let started = Instant::now();
        let r = fresh_probe(&agent, &query).await;
        let v = r["verdict"].as_str().unwrap();
        assert!(v == "dns_failure" || v == "timeout", "{mode:?}: {r:#}");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("resolver") && !reason.contains("does not exist"),
            "{mode:?}: says the resolver failed, not that the name is missing: {reason}"
        );
        assert!(started.elapsed() < GUARD, "{mode:?}: bounded");
        assert_alive(&mut agent, pid);
    }
    // No resolver listening at all (the port is closed).
    drop(resolver);
    std::thread::sleep(Duration::from_millis(200));
    let r = fresh_probe(&agent, &query).await;
    assert_verdict(&r, "dns_failure", &["resolver"]);
    ready(&agent).await;
    // The resolver back, answering: the same agent pulls.
    let resolver = Resolver::start(ip, Dns::Loopback).expect("bind 127.0.0.153:53 again");
    let r = fresh_probe(&agent, &query).await;
    assert_verdict(&r, "ok", &[]);
    assert!(resolver.queries.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert_alive(&mut agent, pid);
}
