//! RBAC, for real: the API server's own authorizer decides.
//!
//! - The agent runs under exactly the chart's ClusterRole: every verb it uses is allowed to its
//!   service account, and verbs it does not need are refused.
//! - `kubectl pullcheck` needs `pods/portforward` in the agents' namespace: a user without it is
//!   refused by the API server; with the bindings deploy/rbac-plugin-user.yaml describes, the
//!   same user gets an answer.
//! - The agent's network listener accepts a real service-account token of a caller allowed
//!   `get nodes/proxy` on the node (TokenReview and SubjectAccessReview against the real API
//!   server) and refuses another's.

use crate::kube::{cluster, wait_for};
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

const TEAM: &str = "rbac-checks";

fn agent_namespace() -> String {
    cluster().str("/agent_namespace")
}

/// `kubectl auth can-i VERB RESOURCE[/SUBRESOURCE] --as WHO`, in NS or in all namespaces.
fn can_i(who: &str, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    // kubectl reads `pods/exec` as resource/name: the subresource is a flag of its own.
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let sub = format!("--subresource={sub}");
    let mut args = vec!["auth", "can-i", verb, resource, "--as", who];
    if sub != "--subresource=" {
        args.push(&sub);
    }
    match ns {
        Some(ns) => args.extend_from_slice(&["-n", ns]),
        None => args.push("--all-namespaces"),
    }
    let run = cluster().kubectl(&args, None);
    match run.stdout.trim() {
        "yes" => true,
        "no" => false,
        other => panic!(
            "kubectl auth can-i {verb} {resource} --as {who}: {other} {}",
            run.stderr
        ),
    }
}

#[test]
fn the_agent_runs_under_exactly_the_charts_cluster_role() {
    if !crate::kube::present("the_agent_runs_under_exactly_the_charts_cluster_role") {
        return;
    }
    let _s = crate::faults::shared();
    let c = cluster();
    let ns = agent_namespace();
    let ds = c.get(&["daemonset", "-n", &ns, "pullcheck"]);
    let sa_name = ds["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("the DaemonSet names its service account")
        .to_string();
    let sa = format!("system:serviceaccount:{ns}:{sa_name}");
    let needed = [
        ("get", "pods"),
        ("list", "pods"),
        ("watch", "pods"),
        ("get", "serviceaccounts"),
        ("get", "secrets"),
        ("create", "events"),
        ("create", "tokenreviews.authentication.k8s.io"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),
    ];
    let refused = [
        ("list", "secrets"),
        ("watch", "secrets"),
        ("create", "secrets"),
        ("create", "pods"),
        ("delete", "pods"),
        ("patch", "pods"),
        ("create", "pods/exec"),
        ("update", "events"),
        ("delete", "events"),
        ("get", "configmaps"),
        ("get", "nodes"),
        ("patch", "nodes"),
        ("create", "serviceaccounts/token"),
    ];
    let mut wrong = Vec::new();
    for (verb, resource) in needed {
        if !can_i(&sa, verb, resource, None) {
            wrong.push(format!("{verb} {resource}: refused, the agent needs it"));
        }
    }
    for (verb, resource) in refused {
        if can_i(&sa, verb, resource, None) {
            wrong.push(format!(
                "{verb} {resource}: allowed, the agent never needs it"
            ));
        }
    }
    assert!(wrong.is_empty(), "{sa}:\n{}", wrong.join("\n"));
}

/// A kubeconfig that authenticates as service account TEAM/NAME with a real token the API
/// server issued (TokenRequest).
fn service_account_kubeconfig(name: &str) -> (tempfile::NamedTempFile, String) {
    let c = cluster();
    let _ = c.kubectl(&["-n", TEAM, "create", "serviceaccount", name], None);
    let token = c
        .kubectl_ok(
            &["-n", TEAM, "create", "token", name, "--duration", "1h"],
            None,
        )
        .trim()
        .to_string();
    let admin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.kubeconfig()).unwrap()).unwrap();
    let kc = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": admin["clusters"],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": name}}],
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), kc.to_string()).unwrap();
    (file, token)
}

fn plugin_as(kubeconfig: &std::path::Path, image: &str) -> crate::support::Run {
    cluster().kubectl_as(
        kubeconfig.to_str().unwrap(),
        &["pullcheck", "image", image, "--all-nodes", "-o", "json"],
        None,
    )
}

