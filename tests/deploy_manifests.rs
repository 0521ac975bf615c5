//! The packaging: deploy/*.yaml (plain manifests) and deploy/helm/pullcheck (the chart).
//!
//! - Every rendering of the chart checked here is the real `helm template`'s output, checked
//!   in ([`CASES`]): the plain manifests deploy/pullcheck*.yaml (the chart's values files,
//!   `-n pullcheck --set createNamespace=true`) and the overlays in tests/fixtures/chart/
//!   (every option on, every option off, another namespace, a second release, …), and the
//!   notes `helm install` prints for two of them. With helm (HELM=/path/to/helm or `helm` on
//!   PATH; scripts/test builds the pinned one and sets PULLCHECK_REQUIRE_HELM=1, see helm.rs),
//!   `helm lint --strict` passes with each case's values, `helm template` prints each checked-in
//!   file byte for byte, and the chart's `fail`s and values.schema.json refuse what they should;
//!   `PULLCHECK_BLESS=1 cargo test --test deploy_manifests` rewrites the files. Without helm
//!   those tests say they were skipped and the others check the checked-in files.
//! - Every document parses into its k8s-openapi type (Kubernetes 1.33) with no field lost on
//!   the way back: a field the type does not know is an error naming its path. The
//!   ServiceMonitor, PrometheusRule and SecurityContextConstraints (CRDs) are checked by hand.
//! - The security settings the design depends on are present (hostNetwork, NODE_NAME from the
//!   downward API, read-only host paths, dropped capabilities, …), the RBAC rules are exactly
//!   the least-privilege set, and every namespaced object and namespace reference follows
//!   `helm -n`.
//!
//! No cluster is involved: nothing here proves that a kubelet admits these pods.

#[path = "deploy_manifests/helm.rs"]
mod helm;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CHART: &str = "deploy/helm/pullcheck";
const RELEASE: &str = "pullcheck";

/// One `helm template` of the chart, checked in.
struct Case {
    /// The checked-in output, relative to the repository.
    file: &'static str,
    /// `helm template RELEASE deploy/helm/pullcheck -n NAMESPACE`.
    release: &'static str,
    namespace: &'static str,
    /// `--set` assignments.
    set: &'static [&'static str],
    /// `-f` files, relative to the repository.
    values: &'static [&'static str],
    /// Where the notes `helm install` prints with the same arguments are checked in, if they are.
    notes: Option<&'static str>,
}

/// Every rendering the tests read; the plain manifests first.
const CASES: &[Case] = &[
    plain("deploy/pullcheck.yaml", &[], Some(DEFAULT_NOTES)),
    plain("deploy/pullcheck-eks.yaml", &["values-eks.yaml"], None),
    plain("deploy/pullcheck-gke.yaml", &["values-gke.yaml"], None),
    plain("deploy/pullcheck-aks.yaml", &["values-aks.yaml"], None),
    plain(
        "deploy/pullcheck-openshift.yaml",
        &["values-openshift.yaml"],
        None,
    ),
    Case {
        file: ALL_ON,
        release: RELEASE,
        namespace: "pullcheck",
        set: &["createNamespace=true"],
        values: &["tests/fixtures/chart/all-on.values.yaml"],
        notes: None,
    },
    Case {
        file: ALL_OFF,
        release: RELEASE,
        namespace: "observability",
        set: &[],
        values: &["tests/fixtures/chart/all-off.values.yaml"],
        notes: None,
    },
    Case {
        file: OTHER_NAMESPACE,
        release: RELEASE,
        namespace: "other",
        set: &[],
        values: &["tests/fixtures/chart/all-on.values.yaml"],
        notes: Some(OTHER_NAMESPACE_NOTES),
    },
    Case {
        file: SECOND_RELEASE,
        release: "pullcheck-bottlerocket",
        namespace: "pullcheck",
        set: &[],
        values: &[],
        notes: None,
    },
    Case {
        file: SCRAPE_ANNOTATIONS_OFF,
        release: RELEASE,
        namespace: "pullcheck",
        set: &[],
        values: &["tests/fixtures/chart/scrape-annotations-off.values.yaml"],
        notes: None,
    },
    Case {
        file: PROMETHEUS_RULE_ELSEWHERE,
        release: RELEASE,
        namespace: "pullcheck",
        set: &[],
        values: &["tests/fixtures/chart/prometheus-rule-elsewhere.values.yaml"],
        notes: None,
    },
];

/// The plain manifests: everything, the Namespace included, for one `kubectl apply -f`.
const PLAIN: usize = 5;
const DEFAULT: &str = "deploy/pullcheck.yaml";
const OPENSHIFT: &str = "deploy/pullcheck-openshift.yaml";
const DEFAULT_NOTES: &str = "tests/fixtures/chart/pullcheck.notes.txt";
/// Every optional part on (tests/fixtures/chart/all-on.values.yaml).
const ALL_ON: &str = "tests/fixtures/chart/all-on.yaml";
/// Every optional part off, in namespace `observability`.
const ALL_OFF: &str = "tests/fixtures/chart/all-off.yaml";
/// Every optional part on, `helm template -n other` as `helm install -n other` renders it.
const OTHER_NAMESPACE: &str = "tests/fixtures/chart/other-namespace.yaml";
const OTHER_NAMESPACE_NOTES: &str = "tests/fixtures/chart/other-namespace.notes.txt";
/// A second release beside the default one, in the same namespace.
const SECOND_RELEASE: &str = "tests/fixtures/chart/second-release.yaml";
const SCRAPE_ANNOTATIONS_OFF: &str = "tests/fixtures/chart/scrape-annotations-off.yaml";
const PROMETHEUS_RULE_ELSEWHERE: &str = "tests/fixtures/chart/prometheus-rule-elsewhere.yaml";

const fn plain(
    file: &'static str,
    values: &'static [&'static str],
    notes: Option<&'static str>,
) -> Case {
    Case {
        file,
        release: RELEASE,
        namespace: "pullcheck",
        set: &["createNamespace=true"],
        values,
        notes,
    }
}

fn plain_manifests() -> &'static [Case] {
    &CASES[..PLAIN]
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join(CHART)
}

impl Case {
    /// The `-f` files as the command line names them (the plain manifests' values files live
    /// in the chart).
    fn value_files(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| {
                if v.contains('/') {
                    v.to_string()
                } else {
                    format!("{CHART}/{v}")
                }
            })
            .collect()
    }

    /// The arguments after `helm template` / `helm install`: release, chart, namespace, values.
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            self.release.to_string(),
            CHART.to_string(),
            "-n".to_string(),
            self.namespace.to_string(),
        ];
        for s in self.set {
            a.extend(["--set".to_string(), s.to_string()]);
        }
        for f in self.value_files() {
            a.extend(["-f".to_string(), f]);
        }
        a
    }

    /// What the checked-in file holds: a header saying how it was made, then helm's output.
    fn expected(&self, helm_output: &str) -> String {
        let command = format!("helm template {}", self.args().join(" "));
        let head = if self.file.starts_with("deploy/") {
            format!(
                "# pullcheck node agent: `kubectl apply -f {}` installs everything\n\
                 # (namespace `{}`). Generated, do not edit: the Helm chart rendered by\n",
                self.file, self.namespace
            )
        } else {
            "# Generated, do not edit: the Helm chart rendered by\n".to_string()
        };
        format!(
            "{head}#   {command}\n\
             # tests/deploy_manifests.rs checks it; regenerate with\n\
             # PULLCHECK_BLESS=1 cargo test --test deploy_manifests. What each setting is for:\n\
             # deploy/README.md.\n{helm_output}"
        )
    }

    /// The checked-in rendering.
    fn text(&self) -> String {
        std::fs::read_to_string(repo().join(self.file)).unwrap_or_else(|e| {
            panic!("{}: {e} (PULLCHECK_BLESS=1 with helm writes it)", self.file)
        })
    }
}

fn case(file: &str) -> &'static Case {
    CASES
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no case {file}"))
}

/// The typed objects of one checked-in rendering.
fn rendered(file: &str) -> Objects {
    typed(&case(file).text(), file)
}

