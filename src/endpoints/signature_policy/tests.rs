use super::*;

fn policy(json: &str, registries_d: &[(&str, &str)]) -> (tempfile::TempDir, Result<Policy>) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("policy.json");
    std::fs::write(&p, json).unwrap();
    let rd = d.path().join("registries.d");
    std::fs::create_dir(&rd).unwrap();
    for (name, text) in registries_d {
        std::fs::write(rd.join(name), text).unwrap();
    }
    let r = Policy::read(Some(&p), Some(&rd));
    (d, r)
}

fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

#[test]
fn scopes_go_from_the_tag_to_wildcard_domains() {
    assert_eq!(
        Policy::scopes(&image("registry.example.com:5000/team/app:v1")),
        [
            "registry.example.com:5000/team/app:v1",
            "registry.example.com:5000/team/app",
            "registry.example.com:5000/team",
            "registry.example.com:5000",
            "*.example.com",
            "*.com",
        ]
    );
}

#[test]
fn the_most_specific_scope_decides() {
    let (_d, p) = policy(
        r#"{"default":[{"type":"insecureAcceptAnything"}],
            "transports":{"docker":{
              "quay.io/org":[{"type":"reject"}],
              "quay.io/org/open":[{"type":"insecureAcceptAnything"}],
              "*.corp.example":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}}}"#,
        &[],
    );
    let p = p.unwrap();
    assert!(matches!(
        p.decide(&image("quay.io/org/app:v1"), None),
        Decision::Rejected { scope, .. } if scope == "quay.io/org"
    ));
    assert_eq!(
        p.decide(&image("quay.io/org/open:v1"), None),
        Decision::Accept { unverified: None }
    );
    match p.decide(&image("r.corp.example/app:v1"), None) {
        Decision::Rejected { why, .. } => assert!(why.contains("no lookaside"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn signatures_are_looked_for_where_registries_d_says() {
    let d = tempfile::tempdir().unwrap();
    let lookaside = d.path().join("sigs");
    let digest = format!("sha256:{}", "a".repeat(64));
    let (_p, p) = policy(
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}],
            "transports":{"docker":{"ghcr.io":[{"type":"sigstoreSigned","keyPath":"/c.pub"}]}}}"#,
        &[
            (
                "a.yaml",
                &format!(
                    "docker:\n  quay.io:\n    lookaside: file://{}\n",
                    lookaside.display()
                ),
            ),
            (
                "b.yaml",
                "docker:\n  ghcr.io/org:\n    use-sigstore-attachments: true\n",
            ),
        ],
    );
    let p = p.unwrap();
    let quay = image("quay.io/team/app:v1");
    assert!(
        matches!(p.decide(&quay, Some(&digest)), Decision::Rejected { why, .. } if why.contains("has none"))
    );
    let sig = lookaside.join(format!("team/app@sha256={}", "a".repeat(64)));
    std::fs::create_dir_all(&sig).unwrap();
    std::fs::write(sig.join("signature-1"), "x").unwrap();
    assert!(matches!(
        p.decide(&quay, Some(&digest)),
        Decision::Accept { unverified: Some(w) } if w.contains("does not verify")
    ));
    assert!(matches!(
        p.decide(&image("ghcr.io/org/app:v1"), None),
        Decision::Accept {
            unverified: Some(_)
        }
    ));
    assert!(matches!(
        p.decide(&image("ghcr.io/other/app:v1"), None),
        Decision::Rejected { why, .. } if why.contains("use-sigstore-attachments")
    ));
}

#[test]
fn a_policy_containers_image_refuses_is_an_error_naming_it() {
    for (json, says) in [
        (
            r#"{"default":[{"type":"frobnicate"}]}"#,
            "unknown policy requirement type",
        ),
        (r#"{"default":[]}"#, "no requirements"),
        (r#"{"default": "#, "line 1"),
    ] {
        let (_d, p) = policy(json, &[]);
        let e = p.unwrap_err().to_string();
        assert!(e.contains(says), "{json}: {e}");
        assert!(e.contains("policy.json"), "{e}");
    }
    let (_d, p) = policy(
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        &[("x.yaml", "docker: [")],
    );
    assert!(p.unwrap_err().to_string().contains("registries.d"));
}
