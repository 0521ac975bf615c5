use super::*;

fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

fn mirrors(entries: &[(&str, &[&str])]) -> Legacy {
    let mut l = Legacy::default();
    for (reg, eps) in entries {
        let eps = eps
            .iter()
            .enumerate()
            .map(|(i, u)| MirrorEndpoint {
                url: u.to_string(),
                line: i + 1,
            })
            .collect();
        l.mirrors.insert(reg.to_string(), eps);
    }
    l
}

fn urls(e: &Endpoints) -> Vec<&str> {
    e.hosts.iter().map(|h| h.url.as_str()).collect()
}

const FILE: &str = "/etc/containerd/config.toml";

#[test]
fn endpoints_in_order_then_default_host() {
    let l = mirrors(&[("ghcr.io", &["https://m1.example", "m2.example:5000"])]);
    let e = l.resolve(&image("ghcr.io/o/r:1"), Path::new(FILE)).unwrap();
    assert_eq!(
        urls(&e),
        [
            "https://m1.example",
            "https://m2.example:5000",
            "https://ghcr.io"
        ]
    );
    assert!(e.hosts[0].mirror && e.hosts[0].ns.as_deref() == Some("ghcr.io"));
    assert!(!e.hosts[2].mirror && e.hosts[2].ns.is_none());
    assert!(e.hosts.iter().all(|h| h.pull && h.resolve));
    assert!(e.source.unwrap().contains(FILE));
}

#[test]
fn registry_listed_itself_is_not_appended_again() {
    let l = mirrors(&[("reg.example", &["https://reg.example", "https://m.example"])]);
    let e = l
        .resolve(&image("reg.example/app"), Path::new(FILE))
        .unwrap();
    assert_eq!(urls(&e), ["https://reg.example", "https://m.example"]);
}

#[test]
fn docker_hub_default_is_registry_1_and_not_duplicated() {
    let l = mirrors(&[("docker.io", &["https://mirror.gcr.io"])]);
    let e = l.resolve(&image("nginx"), Path::new(FILE)).unwrap();
    assert_eq!(
        urls(&e),
        ["https://mirror.gcr.io", "https://registry-1.docker.io"]
    );
    assert!(!e.hosts[1].mirror);
    // kind's old default: the endpoint is registry-1, which containerd still appends again.
    let l = mirrors(&[("docker.io", &["https://registry-1.docker.io"])]);
    let e = l.resolve(&image("nginx"), Path::new(FILE)).unwrap();
    assert_eq!(urls(&e), ["https://registry-1.docker.io"]);
    assert!(e.notes[0].contains("twice"), "{:?}", e.notes);
}

#[test]
fn wildcard_and_localhost_defaults_to_http() {
    // kind's local-registry recipe.
    let l = mirrors(&[
        ("localhost:5001", &["http://kind-registry:5000"]),
        ("*", &["https://catch-all.example"]),
    ]);
    let e = l
        .resolve(&image("localhost:5001/app"), Path::new(FILE))
        .unwrap();
    assert_eq!(
        urls(&e),
        ["http://kind-registry:5000", "http://localhost:5001"]
    );
    assert_eq!(e.hosts[0].ns.as_deref(), Some("localhost:5001"));
    let e = l.resolve(&image("quay.io/o/r"), Path::new(FILE)).unwrap();
    assert_eq!(urls(&e), ["https://catch-all.example", "https://quay.io"]);
    assert!(e.notes.iter().any(|n| n.contains("\"*\"")));
    let e = Legacy::default()
        .resolve(&image("127.0.0.1:5000/app"), Path::new(FILE))
        .unwrap();
    assert_eq!(urls(&e), ["http://127.0.0.1:5000"]);
}

#[test]
fn endpoint_path_is_the_api_root() {
    let l = mirrors(&[("ghcr.io", &["https://m.example/ghcr", "https://n.example"])]);
    let e = l.resolve(&image("ghcr.io/o/r"), Path::new(FILE)).unwrap();
    assert!(e.hosts[0].override_path);
    assert_eq!(e.hosts[0].api_base(), "https://m.example/ghcr");
    assert!(!e.hosts[1].override_path);
    assert_eq!(e.hosts[1].api_base(), "https://n.example/v2");
}

#[test]
fn configs_tls_by_contacted_host() {
    let mut l = mirrors(&[("reg.example", &["https://m.example:8443"])]);
    l.configs.insert(
        "m.example:8443".into(),
        HostConfig {
            tls: Some(LegacyTls {
                ca_file: Some("/etc/ca.pem".into()),
                cert_file: Some("/etc/c.pem".into()),
                key_file: Some("/etc/k.pem".into()),
                insecure_skip_verify: true,
                line: 9,
            }),
            auth: true,
        },
    );
    l.configs.insert(
        "reg.example".into(),
        HostConfig {
            tls: None,
            auth: false,
        },
    );
    let e = l
        .resolve(&image("reg.example/app"), Path::new(FILE))
        .unwrap();
    let m = &e.hosts[0].tls;
    assert_eq!(m.ca, [PathBuf::from("/etc/ca.pem")]);
    assert_eq!(
        m.client,
        [(
            PathBuf::from("/etc/c.pem"),
            Some(PathBuf::from("/etc/k.pem"))
        )]
    );
    assert!(m.skip_verify);
    assert_eq!(e.hosts[1].tls, TlsSettings::default());
    assert!(l.has_tls() && l.node_auth("m.example:8443") && !l.node_auth("reg.example"));
}

#[test]
fn cert_without_key_and_bad_endpoint_name_file_and_line() {
    let mut l = mirrors(&[("reg.example", &["https://m.example"])]);
    l.configs.insert(
        "m.example".into(),
        HostConfig {
            tls: Some(LegacyTls {
                cert_file: Some("/etc/c.pem".into()),
                line: 12,
                ..Default::default()
            }),
            auth: false,
        },
    );
    let err = l
        .resolve(&image("reg.example/app"), Path::new(FILE))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(FILE) && err.contains("line 12") && err.contains("key_file"),
        "{err}"
    );
    let l = mirrors(&[("reg.example", &["https://"])]);
    let err = l
        .resolve(&image("reg.example/app"), Path::new(FILE))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("endpoint"), "{err}");
}