/// The checked-in notes of `helm install` (`file`).
fn notes(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Reads a YAML file into JSON values.
fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a stream, empty ones dropped.
fn docs(text: &str, what: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{what}: not YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn id(doc: &Value) -> String {
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{} {}/{}",
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

// ---------------------------------------------------------------------------------------------
// Helm: lint, and the checked-in renderings are its output

#[test]
fn helm_lints_the_chart_with_every_values_file() {
    let Some(helm) = helm::find("helm lint --strict") else {
        return;
    };
    for c in CASES {
        // `helm lint` takes no release name: the chart, the namespace and the values.
        let mut args = vec!["lint".to_string(), "--strict".to_string()];
        args.extend(c.args().into_iter().skip(1));
        let out = helm.ok(&repo(), &args);
        assert!(out.contains("0 chart(s) failed"), "{}: {out}", c.file);
    }
}

#[test]
fn the_checked_in_renderings_are_helm_template_s_output() {
    let Some(helm) = helm::find("helm template against the checked-in renderings") else {
        return;
    };
    let bless = std::env::var_os("PULLCHECK_BLESS").is_some();
    let mut stale = Vec::new();
    let mut check = |file: &str, want: String| {
        let path = repo().join(file);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            return;
        }
        if bless {
            std::fs::write(&path, &want).unwrap();
            return;
        }
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        stale.push(format!(
            "{file} differs from helm's output from line {}:\n  file: {:?}\n  helm: {:?}",
            line + 1,
            have.lines().nth(line).unwrap_or("<end>"),
            want.lines().nth(line).unwrap_or("<end>")
        ));
    };
    for c in CASES {
        let mut args = vec!["template".to_string()];
        args.extend(c.args());
        check(c.file, c.expected(&helm.ok(&repo(), &args)));
        if let Some(file) = c.notes {
            // What `helm install` prints after installing, without a cluster.
            let mut args = vec!["install".to_string()];
            args.extend(c.args());
            args.extend(["--dry-run=client", "-o", "json"].map(String::from));
            let release: Value = serde_json::from_str(&helm.ok(&repo(), &args))
                .unwrap_or_else(|e| panic!("{file}: helm install -o json: {e}"));
            let text = release["info"]["notes"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no info.notes in {release}"));
            check(file, format!("{}\n", text.trim_end()));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(helm {}) After changing the chart, run: PULLCHECK_BLESS=1 cargo test --test deploy_manifests",
        stale.join("\n"),
        helm.version(&repo())
    );
}

/// Every checked-in rendering is a case (no stale file left behind).
#[test]
fn every_checked_in_rendering_is_a_case() {
    let mut files = BTreeSet::new();
    for dir in ["deploy", "tests/fixtures/chart"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let generated = (dir == "deploy" && name.starts_with("pullcheck"))
                || (dir != "deploy" && !name.ends_with(".values.yaml"));
            if generated {
                files.insert(format!("{dir}/{name}"));
            }
        }
    }
    let cases: BTreeSet<String> = CASES
        .iter()
        .flat_map(|c| std::iter::once(c.file).chain(c.notes))
        .map(String::from)
        .collect();
    assert_eq!(files, cases);
    for c in CASES {
        for f in c.value_files() {
            assert!(repo().join(&f).is_file(), "{}: {f}", c.file);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes types, unknown fields rejected

/// Parses `doc` as `T` and back; every field of `doc` must survive (a field the type does not
/// know is dropped by serde, which this turns into an error naming its path).
fn roundtrip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<T, String> {
    let typed: T =
        serde_json::from_value(doc.clone()).map_err(|e| format!("does not parse: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    diff(doc, &back, String::new(), &mut problems);
    if problems.is_empty() {
        Ok(typed)
    } else {
        Err(problems.join("; "))
    }
}

fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(w) => diff(v, w, p, out),
                    // null is how YAML spells an absent optional field.
                    None if v.is_null() => {}
                    None => out.push(format!("unknown field {p}")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("field {path}.{k} appeared on the way back"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, format!("{path}[{i}]"), out);
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(format!("{path}: {x} came back as {y}")),
    }
}

/// The typed objects of one manifest stream.
#[derive(Default)]
struct Objects {
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    services: Vec<Service>,
    daemonsets: Vec<DaemonSet>,
    priority_classes: Vec<PriorityClass>,
    config_maps: Vec<ConfigMap>,
    service_monitors: Vec<Value>,
    prometheus_rules: Vec<Value>,
    sccs: Vec<Value>,
}

fn typed(text: &str, what: &str) -> Objects {
    let mut o = Objects::default();
    let mut problems = Vec::new();
    for doc in docs(text, what) {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let r: Result<(), String> = match kind.as_str() {
            "Namespace" => roundtrip(&doc).map(|t| o.namespaces.push(t)),
            "ServiceAccount" => roundtrip(&doc).map(|t| o.service_accounts.push(t)),
            "ClusterRole" => roundtrip(&doc).map(|t| o.cluster_roles.push(t)),
            "ClusterRoleBinding" => roundtrip(&doc).map(|t| o.cluster_role_bindings.push(t)),
            "Service" => roundtrip(&doc).map(|t| o.services.push(t)),
            "DaemonSet" => roundtrip(&doc).map(|t| o.daemonsets.push(t)),
            "PriorityClass" => roundtrip(&doc).map(|t| o.priority_classes.push(t)),
            "ConfigMap" => roundtrip(&doc).map(|t| o.config_maps.push(t)),
            "ServiceMonitor" => {
                service_monitor_shape(&doc).map(|()| o.service_monitors.push(doc.clone()))
            }
            "PrometheusRule" => {
                prometheus_rule_shape(&doc).map(|()| o.prometheus_rules.push(doc.clone()))
            }
            "SecurityContextConstraints" => scc_shape(&doc).map(|()| o.sccs.push(doc.clone())),
            other => Err(format!("unexpected kind {other:?}")),
        };
        if let Err(e) = r {
            problems.push(format!("{}: {e}", id(&doc)));
        }
    }
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
    o
}

/// security.openshift.io/v1 SecurityContextConstraints (a CRD on OpenShift): admits what the
/// DaemonSet needs and no more, for the agent's service account only.
fn scc_shape(doc: &Value) -> Result<(), String> {
    let want_true = [
        "allowHostNetwork",
        "allowHostPID",
        "allowHostDirVolumePlugin",
        "readOnlyRootFilesystem",
    ];
    let want_false = [
        "allowPrivilegedContainer",
        "allowPrivilegeEscalation",
        "allowHostIPC",
    ];
    for k in want_true {
        if doc[k] != true {
            return Err(format!("{k} must be true"));
        }
    }
    for k in want_false {
        if doc[k] != false {
            return Err(format!("{k} must be false"));
        }
    }
    if doc["allowedCapabilities"] != json!(["SYS_PTRACE"]) {
        return Err(format!(
            "allowedCapabilities {}",
            doc["allowedCapabilities"]
        ));
    }
    let users = doc["users"].as_array().ok_or("no users")?;
    if users.len() != 1
        || !users[0]
            .as_str()
            .unwrap_or("")
            .starts_with("system:serviceaccount:")
    {
        return Err(format!("users {users:?}: only the agent's service account"));
    }
    if doc.get("groups").is_some() {
        return Err("no groups".into());
    }
    Ok(())
}

/// monitoring.coreos.com/v1 ServiceMonitor, the fields used here and nothing else.
fn service_monitor_shape(doc: &Value) -> Result<(), String> {
    fn keys(v: &Value, at: &str, allowed: &[&str]) -> Result<(), String> {
        let m = v.as_object().ok_or(format!("{at} is not a map"))?;
        match m.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown field {at}.{k}")),
            None => Ok(()),
        }
    }
    let string = |v: &Value, at: &str| -> Result<(), String> {
        v.as_str()
            .map(|_| ())
            .ok_or(format!("{at} is not a string"))
    };
    if doc["apiVersion"] != "monitoring.coreos.com/v1" {
        return Err("apiVersion is not monitoring.coreos.com/v1".into());
    }
    keys(doc, "", &["apiVersion", "kind", "metadata", "spec"])?;
    keys(
        &doc["metadata"],
        ".metadata",
        &["name", "namespace", "labels"],
    )?;
    let spec = &doc["spec"];
    keys(
        spec,
        ".spec",
        &["selector", "namespaceSelector", "endpoints", "jobLabel"],
    )?;
    keys(&spec["selector"], ".spec.selector", &["matchLabels"])?;
    keys(
        &spec["namespaceSelector"],
        ".spec.namespaceSelector",
        &["matchNames", "any"],
    )?;
    let endpoints = spec["endpoints"]
        .as_array()
        .ok_or(".spec.endpoints is not a list")?;
    if endpoints.is_empty() {
        return Err(".spec.endpoints is empty".into());
    }
    for (i, e) in endpoints.iter().enumerate() {
        let at = format!(".spec.endpoints[{i}]");
        keys(
            e,
            &at,
            &[
                "port",
                "path",
                "scheme",
                "interval",
                "scrapeTimeout",
                "relabelings",
            ],
        )?;
        for k in ["port", "path", "scheme", "interval", "scrapeTimeout"] {
            string(&e[k], &format!("{at}.{k}"))?;
        }
        for k in ["interval", "scrapeTimeout"] {
            let v = e[k].as_str().unwrap_or("");
            if humantime::parse_duration(v).is_err() {
                return Err(format!("{at}.{k} {v:?} is not a duration"));
            }
        }
        for (j, r) in e["relabelings"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            keys(
                r,
                &format!("{at}.relabelings[{j}]"),
                &[
                    "sourceLabels",
                    "targetLabel",
                    "action",
                    "regex",
                    "replacement",
                    "separator",
                ],
            )?;
        }
    }
    Ok(())
}

/// Every Kubernetes YAML file in deploy/ (the plain manifests and the pull-secret RBAC; not
/// kustomize's own kustomization.yaml, checked by the kustomize test).
fn deploy_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_manifest_parses_into_kubernetes_types_with_no_unknown_field() {
    let files = deploy_files();
    for c in plain_manifests() {
        assert!(
            files.contains(&repo().join(c.file)),
            "{} is missing",
            c.file
        );
    }
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        typed(&text, &f.display().to_string());
    }
    for c in &CASES[PLAIN..] {
        rendered(c.file);
    }
}

#[test]
fn an_unknown_field_is_caught() {
    let doc = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "x", "namespace": "y", "labelz": {"a": "b"}}
    });
    let e = roundtrip::<ServiceAccount>(&doc).expect_err("accepted an unknown field");
    assert!(e.contains("unknown field .metadata.labelz"), "{e}");
    let doc = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {"finalizer": []}});
    assert!(roundtrip::<Namespace>(&doc).is_err());
    let sm = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {}}, "namespaceSelector": {},
        "endpoints": [{"port": "m", "path": "/metrics", "scheme": "http", "interval": "30s",
        "scrapeTimeout": "10s", "honorLabelz": true}]}});
    assert!(service_monitor_shape(&sm)
        .unwrap_err()
        .contains("honorLabelz"));
}

