//! The kubelet's own identity, for real: the node's kubelet runs the real ecr-credential-provider
//! (scripts/cluster: its config and bin dir, the AWS SDK sent to the cluster's IMDS and moto,
//! which enforces IAM) for the ECR-style registry ECR_REGISTRY. Four pods, none but one with a
//! pull secret, each pulled for real:
//!
//! - through the plugin (the instance role's ECR token);
//! - with a wrong pull secret first: the kubelet tries it, then the plugin's, and pulls;
//! - with the plugin's binary gone from the bin dir: the kubelet pulls without credentials;
//! - with the role's ECR policy removed (moto answers GetAuthorizationToken with AccessDenied).
//!
//! For each, `pullcheck probe --pod` predicts the credentials the kubelet tries, in its order,
//! and how each ends; what the kubelet did is read from the access log of the bed's front before
//! the registry (each credential containerd sent for the pod's pull, by user name, accepted or
//! refused) and from the kubelet's log (a plugin that gave nothing). They must be equal. The agent, the kubectl plugin and
//! `explain` of the kubelet's message must agree on the verdict, as in the agreement table.

use crate::answers::{self, kubelet_outcome, Kubelet};
use crate::kube::{cluster, wait_for};
use crate::support::{bed, run_program};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const NS: &str = "identity";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    /// The plugin's binary removed from `--image-credential-provider-bin-dir` (after the
    /// kubelet started: it refuses to start without it).
    PluginMissing,
    /// The instance role's ECR policy removed: GetAuthorizationToken is refused.
    RoleRefused,
}

struct Case {
    name: &'static str,
    /// A pull secret for the registry with a wrong password.
    wrong_secret: bool,
    fault: Fault,
    verdict: &'static str,
    /// What `explain` can read from the kubelet's text (it does not say a plugin failed).
    kubelet_reads: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "via-plugin",
        wrong_secret: false,
        fault: Fault::None,
        verdict: "ok",
        kubelet_reads: "ok",
    },
    Case {
        name: "secret-then-plugin",
        wrong_secret: true,
        fault: Fault::None,
        verdict: "ok",
        kubelet_reads: "ok",
    },
    Case {
        name: "plugin-missing",
        wrong_secret: false,
        fault: Fault::PluginMissing,
        verdict: "identity_unavailable",
        kubelet_reads: "unauthorized",
    },
    Case {
        name: "role-refused",
        wrong_secret: false,
        fault: Fault::RoleRefused,
        verdict: "identity_unavailable",
        kubelet_reads: "unauthorized",
    },
];

/// The fault, applied until dropped (also when the test fails).
struct Applied(Fault);

impl Applied {
    fn new(fault: Fault) -> Self {
        let applied = Applied(fault);
        applied.set(true);
        applied
    }

