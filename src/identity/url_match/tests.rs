use super::*;

#[test]
fn keys_normalise_like_basic_docker_keyring_add() {
    for (entry, key) in [
        ("https://index.docker.io/v1/", Some("index.docker.io")),
        ("index.docker.io", Some("index.docker.io")),
        ("registry.io:5000", Some("registry.io:5000")),
        ("http://registry.io/v2/team", Some("registry.io/team")),
        ("registry.io/v1/team/app", Some("registry.io/team/app")),
        // Only a leading /v1/ or /v2/ is stripped, a trailing slash is kept.
        ("registry.io/team/", Some("registry.io/team/")),
        ("registry.io/v2", Some("registry.io/v2")),
        ("registry.io/", Some("registry.io")),
        ("*.gcr.io", Some("*.gcr.io")),
        // Go keeps the default port and the host's case.
        ("https://registry.io:443", Some("registry.io:443")),
        ("Registry.IO", Some("Registry.IO")),
        // Userinfo, query and fragment are dropped.
        ("https://u:p@registry.io/x?y=1#z", Some("registry.io/x")),
        ("registry.io/a%2Fb", Some("registry.io/a/b")),
        // Go refuses these: the kubelet ignores the entry.
        ("registry.io:port", None),
        ("bad host.io", None),
        ("registry.io/%zz", None),
        ("registry\u{7f}.io", None),
        ("[::1", None),
    ] {
        assert_eq!(normalize_key(entry).as_deref(), key, "{entry}");
    }
}

#[test]
fn ports_must_be_equal() {
    assert!(urls_match("registry.io", "registry.io/a/b"));
    assert!(!urls_match("registry.io", "registry.io:5000/a"));
    assert!(!urls_match("registry.io:5000", "registry.io/a"));
    assert!(urls_match("registry.io:5000", "registry.io:5000/a"));
    assert!(!urls_match("registry.io:5000", "registry.io:5001/a"));
    assert!(
        !urls_match("registry.io:443", "registry.io/a"),
        "no default port"
    );
    assert!(urls_match("[::1]:5000", "[::1]:5000/a"));
    assert!(urls_match("127.0.0.1:5000", "127.0.0.1:5000/a"));
}

#[test]
fn label_counts_and_per_label_globs() {
    assert!(urls_match("*.gcr.io", "eu.gcr.io/p/i"));
    assert!(!urls_match("*.gcr.io", "gcr.io/p/i"), "label counts differ");
    assert!(!urls_match("*.io", "a.b.io/x"), "a glob never spans a dot");
    assert!(urls_match(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
    ));
    assert!(!urls_match(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn/app"
    ));
    assert!(!urls_match("*.dkr.ecr.*.amazonaws.com", "public.ecr.aws/x"));
    assert!(urls_match("reg[0-9].io", "reg1.io/x"));
    assert!(!urls_match("reg[^0-9].io", "reg1.io/x"));
    // '?' starts the URL query: the host is cut there, so a '?' glob never matches.
    assert!(!urls_match("reg?.io", "regx.io/x"));
    assert!(
        !urls_match("REGISTRY.io", "registry.io/x"),
        "case-sensitive"
    );
}

#[test]
fn docker_hub_keys() {
    // registry-1.docker.io has three labels: it never matches docker.io images.
    assert!(!urls_match(
        "registry-1.docker.io",
        "docker.io/library/nginx"
    ));
    assert!(!urls_match("index.docker.io", "docker.io/library/nginx"));
    assert!(urls_match("docker.io", "docker.io/library/nginx"));
    assert!(urls_match("docker.io/library", "docker.io/library/nginx"));
}

#[test]
fn key_path_is_a_string_prefix() {
    assert!(urls_match("registry.io/team", "registry.io/team/app"));
    assert!(!urls_match("registry.io/team", "registry.io/other/app"));
    // A plain string prefix, as in Go: /team matches /teamwork too.
    assert!(urls_match("registry.io/team", "registry.io/teamwork/app"));
    assert!(!urls_match("registry.io/team/", "registry.io/teamwork/app"));
    assert!(!urls_match(
        "registry.io/team/app/x",
        "registry.io/team/app"
    ));
}

#[test]
fn go_split_host_port_quirk_with_classes_and_ports() {
    // Go's SplitHostPort refuses '[' outside an IPv6 literal, so the port is not split off
    // and the key can never match a host with a port.
    assert_eq!(split_host_port("reg[0-9].io:5000"), None);
    assert!(!urls_match("reg[0-9].io:5000", "reg1.io:5000/x"));
    assert_eq!(split_host_port("a.io:80"), Some(("a.io", "80")));
    assert_eq!(split_host_port("a.io"), None);
    assert_eq!(split_host_port("a:b:c"), None);
    assert_eq!(split_host_port("[::1]:5000"), Some(("::1", "5000")));
    assert_eq!(split_host_port("a.io:"), Some(("a.io", "")));
}

#[test]
fn filepath_match_is_gos() {
    let m = |p: &str, n: &str| filepath_match(p, n);
    assert_eq!(m("*", "abc"), Ok(true));
    assert_eq!(m("a*c", "abbbc"), Ok(true));
    assert_eq!(m("a*c", "abbbd"), Ok(false));
    assert_eq!(m("a*b*c", "axxbyyc"), Ok(true));
    assert_eq!(m("*x", "xxx"), Ok(true));
    assert_eq!(m("[a-c]x", "bx"), Ok(true));
    assert_eq!(m("[^a-c]x", "bx"), Ok(false));
    assert_eq!(m("[!a]x", "!x"), Ok(true), "'!' is not negation in Go");
    assert_eq!(m("\\*", "*"), Ok(true));
    assert_eq!(m("\\*", "a"), Ok(false));
    assert_eq!(m("a?c", "abc"), Ok(true));
    assert_eq!(m("a?c", "ac"), Ok(false));
    assert_eq!(m("", ""), Ok(true));
    assert_eq!(m("", "a"), Ok(false));
    // Bad patterns are errors, even when the name does not get that far.
    assert_eq!(m("[", "a"), Err(BadPattern));
    assert_eq!(m("[]a]", "a"), Err(BadPattern));
    assert_eq!(m("a[", "b"), Err(BadPattern));
    assert_eq!(m("x*[", "xyz"), Err(BadPattern));
    assert_eq!(m("\\", "a"), Err(BadPattern));
    assert!(!urls_match("[.io", "a.io/x"), "a bad pattern never matches");
}

#[test]
fn go_url_parse_subset() {
    let u = parse_go_url("https://user@h.io:5000/a%20b?q#f").unwrap();
    assert_eq!(u.host, "h.io:5000");
    assert_eq!(u.path, "/a b");
    assert!(parse_go_url("https://h.io:x").is_err());
    assert!(parse_go_url("https://h{.io").is_err());
    assert!(parse_go_url("https://h.io\n").is_err());
    assert_eq!(parse_go_url("https://h.io:").unwrap().host, "h.io:");
    assert_eq!(parse_go_url("https://").unwrap().host, "");
}
