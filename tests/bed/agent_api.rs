//! `pullcheck agent`'s HTTP API against the real test bed: the report schema, caching by verdict
//! class, coalescing counted at the registry's door, budgets, the registry policy, `/v1/node`,
//! `/metrics`, `/openapi.json`, and pull secrets through the (fake) Kubernetes API. Bad input:
//! `tests/hermetic/agent_input.rs`.

use crate::support;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use support::agent::*;
use support::*;

/// A hosts.toml root that sends `addr` over plain HTTP.
fn http(addr: &str) -> tempfile::TempDir {
    http_hosts(addr)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_get_and_post_answer_the_cli_report() {
    let addr = bed().addr("plain");
    let hosts = http(&addr);
    let h = path(hosts.path());
    let agent = Agent::start(&["--hosts-dir", h], &[]);
    let image = format!("{addr}/app:amd64");
    let q = [("image", image.as_str()), ("platform", "linux/amd64")];
    let first = probe(&agent, &q).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(first.header("x-pullcheck-cache").as_deref(), Some("miss"));
    let r = first.json();
    assert_eq!(r["verdict"], "ok");
    assert_eq!(r["kind"], "PullReport");
    assert_eq!(r["image"], image);
    // The same schema as `pullcheck probe -o json`.
    let cli = pullcheck(
        &[
            "probe",
            &image,
            "-o",
            "json",
            "--hosts-dir",
            h,
            "--platform",
            "linux/amd64",
        ],
        None,
        &[],
    )
    .json();
    assert_eq!(keys(&r), keys(&cli));
    assert_eq!(r["digest"], cli["digest"]);

    // Second time: from the cache, with its age.
    let again = probe(&agent, &q).await;
    assert_eq!(again.header("x-pullcheck-cache").as_deref(), Some("hit"));
    assert!(again.header("age").is_some());
    assert_eq!(again.text, first.text, "cached answers are the same bytes");

    // POST with the same fields is the same probe (and so a cache hit).
    let post = send(post_json(
        &agent.url("/v1/probe"),
        &json!({"image": image, "platform": "linux/amd64"}),
    ))
    .await;
    assert_eq!(post.status, 200, "{}", post.text);
    assert_eq!(post.header("x-pullcheck-cache").as_deref(), Some("hit"));
    assert_eq!(post.json()["digest"], r["digest"]);

    // Another platform is another probe.
    let arm = probe(
        &agent,
        &[
            ("image", &format!("{addr}/app:both")),
            ("platform", "linux/arm64"),
        ],
    )
    .await;
    assert_eq!(arm.json()["selectedPlatform"]["architecture"], "arm64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_probes_share_one_upstream_exchange() {
    let upstream = bed().addr("plain").parse().unwrap();
    let proxy = CountingProxy::start(upstream).await;
    let addr = proxy.addr.to_string();
    let hosts = http(&addr);
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--max-connections",
            "1000",
        ],
        &[],
    );
    let image = format!("{addr}/app:amd64");
    let c = client();
    let url = probe_url(
        &agent,
        &[("image", image.as_str()), ("platform", "linux/amd64")],
    );
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let req = c.get(&url);
        tasks.push(tokio::spawn(send(req)));
    }
    let mut served = std::collections::HashMap::new();
    let mut bodies = BTreeSet::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.text);
        *served
            .entry(a.header("x-pullcheck-cache").unwrap())
            .or_insert(0) += 1;
        bodies.insert(a.text);
    }
    assert_eq!(bodies.len(), 1, "every caller got the same report");
    let report: Value = serde_json::from_str(bodies.iter().next().unwrap()).unwrap();
    assert_eq!(report["verdict"], "ok");
    let manifests = proxy.manifests();
    assert!(
        (1..=2).contains(&manifests),
        "200 identical first-time probes made {manifests} manifest requests upstream ({served:?})"
    );
    assert_eq!(served.get("miss"), Some(&1), "{served:?}");

    // Cached now: no more upstream traffic.
    let before = proxy.requests();
    for _ in 0..20 {
        let a = probe(&agent, &[("image", &image), ("platform", "linux/amd64")]).await;
        assert_eq!(a.header("x-pullcheck-cache").as_deref(), Some("hit"));
    }
    assert_eq!(proxy.requests(), before);

    // fresh=true goes upstream again (one HEAD confirms the digest it already knows).
    let a = probe(
        &agent,
        &[
            ("image", &image),
            ("platform", "linux/amd64"),
            ("fresh", "true"),
        ],
    )
    .await;
    assert_eq!(a.header("x-pullcheck-cache").as_deref(), Some("miss"));
    assert_eq!(proxy.manifests(), manifests + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_by_verdict_class() {
    let addr = bed().addr("plain");
    let closed = bed().addr("closed");
    let hosts = hosts_dir(&[
        (&addr, format!("server = \"http://{addr}\"\n")),
        (&closed, format!("server = \"http://{closed}\"\n")),
    ]);
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--cache-ok-ttl",
            "0s",
            "--cache-network-ttl",
            "1s",
        ],
        &[],
    );
    // ok with a zero TTL: never served from the cache.
    let ok = [("image", format!("{addr}/app:both"))];
    assert_eq!(
        probe(&agent, &[("image", &ok[0].1)])
            .await
            .header("x-pullcheck-cache")
            .as_deref(),
        Some("miss")
    );
    assert_eq!(
        probe(&agent, &[("image", &ok[0].1)])
            .await
            .header("x-pullcheck-cache")
            .as_deref(),
        Some("miss")
    );
    // A network failure: kept for the network TTL, then asked again.
    let down = format!("{closed}/app:v1");
    let a = probe(&agent, &[("image", &down)]).await;
    assert_eq!(a.json()["verdict"], "connection_refused");
    assert_eq!(
        probe(&agent, &[("image", &down)])
            .await
            .header("x-pullcheck-cache")
            .as_deref(),
        Some("hit")
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        probe(&agent, &[("image", &down)])
            .await
            .header("x-pullcheck-cache")
            .as_deref(),
        Some("miss")
    );
    // A definite refusal (not found) is kept for the denied TTL (30 s by default).
    let missing = format!("{addr}/app:nope");
    assert_eq!(
        probe(&agent, &[("image", &missing)]).await.json()["verdict"],
        "manifest_unknown"
    );
    assert_eq!(
        probe(&agent, &[("image", &missing)])
            .await
            .header("x-pullcheck-cache")
            .as_deref(),
        Some("hit")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_policy_refuses_loopback_link_local_and_metadata() {
    let agent = Agent::start_strict(
        &[
            "--only-registry",
            "127.0.0.1:5000,*.example.com,169.254.169.254",
        ],
        &[],
    );
    for (image, needle) in [
        ("127.0.0.1:5000/app:v1", "loopback"),
        ("169.254.169.254/latest/meta-data", "cloud metadata"),
        ("ghcr.io/org/app", "--only-registry"),
    ] {
        let a = probe(&agent, &[("image", image)]).await;
        a.assert_error(403, "registry_not_allowed");
        assert!(
            a.json()["message"].as_str().unwrap().contains(needle),
            "{}",
            a.text
        );
    }
    // Allowed by CIDR, the same registry is probed (nothing listens there: a verdict, not a refusal).
    let closed = bed().addr("closed");
    let hosts = http(&closed);
    let agent = Agent::start_strict(
        &[
            "--allow-registry-cidr",
            "127.0.0.1/32",
            "--hosts-dir",
            path(hosts.path()),
        ],
        &[],
    );
    let a = probe(&agent, &[("image", &format!("{closed}/app:v1"))]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["verdict"], "connection_refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_budget_answers_429_with_retry_after() {
    let addr = bed().addr("plain");
    let hosts = http(&addr);
    let budget = format!("{addr}=1/1h");
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--registry-budget",
            &budget,
        ],
        &[],
    );
    let image = format!("{addr}/app:amd64");
    assert_eq!(probe(&agent, &[("image", &image)]).await.status, 200);
    // The cached answer does not need the budget, nor does a fresh probe of a digest the
    // agent has read (a HEAD: the budget counts manifest GETs, what Docker Hub counts)…
    assert_eq!(probe(&agent, &[("image", &image)]).await.status, 200);
    let fresh = probe(&agent, &[("image", &image), ("fresh", "true")]).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(fresh.json()["registryCost"]["manifestGets"], 0);
    // …a digest it has not read does.
    let other_tag = format!("{addr}/app:both");
    let a = probe(&agent, &[("image", &other_tag)]).await;
    a.assert_error(429, "registry_budget_exhausted");
    assert!(a.text.contains("manifest GET"), "{}", a.text);
    let after: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&after), "{after}");
    // Other registries have their own budget.
    let other = format!("127.0.0.1:{}/app:v1", bed().port("closed"));
    assert_eq!(probe(&agent, &[("image", &other)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_answers_429_without_queueing() {
    let hang = bed().addr("hang");
    let plain = bed().addr("plain");
    let hosts = hosts_dir(&[
        (&hang, format!("server = \"http://{hang}\"\n")),
        (&plain, format!("server = \"http://{plain}\"\n")),
    ]);
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--max-concurrent-probes",
            "1",
            "--timeout",
            "2s",
        ],
        &[],
    );
    let slow_image = format!("{hang}/app:v1");
    let slow = tokio::spawn(send(
        client().get(probe_url(&agent, &[("image", slow_image.as_str())])),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = probe(&agent, &[("image", &format!("{plain}/app:amd64"))]).await;
    a.assert_error(429, "saturated");
    assert_eq!(a.header("retry-after").as_deref(), Some("1"));
    // The same probe as the one in flight joins it instead.
    let joined = probe(&agent, &[("image", &slow_image)]).await;
    assert_eq!(
        joined.header("x-pullcheck-cache").as_deref(),
        Some("coalesced")
    );
    let s = slow.await.unwrap();
    assert_eq!(s.json()["verdict"], "timeout");
    assert_eq!(joined.text, s.text);
    assert_eq!(
        probe(&agent, &[("image", &format!("{plain}/app:amd64"))])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reports_facts_rate_limits_and_budgets() {
    let fronts = bed().addr("fronts");
    let hosts = http(&fronts);
    let agent = Agent::start(
        &["--hosts-dir", path(hosts.path()), "--node-name", "node-1"],
        &[],
    );
    let a = probe(
        &agent,
        &[("image", &format!("{fronts}/ratelimited/app:v1"))],
    )
    .await;
    assert_eq!(a.json()["verdict"], "rate_limited");
    let n = get(&agent.url("/v1/node")).await;
    assert_eq!(n.status, 200, "{}", n.text);
    let v = n.json();
    assert_eq!(v["kind"], "NodeFacts");
    assert!(v["platform"]["architecture"].is_string());
    assert_eq!(v["runtime"]["verdict"], "runtime_unavailable");
    assert!(
        v["identities"].as_array().is_some_and(|i| !i.is_empty()),
        "{v}"
    );
    let rl = &v["rateLimits"][0];
    assert!(rl["registry"].as_str().unwrap().contains(&fronts), "{v}");
    assert_eq!(rl["rateLimit"]["limit"], 100);
    assert_eq!(rl["rateLimit"]["remaining"], 0);
    assert!(rl["seenAt"].as_u64().unwrap() > 0);
    let budgets = v["budgets"].as_array().unwrap();
    assert!(
        budgets
            .iter()
            .any(|b| b["registry"] == "docker.io" && b["rate"] == "50/6h"),
        "{v}"
    );
    assert_eq!(v["agent"]["maxConcurrentProbes"], 32);
    assert_eq!(v["agent"]["cachedAnswers"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_probes_and_upstream_exchanges() {
    let addr = bed().addr("plain");
    let hosts = http(&addr);
    let agent = Agent::start(&["--hosts-dir", path(hosts.path())], &[]);
    let image = format!("{addr}/app:amd64");
    probe(&agent, &[("image", &image)]).await;
    probe(&agent, &[("image", &image)]).await;
    probe(&agent, &[]).await;
    let m = get(&agent.metrics_url("/metrics")).await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let t = m.text;
    for needle in [
        "pullcheck_agent_http_requests_total{route=\"/v1/probe\",status=\"200\"} 2".to_string(),
        "pullcheck_agent_http_requests_total{route=\"/v1/probe\",status=\"400\"} 1".to_string(),
        "pullcheck_agent_probes_total{answer=\"probed\",verdict=\"ok\"} 1".to_string(),
        "pullcheck_agent_probes_total{answer=\"cache_hit\",verdict=\"ok\"} 1".to_string(),
        format!("pullcheck_agent_upstream_requests_total{{registry=\"{addr}\",status=\"200\"}}"),
        "pullcheck_agent_http_request_duration_seconds_bucket".to_string(),
    ] {
        assert!(t.contains(&needle), "{needle} missing:\n{t}");
    }
    // The metrics listener serves only metrics and health.
    get(&agent.metrics_url("/v1/probe?image=x"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_what_is_served() {
    let addr = bed().addr("plain");
    let hosts = http(&addr);
    let agent = Agent::start(&["--hosts-dir", path(hosts.path())], &[]);
    let doc = get(&agent.url("/openapi.json")).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/v1/probe",
        "/v1/node",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }
    let schema = &doc["components"]["schemas"]["PullReport"];
    let report = probe(&agent, &[("image", &format!("{addr}/app:amd64"))])
        .await
        .json();
    for req in schema["required"].as_array().unwrap() {
        assert!(
            report.get(req.as_str().unwrap()).is_some(),
            "{req} missing from a real report"
        );
    }
    for k in keys(&report) {
        assert!(schema["properties"].get(&k).is_some(), "{k} undocumented");
    }
    let node = get(&agent.url("/v1/node")).await.json();
    for req in doc["components"]["schemas"]["NodeFacts"]["required"]
        .as_array()
        .unwrap()
    {
        assert!(
            node.get(req.as_str().unwrap()).is_some(),
            "{req} missing from /v1/node"
        );
    }
}

fn docker_secret(name: &str, registry: &str, user: &str, password: &str) {
    kube_put(dockerconfigjson_secret(
        "agent-api",
        name,
        registry,
        user,
        password,
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_and_secret_references_go_through_the_kubernetes_api() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = hosts_dir(&[(
        &tls,
        format!("server = \"https://{tls}\"\nca = \"{}\"\n", b.str("ca")),
    )]);
    docker_secret("agent-right", &tls, &b.user(), &b.password());
    docker_secret("agent-wrong", &tls, &b.user(), "not-the-password");
    kube_put(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent-web", "namespace": "agent-api"},
               "spec": {"imagePullSecrets": [{"name": "agent-wrong"}, {"name": "agent-right"}],
                        "containers": [{"name": "app", "image": "x"}]}}),
    );
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--kubeconfig",
            &kube().kubeconfig(),
        ],
        &[],
    );
    let image = format!("{tls}/app:amd64");
    let plat = ("platform", "linux/amd64");
    let anon = probe(&agent, &[("image", &image), plat]).await.json();
    assert_eq!(anon["verdict"], "unauthorized", "{anon}");
    let a = probe(
        &agent,
        &[("image", &image), plat, ("secret", "agent-api/agent-right")],
    )
    .await;
    let r = a.json();
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(r["identity"]["source"]["name"], "agent-right");
    // Repeated secrets keep their order: the wrong one first fails, the right one is used.
    let a = probe(
        &agent,
        &[
            ("image", &image),
            plat,
            ("secret", "agent-api/agent-wrong"),
            ("secret", "agent-api/agent-right"),
        ],
    )
    .await;
    assert_eq!(a.json()["credentials"][0]["verdict"], "unauthorized");
    let r = probe(
        &agent,
        &[("image", &image), plat, ("pod", "agent-api/agent-web")],
    )
    .await
    .json();
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(
        r["identitySources"]["pod"]["imagePullSecrets"],
        json!(["agent-wrong", "agent-right"])
    );
    probe(&agent, &[("image", &image), ("pod", "agent-api/nope")])
        .await
        .assert_error(404, "pod_not_found");
    let pw = b.password();
    assert!(!agent.logs().contains(&pw), "a credential reached the logs");
    for q in [
        ("secret", "agent-api/agent-right"),
        ("pod", "agent-api/agent-web"),
    ] {
        let text = probe(&agent, &[("image", &image), plat, q]).await.text;
        assert!(!text.contains(&pw), "a credential reached an answer");
    }
}

/// A registry on 127.0.0.1 that points the probe elsewhere on loopback: a manifest redirect to
/// 127.0.0.2 and a token realm on 127.0.0.3, where listeners count every connection.
async fn pointing_registry(trap2: u16, trap3: u16) -> (String, tokio::task::JoinHandle<()>) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_string();
                        let mut resp = hyper::Response::builder();
                        resp = if path.starts_with("/v2/redirect/") {
                            resp.status(307).header(
                                "location",
                                format!("http://127.0.0.2:{trap2}/latest/meta-data/"),
                            )
                        } else if path.starts_with("/v2/realm/") {
                            resp.status(401).header(
                                "www-authenticate",
                                format!(
                                    "Bearer realm=\"http://127.0.0.3:{trap3}/token\",service=\"x\""
                                ),
                            )
                        } else {
                            resp.status(200)
                        };
                        Ok::<_, std::convert::Infallible>(
                            resp.body(Full::new(Bytes::new())).unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

/// A listener that counts connections.
async fn trap(
    ip: &str,
) -> (
    u16,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let task = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, hits, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_token_realms_obey_the_registry_policy() {
    let (p2, hits2, t2) = trap("127.0.0.2").await;
    let (p3, hits3, t3) = trap("127.0.0.3").await;
    let (addr, reg) = pointing_registry(p2, p3).await;
    let hosts = http(&addr);
    let agent = Agent::start_strict(
        &[
            "--allow-registry-cidr",
            "127.0.0.1/32",
            "--hosts-dir",
            path(hosts.path()),
        ],
        &[],
    );
    for (repo, trap_url) in [
        ("redirect", format!("http://127.0.0.2:{p2}/")),
        ("realm", format!("http://127.0.0.3:{p3}/token")),
    ] {
        let a = probe(&agent, &[("image", &format!("{addr}/{repo}/app:v1"))]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let r = a.json();
        let refused = r["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"].as_str().unwrap().starts_with(&trap_url))
            .unwrap_or_else(|| panic!("no exchange for {trap_url}: {r}"));
        let t = &refused["transport"];
        assert_eq!(t["kind"], "policy", "{r}");
        // Not "nothing listens": the agent chose not to connect, and says so.
        assert_eq!(r["verdict"], "unknown", "{r}");
        assert!(r["remediation"]
            .as_str()
            .unwrap()
            .contains("--allow-registry-cidr"));
        assert!(
            t["message"].as_str().unwrap().contains("registry policy"),
            "{t}"
        );
    }
    assert_eq!(
        hits2.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a redirect reached 127.0.0.2"
    );
    assert_eq!(
        hits3.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a token realm reached 127.0.0.3"
    );
    for t in [t2, t3, reg] {
        t.abort();
    }
}