// ---------------------------------------------------------------------------------------------
// Security settings

fn quantity(q: &str) -> f64 {
    let units = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
    ];
    for (u, f) in units {
        if let Some(n) = q.strip_suffix(u) {
            return n.parse::<f64>().unwrap() * f;
        }
    }
    q.parse().unwrap()
}

/// Host paths that would expose far more than the agent reads.
const TOO_BROAD: &[&str] = &[
    "/",
    "/etc",
    "/var",
    "/var/lib",
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/run",
    "/var/run",
    "/proc",
    "/sys",
    "/root",
    "/home",
    "/dev",
    "/etc/kubernetes",
    "/etc/pki",
    "/etc/ssl",
    "/var/lib/kubelet/pods",
    "/var/lib/kubelet/pki",
];

/// The settings every shipped variant must have.
fn check_daemonset(o: &Objects, what: &str) {
    assert_eq!(o.daemonsets.len(), 1, "{what}: one DaemonSet");
    let ds = &o.daemonsets[0];
    let ns = ds.metadata.namespace.as_deref().unwrap();
    let spec = ds.spec.as_ref().unwrap();
    let pod = spec.template.spec.as_ref().unwrap();
    let labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (k, v) in spec.selector.match_labels.as_ref().unwrap() {
        assert_eq!(
            labels.get(k),
            Some(v),
            "{what}: the selector matches the pod labels"
        );
    }

    // Node identity and node view.
    assert_eq!(pod.host_network, Some(true), "{what}: hostNetwork");
    assert_eq!(
        pod.dns_policy.as_deref(),
        Some("Default"),
        "{what}: the node's resolver"
    );
    assert_eq!(
        pod.host_pid,
        Some(true),
        "{what}: hostPID (kubelet and containerd visible)"
    );
    assert_ne!(pod.host_ipc, Some(true), "{what}: no hostIPC");
    assert_eq!(pod.containers.len(), 1, "{what}: one container");
    assert!(pod.init_containers.is_none(), "{what}: no init containers");
    let c = &pod.containers[0];
    let args = c.args.as_ref().unwrap();
    assert_eq!(args[0], "agent", "{what}: runs `pullcheck agent`");
    let env = c.env.as_ref().unwrap();
    let from_field = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone())
    };
    assert_eq!(
        from_field("NODE_NAME").as_deref(),
        Some("spec.nodeName"),
        "{what}: NODE_NAME"
    );
    assert!(
        args.contains(&"--node-name=$(NODE_NAME)".to_string()),
        "{what}: --node-name"
    );
    assert_eq!(
        from_field("HOST_IP").as_deref(),
        Some("status.hostIP"),
        "{what}: HOST_IP"
    );
    let listen = args
        .iter()
        .find_map(|a| a.strip_prefix("--listen="))
        .expect("--listen");
    assert!(
        listen.starts_with("127.0.0.1:"),
        "{what}: the probe API on loopback only"
    );
    let health = args
        .iter()
        .find_map(|a| a.strip_prefix("--health-listen="))
        .expect("--health-listen");
    assert!(
        health.starts_with("127.0.0.1:"),
        "{what}: the health listener on loopback only"
    );
    let health_port: i32 = health.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(health, listen, "{what}: health has a listener of its own");

    // Probes: both on the loopback health listener (API load cannot starve it).
    for (probe, path) in [
        (&c.readiness_probe, "/readyz"),
        (&c.liveness_probe, "/healthz"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref());
        let get = get.unwrap_or_else(|| panic!("{what}: {path} probe"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(
            get.host.as_deref(),
            Some("127.0.0.1"),
            "{what}: {path} on loopback"
        );
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(health_port),
            "{what}: {path} on the --health-listen port"
        );
    }

    // Resources: requests and limits for CPU and memory, limits above requests.
    let res = c.resources.as_ref().expect("resources");
    let (req, lim) = (res.requests.as_ref().unwrap(), res.limits.as_ref().unwrap());
    for r in ["cpu", "memory"] {
        let (q, l) = (&req[r].0, &lim[r].0);
        assert!(
            quantity(q) > 0.0 && quantity(l) >= quantity(q),
            "{what}: {r} {q} ≤ {l}"
        );
    }
    assert!(
        quantity(&req["memory"].0) >= 40.0 * 1024.0 * 1024.0,
        "{what}: the memory request covers the measured peak (39.1 MiB)"
    );

    // Scheduling: every node, a priority class.
    let tolerations = pod.tolerations.as_ref().expect("tolerations");
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "{what}: tolerates every taint"
    );
    let pc = pod
        .priority_class_name
        .as_deref()
        .expect("priorityClassName");
    assert!(
        o.priority_classes
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(pc)),
        "{what}: the PriorityClass {pc} is part of the install"
    );

    // The container's privileges.
    let sc = c.security_context.as_ref().expect("securityContext");
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_string()][..]),
        "{what}: drop ALL"
    );
    assert_eq!(
        caps.add.as_deref(),
        Some(&["SYS_PTRACE".to_string()][..]),
        "{what}: only SYS_PTRACE added (containerd's and the kubelet's environment)"
    );
    assert_eq!(
        sc.read_only_root_filesystem,
        Some(true),
        "{what}: read-only root"
    );
    assert_eq!(
        sc.allow_privilege_escalation,
        Some(false),
        "{what}: no privilege escalation"
    );
    assert_ne!(sc.privileged, Some(true), "{what}: not privileged");
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{what}: seccomp"
    );
    let pod_sc = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(
        pod_sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{what}: seccomp for the pod"
    );
    // No AppArmor profile by default: a stated one (even RuntimeDefault) makes the kubelet
    // refuse the pod on every node without AppArmor (seen on the cluster tier's kubelet); where
    // AppArmor is on, the runtime applies its default profile to an unset one.
    assert!(
        !what.starts_with("deploy/") || pod_sc.app_armor_profile.is_none(),
        "{what}: AppArmor profile stated: {:?}",
        pod_sc.app_armor_profile
    );
    // Root is deliberate (the CRI socket and node credential files are root's): it must be
    // explicit, not inherited from the image, and justified where it is set.
    if sc.run_as_non_root != Some(true) {
        assert_eq!(sc.run_as_user, Some(0), "{what}: root stated explicitly");
        assert_eq!(
            sc.run_as_non_root,
            Some(false),
            "{what}: runAsNonRoot false stated"
        );
    }

    // Host paths: read-only (recursively where possible), mounted at the same path, narrow.
    let volumes = pod.volumes.as_ref().unwrap();
    let mounts = c.volume_mounts.as_ref().unwrap();
    let mut host_paths = BTreeSet::new();
    for v in volumes {
        let Some(hp) = &v.host_path else {
            assert!(
                v.empty_dir.is_some() || v.config_map.is_some(),
                "{what}: volume {} is neither a hostPath, an emptyDir nor the watch list",
                v.name
            );
            continue;
        };
        host_paths.insert(hp.path.clone());
        assert!(
            !TOO_BROAD.contains(&hp.path.trim_end_matches('/')),
            "{what}: hostPath {} exposes too much",
            hp.path
        );
        assert!(
            hp.type_.is_some(),
            "{what}: hostPath {} has a type",
            hp.path
        );
        let ms: Vec<_> = mounts.iter().filter(|m| m.name == v.name).collect();
        assert!(!ms.is_empty(), "{what}: hostPath {} is mounted", hp.path);
        if v.name == "state" {
            // The one writable host path: the agent's own directory, given to --state-dir.
            assert_eq!(hp.path, "/var/lib/pullcheck", "{what}: the state directory");
            assert_eq!(hp.type_.as_deref(), Some("DirectoryOrCreate"));
            assert!(
                c.args
                    .iter()
                    .flatten()
                    .any(|a| a == "--state-dir=/var/lib/pullcheck"),
                "{what}: the agent uses its state directory"
            );
            for m in ms {
                assert_eq!(m.mount_path, hp.path, "{what}: the state directory's path");
                assert_ne!(
                    m.read_only,
                    Some(true),
                    "{what}: the state directory is written"
                );
            }
            continue;
        }
        for m in ms {
            assert_eq!(m.read_only, Some(true), "{what}: {} read-only", hp.path);
            assert_eq!(
                m.recursive_read_only.as_deref(),
                Some("IfPossible"),
                "{what}: {} recursively read-only where possible",
                hp.path
            );
            assert_eq!(
                m.mount_path, hp.path,
                "{what}: {} at the same path",
                hp.path
            );
            assert!(
                m.mount_propagation.is_none(),
                "{what}: no mount propagation"
            );
            assert!(m.sub_path.is_none(), "{what}: no subPath");
        }
    }
    for m in mounts {
        let v = volumes
            .iter()
            .find(|v| v.name == m.name)
            .expect("mount of a volume");
        if v.config_map.is_some() {
            assert_eq!(m.read_only, Some(true), "{what}: the watch list read-only");
        } else if v.host_path.is_none() {
            assert_eq!(
                m.mount_path, "/tmp",
                "{what}: the only writable mount is /tmp"
            );
        }
    }
    let runtime_paths = if args.iter().any(|a| a == "--runtime-kind=crio") {
        ["/var/run/crio", "/etc/containers"]
    } else {
        ["/run/containerd", "/etc/containerd"]
    };
    for needed in runtime_paths {
        assert!(host_paths.contains(needed), "{what}: {needed} is mounted");
    }
    // The node's trust store: Debian's layout, or RHEL's (RHCOS has only the latter).
    assert!(
        host_paths.contains("/etc/ssl/certs") || host_paths.contains("/etc/pki/tls/certs"),
        "{what}: the node's trust store is mounted: {host_paths:?}"
    );

    // What an apiserver would refuse: names, and flags the agent does not have.
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let mut names = BTreeSet::new();
    for v in volumes {
        assert!(dns_label(&v.name), "{what}: volume name {:?}", v.name);
        assert!(
            names.insert(v.name.clone()),
            "{what}: volume {} twice",
            v.name
        );
    }
    for p in c.ports.iter().flatten() {
        let n = p.name.as_deref().unwrap_or("");
        assert!(dns_label(n) && n.len() <= 15, "{what}: port name {n:?}");
    }
    let known = agent_flags();
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap();
        assert!(
            known.contains(flag),
            "{what}: `pullcheck agent` has no flag {flag}"
        );
    }
    for p in &o.priority_classes {
        assert!(
            p.value <= 1_000_000_000,
            "{what}: user PriorityClasses stop at 1e9"
        );
    }

    // Service account, namespace.
    assert_eq!(pod.service_account_name.as_deref(), Some(RELEASE), "{what}");
    assert!(
        o.service_accounts
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(RELEASE)
                && s.metadata.namespace.as_deref() == Some(ns)),
        "{what}: the ServiceAccount is in the DaemonSet's namespace"
    );
    assert!(
        o.namespaces
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(ns)),
        "{what}: the Namespace is part of the install"
    );
    let image = &c.image.as_deref().unwrap();
    assert!(
        !image.ends_with(":latest") && image.contains(':'),
        "{what}: a pinned tag"
    );
}

