use super::*;

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
