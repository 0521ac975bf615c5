use super::*;
use crate::identity::credential_provider::config::ProviderConfig;
use crate::identity::credential_provider::process::stderr_excerpt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

fn ok_body(api: &str) -> String {
    format!(
        r#"{{"apiVersion":"{api}","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"6h0m0s","auth":{{"r.io":{{"username":"u","password":"s3cr3t-pw"}}}}}}"#
    )
}

#[test]
fn request_is_the_kubelets() {
    let r = request_json(V1, "docker.io/library/nginx");
    let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
    assert_eq!(v["kind"], "CredentialProviderRequest");
    assert_eq!(v["apiVersion"], V1);
    assert_eq!(v["image"], "docker.io/library/nginx");
    assert_eq!(
        v.as_object().unwrap().len(),
        3,
        "no token fields outside SA mode"
    );
}

#[test]
fn response_validation() {
    let r = parse_response(ok_body(V1).as_bytes(), V1).unwrap();
    assert_eq!(r.cache_key_type, CacheKeyType::Registry);
    assert_eq!(
        r.cache_duration,
        Some((false, Duration::from_secs(6 * 3600)))
    );
    assert_eq!(r.auth[0].username, "u");
    assert!(!format!("{r:?}").contains("s3cr3t"));
    let minimal = format!(
        r#"{{"apiVersion":"{V1}","kind":"CredentialProviderResponse","cacheKeyType":"Image"}}"#
    );
    let r = parse_response(minimal.as_bytes(), V1).unwrap();
    assert!(r.auth.is_empty() && r.cache_duration.is_none());
    let null_duration = minimal.replace("}", r#","cacheDuration":null,"auth":{"a.io":null}}"#);
    let r = parse_response(null_duration.as_bytes(), V1).unwrap();
    assert_eq!(r.auth.len(), 1);
}

#[test]
fn response_errors_are_structural() {
    let good = ok_body(V1);
    let cases: Vec<(String, &str)> = vec![
        ("not json s3cr3t".into(), "error reading apiVersion/kind"),
        ("[\"s3cr3t\"]".into(), "not a JSON object"),
        (
            ok_body("credentialprovider.kubelet.k8s.io/v1alpha1"),
            "does not match the configured",
        ),
        (
            good.replace("CredentialProviderResponse", "Other"),
            "kind \"Other\"",
        ),
        (good.replace("Registry", "Pod"), "cacheKeyType \"Pod\""),
        (
            good.replace("\"cacheKeyType\":\"Registry\",", ""),
            "cacheKeyType \"\"",
        ),
        (good.replace("6h0m0s", "6 hours"), "cacheDuration"),
        (
            good.replace("\"auth\"", "\"secretStuff\":\"s3cr3t\",\"auth\""),
            "unknown field `secretStuff`",
        ),
        (good.replace("\"s3cr3t-pw\"", "7"), "invalid type"),
        (
            good.replace("\"password\"", "\"token\""),
            "unknown field `token`",
        ),
    ];
    for (body, needle) in cases {
        let e = parse_response(body.as_bytes(), V1).unwrap_err().to_string();
        assert!(e.contains(needle), "{body}: {e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}

struct Bin {
    dir: tempfile::TempDir,
}

impl Bin {
    fn new() -> Self {
        Bin {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn script(&self, name: &str, body: &str) {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    async fn run(&self, name: &str, env_yaml: &str, timeout: Duration) -> Result<Response, Error> {
        let cfg = format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: {name}\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: {V1}\n  args: [get-credentials, --flag]\n{env_yaml}"
        );
        let p = ProviderConfig::decode_one("c.yaml", cfg.as_bytes()).unwrap();
        let base = vec![
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("FROM_KUBELET".to_string(), "k".to_string()),
            ("OVERRIDE".to_string(), "kubelet".to_string()),
        ];
        let env = ExecEnv {
            bin_dir: self.dir.path(),
            base_env: &base,
            timeout,
        };
        exec(&p[0], "r.io/team/app", &env).await
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
}

#[tokio::test]
async fn good_plugin_gets_request_args_and_merged_env() {
    let b = Bin::new();
    let seen = b.path("seen");
    b.script(
        "good",
        &format!(
            "cat > {seen}.stdin\necho \"$@\" > {seen}.args\nenv > {seen}.env\necho '{}'",
            ok_body(V1),
            seen = seen.display()
        ),
    );
    let env = "  env:\n  - name: OVERRIDE\n    value: config\n  - name: EXTRA\n    value: x\n";
    let r = b.run("good", env, Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.auth[0].key, "r.io");
    let stdin = std::fs::read_to_string(seen.with_extension("stdin")).unwrap();
    assert!(stdin.contains(r#""image":"r.io/team/app""#), "{stdin}");
    let args = std::fs::read_to_string(seen.with_extension("args")).unwrap();
    assert_eq!(args.trim(), "get-credentials --flag");
    let env = std::fs::read_to_string(seen.with_extension("env")).unwrap();
    for line in ["FROM_KUBELET=k", "OVERRIDE=config", "EXTRA=x"] {
        assert!(env.lines().any(|l| l == line), "{line} missing: {env}");
    }
    assert!(!env.contains("OVERRIDE=kubelet"), "configured env wins");
}

#[tokio::test]
async fn failures_name_what_went_wrong() {
    let b = Bin::new();
    b.script(
        "exit3",
        "echo 'token service said no' >&2\necho '{\"s3cr3t\":1}'\nexit 3",
    );
    let e = b
        .run("exit3", "", Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("status 3") && e.contains("token service said no"),
        "{e}"
    );
    assert!(!e.contains("s3cr3t"), "{e}");
    b.script("garbage", "echo 's3cr3t garbage'");
    let e = b
        .run("garbage", "", Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("apiVersion/kind"), "{e}");
    assert!(!e.contains("s3cr3t"));
    b.script("noread", &format!("echo '{}'", ok_body(V1)));
    assert!(
        b.run("noread", "", Duration::from_secs(10)).await.is_ok(),
        "stdin unread is fine"
    );
    let e = b
        .run("missing", "", Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    std::fs::write(b.path("noexec"), "#!/bin/sh\n").unwrap();
    let e = b
        .run("noexec", "", Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an executable"), "{e}");
    b.script("killed", "kill -9 $$");
    let e = b
        .run("killed", "", Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("signal 9"), "{e}");
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let b = Bin::new();
    let marker = b.path("survived");
    // The shell forks a sleeper that keeps stdout open: killing only the shell would hang.
    b.script(
        "slow",
        &format!(
            "echo 'warming up' >&2\n(sleep 3; touch {}) &\nsleep 30",
            marker.display()
        ),
    );
    let started = std::time::Instant::now();
    let e = b
        .run("slow", "", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let e = e.to_string();
    assert!(
        e.contains("timed out after 300ms") && e.contains("warming up"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!marker.exists(), "a grandchild outlived the timeout");
}

#[tokio::test]
async fn stdout_is_bounded() {
    let b = Bin::new();
    b.script("chatty", "head -c 2000000 /dev/zero");
    let e = b
        .run("chatty", "", Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 1048576 bytes"), "{e}");
}

#[test]
fn stderr_excerpt_is_one_bounded_line() {
    assert_eq!(stderr_excerpt(b""), "");
    assert_eq!(stderr_excerpt(b"a\n\nb\r\n"), ": stderr: a | b");
    let long = "x".repeat(1000);
    let e = stderr_excerpt(long.as_bytes());
    assert!(
        e.starts_with(": stderr: …") && e.chars().count() < 450,
        "{e}"
    );
}