/// The flags `pullcheck agent --help` lists (the binary built for this test).
fn agent_flags() -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pullcheck"))
        .args(["agent", "--help"])
        .output()
        .expect("run pullcheck agent --help");
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

#[test]
fn the_daemonset_has_the_security_settings() {
    for c in plain_manifests() {
        let (file, text) = (c.file, c.text());
        let o = typed(&text, file);
        check_daemonset(&o, file);
        // The justification of root travels with the manifest.
        assert!(
            text.contains("uid 0 without capabilities"),
            "{file}: root is explained"
        );
        assert!(
            text.contains("HttpPutResponseHopLimit=1"),
            "{file}: hostNetwork is explained"
        );
    }
    check_daemonset(&rendered(ALL_ON), ALL_ON);
}

#[test]
fn the_cloud_variants_mount_their_credential_provider() {
    let mounts = |file: &str| -> BTreeSet<String> {
        let o = typed(&std::fs::read_to_string(repo().join(file)).unwrap(), file);
        let pod = o.daemonsets[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .clone()
            .unwrap();
        pod.volumes
            .unwrap()
            .into_iter()
            .filter_map(|v| v.host_path.map(|h| h.path))
            .collect()
    };
    let default = mounts("deploy/pullcheck.yaml");
    assert!(
        !default.iter().any(|p| p.starts_with("/var/lib/kubelet")),
        "nothing of the kubelet root by default"
    );
    for (file, wanted) in [
        (
            "deploy/pullcheck-eks.yaml",
            &["/etc/eks/image-credential-provider"][..],
        ),
        (
            "deploy/pullcheck-gke.yaml",
            &[
                "/etc/srv/kubernetes/cri_auth_config.yaml",
                "/home/kubernetes/bin",
            ][..],
        ),
        (
            "deploy/pullcheck-aks.yaml",
            &[
                "/var/lib/kubelet/credential-provider-config.yaml",
                "/var/lib/kubelet/credential-provider",
                "/etc/kubernetes/azure.json",
            ][..],
        ),
    ] {
        let m = mounts(file);
        for w in wanted {
            assert!(m.contains(*w), "{file}: mounts {w}");
        }
    }
    // The kubelet's docker config.json only when asked for, as a file.
    let o = rendered(ALL_ON);
    let pod = o.daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap();
    let v = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "kubelet-docker-config")
        .expect("kubelet-docker-config");
    let hp = v.host_path.unwrap();
    assert_eq!(
        (hp.path.as_str(), hp.type_.as_deref()),
        ("/var/lib/kubelet/config.json", Some("File"))
    );
}

#[test]
fn switching_options_off_removes_what_they_need() {
    let o = rendered(ALL_OFF);
    let ds = &o.daemonsets[0];
    assert_eq!(ds.metadata.namespace.as_deref(), Some("observability"));
    assert!(o.namespaces.is_empty() && o.priority_classes.is_empty() && o.services.is_empty());
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.host_pid, Some(false));
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    let c = &pod.containers[0];
    let caps = c
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .as_ref()
        .unwrap();
    assert!(caps.add.is_none(), "no capability added");
    assert!(c
        .args
        .as_ref()
        .unwrap()
        .contains(&"--metrics-listen=off".to_string()));
    assert_eq!(rules(&o), BTreeSet::new(), "no API access left");
    assert!(
        o.config_maps.is_empty(),
        "no watch list without the monitor"
    );
    assert!(c
        .args
        .as_ref()
        .unwrap()
        .contains(&"--monitor=off".to_string()));
}

/// The watch list the chart renders is one the agent reads, entry for entry.
#[test]
fn the_watch_list_configmap_is_what_the_agent_parses() {
    let o = rendered(ALL_ON);
    let cm = o.config_maps.first().expect("the watch-list ConfigMap");
    let text = &cm.data.as_ref().unwrap()["watch-list.yaml"];
    let list = pullcheck::monitor::watchlist::parse(Path::new("watch-list.yaml"), text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let images: Vec<_> = list.iter().map(|t| t.image.as_str()).collect();
    assert_eq!(
        images,
        [
            "registry.example.com/team/app:1.4",
            "ghcr.io/org/private:latest"
        ]
    );
    let empty = rendered(DEFAULT);
    let text = &empty.config_maps[0].data.as_ref().unwrap()["watch-list.yaml"];
    assert!(pullcheck::monitor::watchlist::parse(Path::new("w"), text)
        .unwrap()
        .is_empty());
    let ds = &o.daemonsets[0];
    let c = &ds
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let args = c.args.as_ref().unwrap();
    assert!(args.contains(&"--watch-list=/etc/pullcheck/watch-list/watch-list.yaml".to_string()));
    let m = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "watch-list")
        .unwrap();
    assert_eq!(m.mount_path, "/etc/pullcheck/watch-list");
}

// ---------------------------------------------------------------------------------------------
// RBAC

/// (apiGroup, resource, verb) triples granted by the ClusterRoles.
fn rules(o: &Objects) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for cr in &o.cluster_roles {
        for r in cr.rules.iter().flatten() {
            assert!(r.resource_names.is_none(), "no resourceNames tricks");
            assert!(r.non_resource_urls.is_none(), "no non-resource URLs");
            for g in r.api_groups.iter().flatten() {
                for res in r.resources.iter().flatten() {
                    for v in &r.verbs {
                        assert!(
                            g != "*" && res != "*" && v != "*",
                            "no wildcards: {g} {res} {v}"
                        );
                        set.insert((g.clone(), res.clone(), v.clone()));
                    }
                }
            }
        }
    }
    set
}

fn triples(list: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    list.iter()
        .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
        .collect()
}

/// Pull secrets (get pods, serviceaccounts, secrets) and the drift monitor (list/watch pods,
/// create core/v1 events).
const DEFAULT_RULES: &[(&str, &str, &str)] = &[
    ("", "pods", "get"),
    ("", "serviceaccounts", "get"),
    ("", "secrets", "get"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "events", "create"),
];

