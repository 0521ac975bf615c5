use super::*;
use crate::endpoints::containerd_process::fake_proc;

fn u(s: &str) -> reqwest::Url {
    reqwest::Url::parse(s).unwrap()
}

fn vars(list: &[(&str, &str)]) -> ProxyEnv {
    ProxyEnv::from_vars(list, ProxySource::Pullcheck)
}

#[test]
fn proxy_rules_like_go() {
    let e = vars(&[
        ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
        ("NO_PROXY", ".internal.example,reg.example:5000"),
    ]);
    assert_eq!(
        e.for_url(&u("https://ghcr.io/v2/")).as_deref(),
        Some("http://proxy:3128")
    );
    assert_eq!(
        e.proxy_url_for(&u("https://ghcr.io/v2/"))
            .map(|p| p.to_string())
            .as_deref(),
        Some("http://user:pw@proxy:3128/"),
        "the real connection keeps the proxy credentials"
    );
    assert_eq!(e.for_url(&u("https://localhost:5000/v2/")), None);
    assert_eq!(e.for_url(&u("https://127.0.0.1:5000/v2/")), None);
    assert_eq!(e.for_url(&u("https://a.internal.example/v2/")), None);
    assert_eq!(e.for_url(&u("https://reg.example:5000/v2/")), None);
    assert!(e.for_url(&u("https://reg.example/v2/")).is_some());
    assert_eq!(
        e.for_url(&u("http://ghcr.io/v2/")),
        None,
        "no HTTP_PROXY set"
    );
    let all = vars(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]);
    assert_eq!(all.for_url(&u("https://x.io/")), None);
}

#[test]
fn upper_case_first_no_all_proxy_and_scheme_implied() {
    let e = vars(&[
        ("https_proxy", "http://lower:1"),
        ("HTTPS_PROXY", "http://upper:2"),
        ("ALL_PROXY", "http://all:3"),
        ("http_proxy", "proxy.corp:8080"),
        ("HTTP_PROXY", ""),
    ]);
    assert_eq!(
        e.for_url(&u("https://x.io/")).as_deref(),
        Some("http://upper:2")
    );
    assert_eq!(
        e.for_url(&u("http://x.io/")).as_deref(),
        Some("http://proxy.corp:8080")
    );
    assert!(vars(&[("ALL_PROXY", "http://all:3")])
        .for_url(&u("https://x.io/"))
        .is_none());
}

#[test]
fn summary_strips_userinfo_and_names_source() {
    let e = ProxyEnv::from_vars(
        &[
            ("HTTPS_PROXY", "http://user:s3cret@proxy:3128"),
            ("NO_PROXY", "10.0.0.0/8"),
        ],
        ProxySource::Containerd { pid: 812 },
    );
    let s = e.summary();
    assert!(s.set);
    assert_eq!(s.https_proxy.as_deref(), Some("http://proxy:3128"));
    assert_eq!(s.no_proxy, ["10.0.0.0/8"]);
    assert_eq!(
        s.description,
        "proxy from containerd (pid 812): HTTPS_PROXY=http://proxy:3128 NO_PROXY=10.0.0.0/8"
    );
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["source"], "containerd");
    assert_eq!(j["pid"], 812);
    assert!(!j.to_string().contains("s3cret"), "{j}");
    let none = vars(&[]).summary();
    assert!(!none.set);
    assert_eq!(
        none.description,
        "no proxy: none set in pullcheck's environment"
    );
    assert_eq!(serde_json::to_value(&none).unwrap()["source"], "pullcheck");
}

#[test]
fn detect_reads_containerd_environ() {
    let p = fake_proc(&[
        (
            812,
            "containerd",
            b"PATH=/usr/bin\0HTTPS_PROXY=http://u:pw@proxy:3128\0no_proxy=.svc\0",
        ),
        (900, "containerd-shim", b"HTTPS_PROXY=http://other:1\0"),
    ]);
    let e = detect(p.path());
    assert_eq!(e.source(), &ProxySource::Containerd { pid: 812 });
    assert_eq!(
        e.for_url(&u("https://ghcr.io/")).as_deref(),
        Some("http://proxy:3128")
    );
    assert_eq!(e.for_url(&u("https://a.svc/")), None);
    assert!(e.summary().note.is_none());
}

#[test]
fn detect_without_proxy_vars_means_none_from_containerd() {
    let p = fake_proc(&[(5, "containerd", b"PATH=/usr/bin\0")]);
    let e = detect(p.path());
    assert_eq!(e.source(), &ProxySource::Containerd { pid: 5 });
    assert!(!e.is_set());
    assert_eq!(
        e.describe(),
        "no proxy: none set in containerd's environment (pid 5)"
    );
}

#[test]
fn detect_falls_back_with_a_note() {
    let e = detect(Path::new("/nonexistent/proc"));
    assert_eq!(e.source(), &ProxySource::Pullcheck);
    assert!(e
        .summary()
        .note
        .unwrap()
        .contains("cannot list /nonexistent/proc"));
    let p = fake_proc(&[(7, "kubelet", b"")]);
    let note = detect(p.path()).summary().note.unwrap();
    assert!(note.contains("no containerd process"), "{note}");
    // Unreadable environ (here: missing) falls back too.
    let p = fake_proc(&[(9, "containerd", b"")]);
    std::fs::remove_file(p.path().join("9/environ")).unwrap();
    let e = detect(p.path());
    assert_eq!(e.source(), &ProxySource::Pullcheck);
    assert!(e.summary().note.unwrap().contains("9/environ"));
    let p = fake_proc(&[(3, "containerd", b""), (4, "containerd", b"")]);
    assert!(detect(p.path())
        .summary()
        .note
        .unwrap()
        .contains("2 containerd processes"));
}

#[test]
fn on_a_cri_o_node_the_crio_process_s_environment_is_read() {
    let p = fake_proc(&[
        (
            700,
            "crio",
            b"HTTPS_PROXY=http://crio-proxy:3128\0NO_PROXY=.corp\0",
        ),
        (812, "containerd", b"HTTPS_PROXY=http://other:1\0"),
    ]);
    let e = detect_for(p.path(), crate::runtime::kind::RuntimeKind::Crio);
    assert_eq!(e.source(), &ProxySource::Crio { pid: 700 });
    assert!(e
        .summary()
        .description
        .starts_with("proxy from CRI-O (pid 700)"));
    assert_eq!(
        e.for_url(&u("https://quay.io/")).as_deref(),
        Some("http://crio-proxy:3128")
    );
    let none = fake_proc(&[(812, "containerd", b"")]);
    let e = detect_for(none.path(), crate::runtime::kind::RuntimeKind::Crio);
    assert!(e.summary().note.unwrap().contains("no CRI-O process"));
}
