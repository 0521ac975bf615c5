//! The kubectl plugin's packaging: the krew manifest template (deploy/krew/pullcheck.yaml) and
//! the plugin user's RBAC (deploy/rbac-plugin-user.yaml). The krew file is a template until a
//! release exists: its only placeholders are the named release variables (never a made-up
//! hash), and once they are filled in it is a valid krew Plugin for linux and darwin on amd64
//! and arm64 whose `bin` is the binary Cargo builds.

use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const VARIABLES: [&str; 7] = [
    "PULLCHECK_VERSION",
    "PULLCHECK_RELEASE_URL",
    "PULLCHECK_HOMEPAGE",
    "SHA256_LINUX_AMD64",
    "SHA256_LINUX_ARM64",
    "SHA256_DARWIN_AMD64",
    "SHA256_DARWIN_ARM64",
];

/// `${NAME}` placeholders in `text`.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unclosed ${");
        out.insert(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

fn render(text: &str) -> String {
    let mut s = text.to_string();
    for (i, v) in VARIABLES.iter().enumerate() {
        let value = match *v {
            "PULLCHECK_VERSION" => "v0.1.0".to_string(),
            "PULLCHECK_RELEASE_URL" => "https://example.com/releases/download/v0.1.0".into(),
            "PULLCHECK_HOMEPAGE" => "https://example.com/pullcheck".into(),
            _ => format!("{i}").repeat(64),
        };
        s = s.replace(&format!("${{{v}}}"), &value);
    }
    s
}

#[test]
fn the_krew_manifest_template_is_a_valid_plugin_once_rendered() {
    let text = std::fs::read_to_string(repo().join("deploy/krew/pullcheck.yaml")).unwrap();
    // Only the release variables, every one of them used; no hash-like literal.
    let used = placeholders(&text);
    assert_eq!(used, VARIABLES.iter().map(|s| s.to_string()).collect());
    assert!(
        !text
            .split(|c: char| !c.is_ascii_hexdigit())
            .any(|w| w.len() >= 40),
        "a literal hash in the template"
    );
    let doc: Value = serde_saphyr::from_str(&render(&text)).expect("rendered manifest parses");
    assert_eq!(doc["apiVersion"], "krew.googlecode.github.io/v1alpha2");
    assert_eq!(doc["kind"], "Plugin");
    assert_eq!(doc["metadata"]["name"], "pullcheck");
    let spec = &doc["spec"];
    assert_eq!(spec["version"], "v0.1.0");
    assert!(spec["version"].as_str().unwrap().starts_with('v'));
    assert!(spec["homepage"].as_str().unwrap().starts_with("https://"));
    let short = spec["shortDescription"].as_str().unwrap();
    assert!(!short.is_empty() && short.len() <= 80, "{short}");
    assert!(spec["description"].as_str().is_some_and(|d| !d.is_empty()));
    let mut seen = BTreeSet::new();
    for p in spec["platforms"].as_array().unwrap() {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        seen.insert(format!("{os}/{arch}"));
        assert_eq!(p["bin"], "kubectl-pullcheck");
        let uri = p["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("https://") && uri.ends_with(&format!("_{os}_{arch}.tar.gz")),
            "{uri}"
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "{sha}"
        );
    }
    let want: BTreeSet<String> = ["darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(seen, want);
    // The binary krew links is the one Cargo builds.
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"kubectl-pullcheck\""));
}

#[test]
fn the_plugin_user_rbac_is_exactly_what_the_plugin_needs() {
    let text = std::fs::read_to_string(repo().join("deploy/rbac-plugin-user.yaml")).unwrap();
    let mut rules = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let role: ClusterRole = serde_saphyr::from_str(doc).expect("a ClusterRole");
        let name = role.metadata.name.clone().unwrap();
        for r in role.rules.unwrap_or_default() {
            for res in r.resources.unwrap_or_default() {
                for verb in &r.verbs {
                    rules.insert(format!("{name}: {res} {verb}"));
                }
            }
            assert_eq!(r.api_groups.unwrap_or_default(), [""]);
        }
    }
    let want: BTreeSet<String> = [
        "pullcheck-plugin-user: nodes get",
        "pullcheck-plugin-user: nodes list",
        "pullcheck-plugin-user: pods get",
        "pullcheck-plugin-user: pods list",
        // The port-forward is a WebSocket: the API server authorizes its upgrade as `get`, and
        // since 1.35 also asks `create` (the cluster tier checks both against the real one).
        "pullcheck-plugin-portforward: pods/portforward get",
        "pullcheck-plugin-portforward: pods/portforward create",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(rules, want);
}
