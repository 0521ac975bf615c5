//! Real pods that really fail, and everyone agreeing on why. Each scenario is a pod on the
//! cluster's node pulling from the test bed; for each, five answers must give the same verdict:
//!
//! - the kubelet: its `Failed` event and the container's waiting message, read through the API
//!   server, classified by `pullcheck explain` (the kubelet's text is the truth; explain is
//!   how an SRE reads it);
//! - the agent's drift monitor: the `PullDiagnosis` Event it posts on the pod (none on a pod
//!   that pulled);
//! - `kubectl pullcheck pod NS/NAME`, through the real kubectl and the API server's real
//!   port-forward to the agent's hostNetwork pod;
//! - `pullcheck probe IMAGE --pod NS/NAME` on the node (its pull secrets read through the API,
//!   the node's containerd configuration).
//!
//! One agreement table is printed; the test fails once at the end, naming every scenario that
//! disagreed.

use crate::answers::{self, agent_event, kubelet_outcome, Kubelet};
use crate::kube::{cluster, wait_for};
use crate::support::{bed, run_program};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const NS: &str = "scenarios";

/// One pod.
struct Scenario {
    name: &'static str,
    image: String,
    /// (registry, user, password) of the pod's one pull secret.
    secret: Option<(String, String, String)>,
    verdict: &'static str,
    /// What the kubelet's own text can say, when it says less than the registry: containerd's
    /// "not found" is the same for a missing tag and a missing repository.
    kubelet_reads: Option<&'static str>,
    /// Pulled before every other scenario, with no image of the bed's in the runtime: its
    /// layers must be fetched (another scenario's pull of the same layers would skip them).
    first: bool,
}

fn scenario(name: &'static str, image: String, verdict: &'static str) -> Scenario {
    Scenario {
        name,
        image,
        secret: None,
        verdict,
        kubelet_reads: None,
        first: false,
    }
}

/// hosts.toml files the scenarios need, written into the node's containerd `config_path` (the
/// agent reads the same directory through its hostPath mount).
fn hosts_toml(files: &[(String, String)]) {
    let certs_d = cluster().str("/containerd/certs_d");
    for (host, toml) in files {
        let dir = std::path::Path::new(&certs_d).join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts.toml"), toml).unwrap();
    }
}