#[test]
fn rbac_is_exactly_the_least_privilege_set() {
    for c in plain_manifests() {
        let (file, o) = (c.file, rendered(c.file));
        assert_eq!(rules(&o), triples(DEFAULT_RULES), "{file}");
        let ns = o.daemonsets[0].metadata.namespace.clone().unwrap();
        let cr = o.cluster_roles[0].metadata.name.clone().unwrap();
        let bound = o.cluster_role_bindings.iter().any(|b| {
            b.role_ref.kind == "ClusterRole"
                && b.role_ref.name == cr
                && b.subjects.iter().flatten().any(|s| {
                    s.kind == "ServiceAccount"
                        && s.name == RELEASE
                        && s.namespace.as_deref() == Some(ns.as_str())
                })
        });
        assert!(
            bound,
            "{file}: the ClusterRole is bound to the agent's ServiceAccount"
        );
    }
    // The network listener adds exactly TokenReview and SubjectAccessReview.
    let o = rendered(ALL_ON);
    let mut want = triples(DEFAULT_RULES);
    want.extend(triples(&[
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    ]));
    assert_eq!(rules(&o), want);
    // The CLI's pull-secret role: get only.
    let o = typed(
        &std::fs::read_to_string(repo().join("deploy/rbac-pull-secrets.yaml")).unwrap(),
        "rbac-pull-secrets.yaml",
    );
    assert!(rules(&o).iter().all(|(_, _, v)| v == "get"));
}

// ---------------------------------------------------------------------------------------------
// Metrics Service and ServiceMonitor

#[test]
fn the_metrics_service_and_servicemonitor_point_at_the_agents() {
    let o = rendered(ALL_ON);
    let ds = &o.daemonsets[0];
    let pod_labels = ds
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    let c = &ds
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let ports = c.ports.clone().unwrap();
    let metrics_port = ports
        .iter()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .expect("metrics port");
    let args = c.args.clone().unwrap();
    assert!(args.contains(&format!(
        "--metrics-listen=$(HOST_IP):{}",
        metrics_port.container_port
    )));
    assert!(args
        .iter()
        .any(|a| a.starts_with("--network-listen=$(HOST_IP):")));

    assert_eq!(o.services.len(), 1);
    let svc = &o.services[0];
    let spec = svc.spec.as_ref().unwrap();
    assert_eq!(
        spec.cluster_ip.as_deref(),
        Some("None"),
        "headless: one endpoint per node"
    );
    for (k, v) in spec.selector.as_ref().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "the Service selects the agents");
    }
    let sp = &spec.ports.as_ref().unwrap()[0];
    assert_eq!(sp.name.as_deref(), Some("metrics"));
    assert_eq!(
        sp.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("metrics".into()))
    );

    assert_eq!(o.service_monitors.len(), 1);
    let sm = &o.service_monitors[0];
    let svc_labels = svc.metadata.labels.clone().unwrap();
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            svc_labels.get(k).map(String::as_str),
            v.as_str(),
            "selects the Service"
        );
    }
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"][0],
        json!(svc.metadata.namespace)
    );
    // Off by default: the CRD may not exist.
    let default = typed(
        &std::fs::read_to_string(repo().join("deploy/pullcheck.yaml")).unwrap(),
        "default",
    );
    assert!(default.service_monitors.is_empty());
    assert_eq!(default.services.len(), 1);
}

/// Prometheus without the Operator finds the agents by the `prometheus.io/*` pod annotations;
/// with it, the ServiceMonitor. Neither relabels: the agent labels every series with `node`.
#[test]
fn the_agents_are_scrapable_by_annotation_and_need_no_relabel() {
    let annotations = |o: &Objects| {
        o.daemonsets[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone()
            .unwrap_or_default()
    };
    let default = typed(
        &std::fs::read_to_string(repo().join("deploy/pullcheck.yaml")).unwrap(),
        "default",
    );
    let a = annotations(&default);
    let c = &default.daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let metrics_port = c
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .unwrap()
        .container_port;
    assert_eq!(
        a.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    assert_eq!(a.get("prometheus.io/port"), Some(&metrics_port.to_string()));
    assert_eq!(
        a.get("prometheus.io/path").map(String::as_str),
        Some("/metrics")
    );
    assert!(
        c.args
            .as_ref()
            .unwrap()
            .contains(&"--node-name=$(NODE_NAME)".to_string()),
        "the agent names its node, which labels its series"
    );
    // The plain manifests have them too.
    for c in plain_manifests() {
        assert!(
            c.text().contains("prometheus.io/scrape: \"true\""),
            "{}",
            c.file
        );
    }
    // Beside the user's own annotations; gone with metrics off or the option off.
    let on = rendered(ALL_ON);
    let a = annotations(&on);
    assert_eq!(
        a.get("example.com/note").map(String::as_str),
        Some("on: every node")
    );
    assert_eq!(
        a.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    let off = rendered(ALL_OFF);
    assert!(annotations(&off)
        .keys()
        .all(|k| !k.starts_with("prometheus.io/")));
    let no = rendered(SCRAPE_ANNOTATIONS_OFF);
    assert!(annotations(&no).is_empty());
    // The ServiceMonitor sets no `node` target label (it would rename the agent's own to
    // exported_node).
    let sm = &on.service_monitors[0];
    assert!(
        sm["spec"]["endpoints"][0].get("relabelings").is_none(),
        "{sm}"
    );
}

/// `helm install` ends by saying how to ask with the kubectl plugin: how to get it, and the
/// first commands (with the agent namespace when it is not the plugin's default).
#[test]
fn the_install_notes_show_the_kubectl_plugin() {
    let text = notes(DEFAULT_NOTES);
    for needle in [
        "kubectl pullcheck",
        "cargo build --release",
        "target/release/kubectl-pullcheck on\nyour PATH",
        "kubectl krew install",
        "\n  kubectl pullcheck nodes ",
        "\n  kubectl pullcheck pod POD -n NAMESPACE ",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    assert!(!text.contains("--agent-namespace"), "{text}");
    let elsewhere = notes(OTHER_NAMESPACE_NOTES);
    assert!(
        elsewhere.contains("kubectl pullcheck --agent-namespace other nodes"),
        "{elsewhere}"
    );
    assert_eq!(
        pullcheck::plugin::DEFAULT_AGENT_NAMESPACE,
        "pullcheck",
        "the notes leave out --agent-namespace for this one"
    );
}

// ---------------------------------------------------------------------------------------------
// The chart's values

/// Keys whose values are free-form Kubernetes objects (not documented key by key).
const FREE_FORM: &[&str] = &[
    "nodeSelector",
    "affinity",
    "podAnnotations",
    "podLabels",
    "seLinuxOptions",
    "labels",
    "annotations",
];

fn value_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(p.clone());
            if !FREE_FORM.contains(&k.as_str()) {
                value_paths(child, &p, out);
            }
        }
    }
}

/// The line of `path` in values.yaml (keys nest by two spaces).
fn line_of(lines: &[&str], path: &str) -> Option<usize> {
    let mut from = 0;
    let mut found = None;
    for (depth, key) in path.split('.').enumerate() {
        let want = format!("{}{key}:", " ".repeat(depth * 2));
        let i = (from..lines.len()).find(|&i| {
            let l = lines[i];
            l.starts_with(&want) && (l.len() == want.len() || l[want.len()..].starts_with(' '))
        })?;
        found = Some(i);
        from = i + 1;
    }
    found
}

fn template_refs() -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for e in std::fs::read_dir(chart().join("templates")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for (i, _) in text.match_indices(".Values.") {
            let p: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            refs.insert(p.trim_end_matches('.').to_string());
        }
    }
    refs
}

