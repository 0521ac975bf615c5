//! kubectl-pullcheck when things go wrong, against the fake API server and a real agent (no
//! registry needed): forbidden port-forward, a node that does not answer, an agent port
//! nobody listens on, nodes without an agent, no agent at all, RBAC on lists, kubeconfig
//! contexts, bad input; and the `nodes` subcommand. Every case: a clear message naming the
//! step and the input, the documented exit code, no panic.

use crate::support;

use support::agent::Agent;
use support::cluster::{agent_pod, kubectl_pullcheck, Sim};
use support::kube_fake::{Forward, KubeFake};

/// An image on a closed loopback port: the agent answers `connection_refused` at once.
const CLOSED: &str = "127.0.0.1:1/app:v1";

#[test]
fn forbidden_port_forward_timeout_and_refused_port_are_named() {
    let agent = Agent::start(&[], &[]);
    let sim = Sim::new();
    sim.add_node("n-ok", "ng-1", Some(Forward::To(agent.api)));
    sim.add_node("n-forbidden", "ng-1", Some(Forward::Forbidden));
    sim.add_node("n-hang", "ng-1", Some(Forward::Hang));
    sim.add_node(
        "n-refused",
        "ng-1",
        Some(Forward::Ports(Default::default())),
    );
    sim.add_node("n-none", "ng-1", None);

    let started = std::time::Instant::now();
    let run = sim.run(&["image", CLOSED, "--all-nodes", "--timeout", "2s"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let out = &run.stdout;
    // The one node that answered cannot pull (connection_refused): its family's code, 8, as
    // `pullcheck probe` exits, wins over "not asked".
    assert_eq!(run.code, 8, "{out}\n{}", run.stderr);
    assert!(
        out.contains("1 node in pool ng-1: connection_refused as anonymous"),
        "{out}"
    );
    assert!(out.contains("port-forward to pullcheck/agent-n-forbidden on node n-forbidden forbidden: you need \"get\" and \"create\" on pods/portforward in namespace pullcheck"), "{out}");
    assert!(
        out.contains("1 node did not answer in time: node n-hang did not answer in 2s"),
        "{out}"
    );
    assert!(
        out.contains("could not reach the agent pullcheck/agent-n-refused on port 8740"),
        "{out}"
    );
    assert!(out.contains("connection refused"), "{out}");
    assert!(
        out.contains("1 node without an agent pod\n    nodes: n-none"),
        "{out}"
    );

    // Only the nodes that could not be asked: exit 3.
    let run = sim.run(&[
        "image",
        CLOSED,
        "--node",
        "n-forbidden",
        "--node",
        "n-none",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 13, "{}", run.stderr);
    let doc = run.json();
    let statuses: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["forbidden", "no_agent"]);
    assert_eq!(doc["summary"]["notAsked"], 2);
    assert_eq!(doc["exitCode"], 13);

    // --agent-port: the pod listens on 8740 only; another port is refused by the kubelet.
    sim.add_node(
        "n-8740",
        "ng-1",
        Some(Forward::Ports([(8740, agent.api)].into())),
    );
    let run = sim.run(&["image", CLOSED, "--node", "n-8740", "--agent-port", "8740"]);
    assert_eq!(run.code, 8, "connection_refused: {}", run.stdout);
    let run = sim.run(&["image", CLOSED, "--node", "n-8740", "--agent-port", "9999"]);
    assert_eq!(run.code, 13, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("could not reach the agent pullcheck/agent-n-8740 on port 9999"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_nodes_subcommand_shows_presence_version_and_readiness() {
    let agent = Agent::start(&[], &[]);
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", Some(Forward::To(agent.api)));
    sim.add_node("n2", "ng-1", None);
    sim.add_node("n3", "ng-arm", Some(Forward::Forbidden));
    sim.fake.put(agent_pod("agent-n4", "n4", false));
    sim.fake
        .put(support::cluster::node("n4", "ng-1", "zone-a", "amd64"));

    let run = sim.run(&["nodes"]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("NODE"), "{}", run.stdout);
    let row = |n: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no row for {n}:\n{}", run.stdout))
    };
    assert!(
        row("n1").contains("agent-n1")
            && row("n1").contains("0.1.0")
            && row("n1").contains(" ready"),
        "{}",
        row("n1")
    );
    assert!(row("n2").contains("no_agent"), "{}", row("n2"));
    assert!(
        row("n3").contains("forbidden") && row("n3").contains("arm64"),
        "{}",
        row("n3")
    );
    assert!(
        row("n4").contains("pod_not_ready") && row("n4").contains("False"),
        "{}",
        row("n4")
    );
    assert!(
        run.stdout.contains("1/4 nodes have a ready agent"),
        "{}",
        run.stdout
    );

    let run = sim.run(&[
        "nodes",
        "-l",
        "eks.amazonaws.com/nodegroup=ng-1",
        "-o",
        "json",
    ]);
    let doc = run.json();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["agentStatus"], "ready");
    assert_eq!(nodes[0]["agent"]["version"], "0.1.0");
    assert_eq!(nodes[0]["readyz"]["ready"], true);

    // Every agent ready: exit 0.
    let run = sim.run(&["nodes", "-l", "kubernetes.io/hostname=n1"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn no_agent_installed_says_how_to_install() {
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", None);
    for args in [vec!["image", CLOSED, "--all-nodes"], vec!["nodes"]] {
        let run = sim.run(&args);
        assert_eq!(run.code, 14, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("the pullcheck agent is not installed: no pod matches \"app.kubernetes.io/name=pullcheck\" in namespace pullcheck")
                && run.stderr.contains("kubectl apply -f deploy/pullcheck.yaml"),
            "{}",
            run.stderr
        );
    }
    // `pod` still reads the pod and classifies its waiting message, and says what that leaves
    // unchecked; the message's verdict is the exit code (4: not found or unauthorized).
    sim.fake.put(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "r.example/app:v1"}]},
        "status": {"containerStatuses": [{"name": "app", "image": "r.example/app:v1", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"}}}]}}));
    let run = sim.run(&["pod", "web", "-n", "team-a"]);
    assert!(
        run.stdout
            .contains("not asked: the pullcheck agent is not installed")
            && run
                .stdout
                .contains("kubectl apply -f deploy/pullcheck.yaml")
            && run.stdout.contains("Message says:")
            && run.stdout.contains("Not checked:"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout
            .contains("Message says:  not_found_or_unauthorized"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    // From the message alone the answer still says what fixes it, which pull secrets the pod
    // names, and that they are not checked; `-n` before the subcommand, as kubectl users type it.
    sim.fake.put(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web2", "namespace": "shop"},
        "spec": {"nodeName": "n1", "imagePullSecrets": [{"name": "regcred"}, {"name": "ghcr-pull"}],
                 "containers": [{"name": "app", "image": "r.example/app:v1"}]},
        "status": {"containerStatuses": [{"name": "app", "image": "r.example/app:v1", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"}}}]}}));
    let before = sim.run(&["-n", "shop", "pod", "web2"]);
    let after = sim.run(&["pod", "web2", "-n", "shop"]);
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.code, 4, "{}\n{}", before.stdout, before.stderr);
    let out = &before.stdout;
    assert!(out.contains("Pod shop/web2 on node n1"), "{out}");
    assert!(out.contains("\n  Remediation:   "), "{out}");
    assert!(
        out.contains("\n  Pull secrets:  regcred, ghcr-pull\n"),
        "{out}"
    );
    assert!(
        out.contains("Not checked:") && out.contains("nor whether these pull secrets exist"),
        "{out}"
    );
    let doc = sim.run(&["-n", "shop", "pod", "web2", "-o", "json"]).json();
    assert_eq!(
        doc["imagePullSecrets"],
        serde_json::json!(["regcred", "ghcr-pull"])
    );
    // The first pod names none, and says so.
    let run = sim.run(&["pod", "web", "-n", "team-a"]);
    assert!(run.stdout.contains("\n  Remediation:   "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Pull secrets:  none (the pod names no imagePullSecrets"),
        "{}",
        run.stdout
    );
    // Another agent namespace is honoured.
    let run = sim.run(&["nodes", "--agent-namespace", "elsewhere"]);
    assert!(
        run.stderr.contains("in namespace elsewhere"),
        "{}",
        run.stderr
    );
}

#[test]
fn rbac_on_lists_and_reads_is_named() {
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", Some(Forward::Hang));
    sim.fake.forbid("list", "pods");
    let run = sim.run(&["nodes"]);
    assert_eq!(run.code, 14);
    assert!(
        run.stderr.contains("cannot list the agent pods (app.kubernetes.io/name=pullcheck) in namespace pullcheck: 403 Forbidden")
            && run.stderr.contains("you need \"list\" on pods in namespace pullcheck"),
        "{}",
        run.stderr
    );
    sim.fake.forbid("list", "nodes");
    let run = sim.run(&["image", CLOSED, "--all-nodes"]);
    assert_eq!(run.code, 14);
    assert!(
        run.stderr.contains("cannot list nodes: 403 Forbidden")
            && run
                .stderr
                .contains("you need \"list\" on nodes (cluster-wide)"),
        "{}",
        run.stderr
    );
    sim.fake.forbid("get", "pods");
    let run = sim.run(&["pod", "web", "-n", "team-a"]);
    assert_eq!(run.code, 14);
    assert!(
        run.stderr
            .contains("cannot read pod team-a/web: 403 Forbidden")
            && run
                .stderr
                .contains("you need \"get\" on pods in namespace team-a"),
        "{}",
        run.stderr
    );
}

#[test]
fn kubeconfig_context_selection_works_like_kubectl() {
    let agent = Agent::start(&[], &[]);
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", Some(Forward::To(agent.api)));
    // Current context: a closed port; `sim`: the fake.
    let path = sim.dir.path().join("two-contexts");
    KubeFake::write_kubeconfig(
        &path,
        &[
            ("broken", "http://127.0.0.1:1", "default"),
            ("sim", &sim.fake.url(), "default"),
        ],
    );
    let p = path.to_str().unwrap();
    let run = kubectl_pullcheck(&["--kubeconfig", p, "--context", "sim", "nodes"], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("agent-n1"));
    // KUBECONFIG is honoured, and --context after the subcommand too.
    let run = kubectl_pullcheck(&["nodes", "--context", "sim"], &[("KUBECONFIG", p)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The current context is used without --context: the closed port is a cluster error.
    let run = kubectl_pullcheck(&["--kubeconfig", p, "nodes"], &[]);
    assert_eq!(run.code, 14, "{}", run.stdout);
    assert!(run.stderr.contains("cannot list nodes"), "{}", run.stderr);
    // As kubectl does, the server is named; and no library log line (no colours) on a pipe.
    assert!(
        run.stderr
            .contains("the API server http://127.0.0.1:1/ did not answer"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    // An unknown context is named.
    let run = kubectl_pullcheck(&["--kubeconfig", p, "--context", "nope", "nodes"], &[]);
    assert_eq!(run.code, 14);
    assert!(run.stderr.contains("context \"nope\""), "{}", run.stderr);
    // A missing kubeconfig file is named.
    let run = kubectl_pullcheck(&["--kubeconfig", "/nonexistent/kc", "nodes"], &[]);
    assert_eq!(run.code, 14);
    assert!(run.stderr.contains("/nonexistent/kc"), "{}", run.stderr);
}

#[test]
fn a_black_holed_api_server_fails_within_the_timeout() {
    // Accepts connections and never answers (nor closes them).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    KubeFake::write_kubeconfig(&path, &[("hole", &format!("http://{addr}"), "default")]);
    let p = path.to_str().unwrap();
    for args in [
        vec!["--kubeconfig", p, "--timeout", "1s", "nodes"],
        vec![
            "--kubeconfig",
            p,
            "--timeout",
            "1s",
            "-n",
            "shop",
            "pod",
            "web",
        ],
        vec![
            "--kubeconfig",
            p,
            "image",
            "r.example/app:v1",
            "--all-nodes",
            "--timeout",
            "1s",
        ],
    ] {
        let started = std::time::Instant::now();
        let run = kubectl_pullcheck(&args, &[]);
        let took = started.elapsed();
        assert_eq!(run.code, 14, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(
            took >= std::time::Duration::from_millis(900)
                && took < std::time::Duration::from_secs(5),
            "{args:?} took {took:?}"
        );
        assert!(
            run.stderr.contains(&format!(
                ": no answer (timed out) — the API server http://{addr}/ did not answer within 1s (--timeout)"
            )),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

#[test]
fn no_kubeconfig_is_one_sentence_naming_the_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    // KUBECONFIG names a file that is not there.
    let mut said = Vec::new();
    let run = kubectl_pullcheck(&["nodes"], &[("HOME", h)]);
    said.push(run.stderr.clone());
    assert_eq!(run.code, 14, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: no kubeconfig: /nonexistent/pullcheck-test-kubeconfig (named by KUBECONFIG) does not exist, and this is not a pod in a cluster; pass --kubeconfig FILE or set KUBECONFIG to the file\n"
    );
    // No KUBECONFIG: the default file under HOME is named.
    let run = kubectl_pullcheck(
        &["-n", "shop", "pod", "web"],
        &[("HOME", h), ("KUBECONFIG", "")],
    );
    assert_eq!(run.code, 14, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("error: no kubeconfig: {h}/.kube/config does not exist (KUBECONFIG is not set), and this is not a pod in a cluster; pass --kubeconfig FILE or set KUBECONFIG to the file\n")
    );
    // A named file that is missing, or not a kubeconfig: its path once, unquoted.
    let run = kubectl_pullcheck(&["--kubeconfig", "/nonexistent/kc", "nodes"], &[]);
    said.push(run.stderr.clone());
    assert_eq!(run.code, 14);
    assert!(
        run.stderr
            .starts_with("error: cannot read the kubeconfig /nonexistent/kc: no such file;"),
        "{}",
        run.stderr
    );
    // Not a kubeconfig: where, not the parser's quote of the file (it may hold a token).
    let junk = home.path().join("junk");
    std::fs::write(&junk, "- token-abc123\n- a list\n").unwrap();
    let run = kubectl_pullcheck(&["--kubeconfig", junk.to_str().unwrap(), "nodes"], &[]);
    assert_eq!(run.code, 14);
    assert!(
        run.stderr.contains(&format!(
            "cannot read the kubeconfig {}: not a kubeconfig (invalid YAML or fields at line 1 column 1)",
            junk.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("token-abc123"), "{}", run.stderr);
    said.push(run.stderr.clone());
    for stderr in &said {
        assert!(!stderr.contains("'\""), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn bad_input_is_refused_clearly() {
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", Some(Forward::Hang));
    // A bad reference is refused before the cluster is asked.
    let run = sim.run(&["image", "Upper/Case::x", "--all-nodes"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("invalid image reference \"Upper/Case::x\""),
        "{}",
        run.stderr
    );
    assert!(sim.fake.requests().is_empty(), "{:?}", sim.fake.requests());
    // An unknown node.
    let run = sim.run(&["image", CLOSED, "--node", "ghost"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("node \"ghost\" not found"),
        "{}",
        run.stderr
    );
    // A selector that matches nothing, and one the API server refuses.
    let run = sim.run(&["image", CLOSED, "-l", "pool=none"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("no node matches the label selector \"pool=none\""),
        "{}",
        run.stderr
    );
    let run = sim.run(&["image", CLOSED, "-l", "a b c"]);
    assert_eq!(run.code, 14);
    assert!(run.stderr.contains("400"), "{}", run.stderr);
    // No node selection, two selections, a bad --secret, a bad --platform, a bad duration.
    for args in [
        vec!["image", CLOSED],
        vec!["image", CLOSED, "--all-nodes", "--node", "n1"],
        vec!["image", CLOSED, "--all-nodes", "--secret", "a/b/c"],
        vec!["image", CLOSED, "--all-nodes", "--platform", "nope"],
        vec!["--timeout", "0s", "nodes"],
        vec!["image", CLOSED, "--all-nodes", "--concurrency", "0"],
    ] {
        let run = sim.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("error"), "{args:?}: {}", run.stderr);
    }
    // An unknown pod.
    let run = sim.run(&["pod", "nope", "-n", "team-a"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("pod team-a/nope not found"),
        "{}",
        run.stderr
    );
    // --help is not an error.
    assert_eq!(sim.run(&["--help"]).code, 0);
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let agent = Agent::start(&[], &[]);
    let sim = Sim::new();
    sim.add_node("n1", "ng-1", Some(Forward::To(agent.api)));
    sim.add_node("n2", "ng-1", Some(Forward::Hang));
    let args = ["image", CLOSED, "--all-nodes", "--timeout", "1s"];
    // Not a terminal: nothing on stderr.
    let run = sim.run(&args);
    assert_eq!(run.code, 8, "connection_refused on n1");
    assert_eq!(run.stderr, "", "no progress when stderr is not a terminal");
    // A terminal (util-linux `script` gives the command a pseudo-terminal): `\r 1/2 nodes`.
    let command = format!(
        "{} --kubeconfig {} {}",
        env!("CARGO_BIN_EXE_kubectl-pullcheck"),
        sim.kubeconfig.display(),
        args.join(" ")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("run script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\r 1/2 nodes"), "{text:?}");
    assert!(text.contains("1 node did not answer in time"), "{text:?}");
}
