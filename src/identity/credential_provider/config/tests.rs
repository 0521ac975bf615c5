use super::*;
use std::time::Duration;

const YAML: &str = "\
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider
    matchImages:
      - \"*.dkr.ecr.*.amazonaws.com\"
      - \"registry.io:8080/path\"
    defaultCacheDuration: \"12h\"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: [get-credentials]
    env:
      - name: AWS_PROFILE
        value: s3cr3t-env-value
";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn provider_json(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"CredentialProviderConfig","providers":[{{"name":"{name}","matchImages":["r.io"],"defaultCacheDuration":"0s","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1"}}]}}"#
    )
}

#[test]
fn reads_yaml() {
    let d = tempfile::tempdir().unwrap();
    let c = ProviderConfig::read(&write(d.path(), "c.yaml", YAML)).unwrap();
    let p = &c.providers[0];
    assert_eq!(p.name, "ecr-credential-provider");
    assert_eq!(p.match_images.len(), 2);
    assert_eq!(
        p.default_cache_duration,
        Some(Duration::from_secs(12 * 3600))
    );
    assert_eq!(p.api_version, "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(p.args, ["get-credentials"]);
    assert_eq!(p.env[0].name, "AWS_PROFILE");
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("s3cr3t") && !dbg.contains("get-credentials"),
        "{dbg}"
    );
}

#[test]
fn reads_json_and_all_three_config_versions() {
    let d = tempfile::tempdir().unwrap();
    for v in CONFIG_API_VERSIONS {
        let body = provider_json("p").replace("kubelet.config.k8s.io/v1beta1", v);
        let c = ProviderConfig::read(&write(d.path(), "c.json", &body)).unwrap();
        assert_eq!(c.providers[0].default_cache_duration, Some(Duration::ZERO));
    }
}

#[test]
fn directory_files_in_lexicographic_order_and_merged() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "20-b.yml", &provider_json("b"));
    write(d.path(), "10-a.json", &provider_json("a"));
    write(d.path(), "30-c.yaml", &provider_json("c"));
    write(d.path(), "README.md", "not a config");
    write(d.path(), "x.json.bak", "not a config");
    std::fs::create_dir(d.path().join("sub.json")).unwrap();
    let c = ProviderConfig::read(d.path()).unwrap();
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(c.files.len(), 3);
    assert!(c.providers[1].file.ends_with("20-b.yml"));
}

#[test]
fn duplicate_names_across_files_are_an_error() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.json", &provider_json("same"));
    write(d.path(), "b.json", &provider_json("same"));
    let e = ProviderConfig::read(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("duplicate provider name \"same\"") && e.contains("b.json"),
        "{e}"
    );
}

#[test]
fn empty_or_missing_paths() {
    let d = tempfile::tempdir().unwrap();
    let e = ProviderConfig::read(d.path()).unwrap_err().to_string();
    assert!(e.contains("no configuration files"), "{e}");
    let e = ProviderConfig::read(&d.path().join("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unable to access") && e.contains("nope.yaml"),
        "{e}"
    );
}