#[test]
fn the_plugin_needs_port_forward_in_the_agents_namespace() {
    if !crate::kube::present("the_plugin_needs_port_forward_in_the_agents_namespace") {
        return;
    }
    let _s = crate::faults::shared();
    let c = cluster();
    cluster().ensure_namespace(TEAM);
    let ns = agent_namespace();
    let image = format!("{}/app:amd64", crate::support::bed().addr("plain"));
    let (kc, _) = service_account_kubeconfig("sre");
    let who = format!("system:serviceaccount:{TEAM}:sre");
    // Listing nodes and pods only (the plugin-user role): the port-forward is refused.
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac-plugin-user.yaml");
    c.kubectl_ok(&["apply", "-f", manifest.to_str().unwrap()], None);
    let _ = c.kubectl(
        &[
            "delete",
            "clusterrolebinding",
            "rbac-checks-sre",
            "--ignore-not-found",
        ],
        None,
    );
    let _ = c.kubectl(
        &[
            "-n",
            &ns,
            "delete",
            "rolebinding",
            "rbac-checks-sre",
            "--ignore-not-found",
        ],
        None,
    );
    c.kubectl_ok(
        &[
            "create",
            "clusterrolebinding",
            "rbac-checks-sre",
            "--clusterrole",
            "pullcheck-plugin-user",
            "--serviceaccount",
            &format!("{TEAM}:sre"),
        ],
        None,
    );
    assert!(!can_i(&who, "create", "pods/portforward", Some(&ns)));
    let run = plugin_as(kc.path(), &image);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("forbidden") || text.contains("Forbidden"),
        "without pods/portforward the API server refuses: exit {}\n{text}",
        run.code
    );
    assert_ne!(run.code, 0, "{text}");
    // With the port-forward role bound in the agents' namespace, the same user gets the answer.
    c.kubectl_ok(
        &[
            "-n",
            &ns,
            "create",
            "rolebinding",
            "rbac-checks-sre",
            "--clusterrole",
            "pullcheck-plugin-portforward",
            "--serviceaccount",
            &format!("{TEAM}:sre"),
        ],
        None,
    );
    assert!(can_i(&who, "create", "pods/portforward", Some(&ns)));
    let run = wait_for(
        "the plugin with port-forward allowed",
        Duration::from_secs(30),
        || {
            let run = plugin_as(kc.path(), &image);
            (run.code == 0).then_some(run)
        },
    );
    assert!(run.stdout.contains("\"ok\""), "{}", run.stdout);
}

/// GET PATH from the agent's network listener with a bearer token; the status code.
fn network_get(token: &str, path: &str) -> u16 {
    let port = cluster()
        .json
        .pointer("/network_listener")
        .and_then(|v| v.as_str())
        .expect("cluster.json names the agent's network listener")
        .to_string();
    let mut s = std::net::TcpStream::connect(&port).expect("connect to the network listener");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status from the network listener: {out:?}"))
}

#[test]
fn the_network_listener_takes_real_tokens_of_allowed_callers_only() {
    if !crate::kube::present("the_network_listener_takes_real_tokens_of_allowed_callers_only") {
        return;
    }
    let _s = crate::faults::shared();
    let c = cluster();
    cluster().ensure_namespace(TEAM);
    let (_, allowed) = service_account_kubeconfig("prober");
    let (_, stranger) = service_account_kubeconfig("stranger");
    let _ = c.kubectl(
        &[
            "delete",
            "clusterrole",
            "rbac-checks-node-proxy",
            "--ignore-not-found",
        ],
        None,
    );
    let _ = c.kubectl(
        &[
            "delete",
            "clusterrolebinding",
            "rbac-checks-prober",
            "--ignore-not-found",
        ],
        None,
    );
    c.kubectl_ok(
        &[
            "create",
            "clusterrole",
            "rbac-checks-node-proxy",
            "--verb",
            "get",
            "--resource",
            "nodes/proxy",
        ],
        None,
    );
    c.kubectl_ok(
        &[
            "create",
            "clusterrolebinding",
            "rbac-checks-prober",
            "--clusterrole",
            "rbac-checks-node-proxy",
            "--serviceaccount",
            &format!("{TEAM}:prober"),
        ],
        None,
    );
    let status = wait_for(
        "the allowed caller's answer",
        Duration::from_secs(30),
        || {
            let s = network_get(&allowed, "/v1/node");
            (s == 200).then_some(s)
        },
    );
    assert_eq!(status, 200);
    assert_eq!(
        network_get(&stranger, "/v1/node"),
        403,
        "another service account's token"
    );
    assert_eq!(
        network_get("not-a-token", "/v1/node"),
        401,
        "a token the API server does not know"
    );
}
