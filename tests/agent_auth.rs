//! The agent's network listener against a fake Kubernetes API server that speaks the real
//! `authentication.k8s.io/v1` TokenReview and `authorization.k8s.io/v1` SubjectAccessReview
//! JSON: tokens are reviewed, users authorised for the configured verb and resource, decisions
//! cached, and tokens never logged.

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::agent::*;

const ALICE: &str = "alice-token-9f8e7d";
const BOB: &str = "bob-token-1a2b3c";

/// What the fake API server received.
#[derive(Default)]
struct Seen {
    token_reviews: Vec<Value>,
    access_reviews: Vec<Value>,
    authorization_headers: Vec<String>,
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if let Some(h) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        seen.lock()
            .unwrap()
            .authorization_headers
            .push(h.to_string());
    }
    let body: Value =
        serde_json::from_slice(&req.into_body().collect().await?.to_bytes()).unwrap_or(Value::Null);
    let reply = |status: u16, v: Value| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())))
            .unwrap())
    };
    match (method.as_str(), path.as_str()) {
        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews") => {
            assert_eq!(body["kind"], "TokenReview");
            assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
            seen.lock().unwrap().token_reviews.push(body.clone());
            let user = match body["spec"]["token"].as_str() {
                Some(ALICE) => Some(
                    json!({"username": "alice", "uid": "u-1", "groups": ["sre", "system:authenticated"],
                                           "extra": {"scopes": ["probe"]}}),
                ),
                Some(BOB) => Some(
                    json!({"username": "bob", "uid": "u-2", "groups": ["system:authenticated"]}),
                ),
                _ => None,
            };
            let status = match user {
                Some(u) => json!({"authenticated": true, "user": u}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            };
            let mut out = body.clone();
            out["status"] = status;
            out["metadata"] = json!({"creationTimestamp": null});
            reply(201, out)
        }
        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
            assert_eq!(body["kind"], "SubjectAccessReview");
            assert_eq!(body["apiVersion"], "authorization.k8s.io/v1");
            seen.lock().unwrap().access_reviews.push(body.clone());
            let allowed = body["spec"]["user"] == "alice";
            let mut out = body.clone();
            out["status"] = if allowed {
                json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"sre\""})
            } else {
                json!({"allowed": false, "reason": "no RBAC policy matched"})
            };
            reply(201, out)
        }
        _ => reply(
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "not found"}),
        ),
    }
}

/// A fake API server on loopback, and a kubeconfig pointing at it.
struct FakeApi {
    seen: Arc<Mutex<Seen>>,
    kubeconfig: tempfile::NamedTempFile,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_api() -> FakeApi {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, s.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let kubeconfig = kubeconfig_for(&format!("http://{addr}"));
    FakeApi {
        seen,
        kubeconfig,
        task,
    }
}

fn kubeconfig_for(server: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: agent\n  user:\n    token: agent-sa-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: agent\ncurrent-context: fake\n"
        ),
    )
    .unwrap();
    f
}

fn network_agent(kubeconfig: &std::path::Path) -> Agent {
    Agent::start(
        &[
            "--network-listen",
            "127.0.0.1:0",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--node-name",
            "node-1",
        ],
        &[],
    )
}