#[test]
fn strict_decoding_like_the_kubelet() {
    let cases: &[(&str, &str)] = &[
        ("kind: CredentialProviderConfig\nproviders: []\n", "apiVersion and kind are required"),
        (
            "apiVersion: kubelet.config.k8s.io/v2\nkind: CredentialProviderConfig\n",
            "is not one of",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n",
            "is not CredentialProviderConfig",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nextra: 1\n",
            "unknown field \"extra\"",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n  matchimages: [a]\n",
            "unknown field `matchimages`",
        ),
        (
            // metav1.Duration is a string: a bare number is a type error.
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n  defaultCacheDuration: 0\n",
            "providers[0]",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n  defaultCacheDuration: 12 hours\n",
            "defaultCacheDuration",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n  env:\n  - name: X\n    value: [\"s3cr3t\"]\n",
            "providers[0]",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\napiVersion: kubelet.config.k8s.io/v1\n",
            "duplicate",
        ),
        ("{\"apiVersion\": s3cr3t", "line 1"),
        ("apiVersion: [s3cr3t\nkind: x: y\n", "invalid YAML"),
    ];
    for (body, needle) in cases {
        let e = ProviderConfig::decode_one("f.yaml", body.as_bytes())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.yaml") && e.contains(needle), "{body:?}: {e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}

fn invalid(providers_yaml: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{providers_yaml}"
    );
    let path = write(d.path(), "c.yaml", &body);
    match ProviderConfig::read(&path) {
        Err(Error::Invalid { errors, .. }) => errors.join("\n"),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

const OK: &str = "  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n";

#[test]
fn validation_rules() {
    let d = tempfile::tempdir().unwrap();
    let none = write(
        d.path(),
        "none.yaml",
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
    );
    let e = ProviderConfig::read(&none).unwrap_err().to_string();
    assert!(e.contains("at least 1 item in plugins"), "{e}");
    for (name, why) in [
        ("a/b", "cannot contain '/'"),
        ("a b", "cannot contain spaces"),
        ("'.'", "cannot be '.'"),
        ("'..'", "cannot be '..'"),
    ] {
        let e = invalid(&format!("- name: {name}\n{OK}"));
        assert!(e.contains(why), "{name}: {e}");
    }
    let e = invalid("- name: p\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n");
    assert!(e.contains("matchImages: Required"), "{e}");
    let e = invalid("- name: p\n  matchImages: [\"bad host\"]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n");
    assert!(e.contains("match image is invalid"), "{e}");
    let e = invalid(
        "- name: p\n  matchImages: [r.io]\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
    );
    assert!(e.contains("defaultCacheDuration: Required"), "{e}");
    let e = invalid("- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: -1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n");
    assert!(e.contains("greater than or equal to 0"), "{e}");
    let e = invalid("- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n");
    assert!(e.contains("apiVersion: Required"), "{e}");
    let e = invalid("- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v2\n");
    assert!(e.contains("Unsupported value"), "{e}");
    // Duplicates within one file are caught when merging.
    let d2 = tempfile::tempdir().unwrap();
    let dup = write(
        d2.path(),
        "c.yaml",
        &format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n{OK}- name: p\n{OK}"),
    );
    assert!(ProviderConfig::read(&dup)
        .unwrap_err()
        .to_string()
        .contains("duplicate provider name"));
    // Every error is reported at once.
    let e = invalid("- name: a/b\n  matchImages: []\n");
    assert_eq!(e.lines().count(), 4, "{e}");
}

#[test]
fn token_attributes_rules() {
    let ok = "- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  tokenAttributes:\n    serviceAccountTokenAudience: sts.amazonaws.com\n    cacheType: ServiceAccount\n    requireServiceAccount: false\n    optionalServiceAccountAnnotationKeys: [eks.amazonaws.com/ecr-role-arn]\n";
    let d = tempfile::tempdir().unwrap();
    let path = write(
        d.path(),
        "c.yaml",
        &format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{ok}"),
    );
    let c = ProviderConfig::read(&path).unwrap();
    assert!(c.providers[0].token_attributes.is_some());
    let e = invalid("- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1beta1\n  tokenAttributes:\n    cacheType: Pod\n    requiredServiceAccountAnnotationKeys: [a, a, \"-bad\"]\n    optionalServiceAccountAnnotationKeys: [a]\n    requireServiceAccount: false\n");
    for needle in [
        "serviceAccountTokenAudience: Required",
        "only supported for credentialprovider.kubelet.k8s.io/v1",
        "requireServiceAccount cannot be false",
        "Duplicate value: \"a\"",
        "\"-bad\"",
        "both required and optional",
        "cacheType: Unsupported value",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let e = invalid("- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  tokenAttributes:\n    serviceAccountTokenAudience: x\n");
    assert!(
        e.contains("requireServiceAccount: Required") && e.contains("cacheType: Required"),
        "{e}"
    );
}

#[test]
fn qualified_names() {
    use super::super::validate::qualified_name_error;
    assert_eq!(qualified_name_error("eks.amazonaws.com/ecr-role-arn"), None);
    assert_eq!(qualified_name_error("simple"), None);
    assert!(qualified_name_error("/x").is_some());
    assert!(qualified_name_error("a/b/c").is_some());
    assert!(qualified_name_error("-x").is_some());
    assert!(qualified_name_error(&"x".repeat(64)).is_some());
    assert!(
        qualified_name_error("UPPER.io/x").is_some(),
        "checked after lowercasing by the caller"
    );
}

#[test]
fn redaction_keeps_names_and_hides_values() {
    assert_eq!(
        redact(r#"invalid type: string "s3cr3t \"x\"", expected a sequence"#),
        r#"invalid type: string "…", expected a sequence"#
    );
    assert_eq!(redact("unknown field `foo`"), "unknown field `foo`");
    assert_eq!(redact(r#"open "abc"#), r#"open "…""#);
}