fn scenarios() -> (Vec<Scenario>, Vec<(String, String)>) {
    let b = bed();
    let plain = b.addr("plain");
    let token = b.addr("token");
    let fronts = b.addr("fronts");
    let (user, password) = (b.user(), b.password());
    let tls = format!("tls.registry.test:{}", b.port("tls"));
    let expired = format!("tls.registry.test:{}", b.port("expired"));
    let http = format!("plain.registry.test:{}", b.port("plain"));
    let ca = b.str("ca");
    let with_ca = |host: &str| {
        format!("server = \"https://{host}\"\n[host.\"https://{host}\"]\n  ca = \"{ca}\"\n")
    };
    let hosts = vec![
        // The expired certificate is signed by the bed's CA: only its date is wrong.
        (expired.clone(), with_ca(&expired)),
        // A plain-HTTP registry the node is told to reach over HTTPS.
        (http.clone(), format!("server = \"https://{http}\"\n")),
        // The fronts speak plain HTTP; said so, a redirect to an https storage host is verified.
        (
            fronts.clone(),
            format!("server = \"http://{fronts}\"\n[host.\"http://{fronts}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
        ),
    ];
    let secret = |pw: &str| Some((token.clone(), user.clone(), pw.to_string()));
    let list = vec![
        scenario("ok", format!("{plain}/app:amd64"), "ok"),
        scenario(
            "missing-tag",
            format!("{plain}/app:nope"),
            "manifest_unknown",
        ),
        Scenario {
            kubelet_reads: Some("manifest_unknown"),
            ..scenario(
                "missing-repo",
                format!("{plain}/nope/app:v1"),
                "repository_unknown",
            )
        },
        scenario(
            "no-secret",
            format!("{token}/private/app:both"),
            "not_found_or_unauthorized",
        ),
        Scenario {
            secret: secret(&password),
            ..scenario("right-secret", format!("{token}/private/app:both"), "ok")
        },
        Scenario {
            secret: secret("not-the-password"),
            ..scenario(
                "wrong-secret",
                format!("{token}/private/app:both"),
                "unauthorized",
            )
        },
        scenario(
            "unknown-ca",
            format!("{tls}/app:amd64"),
            "tls_unknown_authority",
        ),
        scenario(
            "expired-cert",
            format!("{expired}/app:amd64"),
            "tls_certificate_expired",
        ),
        scenario(
            "http-as-https",
            format!("{http}/app:amd64"),
            "http_registry",
        ),
        scenario(
            "no-platform",
            format!("{plain}/app:armonly"),
            "platform_mismatch",
        ),
        scenario("layer-404", format!("{plain}/lost/app:v1"), "blob_unknown"),
        Scenario {
            first: true,
            ..scenario(
                "storage-refuses",
                format!("{fronts}/storerefused/app:amd64"),
                "connection_refused",
            )
        },
        scenario(
            "rate-limited",
            format!("{fronts}/ratelimited/app:v1"),
            "rate_limited",
        ),
        scenario(
            "invalid-name",
            format!("{plain}/App:v1"),
            "invalid_reference",
        ),
    ];
    (list, hosts)
}

fn pod(s: &Scenario) -> Value {
    let secrets: Vec<String> = s
        .secret
        .iter()
        .map(|_| format!("{}-pull", s.name))
        .collect();
    answers::pod(NS, s.name, &s.image, &secrets)
}

#[test]
fn pods_that_really_fail_and_everyone_agrees_why() {
    if !crate::kube::present("pods_that_really_fail_and_everyone_agrees_why") {
        return;
    }
    let _s = crate::faults::shared();
    let c = cluster();
    let (list, hosts) = scenarios();
    hosts_toml(&hosts);
    c.namespace(NS);
    remove_bed_images();
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    // Every answer of the first phase is taken before the second starts: a pull of the same
    // image there would let the runtime (and so the predictions) skip the layers.
    for phase in [true, false] {
        let now: Vec<&Scenario> = list.iter().filter(|s| s.first == phase).collect();
        ask_everyone(&now, &mut rows, &mut wrong);
    }
    print_table(&c.minor(), &rows);
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // A pod that pulled got no diagnosis.
    for s in list.iter().filter(|s| s.verdict == "ok") {
        assert_eq!(agent_event(NS, s.name, &s.image), None, "{}", s.name);
    }
}

/// Starts the pods of `now`, waits for the kubelet's outcome and the agent's events, and asks
/// everyone else: a table row per scenario, and what disagreed.
fn ask_everyone(now: &[&Scenario], rows: &mut Vec<[String; 7]>, wrong: &mut Vec<String>) {
    let c = cluster();
    for s in now {
        if let Some((registry, user, password)) = &s.secret {
            c.apply(&answers::pull_secret(
                NS,
                &format!("{}-pull", s.name),
                registry,
                user,
                password,
            ));
        }
        c.apply(&pod(s));
    }
    let mut kubelet: BTreeMap<&str, Kubelet> = BTreeMap::new();
    wait_for(
        "every scenario pod's pull outcome",
        Duration::from_secs(240),
        || {
            for s in now {
                if !kubelet.contains_key(s.name) {
                    if let Some(k) = kubelet_outcome(NS, s.name) {
                        kubelet.insert(s.name, k);
                    }
                }
            }
            now.iter()
                .all(|s| kubelet.contains_key(s.name))
                .then_some(())
        },
    );

    // The monitor posts its diagnosis once a pod has waited `eventGrace` and it has probed.
    let failing: Vec<(&str, &str)> = now
        .iter()
        .filter(|s| s.verdict != "ok")
        .map(|s| (s.name, s.image.as_str()))
        .collect();
    let agent = answers::agent_events(NS, &failing);

    for s in now {
        let k = &kubelet[s.name];
        let (from_event, from_waiting) = k.explained();
        let from_agent = agent.get(s.name).cloned().unwrap_or_else(|| {
            if s.verdict == "ok" {
                "ok".into()
            } else {
                "none".into()
            }
        });
        let (from_plugin, plugin_detail) = answers::plugin(NS, s.name);
        let (from_probe, probe_detail) = match answers::probe_pod(NS, s.name, &s.image) {
            Ok(r) => (
                r["verdict"].as_str().unwrap_or("none").to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            ),
            Err(e) => ("none".to_string(), e),
        };
        let reads = s.kubelet_reads.unwrap_or(s.verdict);
        let answers = [
            ("kubelet event (explain)", &from_event, reads),
            ("waiting message (explain)", &from_waiting, reads),
            ("agent event", &from_agent, s.verdict),
            ("kubectl pullcheck pod", &from_plugin, s.verdict),
            ("pullcheck probe --pod", &from_probe, s.verdict),
        ];
        for (who, said, expected) in answers {
            if said != expected {
                wrong.push(format!(
                    "{} ({}): {who} said {said}, expected {expected}\n  kubelet: {} / {}\n  event: {}\n  plugin: {plugin_detail}\n  probe: {probe_detail}",
                    s.name, s.image, k.reason, k.message, k.event
                ));
            }
        }
        rows.push([
            s.name.to_string(),
            k.reason.clone(),
            from_event,
            from_waiting,
            from_agent,
            from_plugin,
            from_probe,
        ]);
    }
}

/// Removes every image of the bed's registries from the node's containerd (the runtime keeps
/// what earlier pods pulled, and a layer it holds is never fetched again); the agent's and the
/// sandbox's images stay.
fn remove_bed_images() {
    let c = cluster();
    let socket = c.str("/containerd/socket");
    let ctr = |args: &[&str]| {
        let mut all = vec!["--address", socket.as_str(), "--namespace", "k8s.io"];
        all.extend_from_slice(args);
        run_program("ctr", &all, None)
    };
    // Containers of pods gone keep their snapshots until the kubelet's garbage collection, and
    // containerd unpacks nothing whose snapshot exists: remove them (none of them runs).
    let containers = ctr(&["containers", "ls", "-q"]);
    assert_eq!(
        containers.code, 0,
        "ctr containers ls: {}",
        containers.stderr
    );
    let tasks = ctr(&["tasks", "ls", "-q"]).stdout;
    for id in containers.stdout.lines().filter(|l| !l.is_empty()) {
        let info = ctr(&["containers", "info", id]).stdout;
        let bed_image =
            !info.contains(&c.str("/images/agent")) && !info.contains(&c.str("/images/pause"));
        if bed_image && !tasks.lines().any(|t| t == id) {
            let _ = ctr(&["containers", "rm", id]);
        }
    }
    // Rows: REF TYPE DIGEST …; the CRI's own `sha256:<id>` record of an image shares its
    // manifest digest with the image's names.
    let listed = ctr(&["images", "ls"]);
    assert_eq!(listed.code, 0, "ctr images ls: {}", listed.stderr);
    let rows: Vec<(&str, &str)> = listed
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((*cols.first()?, *cols.get(2)?))
        })
        .collect();
    let repo = |r: String| {
        r.rsplit_once(':')
            .map_or(r.clone(), |(repo, _)| repo.to_string())
    };
    let keep_repos = [repo(c.str("/images/pause")), repo(c.str("/images/agent"))];
    let keep_digests: Vec<&str> = rows
        .iter()
        .filter(|(r, _)| keep_repos.iter().any(|k| r.starts_with(k.as_str())))
        .map(|(_, d)| *d)
        .collect();
    let gone: Vec<&str> = rows
        .iter()
        .filter(|(_, d)| !keep_digests.contains(d))
        .map(|(r, _)| *r)
        .collect();
    if !gone.is_empty() {
        let mut rm = vec!["images", "rm", "--sync"];
        rm.extend(gone.iter().copied());
        let out = ctr(&rm);
        assert_eq!(out.code, 0, "ctr images rm: {}", out.stderr);
    }
}

fn print_table(minor: &str, rows: &[[String; 7]]) {
    let head = [
        "scenario",
        "kubelet",
        "event→explain",
        "waiting→explain",
        "agent event",
        "kubectl pullcheck",
        "probe --pod",
    ];
    println!(
        "\nagreement on Kubernetes {minor} (kubelet {}):",
        cluster().str("/kubelet_version")
    );
    answers::print_rows(&head, rows);
}