async fn get_as(url: &str, token: Option<&str>) -> Answer {
    let mut r = client().get(url);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    send(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_callers_need_a_reviewed_and_authorised_token() {
    let api = fake_api().await;
    let agent = network_agent(api.kubeconfig.path());
    let net = agent.network.expect("network listener");
    let url = |p: &str| format!("http://{net}{p}");

    let a = get_as(&url("/v1/node"), None).await;
    a.assert_error(401, "unauthenticated");
    assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"));
    get_as(&url("/v1/node"), Some("not-a-known-token"))
        .await
        .assert_error(401, "unauthenticated");
    let a = get_as(&url("/v1/node"), Some(BOB)).await;
    a.assert_error(403, "forbidden");
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("bob may not get nodes/proxy named node-1"),
        "{}",
        a.text
    );

    let a = get_as(&url("/v1/node"), Some(ALICE)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["kind"], "NodeFacts");
    let a = get_as(&url("/v1/probe?image=UPPER/x"), Some(ALICE)).await;
    a.assert_error(400, "invalid_image");

    // Health needs no token; the loopback listener needs none at all.
    assert_eq!(get_as(&url("/healthz"), None).await.status, 200);
    assert_eq!(get_as(&url("/readyz"), None).await.status, 200);
    assert_eq!(get_as(&agent.url("/v1/node"), None).await.status, 200);

    let seen = api.seen.lock().unwrap();
    // The review carried the caller's identity and the configured attributes.
    let sar = seen
        .access_reviews
        .iter()
        .find(|r| r["spec"]["user"] == "alice")
        .unwrap();
    assert_eq!(
        sar["spec"]["groups"],
        json!(["sre", "system:authenticated"])
    );
    assert_eq!(sar["spec"]["uid"], "u-1");
    assert_eq!(sar["spec"]["extra"]["scopes"], json!(["probe"]));
    let ra = &sar["spec"]["resourceAttributes"];
    assert_eq!(
        (
            ra["verb"].as_str(),
            ra["resource"].as_str(),
            ra["subresource"].as_str(),
            ra["name"].as_str()
        ),
        (Some("get"), Some("nodes"), Some("proxy"), Some("node-1")),
        "{ra}"
    );
    // Alice's second request came from the decision cache: one review each for three tokens.
    assert_eq!(seen.token_reviews.len(), 3, "{:?}", seen.token_reviews);
    // The agent authenticated to the API with its own credentials.
    assert!(seen
        .authorization_headers
        .iter()
        .all(|h| h == "Bearer agent-sa-token"));
    drop(seen);
    let logs = agent.logs();
    for t in [ALICE, BOB, "agent-sa-token"] {
        assert!(!logs.contains(t), "token {t} reached the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_attributes_are_configurable() {
    let api = fake_api().await;
    let agent = Agent::start(
        &[
            "--network-listen",
            "127.0.0.1:0",
            "--kubeconfig",
            api.kubeconfig.path().to_str().unwrap(),
            "--authz-verb",
            "create",
            "--authz-resource",
            "services/proxy",
            "--authz-namespace",
            "pullcheck",
            "--authz-name",
            "pullcheck-agent",
        ],
        &[],
    );
    let net = agent.network.unwrap();
    assert_eq!(
        get_as(&format!("http://{net}/v1/node"), Some(ALICE))
            .await
            .status,
        200
    );
    let seen = api.seen.lock().unwrap();
    let ra = &seen.access_reviews[0]["spec"]["resourceAttributes"];
    assert_eq!(ra["verb"], "create");
    assert_eq!(ra["resource"], "services");
    assert_eq!(ra["subresource"], "proxy");
    assert_eq!(ra["namespace"], "pullcheck");
    assert_eq!(ra["name"], "pullcheck-agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_is_503_not_a_pass() {
    // Nothing listens at the bed's `closed` port.
    let cfg = kubeconfig_for(&format!("http://{}", support::bed().addr("closed")));
    let agent = network_agent(cfg.path());
    let net = agent.network.unwrap();
    let a = get_as(&format!("http://{net}/v1/node"), Some(ALICE)).await;
    a.assert_error(503, "auth_unavailable");
    assert!(a.header("retry-after").is_some());
}

#[test]
fn the_network_listener_requires_kubernetes_api_access() {
    let r = Agent::try_start(&["--network-listen", "127.0.0.1:0"], &[]);
    let (code, logs) = r.err().expect("must not start");
    assert_eq!(code, Some(64));
    assert!(logs.contains("network-listen"), "{logs}");
    assert!(logs.contains("TokenReview"), "{logs}");
}
