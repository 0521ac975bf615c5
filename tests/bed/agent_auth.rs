//! The agent's network listener against the fake Kubernetes API server (tests/support's
//! `KubeFake`), which speaks the real `authentication.k8s.io/v1` TokenReview and
//! `authorization.k8s.io/v1` SubjectAccessReview JSON: tokens are reviewed, users authorised for the configured verb and resource, decisions
//! cached, and tokens never logged.

use crate::support;

use serde_json::json;
use support::agent::*;
use support::kube_fake::KubeFake;

const ALICE: &str = "alice-token-9f8e7d";
const BOB: &str = "bob-token-1a2b3c";

/// The fake API server on loopback, knowing Alice (allowed) and Bob (not), and a kubeconfig
/// pointing at it with the agent's own token.
struct FakeApi {
    kube: KubeFake,
    kubeconfig: tempfile::NamedTempFile,
}

async fn fake_api() -> FakeApi {
    let kube = KubeFake::start();
    kube.authenticate(
        ALICE,
        json!({"username": "alice", "uid": "u-1", "groups": ["sre", "system:authenticated"],
               "extra": {"scopes": ["probe"]}}),
    );
    kube.authenticate(
        BOB,
        json!({"username": "bob", "uid": "u-2", "groups": ["system:authenticated"]}),
    );
    kube.allow("alice", "RBAC: allowed by ClusterRoleBinding \"sre\"");
    let kubeconfig = support::kubeconfig_for(&kube.url(), "agent-sa-token");
    FakeApi { kube, kubeconfig }
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

    // The review carried the caller's identity and the configured attributes.
    let access_reviews = api.kube.reviews("SubjectAccessReview");
    let sar = access_reviews
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
    let token_reviews = api.kube.reviews("TokenReview");
    assert_eq!(token_reviews.len(), 3, "{token_reviews:?}");
    // The agent authenticated to the API with its own credentials.
    let headers = api.kube.authorization_headers();
    assert!(!headers.is_empty());
    assert!(
        headers.iter().all(|h| h == "Bearer agent-sa-token"),
        "{headers:?}"
    );
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
    let access_reviews = api.kube.reviews("SubjectAccessReview");
    let ra = &access_reviews[0]["spec"]["resourceAttributes"];
    assert_eq!(ra["verb"], "create");
    assert_eq!(ra["resource"], "services");
    assert_eq!(ra["subresource"], "proxy");
    assert_eq!(ra["namespace"], "pullcheck");
    assert_eq!(ra["name"], "pullcheck-agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_is_503_not_a_pass() {
    // Nothing listens at the bed's `closed` port.
    let cfg = support::kubeconfig_for(
        &format!("http://{}", support::bed().addr("closed")),
        "agent-sa-token",
    );
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