#[test]
fn every_value_is_documented_and_used() {
    let text = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
    let values = read_yaml(&chart().join("values.yaml"));
    let lines: Vec<&str> = text.lines().collect();
    let mut paths = Vec::new();
    value_paths(&values, "", &mut paths);
    let refs = template_refs();
    let mut problems = Vec::new();
    for p in &paths {
        match line_of(&lines, p) {
            None => problems.push(format!("{p}: not found in values.yaml")),
            Some(i) => {
                let indent = lines[i].len() - lines[i].trim_start().len();
                let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
                let documented = above.trim_start().starts_with('#')
                    && above.len() - above.trim_start().len() == indent;
                if !documented {
                    problems.push(format!("{p}: no comment right above it"));
                }
            }
        }
        let is_map_parent = values
            .pointer(&format!("/{}", p.replace('.', "/")))
            .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            && !FREE_FORM.contains(&p.rsplit('.').next().unwrap());
        let used = refs
            .iter()
            .any(|r| r == p || p.starts_with(&format!("{r}.")))
            || (is_map_parent && refs.iter().any(|r| r.starts_with(&format!("{p}."))));
        if !used {
            problems.push(format!("{p}: no template uses it"));
        }
    }
    for r in &refs {
        if values
            .pointer(&format!("/{}", r.replace('.', "/")))
            .is_none()
        {
            problems.push(format!(
                "templates use .Values.{r}, which values.yaml does not define"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The cloud files only set keys values.yaml has.
    for f in [
        "values-eks.yaml",
        "values-gke.yaml",
        "values-aks.yaml",
        "values-openshift.yaml",
    ] {
        let mut extra = Vec::new();
        value_paths(&read_yaml(&chart().join(f)), "", &mut extra);
        for p in extra {
            assert!(paths.contains(&p), "{f}: {p} is not a value of the chart");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The release's namespace (`helm install -n`)

/// Kinds that live in no namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "PriorityClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "SecurityContextConstraints",
];

/// Every string under a key named `namespace`, `namespaces` or `matchNames`, with its path.
fn namespace_references(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}.{k}");
                let names_one = matches!(k.as_str(), "namespace" | "namespaces" | "matchNames");
                match child {
                    Value::String(s) if names_one => out.push((p, s.clone())),
                    Value::Array(items) if names_one => {
                        for (i, s) in items.iter().enumerate() {
                            out.push((format!("{p}[{i}]"), s.as_str().unwrap_or("").into()));
                        }
                    }
                    _ => namespace_references(child, &p, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                namespace_references(child, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `helm install -n other` puts every namespaced object in `other`, and everything that names
/// the agent's namespace (the ClusterRoleBinding's subject, the SCC's user, the
/// ServiceMonitor's selector, the notes' commands) says `other`: nothing is left in `pullcheck`.
#[test]
fn every_object_and_reference_follows_the_release_namespace() {
    let c = case(OTHER_NAMESPACE);
    assert_eq!(c.namespace, "other");
    let text = c.text();
    let all = docs(&text, OTHER_NAMESPACE);
    let mut kinds = BTreeSet::new();
    for d in &all {
        let kind = d["kind"].as_str().unwrap();
        kinds.insert(kind.to_string());
        let ns = d.pointer("/metadata/namespace").and_then(Value::as_str);
        if CLUSTER_SCOPED.contains(&kind) {
            assert_eq!(ns, None, "{}: cluster-scoped", id(d));
        } else {
            assert_eq!(ns, Some("other"), "{}: in the release's namespace", id(d));
        }
        let mut refs = Vec::new();
        namespace_references(d, "", &mut refs);
        for (path, ns) in refs {
            assert_eq!(ns, "other", "{} {path}", id(d));
        }
    }
    // Every kind the chart can render is here (all-on), so none escaped the check.
    for k in [
        "ServiceAccount",
        "ConfigMap",
        "ClusterRoleBinding",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "SecurityContextConstraints",
        "DaemonSet",
    ] {
        assert!(kinds.contains(k), "{k} rendered: {kinds:?}");
    }
    assert!(!kinds.contains("Namespace"), "helm install -n creates it");
    let o = typed(&text, OTHER_NAMESPACE);
    let subjects: Vec<_> = o
        .cluster_role_bindings
        .iter()
        .flat_map(|b| b.subjects.iter().flatten())
        .map(|s| (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()))
        .collect();
    assert!(!subjects.is_empty());
    assert!(
        subjects
            .iter()
            .all(|s| *s == ("ServiceAccount", RELEASE, Some("other"))),
        "{subjects:?}"
    );
    assert_eq!(
        o.sccs[0]["users"],
        json!([format!("system:serviceaccount:other:{RELEASE}")])
    );
    // The agent is not told its namespace by an argument that could disagree.
    let pod = o.daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let args = pod.containers[0].args.clone().unwrap_or_default();
    assert!(
        !args
            .iter()
            .any(|a| a.contains("pullcheck:") || a.contains("namespace")),
        "{args:?}"
    );
    assert!(!text.contains("system:serviceaccount:pullcheck"), "{text}");
    // The notes name `other` wherever they name the agents' namespace.
    let n = notes(OTHER_NAMESPACE_NOTES);
    for needle in [
        "in namespace other (DaemonSet pullcheck)",
        "kubectl pullcheck --agent-namespace other nodes",
        "kubectl pullcheck --agent-namespace other pod POD -n NAMESPACE",
        "kubectl -n other get pod",
        "kubectl -n other port-forward",
    ] {
        assert!(n.contains(needle), "{needle:?} missing:\n{n}");
    }
    for stale in [
        "-n pullcheck",
        "namespace pullcheck",
        "--agent-namespace pullcheck",
    ] {
        assert!(!n.contains(stale), "{stale:?} in:\n{n}");
    }
    // The SCC admits the pods on OpenShift, so no Pod Security hint there; elsewhere the hint
    // labels the release's namespace.
    assert!(!n.contains("pod-security.kubernetes.io"), "{n}");
    assert!(notes(DEFAULT_NOTES).contains(
        "kubectl label namespace pullcheck pod-security.kubernetes.io/enforce=privileged"
    ));
}

/// The plain manifests carry their Namespace, labelled for Pod Security Admission, and put
/// everything in it; `helm install` renders no Namespace (it needs its namespace first).
#[test]
fn the_plain_manifests_create_their_namespace_and_helm_install_does_not() {
    for c in plain_manifests() {
        let o = rendered(c.file);
        assert_eq!(o.namespaces.len(), 1, "{}", c.file);
        let ns = &o.namespaces[0].metadata;
        assert_eq!(ns.name.as_deref(), Some("pullcheck"), "{}", c.file);
        assert_eq!(
            ns.labels.as_ref().unwrap()["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        for d in docs(&c.text(), c.file) {
            let kind = d["kind"].as_str().unwrap();
            if !CLUSTER_SCOPED.contains(&kind) {
                assert_eq!(d["metadata"]["namespace"], "pullcheck", "{}", id(&d));
            }
        }
    }
    let values = read_yaml(&chart().join("values.yaml"));
    assert_eq!(values["createNamespace"], false, "helm install's default");
    assert!(values.get("namespace").is_none(), "-n, not a value");
    for file in [OTHER_NAMESPACE, SECOND_RELEASE, ALL_OFF] {
        assert!(rendered(file).namespaces.is_empty(), "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// What helm refuses

/// `helm template` of the default case with `set` (a values file) on top: helm's stderr when
/// it fails, None when it renders.
fn helm_refusal(helm: &helm::Helm, set: &Value) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("set.yaml");
    std::fs::write(&p, serde_json::to_string(set).unwrap()).unwrap();
    let mut args = vec!["template".to_string()];
    args.extend(case(DEFAULT).args());
    args.extend(["-f".to_string(), p.display().to_string()]);
    let out = helm.run(&repo(), &args);
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn helm_fails_the_render_without_an_image_or_a_priority_class() {
    let Some(helm) = helm::find("the chart's required values under helm") else {
        return;
    };
    for (set, want) in [
        (
            json!({"priorityClass": {"create": false}}),
            "priorityClass.name is required",
        ),
        // values.schema.json's minLength comes first; the template's `required` backs it.
        (
            json!({"image": {"repository": ""}}),
            "at '/image/repository'",
        ),
    ] {
        let e = helm_refusal(&helm, &set).unwrap_or_else(|| panic!("{set}: helm rendered it"));
        assert!(e.contains(want), "{set}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

#[test]
fn the_dockerfile_is_multi_stage_locked_and_minimal() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a builder and a runtime stage");
    assert!(froms[0].contains(" AS build"), "{}", froms[0]);
    assert!(
        froms[1].contains("gcr.io/distroless/cc-debian12"),
        "{}",
        froms[1]
    );
    // A locked build of the release profile unless told otherwise (the cluster tests' image
    // asks for `image-test`).
    assert!(
        text.contains("ARG CARGO_PROFILE=release\n")
            && text.contains("cargo build --profile \"$CARGO_PROFILE\" --locked"),
        "a locked release build"
    );
    assert!(
        text.contains("COPY --from=build"),
        "the runtime stage takes only the binary"
    );
    // .dockerignore is an allow-list of exactly what the Dockerfile copies.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        rules.first(),
        Some(&"*"),
        ".dockerignore starts by excluding everything"
    );
    let allowed: BTreeSet<&str> = rules[1..]
        .iter()
        .map(|r| {
            r.strip_prefix('!')
                .expect("then only allows")
                .trim_end_matches('/')
        })
        .collect();
    let copied: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[1..words.len() - 1].to_vec()
        })
        .map(|w| w.trim_end_matches('/'))
        .collect();
    assert_eq!(
        allowed, copied,
        "the context holds what the Dockerfile copies"
    );
    for needed in ["Cargo.toml", "Cargo.lock", "build.rs", "proto", "src"] {
        assert!(copied.contains(needed), "Dockerfile copies {needed}");
    }
}

#[test]
fn the_openshift_values_admit_the_agent_by_scc_and_follow_cri_o() {
    let o = rendered(OPENSHIFT);
    assert_eq!(o.sccs.len(), 1, "one SecurityContextConstraints");
    assert_eq!(
        o.sccs[0]["users"][0],
        format!("system:serviceaccount:pullcheck:{RELEASE}")
    );
    let ds = &o.daemonsets[0];
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let paths: Vec<String> = pod
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.host_path.as_ref().map(|h| h.path.clone()))
        .collect();
    for p in ["/var/run/crio", "/etc/containers", "/var/lib/pullcheck"] {
        assert!(paths.iter().any(|x| x == p), "{p} mounted: {paths:?}");
    }
    let args = pod.containers[0].args.clone().unwrap_or_default();
    assert!(
        args.iter()
            .any(|a| a == "--runtime-endpoint=unix:///var/run/crio/crio.sock"),
        "{args:?}"
    );
    assert!(args.iter().any(|a| a == "--runtime-kind=crio"), "{args:?}");
    // RHCOS enforces SELinux: the pod runs as spc_t, which reads the host files it mounts.
    let se = pod
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
        .and_then(|o| o.type_.as_deref());
    assert_eq!(se, Some("spc_t"));
}

/// The subset of JSON Schema (draft 07) `values.schema.json` uses, as Helm applies it: `type`,
/// `properties`, `additionalProperties` (false or a schema), `required`, `enum`, `items`,
/// `minLength`, `minimum`, `maximum`, `pattern` (a regular expression searched in the string,
/// RE2 syntax, which Go's regexp and the `regex` crate share) and `$ref` to
/// `#/definitions/NAME` (whose siblings draft 07 ignores). Errors name the path.
fn schema_errors(root: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("$ref {r} is not handled here"));
        let target = &root["definitions"][name];
        assert!(target.is_object(), "$ref {r} names no definition");
        return schema_errors(root, target, v, at, out);
    }
    let type_ok = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "null" => v.is_null(),
        other => panic!("schema type {other} is not handled here"),
    };
    match &schema["type"] {
        Value::String(t) if !type_ok(t) => {
            out.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap())) => {
            out.push(format!("{at}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            out.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    if let (Some(min), Some(s)) = (schema["minLength"].as_u64(), v.as_str()) {
        if (s.chars().count() as u64) < min {
            out.push(format!("{at}: shorter than {min}"));
        }
    }
    if let Some(p) = schema["pattern"].as_str() {
        let re = regex::Regex::new(p).unwrap_or_else(|e| panic!("pattern {p}: {e}"));
        if v.as_str().is_some_and(|s| !re.is_match(s)) {
            out.push(format!("{at}: {v} does not match {p}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|m| n < m)
            || schema["maximum"].as_f64().is_some_and(|m| n > m)
        {
            out.push(format!("{at}: {n} is out of range"));
        }
    }
    if let Some(items) = v.as_array() {
        if schema.get("items").is_some() {
            for (i, item) in items.iter().enumerate() {
                schema_errors(root, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
    }
    if let Some(map) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !map.contains_key(r.as_str().unwrap()) {
                out.push(format!("{at}: {r} is required"));
            }
        }
        for (k, val) in map {
            let path = format!("{at}.{k}");
            match (schema["properties"].get(k), &schema["additionalProperties"]) {
                (Some(s), _) => schema_errors(root, s, val, &path, out),
                (None, Value::Bool(false)) => out.push(format!("{path}: unknown key")),
                (None, extra @ Value::Object(_)) => schema_errors(root, extra, val, &path, out),
                (None, _) => {}
            }
        }
    }
}

/// Helm's values merge: maps merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// [`schema_errors`] of values.yaml with `files` (relative to the repository, or in the chart)
/// and `over` merged on top, as helm merges them.
fn check_values(over: Option<&Value>, files: &[&str]) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .expect("values.schema.json is JSON");
    let mut values = read_yaml(&chart().join("values.yaml"));
    for f in files {
        let path = if f.contains('/') {
            repo().join(f)
        } else {
            chart().join(f)
        };
        merge(&mut values, &read_yaml(&path));
    }
    if let Some(o) = over {
        merge(&mut values, o);
    }
    let mut out = Vec::new();
    schema_errors(&schema, &schema, &values, "values", &mut out);
    out
}

/// Values the schema refuses, each with what [`schema_errors`] says (`values.PATH: …`).
fn refusals() -> Vec<(Value, String)> {
    let mut r: Vec<(Value, &str)> = vec![
        (
            json!({"image": {"respository": "x"}}),
            "values.image.respository: unknown key",
        ),
        (
            json!({"image": {"repository": ""}}),
            "values.image.repository: shorter than 1",
        ),
        (
            json!({"agent": {"port": "8740"}}),
            "values.agent.port: expected integer",
        ),
        (
            json!({"agent": {"port": 70000}}),
            "values.agent.port: 70000 is out of range",
        ),
        (
            json!({"runtime": {"kind": "docker"}}),
            "values.runtime.kind",
        ),
        (
            json!({"priorityClass": {"preemptionPolicy": "Always"}}),
            "values.priorityClass.preemptionPolicy",
        ),
        (
            json!({"extraHostPaths": [{"name": "x", "path": "relative", "type": "Directory"}]}),
            "values.extraHostPaths[0].path",
        ),
        (json!({"tolerance": []}), "values.tolerance: unknown key"),
        // The namespace is helm's -n; the chart's old `namespace` value is refused, not ignored.
        (
            json!({"namespace": "pullcheck"}),
            "values.namespace: unknown key",
        ),
        (
            json!({"monitor": {"eventGrace": "soon"}}),
            "values.monitor.eventGrace: \"soon\" does not match",
        ),
        (
            json!({"agent": {"shutdownGrace": "20 seconds"}}),
            "values.agent.shutdownGrace",
        ),
        (
            json!({"metrics": {"serviceMonitor": {"interval": "thirty seconds"}}}),
            "values.metrics.serviceMonitor.interval",
        ),
    ];
    // Durations and address ranges are checked by helm, before any agent exits 64 on them.
    for bad in ["ten minutes", "10", "1.5h", "10 m", "-5m", ""] {
        r.push((
            json!({"monitor": {"interval": bad}}),
            "values.monitor.interval: ",
        ));
    }
    for bad in [
        "10.0.0.0/99",
        "ten",
        "10.0.0/8",
        "fd00::/129",
        "10.0.0.0/8 ",
        "256.0.0.0/8",
    ] {
        r.push((
            json!({"agent": {"allowRegistryCIDRs": ["10.0.0.0/8", bad]}}),
            "values.agent.allowRegistryCIDRs[1]: ",
        ));
    }
    r.into_iter().map(|(v, w)| (v, w.to_string())).collect()
}

/// What helm (santhosh-tekuri/jsonschema) says for the refusal [`schema_errors`] words as
/// `want`: `at '/a/b/1'`, or for an unknown key `at '/a': additional properties 'b' not allowed`.
fn helm_words(want: &str) -> String {
    let path = want
        .strip_prefix("values")
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let pointer = path.replace('[', ".").replace(']', "").replace('.', "/");
    if want.ends_with("unknown key") {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        format!("at '{parent}': additional properties '{key}' not allowed")
    } else {
        format!("at '{pointer}'")
    }
}

#[test]
fn the_values_schema_admits_every_shipped_file_and_refuses_typos() {
    for c in CASES {
        let files: Vec<&str> = c.values.to_vec();
        assert_eq!(
            check_values(None, &files),
            Vec::<String>::new(),
            "{}",
            c.file
        );
    }
    for (over, want) in refusals() {
        let errors = check_values(Some(&over), &[]);
        assert!(
            errors.iter().any(|e| e.contains(&want)),
            "{over}: {errors:?} should say {want:?}"
        );
    }
}

/// Helm applies values.schema.json as the test's checker does: each refusal is helm's too,
/// at the same path.
#[test]
fn helm_refuses_what_the_schema_checker_refuses() {
    let Some(helm) = helm::find("values.schema.json under helm") else {
        return;
    };
    for (over, want) in refusals() {
        let words = helm_words(&want);
        let e = helm_refusal(&helm, &over).unwrap_or_else(|| panic!("{over}: helm rendered it"));
        assert!(
            e.contains("values don't meet the specifications of the schema") && e.contains(&words),
            "{over}: helm should say {words:?}:\n{e}"
        );
    }
}

/// What the schema admits, the agent takes: every duration and range the patterns let through
/// parses with the agent's own parsers (so no agent exits 64 on a value helm accepted), and
/// the Operator-style durations with Go's.
#[test]
fn the_values_schema_patterns_admit_what_the_agent_parses() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    let admits = |def: &str, v: &str| {
        let mut out = Vec::new();
        schema_errors(
            &schema,
            &schema["definitions"][def],
            &json!(v),
            "v",
            &mut out,
        );
        out.is_empty()
    };
    for ok in [
        "10m", "1h30m", "500ms", "90s", "1h", "15s", "2h0m0s", "250us", "100ns",
    ] {
        assert!(admits("duration", ok), "{ok} refused");
        assert!(
            humantime::parse_duration(ok).is_ok(),
            "{ok} admitted, not parsed"
        );
    }
    for ok in ["30s", "10s", "1m", "1h30m", "0"] {
        assert!(admits("prometheusDuration", ok), "{ok} refused");
    }
    for ok in [
        "10.0.0.0/8",
        "fd00::/8",
        "127.0.0.1",
        "::1",
        "2001:db8::/32",
        "192.168.1.0/24",
        "0.0.0.0/0",
    ] {
        assert!(admits("cidr", ok), "{ok} refused");
        assert!(
            pullcheck::service::guard::Cidr::parse(ok).is_ok(),
            "{ok} admitted, not parsed"
        );
    }
    // The defaults and the shipped files use them.
    for (path, def) in [
        ("/properties/monitor/properties/interval", "duration"),
        ("/properties/monitor/properties/eventGrace", "duration"),
        ("/properties/agent/properties/shutdownGrace", "duration"),
        (
            "/properties/agent/properties/allowRegistryCIDRs/items",
            "cidr",
        ),
        (
            "/properties/metrics/properties/serviceMonitor/properties/interval",
            "prometheusDuration",
        ),
        (
            "/properties/metrics/properties/serviceMonitor/properties/scrapeTimeout",
            "prometheusDuration",
        ),
    ] {
        assert_eq!(
            schema.pointer(path).and_then(|p| p["$ref"].as_str()),
            Some(format!("#/definitions/{def}").as_str()),
            "{path}"
        );
    }
}

#[test]
fn the_default_image_is_the_released_one() {
    let o = rendered(DEFAULT);
    let pod = o.daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let version = read_yaml(&chart().join("Chart.yaml"))["appVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some(format!("ghcr.io/pullcheck/pullcheck:{version}").as_str()),
        "the canonical image, at the chart's appVersion"
    );
}

#[test]
fn two_releases_do_not_collide_and_the_agent_preempts_nothing() {
    let a = rendered(DEFAULT);
    let b = rendered(SECOND_RELEASE);
    let names = |o: &Objects| -> BTreeSet<String> {
        o.priority_classes
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .chain(
                o.cluster_roles
                    .iter()
                    .filter_map(|r| r.metadata.name.clone()),
            )
            .chain(
                o.cluster_role_bindings
                    .iter()
                    .filter_map(|r| r.metadata.name.clone()),
            )
            .collect()
    };
    let (na, nb) = (names(&a), names(&b));
    assert!(!na.is_empty() && !nb.is_empty());
    assert!(
        na.is_disjoint(&nb),
        "cluster-scoped names collide: {na:?} {nb:?}"
    );
    assert!(
        b.namespaces.is_empty(),
        "the second release reuses the namespace"
    );
    for p in &a.priority_classes {
        assert_eq!(p.preemption_policy.as_deref(), Some("Never"));
    }
}

#[test]
fn only_the_chosen_runtime_s_host_paths_are_mounted() {
    let paths = |o: &Objects| -> BTreeMap<String, String> {
        o.daemonsets[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                v.host_path
                    .as_ref()
                    .map(|h| (h.path.clone(), h.type_.clone().unwrap_or_default()))
            })
            .collect()
    };
    let containerd = paths(&rendered(DEFAULT));
    assert_eq!(containerd["/run/containerd"], "Directory");
    assert!(containerd.contains_key("/etc/containerd"));
    assert!(
        !containerd.contains_key("/etc/containers"),
        "{containerd:?}"
    );
    assert!(!containerd.contains_key("/var/run/crio"));
    let crio = paths(&rendered(OPENSHIFT));
    assert_eq!(crio["/var/run/crio"], "Directory");
    assert_eq!(crio["/etc/containers"], "Directory");
    assert_eq!(
        crio["/etc/crio"], "Directory",
        "crio.conf: the global_auth_file setting"
    );
    assert_eq!(
        crio["/var/lib/kubelet/config.json"], "File",
        "OpenShift's global pull secret"
    );
    assert!(!crio.contains_key("/etc/containerd"), "{crio:?}");
    assert!(!crio.contains_key("/run/containerd"));
}

/// `kubectl kustomize` (kustomize built into kubectl), when on PATH.
fn kubectl() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|k| k.is_file())
    })
}

#[test]
fn kustomize_retargets_the_image_without_editing_generated_files() {
    let k: Value = read_yaml(&repo().join("deploy/kustomization.yaml"));
    assert_eq!(k["resources"], json!(["pullcheck.yaml"]));
    let version = read_yaml(&chart().join("Chart.yaml"))["appVersion"].clone();
    assert_eq!(k["images"][0]["name"], "ghcr.io/pullcheck/pullcheck");
    assert_eq!(
        k["images"][0]["newTag"], version,
        "the kustomization's tag is the release's"
    );
    let Some(kubectl) = kubectl() else {
        eprintln!("no kubectl on PATH: `kubectl kustomize` not run (structure checked only)");
        return;
    };
    // What `kustomize edit set image ghcr.io/pullcheck/pullcheck=registry.example.com/team/pullcheck:1.2.3`
    // writes, in a copy of deploy/.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("deploy/pullcheck.yaml"),
        dir.path().join("pullcheck.yaml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(repo().join("deploy/kustomization.yaml")).unwrap();
    let edited = text
        .replace(
            "  - name: ghcr.io/pullcheck/pullcheck\n",
            "  - name: ghcr.io/pullcheck/pullcheck\n    newName: registry.example.com/team/pullcheck\n",
        )
        .replace(&format!("newTag: {}", serde_json::to_string(&version).unwrap()), "newTag: \"1.2.3\"");
    assert_ne!(edited, text);
    std::fs::write(dir.path().join("kustomization.yaml"), edited).unwrap();
    let out = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream = String::from_utf8(out.stdout).unwrap();
    let o = typed(&stream, "kustomized");
    let pod = o.daemonsets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.example.com/team/pullcheck:1.2.3")
    );
    // Everything else is the generated file's.
    assert_eq!(o.namespaces.len(), 1);
    assert_eq!(o.cluster_roles.len(), rendered(DEFAULT).cluster_roles.len());
}

/// monitoring.coreos.com/v1 PrometheusRule (a CRD): metadata and `spec.groups` of named groups
/// of rules, each an alert with an expression.
fn prometheus_rule_shape(doc: &Value) -> Result<(), String> {
    let keys: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    if keys != BTreeSet::from(["apiVersion", "kind", "metadata", "spec"]) {
        return Err(format!("PrometheusRule keys {keys:?}"));
    }
    let groups = doc["spec"]["groups"].as_array().ok_or("spec.groups")?;
    for g in groups {
        g["name"].as_str().ok_or("a group without a name")?;
        for r in g["rules"].as_array().ok_or("a group without rules")? {
            if r["alert"].as_str().is_none() || r["expr"].as_str().is_none() {
                return Err(format!("a rule without alert or expr: {r}"));
            }
        }
    }
    Ok(())
}

/// deploy/monitoring/pullcheck-rules.yaml: the chart's rules as a PrometheusRule without a
/// namespace (for `kubectl apply -n`).
fn static_prometheus_rule() -> String {
    let rules = std::fs::read_to_string(chart().join("files/prometheus-rules.yaml")).unwrap();
    let body: String = rules
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    format!(
        "# The drift monitor's alerts as a Prometheus Operator PrometheusRule. Generated, do not edit:\n\
         # the rules are deploy/helm/pullcheck/files/prometheus-rules.yaml (the chart creates the same\n\
         # object with metrics.prometheusRule.enabled); regenerate with\n\
         # PULLCHECK_BLESS=1 cargo test --test deploy_manifests.\n\
         # No namespace: apply it where your Prometheus selects rules (its ruleNamespaceSelector), e.g.\n\
         # `kubectl apply -n monitoring -f deploy/monitoring/pullcheck-rules.yaml`.\n\
         apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: pullcheck\n  labels:\n    app.kubernetes.io/name: pullcheck\nspec:\n{body}"
    )
}

#[test]
fn the_alerts_are_one_file_for_the_chart_and_for_kubectl() {
    let path = repo().join("deploy/monitoring/pullcheck-rules.yaml");
    let want = static_prometheus_rule();
    if std::env::var_os("PULLCHECK_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        want,
        "deploy/monitoring/pullcheck-rules.yaml is generated (PULLCHECK_BLESS=1 cargo test --test deploy_manifests)"
    );
    let o = rendered(PROMETHEUS_RULE_ELSEWHERE);
    assert_eq!(o.prometheus_rules.len(), 1);
    let chart_rule = &o.prometheus_rules[0];
    assert_eq!(
        chart_rule["metadata"]["namespace"], "monitoring",
        "the namespace from values"
    );
    assert_eq!(chart_rule["metadata"]["labels"]["release"], "prometheus");
    let kubectl_rule: Value = serde_saphyr::from_str(&want).unwrap();
    assert_eq!(chart_rule["spec"], kubectl_rule["spec"], "the same rules");
    assert!(kubectl_rule["metadata"].get("namespace").is_none());
    // Helm does not render a file it reads: the alerts' own {{ $labels.… }} stay as written.
    assert!(chart_rule["spec"]
        .to_string()
        .contains("{{ $labels.node }}"));
    // Without one, the release's namespace.
    assert_eq!(
        rendered(ALL_ON).prometheus_rules[0]["metadata"]["namespace"],
        "pullcheck"
    );
    assert!(rendered(DEFAULT).prometheus_rules.is_empty());
}
