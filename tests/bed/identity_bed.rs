//! Node identity against the real test bed: pull secrets, node files and credential-provider
//! exec plugins (real scripts in a temporary bin dir), in kubelet order, with a fake /proc whose
//! `kubelet` process gives the working directory, HOME and environment.

use crate::support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::*;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// A docker config with one `auths` entry.
fn docker_config(key: &str, user: &str, password: &str) -> String {
    format!(
        r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#,
        b64(&format!("{user}:{password}"))
    )
}

/// A node: kubelet root dir, working directory, HOME, plugin bin dir, and a fake /proc with a
/// `kubelet` process pointing at them.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        Self::with_kubelet_env("")
    }

    /// `extra_env` is appended to the kubelet's environment (NUL-separated `K=V` entries).
    fn with_kubelet_env(extra_env: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| dir.path().join(s);
        for d in ["root", "cwd", "home/.docker", "bin", "proc/4242", "seen"] {
            std::fs::create_dir_all(p(d)).unwrap();
        }
        std::fs::write(p("proc/4242/comm"), "kubelet\n").unwrap();
        let env = format!(
            "PATH=/usr/local/bin:/usr/bin:/bin\0HOME={}\0KUBELET_MARK=from-kubelet\0OVERRIDDEN=kubelet\0{extra_env}",
            p("home").display()
        );
        std::fs::write(p("proc/4242/environ"), env).unwrap();
        std::fs::write(p("proc/4242/cmdline"), "/usr/bin/kubelet\0").unwrap();
        std::os::unix::fs::symlink(p("cwd"), p("proc/4242/cwd")).unwrap();
        Node { dir }
    }

    fn path(&self, s: &str) -> PathBuf {
        self.dir.path().join(s)
    }

    fn write(&self, rel: &str, body: &str) -> String {
        let p = self.path(rel);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }

    /// An executable plugin script in the bin dir.
    fn plugin(&self, name: &str, body: &str) {
        let p = self.path("bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A plugin that records its stdin and environment, then answers `auth` for `key`.
    fn recording_plugin(&self, name: &str, key: &str, user: &str, password: &str) {
        let seen = self.path("seen");
        let body = format!(
            r#"cat > {seen}/{name}.stdin
env > {seen}/{name}.env
echo "$@" > {seen}/{name}.args
cat <<'EOF'
{{"apiVersion":"{V1}","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"1h","auth":{{"{key}":{{"username":"{user}","password":"{password}"}}}}}}
EOF"#,
            seen = seen.display()
        );
        self.plugin(name, &body);
    }

    fn seen(&self, file: &str) -> String {
        std::fs::read_to_string(self.path("seen").join(file)).unwrap_or_default()
    }

    /// A CredentialProviderConfig (YAML) with the given provider entries.
    fn plugin_config(&self, providers: &str) -> String {
        self.write(
            "credential-providers.yaml",
            &format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{providers}"),
        )
    }

    /// `--proc-root`, `--kubelet-root-dir` and the plugin flags (when a config was written).
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--proc-root".to_string(),
            self.path("proc").display().to_string(),
            "--kubelet-root-dir".into(),
            self.path("root").display().to_string(),
        ];
        let cfg = self.path("credential-providers.yaml");
        if cfg.exists() {
            a.extend([
                "--image-credential-provider-config".into(),
                cfg.display().to_string(),
                "--image-credential-provider-bin-dir".into(),
                self.path("bin").display().to_string(),
            ]);
        }
        a
    }
}

fn provider(name: &str, match_image: &str) -> String {
    format!(
        "- name: {name}\n  matchImages: [\"{match_image}\"]\n  defaultCacheDuration: 10m\n  apiVersion: {V1}\n"
    )
}

/// The token registry (plain HTTP through hosts.toml) and its hosts dir.
fn token_registry() -> (String, tempfile::TempDir) {
    let addr = bed().addr("token");
    let hosts = http_hosts(&addr);
    (addr, hosts)
}

fn probe(image: &str, node: &Node, hosts: &Path, extra: &[&str], verdict: &str) -> Value {
    let mut args: Vec<String> = node.args();
    args.extend(["--hosts-dir".into(), path(hosts).to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    probe_json(image, &refs, None, &[], verdict)
}

fn credentials(r: &Value) -> Vec<(String, String, bool)> {
    r["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["source"]["kind"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap_or("not tried").to_string(),
                c["used"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn pull_secret_right_is_ok_and_wrong_is_unauthorized_naming_it() {
    let b = bed();
    let (addr, hosts) = token_registry();
    let node = Node::new();
    let right = node.write(
        "right.json",
        &docker_config(&addr, &b.user(), &b.password()),
    );
    let wrong = node.write("wrong.json", &docker_config(&addr, &b.user(), "nope"));
    let image = format!("{addr}/private/app:both");
    let r = probe(
        &image,
        &node,
        hosts.path(),
        &["--docker-config", &right, "--platform", "linux/amd64"],
        "ok",
    );
    assert_eq!(r["identity"]["source"]["kind"], "pullSecret");
    assert_eq!(r["identity"]["source"]["path"], right.as_str());
    assert_eq!(credentials(&r), [("pullSecret".into(), "ok".into(), true)]);
    assert!(r.get("anonymousHint").is_none());
    let r = probe(
        &image,
        &node,
        hosts.path(),
        &["--docker-config", &wrong],
        "unauthorized",
    );
    assert_eq!(r["identity"]["source"]["path"], wrong.as_str());
    assert!(r["identity"]["description"]
        .as_str()
        .unwrap()
        .contains("wrong.json"));
    assert_eq!(r["identitySources"]["pullSecrets"][0], wrong.as_str());
    // Repeated --docker-config: one keyring, tried in order; the second one works.
    let r = probe(
        &image,
        &node,
        hosts.path(),
        &["--docker-config", &wrong, "--docker-config", &right],
        "ok",
    );
    assert_eq!(
        credentials(&r),
        [
            ("pullSecret".into(), "unauthorized".into(), false),
            ("pullSecret".into(), "ok".into(), true)
        ]
    );
    assert_eq!(r["identity"]["source"]["path"], right.as_str());
}

#[test]
fn wrong_secret_first_then_right_node_file_is_ok_via_the_node_file() {
    let b = bed();
    let (addr, hosts) = token_registry();
    let node = Node::new();
    let wrong = node.write("wrong.json", &docker_config(&addr, &b.user(), "nope"));
    let file = node.write(
        "root/config.json",
        &docker_config(&addr, &b.user(), &b.password()),
    );
    let r = probe(
        &format!("{addr}/private/app:both"),
        &node,
        hosts.path(),
        &["--docker-config", &wrong],
        "ok",
    );
    assert_eq!(
        credentials(&r),
        [
            ("pullSecret".into(), "unauthorized".into(), false),
            ("nodeFile".into(), "ok".into(), true)
        ]
    );
    assert_eq!(r["identity"]["source"]["kind"], "nodeFile");
    assert_eq!(r["identity"]["source"]["path"], file.as_str());
    assert_eq!(r["identitySources"]["node"]["nodeFile"], file.as_str());
    assert_eq!(r["identitySources"]["node"]["kubelet"]["pid"], 4242);
}

#[test]
fn a_failing_credential_has_no_anonymous_fallback_but_a_hint() {
    let b = bed();
    let (addr, hosts) = token_registry();
    let node = Node::new();
    let wrong = node.write("wrong.json", &docker_config(&addr, &b.user(), "nope"));
    // public/ is readable anonymously, yet the kubelet fails with the bad credential.
    let r = probe(
        &format!("{addr}/public/app:both"),
        &node,
        hosts.path(),
        &["--docker-config", &wrong],
        "unauthorized",
    );
    assert_eq!(
        r["anonymousHint"]["verdict"], "ok",
        "{}",
        r["anonymousHint"]
    );
    assert!(r["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["identity"]["source"]["kind"] == "pullSecret"));
    // The text view: a credentials table and the hint.
    let mut args = vec!["probe".to_string(), format!("{addr}/public/app:both")];
    args.extend(node.args());
    args.extend([
        "--hosts-dir".into(),
        path(hosts.path()).into(),
        "--docker-config".into(),
        wrong.clone(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = pullcheck(&refs, None, &[]);
    assert!(t.stdout.contains("Credentials tried"), "{}", t.stdout);
    assert!(t.stdout.contains("Anonymous:") && t.stdout.contains("does not fall back"));
}

#[test]
fn node_files_kubelet_order_home_and_skips() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = hosts_dir(&[(
        &tls,
        format!("server = \"https://{tls}\"\nca = \"{}\"\n", b.str("ca")),
    )]);
    let node = Node::new();
    node.write("root/config.json", "{broken");
    let home = node.write(
        "home/.docker/config.json",
        &docker_config(&tls, &b.user(), &b.password()),
    );
    let r = probe(
        &format!("{tls}/app:amd64"),
        &node,
        hosts.path(),
        &["--platform", "linux/amd64"],
        "ok",
    );
    assert_eq!(r["identity"]["source"]["kind"], "nodeFile");
    assert_eq!(r["identity"]["source"]["path"], home.as_str());
    let files = r["identitySources"]["node"]["nodeFiles"]
        .as_array()
        .unwrap();
    let outcomes: Vec<&str> = files
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["invalid", "missing", "used"], "{files:?}");
    assert!(files[0]["reason"].as_str().unwrap().contains("line 1"));
    // A legacy .dockercfg in the kubelet's working directory, when no config.json exists.
    std::fs::remove_file(node.path("root/config.json")).unwrap();
    std::fs::remove_file(&home).unwrap();
    let legacy = node.write(
        "cwd/.dockercfg",
        &format!(
            r#"{{"{tls}":{{"username":"{}","password":"nope"}}}}"#,
            b.user()
        ),
    );
    let r = probe(
        &format!("{tls}/app:amd64"),
        &node,
        hosts.path(),
        &[],
        "unauthorized",
    );
    assert_eq!(r["identity"]["source"]["path"], legacy.as_str());
    assert_eq!(
        r["identitySources"]["node"]["nodeFiles"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn a_good_plugin_gets_the_tagless_image_and_the_kubelet_env() {
    let b = bed();
    let (addr, hosts) = token_registry();
    let node = Node::new();
    node.recording_plugin("good-plugin", &addr, &b.user(), &b.password());
    node.plugin_config(&format!(
        "{}  args: [get-credentials]\n  env:\n  - name: CONFIGURED\n    value: from-config\n  - name: OVERRIDDEN\n    value: config\n",
        provider("good-plugin", &addr)
    ));
    let r = probe(
        &format!("{addr}/private/app:both"),
        &node,
        hosts.path(),
        &["--platform", "linux/amd64"],
        "ok",
    );
    assert_eq!(r["identity"]["source"]["kind"], "plugin");
    assert_eq!(r["identity"]["source"]["name"], "good-plugin");
    assert_eq!(credentials(&r), [("plugin".into(), "ok".into(), true)]);
    let outcome = &r["identitySources"]["plugins"][0];
    assert_eq!(outcome["status"], "provided");
    assert_eq!(outcome["keys"][0], addr.as_str());
    let stdin: Value = serde_json::from_str(&node.seen("good-plugin.stdin")).unwrap();
    assert_eq!(
        stdin["image"],
        format!("{addr}/private/app"),
        "tagless image"
    );
    assert_eq!(stdin["kind"], "CredentialProviderRequest");
    assert_eq!(stdin["apiVersion"], V1);
    let env = node.seen("good-plugin.env");
    for line in [
        "KUBELET_MARK=from-kubelet",
        "CONFIGURED=from-config",
        "OVERRIDDEN=config",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing from {env}");
    }
    assert_eq!(node.seen("good-plugin.args").trim(), "get-credentials");
    // A digest reference is sent without its digest too.
    let digest = format!("sha256:{}", "0".repeat(64));
    probe(
        &format!("{addr}/private/app@{digest}"),
        &node,
        hosts.path(),
        &[],
        "manifest_unknown",
    );
    let stdin: Value = serde_json::from_str(&node.seen("good-plugin.stdin")).unwrap();
    assert_eq!(stdin["image"], format!("{addr}/private/app"));
    // An image its matchImages do not cover: the plugin is not run.
    let r = probe(
        &format!("{addr}/public/app:both"),
        &node,
        hosts.path(),
        &[],
        "ok",
    );
    assert_eq!(
        r["identity"]["source"]["kind"], "plugin",
        "addr matches every repo"
    );
    node.plugin_config(&provider("good-plugin", "other.example"));
    let r = probe(
        &format!("{addr}/public/app:both"),
        &node,
        hosts.path(),
        &[],
        "ok",
    );
    assert_eq!(r["identitySources"]["plugins"][0]["status"], "notMatched");
    assert_eq!(r["identity"]["source"]["kind"], "anonymous");
}

#[test]
fn failing_plugins_give_no_credentials_and_a_reason_each() {
    let (addr, hosts) = token_registry();
    let node = Node::new();
    node.plugin("slow", "echo 'still thinking' >&2\nsleep 30");
    node.plugin(
        "malformed",
        "cat >/dev/null\necho '{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\",\"auth\":'",
    );
    node.plugin(
        "wrong-version",
        "cat >/dev/null\necho '{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1beta1\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\"}'",
    );
    node.plugin("exits", "echo 'cannot reach the token service' >&2\nexit 7");
    node.plugin_config(&format!(
        "{}{}{}{}- name: sa-mode\n  matchImages: [\"{addr}\"]\n  defaultCacheDuration: 10m\n  apiVersion: {V1}\n  tokenAttributes:\n    serviceAccountTokenAudience: registry.example\n    cacheType: Token\n    requireServiceAccount: true\n",
        provider("slow", &addr),
        provider("malformed", &addr),
        provider("wrong-version", &addr),
        provider("exits", &addr),
    ));
    let started = std::time::Instant::now();
    // No credentials at all: anonymous is the candidate, as the kubelet does.
    let r = probe(
        &format!("{addr}/private/app:both"),
        &node,
        hosts.path(),
        &["--credential-provider-timeout", "500ms"],
        "identity_unavailable",
    );
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert_eq!(r["identity"]["source"]["kind"], "anonymous");
    // The node's plugins failed and nothing else authenticated: that is the verdict, with the
    // registry's anonymous answer kept in the reason.
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("credential plugin slow gave no credentials"),
        "{reason}"
    );
    assert!(reason.contains("401"), "{reason}");
    let outcomes = r["identitySources"]["plugins"].as_array().unwrap();
    let expect = [
        ("slow", "failed", "timed out after 500ms"),
        ("malformed", "failed", "error reading apiVersion/kind"),
        ("wrong-version", "failed", "does not match the configured"),
        ("exits", "failed", "status 7"),
        ("sa-mode", "skipped", "per-pod identity, not the node's"),
    ];
    for (o, (name, status, why)) in outcomes.iter().zip(expect) {
        assert_eq!(o["name"], name);
        assert_eq!(o["status"], status, "{o}");
        let reason = o["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("plugin {name}")) && reason.contains(why),
            "{reason}"
        );
    }
    assert!(outcomes[0]["reason"]
        .as_str()
        .unwrap()
        .contains("still thinking"));
    assert!(outcomes[3]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot reach the token service"));
}

#[test]
fn planted_secrets_never_reach_the_output() {
    let b = bed();
    let (addr, hosts) = token_registry();
    let planted = format!("planted-{}", std::process::id());
    let node = Node::with_kubelet_env(&format!("KUBELET_SECRET={planted}-kubelet-env\0"));
    let secret = node.write(
        "secret.json",
        &docker_config(&addr, &b.user(), &format!("{planted}-secret")),
    );
    node.write(
        "root/config.json",
        &docker_config(&addr, &b.user(), &format!("{planted}-node-file")),
    );
    node.recording_plugin("plug", &addr, &b.user(), &format!("{planted}-plugin"));
    // Its reply is malformed and carries the secret in a field the kubelet rejects.
    node.plugin(
        "leaky",
        &format!(
            "cat >/dev/null\necho '{{\"apiVersion\":\"{V1}\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\",\"auth\":{{\"{addr}\":{{\"username\":\"u\",\"password\":\"{planted}-leaky\",\"token\":\"{planted}-leaky2\"}}}}}}'"
        ),
    );
    node.plugin_config(&format!(
        "{}  env:\n  - name: PLUGIN_SECRET\n    value: {planted}-config-env\n{}",
        provider("plug", &addr),
        provider("leaky", &addr)
    ));
    let image = format!("{addr}/private/app:both");
    for output in ["json", "text"] {
        let mut args = vec![
            "--log".to_string(),
            "trace".into(),
            "probe".into(),
            image.clone(),
        ];
        args.extend(node.args());
        args.extend([
            "--hosts-dir".into(),
            path(hosts.path()).into(),
            "--docker-config".into(),
            secret.clone(),
            "--username".into(),
            b.user(),
            "--password-stdin".into(),
            "-o".into(),
            output.into(),
        ]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = pullcheck(&refs, Some(&format!("{planted}-stdin\n")), &[]);
        assert_eq!(run.code, 5, "every credential is wrong: {}", run.stdout);
        for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!text.contains(&planted), "{output} {what} leaks:\n{text}");
            assert!(!text.contains(&b.password()));
        }
        assert!(run.stdout.contains("leaky"), "{}", run.stdout);
    }
}

#[test]
fn node_lists_node_files_and_plugins() {
    let b = bed();
    let node = Node::new();
    node.write(
        "home/.docker/config.json",
        &docker_config("registry.example", &b.user(), "s3cr3t-node-facts"),
    );
    node.plugin("ecr-credential-provider", "exit 0");
    node.plugin_config(&format!(
        "{}{}",
        provider("ecr-credential-provider", "*.dkr.ecr.*.amazonaws.com"),
        "  env:\n  - name: AWS_SECRET\n    value: s3cr3t-env\n"
    ));
    let mut args = vec!["node".to_string(), "-o".into(), "json".into()];
    args.extend(node.args());
    args.extend([
        "--runtime-endpoint".into(),
        "unix:///nonexistent.sock".into(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = pullcheck(&refs, None, &[]);
    assert!(!run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"));
    let facts: Value = serde_json::from_str(&run.stdout).unwrap();
    let ids = facts["identities"].as_array().unwrap();
    let of = |kind: &str| ids.iter().find(|i| i["kind"] == kind).unwrap().clone();
    assert!(of("nodeFile")["path"]
        .as_str()
        .unwrap()
        .ends_with("home/.docker/config.json"));
    assert_eq!(of("nodeFile")["keys"][0], "registry.example");
    let plugin = of("plugin");
    assert_eq!(plugin["name"], "ecr-credential-provider");
    assert_eq!(plugin["matchImages"][0], "*.dkr.ecr.*.amazonaws.com");
    assert_eq!(of("kubelet")["kind"], "kubelet");
    assert!(of("kubelet")["description"]
        .as_str()
        .unwrap()
        .contains("4242"));
}

#[test]
fn unusable_plugin_settings_are_usage_errors() {
    let node = Node::new();
    let cfg = node.write("bad.yaml", "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: a/b\n");
    let bin = node.path("bin").display().to_string();
    for (extra, needle) in [
        (
            vec![
                "--image-credential-provider-config",
                cfg.as_str(),
                "--image-credential-provider-bin-dir",
                bin.as_str(),
            ],
            "cannot contain '/'",
        ),
        (
            vec!["--image-credential-provider-config", cfg.as_str()],
            "--image-credential-provider-bin-dir is required",
        ),
        (
            vec![
                "--image-credential-provider-config",
                "/nonexistent/cp.yaml",
                "--image-credential-provider-bin-dir",
                bin.as_str(),
            ],
            "/nonexistent/cp.yaml",
        ),
    ] {
        let mut args = vec!["probe", "registry.example/app"];
        args.extend(extra);
        let r = pullcheck(&args, None, &[]);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{}", r.stderr);
    }
}
