//! The fake Kubernetes API server (tests/support/kube_fake.rs) against kube's own client: lists
//! with label and field selectors, Status objects on 403/404, and the port-forward WebSocket
//! protocol (data to a local TCP server and back, the kubelet's error channel on a refused
//! port, 403 when forbidden). The plugin tests rely on it answering as the real one does.

use crate::support;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;
use std::collections::HashMap;
use support::cluster::{agent_pod, node};
use support::kube_fake::{parse_field_selector, parse_selector, Forward, KubeFake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn client(fake: &KubeFake) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    KubeFake::write_kubeconfig(&path, &[("fake", &fake.url(), "default")]);
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[test]
fn selectors_parse_and_match_like_the_api_server() {
    let labels = json!({"app": "web", "tier": "front"});
    let m = |s: &str| {
        parse_selector(s)
            .unwrap()
            .iter()
            .all(|r| r.matches(&labels))
    };
    assert!(m("app=web"));
    assert!(m("app==web,tier"));
    assert!(m("app in (api, web),!missing"));
    assert!(!m("app notin (web)"));
    assert!(m("missing!=x"));
    assert!(!m("app=api"));
    assert!(!m("!app"));
    assert!(parse_selector("a b c").is_err());
    let f = parse_field_selector("spec.nodeName=n1,status.phase!=Failed").unwrap();
    let pod = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
    assert!(f.iter().all(|r| r.matches(&pod)));
    let other = json!({"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}});
    assert!(!f.iter().all(|r| r.matches(&other)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_gets_answer_real_objects_and_statuses() {
    let fake = KubeFake::start();
    fake.put(node("n1", "ng-1", "z1", "amd64"));
    fake.put(node("n2", "ng-2", "z2", "arm64"));
    fake.put(agent_pod("agent-a", "n1", true));
    fake.put(agent_pod("agent-b", "n2", false));
    fake.put(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
                    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}}));
    let c = client(&fake).await;

    let nodes: Api<Node> = Api::all(c.clone());
    let all = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(all.metadata.resource_version.is_some());
    let ng2 = nodes
        .list(&ListParams::default().labels("eks.amazonaws.com/nodegroup=ng-2"))
        .await
        .unwrap();
    assert_eq!(ng2.items.len(), 1);
    assert_eq!(ng2.items[0].metadata.name.as_deref(), Some("n2"));
    assert!(ng2.items[0].metadata.resource_version.is_some());

    let agents: Api<Pod> = Api::namespaced(c.clone(), "pullcheck");
    let on_n2 = agents
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/name=pullcheck")
                .fields("spec.nodeName=n2"),
        )
        .await
        .unwrap();
    assert_eq!(on_n2.items.len(), 1);
    assert_eq!(on_n2.items[0].metadata.name.as_deref(), Some("agent-b"));
    // Across namespaces, and an empty list keeps its kind.
    let every: Api<Pod> = Api::all(c.clone());
    assert_eq!(
        every
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let raw = c
        .request_text(
            hyper::Request::get("/api/v1/namespaces/empty/pods")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["kind"], "PodList");
    assert_eq!(raw["items"], json!([]));

    // 404 and 403 are Status objects kube understands.
    let team: Api<Pod> = Api::namespaced(c.clone(), "team-a");
    assert!(team.get_opt("nope").await.unwrap().is_none());
    match team.get("nope").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "pods \"nope\" not found");
        }
        other => panic!("expected a 404 Status, got {other:?}"),
    }
    fake.forbid("list", "nodes");
    match nodes.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(
                s.message.contains("cannot list resource \"nodes\""),
                "{}",
                s.message
            );
        }
        other => panic!("expected a 403 Status, got {other:?}"),
    }
    // A malformed selector is a 400.
    match team.list(&ListParams::default().labels("a b c")).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 400),
        other => panic!("expected a 400 Status, got {other:?}"),
    }
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.starts_with("GET /api/v1/namespaces/pullcheck/pods?")
            && r.contains("fieldSelector=spec.nodeName%3Dn2")));
}

/// A TCP server that answers every chunk with the chunk upper-cased.
async fn upper_echo() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n].to_ascii_uppercase()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_speaks_the_channel_protocol_kube_expects() {
    let fake = KubeFake::start();
    let echo = upper_echo().await;
    fake.put(agent_pod("agent-a", "n1", true));
    fake.put(agent_pod("agent-b", "n2", true));
    fake.put(agent_pod("agent-c", "n3", true));
    fake.forward("pullcheck", "agent-a", Forward::To(echo));
    fake.forward(
        "pullcheck",
        "agent-b",
        Forward::Ports(HashMap::from([(8740, echo)])),
    );
    fake.forward("pullcheck", "agent-c", Forward::Forbidden);
    let c = client(&fake).await;
    let pods: Api<Pod> = Api::namespaced(c, "pullcheck");

    // Bytes go through and come back on the data channel.
    let mut pf = pods.portforward("agent-a", &[8740]).await.unwrap();
    let mut s = pf.take_stream(8740).unwrap();
    s.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HELLO");
    drop(s);
    pf.join().await.unwrap();

    // Two ports: the open one works, the closed one gets the kubelet's error text.
    let mut pf = pods.portforward("agent-b", &[8740, 9999]).await.unwrap();
    let err = pf.take_error(9999).unwrap().await;
    let err = err.expect("an error message on the closed port's error channel");
    assert!(
        err.contains("connection refused") && err.contains("9999"),
        "{err}"
    );
    let mut s = pf.take_stream(8740).unwrap();
    s.write_all(b"ok").await.unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"OK");
    pf.abort();

    // Forbidden: the API server's 403 Status.
    match pods.portforward("agent-c", &[8740]).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert!(s.message.contains("pods/portforward"), "{}", s.message);
        }
        Err(other) => panic!("expected a 403 Status, got {other:?}"),
        Ok(_) => panic!("expected a 403 Status, got a port-forward"),
    }
    // A pod that does not exist: 404.
    match pods.portforward("gone", &[8740]).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        Err(other) => panic!("expected a 404 Status, got {other:?}"),
        Ok(_) => panic!("expected a 404 Status, got a port-forward"),
    }
}