    fn set(&self, on: bool) {
        let c = cluster();
        match self.0 {
            Fault::None => {}
            Fault::PluginMissing => {
                let bin = PathBuf::from(c.str("/ecr/bin_dir")).join(c.str("/ecr/plugin"));
                let away = bin.with_extension("removed");
                let (from, to) = if on { (&bin, &away) } else { (&away, &bin) };
                std::fs::rename(from, to)
                    .unwrap_or_else(|e| panic!("rename {}: {e}", from.display()));
            }
            Fault::RoleRefused => {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster_aws.py");
                let aws = c.str("/ecr/aws_dir");
                let action = if on { "revoke" } else { "grant" };
                let run = run_program("python3", &[script, "policy", &aws, action], None);
                assert_eq!(
                    run.code, 0,
                    "cluster_aws.py policy {action}: {}",
                    run.stderr
                );
            }
        }
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// A log file read from an offset: what was written after [`Tail::new`].
struct Tail {
    path: PathBuf,
    from: u64,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        let from = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Tail { path, from }
    }

    fn lines(&self) -> Vec<String> {
        let all = std::fs::read(&self.path).unwrap_or_default();
        let start = usize::try_from(self.from)
            .unwrap_or(usize::MAX)
            .min(all.len());
        String::from_utf8_lossy(&all[start..])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The credentials containerd sent for the kubelet's pulls, from the access log of the bed's
/// front before the registry (a JSON object a line; containerd's requests carry its user agent,
/// pullcheck's own carry pullcheck's): each user name once per run of requests, accepted when
/// the registry answered below 400. Anonymous requests (the first of each, which asks for the
/// challenge) carry none.
fn sent_by_containerd(log: &Tail) -> Vec<String> {
    let mut sent: Vec<String> = Vec::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let agent = entry["agent"].as_str().unwrap_or_default();
        let user = entry["user"].as_str().unwrap_or_default();
        if !agent.starts_with("containerd/") || user.is_empty() {
            continue;
        }
        let how = if entry["status"].as_u64().is_some_and(|s| s < 400) {
            "accepted"
        } else {
            "refused"
        };
        let attempt = format!("{user}:{how}");
        if sent.last() != Some(&attempt) {
            sent.push(attempt);
        }
    }
    sent
}

/// The credentials pullcheck predicts the kubelet tries, as the registry would log them: each
/// tried credential with a user name, accepted when it pulls. Anonymous sends nothing.
fn predicted(report: &Value) -> Vec<String> {
    let creds = report["credentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    creds
        .iter()
        .filter(|c| c.get("verdict").is_some())
        .filter_map(|c| {
            let user = c["source"]["username"].as_str()?;
            let how = if c["verdict"] == "ok" {
                "accepted"
            } else {
                "refused"
            };
            Some(format!("{user}:{how}"))
        })
        .collect()
}

/// The plugin's outcome in the prediction (`provided`, `failed`, …) and its reason.
fn predicted_plugin(report: &Value, plugin: &str) -> (String, String) {
    let outcomes = report["identitySources"]["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    outcomes
        .iter()
        .find(|o| o["name"] == plugin)
        .map(|o| {
            (
                o["status"].as_str().unwrap_or_default().to_string(),
                o["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .unwrap_or_else(|| ("absent".into(), String::new()))
}

/// The kubelet's log entry saying its plugin failed for repository REPO (klog:
/// an entry is its header line and the indented lines of a multi-line value, such as the
/// plugin's standard error quoted in `err`).
fn kubelet_plugin_failed(log: &Tail, plugin: &str, repo: &str) -> Option<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in log.lines() {
        let header = line.starts_with(['I', 'W', 'E', 'F'])
            && line
                .as_bytes()
                .get(1..5)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        match entries.last_mut() {
            Some(entry) if !header => {
                entry.push('\n');
                entry.push_str(&line);
            }
            _ => entries.push(line),
        }
    }
    // 1.37 logs "Failed to provide credentials for image" with err=…, 1.34 "Failed getting
    // credential from external registry credential provider: …"; both quote the exec error.
    let exec_error = format!("error execing credential provider plugin {plugin} for image {repo}:");
    entries.into_iter().find(|e| {
        (e.contains("Failed to provide credentials for image")
            || e.contains("Failed getting credential from external registry credential provider"))
            && e.contains(&exec_error)
    })
}

#[test]
fn the_kubelets_credential_plugin_and_pullchecks_prediction_agree() {
    if !crate::kube::present("the_kubelets_credential_plugin_and_pullchecks_prediction_agree") {
        return;
    }
    // The node's plugin and the role are the node's, for every pod: nothing else runs meanwhile.
    let _x = crate::faults::exclusive();
    let c = cluster();
    let b = bed();
    c.namespace(NS);
    let registry = c.str("/ecr/registry");
    let plugin = c.str("/ecr/plugin");
    let image = format!("{registry}/app:amd64");
    let registry_log = PathBuf::from(b.str("audited_log"));
    let kubelet_log = PathBuf::from(c.str("/dir")).join("logs/kubelet.log");
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for case in CASES {
        let fault = Applied::new(case.fault);
        let (registry_tail, kubelet_tail) = (
            Tail::new(registry_log.clone()),
            Tail::new(kubelet_log.clone()),
        );
        let mut secrets = Vec::new();
        if case.wrong_secret {
            let name = format!("{}-pull", case.name);
            c.apply(&answers::pull_secret(
                NS,
                &name,
                &registry,
                &b.user(),
                "not-the-password",
            ));
            secrets.push(name);
        }
        c.apply(&answers::pod(NS, case.name, &image, &secrets));
        let kubelet: Kubelet = wait_for(
            &format!("{}: the kubelet's pull outcome", case.name),
            Duration::from_secs(180),
            || kubelet_outcome(NS, case.name),
        );
        // A pod that pulled gets no diagnosis.
        let agent = if case.verdict == "ok" {
            answers::agent_event(NS, case.name, &image).unwrap_or_else(|| "ok".into())
        } else {
            answers::agent_events(NS, &[(case.name, &image)])
                .remove(case.name)
                .unwrap_or_else(|| "none".into())
        };
        let (from_plugin, plugin_detail) = answers::plugin(NS, case.name);
        let report = answers::probe_pod(NS, case.name, &image);
        // Every answer is in: the node is mended, and the pod (a failed one would pull again,
        // in the next case's window) removed, before the next case.
        drop(fault);
        c.kubectl_ok(&["delete", "pod", "-n", NS, case.name, "--wait=true"], None);

        let (from_event, from_waiting) = kubelet.explained();
        let (from_probe, prediction, plugin_predicted, why) = match &report {
            Ok(r) => {
                let (status, why) = predicted_plugin(r, &plugin);
                (
                    r["verdict"].as_str().unwrap_or("none").to_string(),
                    predicted(r),
                    status,
                    why,
                )
            }
            Err(e) => ("none".into(), vec![], "absent".into(), e.clone()),
        };
        let did = sent_by_containerd(&registry_tail);
        let repo = image
            .rsplit_once(':')
            .map_or(image.as_str(), |(repo, _)| repo);
        let kubelet_failed = kubelet_plugin_failed(&kubelet_tail, &plugin, repo);
        let mut check = |who: &str, said: &str, expected: &str| {
            if said != expected {
                wrong.push(format!(
                    "{}: {who} said {said}, expected {expected}\n  kubelet: {} / {}\n  plugin: {plugin_detail}\n  prediction: {prediction:?}; plugin {plugin_predicted}: {why}\n  registry saw: {did:?}\n  kubelet log: {kubelet_failed:?}",
                    case.name, kubelet.reason, kubelet.event
                ));
            }
        };
        check("kubelet event (explain)", &from_event, case.kubelet_reads);
        check(
            "waiting message (explain)",
            &from_waiting,
            case.kubelet_reads,
        );
        check("agent event", &agent, case.verdict);
        check("kubectl pullcheck pod", &from_plugin, case.verdict);
        check("pullcheck probe --pod", &from_probe, case.verdict);
        // The order: what pullcheck says the kubelet tries is what containerd sent.
        check(
            "the registry's log (credentials sent, in order)",
            &format!("{did:?}"),
            &format!("{prediction:?}"),
        );
        let expected_plugin = if case.fault == Fault::None {
            "provided"
        } else {
            "failed"
        };
        check(
            "prediction of the plugin",
            &plugin_predicted,
            expected_plugin,
        );
        let kubelet_says = if kubelet_failed.is_some() {
            "failed"
        } else {
            "provided"
        };
        check(
            "the kubelet's log of the plugin",
            kubelet_says,
            expected_plugin,
        );
        rows.push([
            case.name.to_string(),
            kubelet.reason.clone(),
            format!("{did:?}"),
            format!("{prediction:?}"),
            plugin_predicted.clone(),
            from_probe,
            agent,
            from_plugin,
        ]);
    }
    print_table(&rows);
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn print_table(rows: &[[String; 8]]) {
    let head = [
        "case",
        "kubelet",
        "registry saw (containerd)",
        "pullcheck predicted",
        "plugin",
        "probe --pod",
        "agent event",
        "kubectl pullcheck",
    ];
    println!(
        "\nthe kubelet's credential plugin on Kubernetes {} (kubelet {}):",
        cluster().minor(),
        cluster().str("/kubelet_version")
    );
    crate::answers::print_rows(&head, rows);
}
