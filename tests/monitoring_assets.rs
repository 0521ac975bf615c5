//! deploy/monitoring: the PrometheusRule and the Grafana dashboard name only metrics the agent
//! exports (read from the agent's own registry, so a renamed metric breaks this test), the
//! dashboard is well-formed, and — with `promtool` (Debian's prometheus package; scripts/test
//! extracts it) — the rules pass `promtool check rules` and the alert unit tests in
//! deploy/monitoring/pullcheck-rules.test.yaml (each alert fires when it should and not
//! before, with its labels and annotations).

use prometheus_client::registry::Registry;
use pullcheck::agent::metrics::{encode, Metrics};
use pullcheck::classify::Verdict;
use pullcheck::monitor::metrics::{MonitorMetrics, VerdictGroup};
use pullcheck::monitor::targets::Workload;
use pullcheck::probe::ratelimit::RateLimit;
use pullcheck::report::summary::Summary;
use pullcheck::service::RefusalKind;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The agent's registry as `pullcheck agent` builds it, with one series in every family
/// (prometheus-client writes a family only once it has a series).
fn agent_registry() -> Registry {
    let mut r = Registry::default();
    let m = Metrics::register(&mut r);
    let mm = MonitorMetrics::register(&mut r, 1);
    m.observe_http("/v1/probe", 200, Duration::from_millis(3));
    m.probes.observe_probe("probed", Verdict::Ok);
    m.probes.observe_refusal(RefusalKind::Saturated);
    m.probes
        .observe_exchange("https://r.example/v2/app/manifests/1", Some(200));
    let mut s = Summary::bare(Verdict::Ok, "");
    s.registry = "r.example".into();
    s.rate_limit = Some((
        "registry-1.docker.io".into(),
        RateLimit {
            limit: Some(100),
            remaining: Some(90),
            ..RateLimit::default()
        },
    ));
    s.expiries = vec![("eks:node-role:eu-west-1".into(), 2.0e9)];
    m.probes.reports.observe(&s);
    let w = |name: &str| Workload {
        namespace: "team-a".into(),
        kind: "deployment".into(),
        name: name.into(),
        container: "app".into(),
        image: "r.example/app:1".into(),
    };
    mm.set_workload(&w("web"), Verdict::Ok);
    mm.set_workload(&w("over-the-cap"), Verdict::Ok);
    let g = || VerdictGroup {
        registry: "r.example".into(),
        repository: "app".into(),
        identity: "secret:team-a/pull".into(),
    };
    mm.set_verdict("t", g(), "r.example/app:1", Verdict::Ok, None);
    mm.set_verdict(
        "t",
        g(),
        "r.example/app:1",
        Verdict::Unauthorized,
        Some(Verdict::Ok),
    );
    r
}

/// Family names with the sample suffixes their types add.
fn exported() -> BTreeSet<String> {
    let text = encode(&agent_registry());
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let (Some(name), Some(kind)) = (it.next(), it.next()) else {
            continue;
        };
        names.insert(name.to_string());
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for s in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{s}"));
                }
            }
            _ => {}
        }
    }
    names
}

/// Metric names an expression mentions (ours and the exporter-compatible ones).
fn mentioned(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            let quoted = start > 0 && bytes[start - 1] == b'"';
            if !quoted
                && (word.starts_with("pullcheck_")
                    || word.starts_with("k8s_image_availability_exporter_"))
            {
                out.push(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

fn rules() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/pullcheck-rules.yaml"))
        .expect("read the PrometheusRule");
    serde_saphyr::from_str(&text).expect("the PrometheusRule is YAML")
}

#[test]
fn the_exporter_compatible_families_are_exported() {
    let names = exported();
    for mode in [
        "available",
        "absent",
        "bad_image_format",
        "registry_unavailable",
        "authentication_failure",
        "authorization_failure",
        "unknown_error",
    ] {
        assert!(
            names.contains(&format!("k8s_image_availability_exporter_{mode}")),
            "missing k8s_image_availability_exporter_{mode} in {names:?}"
        );
    }
    for ours in [
        "pullcheck_probe_verdict",
        "pullcheck_ratelimit_remaining",
        "pullcheck_credential_expiry_timestamp_seconds",
        "pullcheck_probe_duration_seconds_bucket",
        "pullcheck_agent_upstream_requests_total",
        "pullcheck_verdict_transitions_total",
    ] {
        assert!(names.contains(ours), "missing {ours} in {names:?}");
    }
}

#[test]
fn rules_name_only_exported_metrics() {
    let names = exported();
    let doc = rules();
    assert_eq!(doc["kind"], "PrometheusRule");
    assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
    let mut alerts = Vec::new();
    for group in doc["spec"]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            let used = mentioned(expr);
            assert!(!used.is_empty(), "{expr} names no pullcheck metric");
            for m in used {
                assert!(
                    names.contains(&m),
                    "rule {} uses {m}, which the agent does not export",
                    rule["alert"]
                );
            }
            assert!(rule["annotations"]["summary"].is_string());
            alerts.push(rule["alert"].as_str().unwrap().to_string());
        }
    }
    for needed in [
        "PullcheckImageNoLongerPullable",
        "PullcheckRegistryQuotaLow",
        "PullcheckCredentialExpiringSoon",
        "PullcheckNodeIdentityUnavailable",
        "PullcheckRuntimeUnavailable",
    ] {
        assert!(alerts.iter().any(|a| a == needed), "no alert {needed}");
    }
}

#[test]
fn dashboard_queries_name_only_exported_metrics() {
    let names = exported();
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/grafana-dashboard.json"))
        .expect("read the dashboard");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "pullcheck-pullability");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id"
        );
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr");
            for m in mentioned(expr) {
                assert!(
                    names.contains(&m),
                    "panel {} uses {m}, which the agent does not export",
                    p["title"]
                );
            }
        }
    }
}

fn promtool() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PROMTOOL") {
        return Some(PathBuf::from(p));
    }
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if found {
        return Some(PathBuf::from("promtool"));
    }
    assert!(
        std::env::var_os("PULLCHECK_REQUIRE_PROMTOOL").is_none(),
        "PULLCHECK_REQUIRE_PROMTOOL is set but no promtool was found (set PROMTOOL)"
    );
    eprintln!("promtool not found (scripts/test provides it): rule unit tests not run");
    None
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The PrometheusRule's spec is a Prometheus rule file (JSON is YAML).
    let spec = serde_json::to_string_pretty(&rules()["spec"]).unwrap();
    std::fs::write(dir.path().join("pullcheck-rules.prom.yaml"), spec).unwrap();
    std::fs::copy(
        repo().join("deploy/monitoring/pullcheck-rules.test.yaml"),
        dir.path().join("pullcheck-rules.test.yaml"),
    )
    .unwrap();
    run(
        Command::new(&promtool).current_dir(dir.path()).args([
            "check",
            "rules",
            "pullcheck-rules.prom.yaml",
        ]),
        "promtool check rules",
    );
    run(
        Command::new(&promtool).current_dir(dir.path()).args([
            "test",
            "rules",
            "pullcheck-rules.test.yaml",
        ]),
        "promtool test rules",
    );
}
