//! `kubectl pullcheck image` over more than a hundred simulated nodes: the fake API server in
//! front of two real agents that probe the test bed's authenticating registry, one with the
//! right credential in its node docker config, one with a wrong one. Grouping by verdict and
//! pool, nodes without an agent listed by name, exit codes, `--node`, `-l`, `--secret`, and
//! `-o json|yaml|wide`.

use crate::support;

use serde_json::{json, Value};
use support::bed;
use support::cluster::{agent_pod, agents, put_secret, Sim};

#[test]
fn image_all_nodes_groups_over_a_hundred_nodes_by_verdict_and_pool() {
    let sim = Sim::new();
    let a = agents(&sim);
    sim.add_nodes("ng1", "ng-1", 60, a.right.api);
    sim.add_nodes("ng2", "ng-2", 50, a.wrong.api);
    for i in 0..3 {
        sim.add_node(&format!("bare-{i}"), "ng-3", None);
    }
    sim.fake.put(support::cluster::node(
        "starting", "ng-1", "zone-a", "amd64",
    ));
    sim.fake.put(agent_pod("agent-starting", "starting", false));
    let image = a.image.as_str();
    let common = ["image", image, "--platform", "linux/amd64"];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = common.to_vec();
        v.extend_from_slice(extra);
        sim.run(&v)
    };

    let run = with(&["--all-nodes", "--concurrency", "16"]);
    let out = &run.stdout;
    // The 50 that cannot pull are all unauthorized: the auth family's code, as `pullcheck` exits.
    assert_eq!(run.code, 5, "{out}\n{}", run.stderr);
    assert!(
        out.starts_with(&format!(
            "{image} on 114 nodes: 60 can pull, 50 cannot, 4 not asked"
        )),
        "{out}"
    );
    assert!(
        out.contains("50 nodes in pool ng-2: unauthorized as "),
        "{out}"
    );
    assert!(out.contains("60 nodes in pool ng-1: ok as "), "{out}");
    assert!(
        out.contains("3 nodes without an agent pod\n    nodes: bare-0, bare-1, bare-2"),
        "{out}"
    );
    assert!(
        out.contains("1 node whose agent pod is not ready\n    nodes: starting"),
        "{out}"
    );
    assert!(out.contains("… and 38 more (-o wide lists all)"), "{out}");
    // Failures come first, with their remediation.
    let cannot = out.find("CANNOT PULL").unwrap();
    let not_asked = out.find("NOT ASKED").unwrap();
    let can = out.find("CAN PULL").unwrap();
    assert!(cannot < not_asked && not_asked < can, "{out}");
    assert!(out.contains("    fix: "), "{out}");
    // The identity is the node's docker config.
    assert!(out.contains("config.json"), "{out}");
    assert!(!out.contains(&bed().password()) && !run.stderr.contains(&bed().password()));

    let run = with(&["--all-nodes", "-o", "json"]);
    assert_eq!(run.code, 5);
    let doc = run.json();
    assert_eq!(doc["kind"], "ImageCheck");
    assert_eq!(doc["exitCode"], 5);
    let s = &doc["summary"];
    assert_eq!(
        (
            s["nodes"].as_u64(),
            s["canPull"].as_u64(),
            s["cannotPull"].as_u64(),
            s["notAsked"].as_u64()
        ),
        (Some(114), Some(60), Some(50), Some(4))
    );
    assert_eq!(s["verdicts"], json!({"ok": 60, "unauthorized": 50}));
    assert_eq!(s["statuses"]["no_agent"], 3);
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 114);
    let n: &Value = nodes.iter().find(|n| n["name"] == "ng2-0007").unwrap();
    assert_eq!(n["pool"], "ng-2");
    assert_eq!(n["poolLabel"], "eks.amazonaws.com/nodegroup");
    assert_eq!(n["zone"], "zone-a");
    assert_eq!(n["agentPod"], "pullcheck/agent-ng2-0007");
    assert_eq!(n["report"]["kind"], "PullReport");
    assert_eq!(n["report"]["verdict"], "unauthorized");
    assert_eq!(n["report"]["identity"]["source"]["kind"], "nodeFile");
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups[0]["verdict"], "unauthorized");
    assert_eq!(groups[0]["nodes"].as_array().unwrap().len(), 50);

    let run = with(&["--all-nodes", "-o", "yaml"]);
    let yaml: Value = serde_saphyr::from_str(&run.stdout).expect("-o yaml parses");
    assert_eq!(yaml["summary"]["cannotPull"], 50);
    assert_eq!(yaml["nodes"].as_array().unwrap().len(), 114);

    let run = with(&["--all-nodes", "-o", "wide"]);
    let header = run.stdout.lines().next().unwrap();
    for col in [
        "NODE",
        "POOL",
        "INSTANCE-TYPE",
        "ZONE",
        "ARCH",
        "AGENT",
        "VERDICT",
        "IDENTITY",
        "REASON",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("ng1-0003 "))
        .unwrap();
    assert!(
        row.contains("m5.large") && row.contains("amd64") && row.contains(" ok "),
        "{row}"
    );
    assert!(!run.stdout.contains("more (-o wide lists all)"));

    // --node: only those, all can pull.
    let run = with(&["--node", "ng1-0001", "--node", "ng1-0002"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("2 nodes in pool ng-1: ok as "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("ng-2"));

    // -l: one pool.
    let run = with(&["-l", "eks.amazonaws.com/nodegroup=ng-2", "-o", "json"]);
    assert_eq!(run.code, 5);
    assert_eq!(run.json()["summary"]["nodes"], 50);
    assert_eq!(run.json()["summary"]["cannotPull"], 50);

    // --secret NAME (in -n's namespace): the pool with the wrong node credential can pull with it.
    let b = bed();
    let registry = image.split('/').next().unwrap();
    put_secret(
        &sim,
        "team-a",
        "regcred",
        registry,
        &b.user(),
        &b.password(),
    );
    let run = with(&[
        "-l",
        "eks.amazonaws.com/nodegroup=ng-2",
        "-n",
        "team-a",
        "--secret",
        "regcred",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["summary"]["canPull"], 50);
    assert_eq!(
        doc["nodes"][0]["report"]["identity"]["source"]["name"],
        "regcred"
    );
    assert!(sim
        .fake
        .requests()
        .iter()
        .any(|r| r.starts_with("GET /api/v1/namespaces/team-a/secrets/regcred")));
}
