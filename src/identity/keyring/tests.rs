use super::*;
use crate::identity::docker_config::{parse, Format};

fn ring(json: &str) -> Keyring {
    Keyring::from_bytes("test.json", json.as_bytes()).unwrap()
}

fn users(creds: &[Credential]) -> Vec<String> {
    creds
        .iter()
        .map(|c| match &c.auth {
            RegistryAuth::Basic { username, .. } => username.clone(),
            RegistryAuth::Anonymous => "-".into(),
        })
        .collect()
}

#[test]
fn index_docker_io_default_for_docker_hub_images() {
    let k = ring(
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"},"ghcr.io":{"auth":"Z2g6cHc="}}}"#,
    );
    assert_eq!(users(&k.lookup("docker.io/library/nginx")), ["hub"]);
    assert_eq!(users(&k.lookup("index.docker.io/library/nginx")), ["hub"]);
    assert_eq!(users(&k.lookup("library/nginx")), ["hub"]);
    assert_eq!(users(&k.lookup("nginx")), ["hub"]);
    assert_eq!(users(&k.lookup("ghcr.io/o/r")), ["gh"]);
    assert!(k.lookup("quay.io/o/r").is_empty());
    assert!(k.lookup("localhost:5000/r").is_empty());
    let c = &k.lookup("docker.io/library/nginx")[0];
    assert_eq!(
        c.source,
        Source::PullSecret {
            path: "test.json".into(),
            key: "https://index.docker.io/v1/".into(),
            username: "hub".into()
        }
    );
}

#[test]
fn default_fallback_only_when_nothing_matched() {
    let k = ring(
        r#"{"auths":{"index.docker.io":{"username":"hub"},"docker.io/library":{"username":"lib"}}}"#,
    );
    assert_eq!(users(&k.lookup("docker.io/library/nginx")), ["lib"]);
    assert_eq!(users(&k.lookup("docker.io/other/app")), ["hub"]);
}

#[test]
fn registry_1_docker_io_never_matches_docker_hub_images() {
    let k = ring(r#"{"auths":{"registry-1.docker.io":{"username":"r1"}}}"#);
    assert!(k.lookup("docker.io/library/nginx").is_empty());
    assert_eq!(
        users(&k.lookup("registry-1.docker.io/library/nginx")),
        ["r1"]
    );
}

#[test]
fn default_registry_match_rules() {
    assert!(is_default_registry_match("nginx"));
    assert!(is_default_registry_match("library/nginx"));
    assert!(is_default_registry_match("docker.io/library/nginx"));
    assert!(is_default_registry_match("index.docker.io/x/y"));
    assert!(!is_default_registry_match("ghcr.io/x"));
    assert!(!is_default_registry_match("localhost:5000/x"));
    assert!(!is_default_registry_match("/x"));
    assert!(!is_default_registry_match(""));
}

#[test]
fn reverse_sorted_all_matches_in_order() {
    let k = ring(
        r#"{"auths":{"registry.io":{"username":"host"},"registry.io/team":{"username":"team"},"*.io":{"username":"glob"}}}"#,
    );
    assert_eq!(
        users(&k.lookup("registry.io/team/app")),
        ["team", "host", "glob"]
    );
    assert_eq!(k.keys(), ["registry.io/team", "registry.io", "*.io"]);
}

#[test]
fn duplicate_keys_keep_every_credential() {
    // Two spellings of one key: the kubelet appends both under it.
    let k = ring(
        r#"{"auths":{"https://registry.io/v2/":{"username":"a"},"registry.io":{"username":"b"}}}"#,
    );
    assert_eq!(k.keys(), ["registry.io"]);
    assert_eq!(users(&k.lookup("registry.io/x")), ["a", "b"]);
}

#[test]
fn several_configs_share_one_index() {
    // Pull secrets go into one keyring: a more specific key of a later secret comes first.
    let mut k = Keyring::new();
    let first = parse(
        "s1",
        br#"{"auths":{"registry.io":{"username":"one"}}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    let second = parse(
        "s2",
        br#"{"auths":{"registry.io/team":{"username":"two"},"registry.io":{"username":"three"}}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    k.add(
        Origin::Secret {
            namespace: "ns".into(),
            name: "s1".into(),
        },
        &first,
    );
    k.add(Origin::PullSecret { path: "s2".into() }, &second);
    let found = k.lookup("registry.io/team/app");
    assert_eq!(users(&found), ["two", "one", "three"]);
    assert!(matches!(&found[1].source, Source::Secret { name, .. } if name == "s1"));
    assert!(found[1].source.to_string().contains("secret ns/s1"));
}

#[test]
fn empty_user_name_is_sent_as_no_credentials() {
    let k = ring(r#"{"auths":{"registry.io":{"password":"p"},"other.io":{}}}"#);
    let c = k.lookup("registry.io/x");
    assert_eq!(c.len(), 1, "the entry still counts as a credential");
    assert!(c[0].auth.is_anonymous());
    assert_eq!(k.lookup("other.io/x").len(), 1);
}

#[test]
fn invalid_keys_are_ignored_and_listed() {
    let k = ring(r#"{"auths":{"bad host":{"username":"x"},"ok.io":{"username":"y"}}}"#);
    assert_eq!(k.invalid_keys(), ["bad host"]);
    assert_eq!(users(&k.lookup("ok.io/a")), ["y"]);
}

#[test]
fn plugin_entries_and_ecr_globs() {
    let mut k = Keyring::new();
    let origin = Origin::Plugin { name: "ecr".into() };
    k.add_entry(origin.clone(), "*.dkr.ecr.*.amazonaws.com", "AWS", "tok");
    k.add_entry(origin, "public.ecr.aws", "AWS", "tok2");
    let c = k.lookup("123456789012.dkr.ecr.us-east-1.amazonaws.com/app");
    assert_eq!(users(&c), ["AWS"]);
    assert!(matches!(&c[0].source, Source::Plugin { name, key, .. }
        if name == "ecr" && key == "*.dkr.ecr.*.amazonaws.com"));
    assert!(k.lookup("docker.io/library/nginx").is_empty());
}

#[test]
fn debug_redacts_and_notes_name_ignored_fields() {
    let k = ring(
        r#"{"auths":{"r.io":{"username":"u","password":"s3cr3t-planted","identitytoken":"s3cr3t-planted2"}},"credsStore":"desktop"}"#,
    );
    let dbg = format!("{k:?} {:?}", k.lookup("r.io/x"));
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
    let notes = k.notes().join("\n");
    assert!(
        notes.contains("credsStore") && notes.contains("identitytoken"),
        "{notes}"
    );
    assert!(!notes.contains("s3cr3t") && !notes.contains("desktop"));
}

#[test]
fn bad_files_say_where_without_echoing_content() {
    let err = Keyring::from_bytes("x.json", b"{\"auths\": s3cr3t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.json") && err.contains("line 1"), "{err}");
    assert!(!err.contains("s3cr3t"));
}

#[test]
fn userinfo_in_keys_never_reaches_reports() {
    assert_eq!(display_key("https://u:s3cr3t@r.io/x"), "https://…@r.io/x");
    assert_eq!(display_key("u:s3cr3t@r.io"), "…@r.io");
    assert_eq!(
        display_key("r.io/a@b"),
        "r.io/a@b",
        "an @ in the path is not userinfo"
    );
    let k = ring(r#"{"auths":{"https://u:s3cr3t@r.io":{"username":"x"},"v:s3cr3t@bad host":{}}}"#);
    let c = k.lookup("r.io/app");
    assert_eq!(users(&c), ["x"]);
    let shown = format!("{} {:?} {:?}", c[0].source, c[0].source, k.invalid_keys());
    assert!(!shown.contains("s3cr3t"), "{shown}");
}
