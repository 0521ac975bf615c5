use super::*;
use std::time::Duration;

fn parse_in(dir: &Path, text: &str, registry: &str) -> Result<HostsFile> {
    parse(text, &dir.join("hosts.toml"), registry)
}

#[test]
fn hosts_in_file_order_then_server() {
    let d = Path::new("/etc/containerd/certs.d/reg.example_5000_");
    let text = r#"server = "http://reg.example:5000"
ca = "ca.crt"
[host."https://mirror-b.example"]
  capabilities = ["pull"]
  skip_verify = true
[host."https://mirror-a.example/prefix"]
  override_path = true
  client = [["c.pem", "k.pem"]]
  [host."https://mirror-a.example/prefix".header]
  x-token = "abc"
"#;
    let f = parse_in(d, text, "reg.example:5000").unwrap();
    let urls: Vec<&str> = f.hosts.iter().map(|h| h.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://mirror-b.example",
            "https://mirror-a.example/prefix",
            "http://reg.example:5000"
        ]
    );
    let (b, a, server) = (&f.hosts[0], &f.hosts[1], &f.hosts[2]);
    assert!(b.pull && !b.resolve && b.tls.skip_verify && b.mirror);
    assert_eq!(a.api_base(), "https://mirror-a.example/prefix");
    assert_eq!(a.tls.client, [(d.join("c.pem"), Some(d.join("k.pem")))]);
    assert_eq!(a.headers, [("x-token".to_string(), "abc".to_string())]);
    assert_eq!(server.tls.ca, [d.join("ca.crt")]);
    assert!(!server.mirror && server.ns.is_none() && !f.server_defaulted);
}

#[test]
fn order_follows_tables_not_names_or_earlier_mentions() {
    // The server URL also appears as a [host] key, and the names sort the other way.
    let text = r#"server = "https://z.example"
[host."https://z.example"]
[host."https://a.example"]
"#;
    let f = parse_in(Path::new("/d"), text, "z.example").unwrap();
    let urls: Vec<&str> = f.hosts.iter().map(|h| h.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://z.example",
            "https://a.example",
            "https://z.example"
        ]
    );
}

#[test]
fn ns_on_mirrors_only() {
    let text = r#"server = "https://registry-1.docker.io"
[host."https://mirror.example:5000"]
[host."https://index.docker.io"]
"#;
    let f = parse_in(Path::new("/d"), text, "docker.io").unwrap();
    assert_eq!(f.hosts[0].ns.as_deref(), Some("docker.io"));
    assert_eq!(
        f.hosts[1].ns.as_deref(),
        Some("docker.io"),
        "containerd treats index.docker.io as a mirror"
    );
    assert!(f.hosts[2].ns.is_none() && !f.hosts[2].mirror);
    // An explicit :443 is another host for containerd, as written.
    let f = parse_in(
        Path::new("/d"),
        "server = \"https://reg.example:443\"\n",
        "reg.example",
    )
    .unwrap();
    assert!(f.hosts[0].mirror);
}

#[test]
fn server_defaults_to_the_registry() {
    let f = parse_in(
        Path::new("/d"),
        "[host.\"https://m.example\"]\n",
        "docker.io",
    )
    .unwrap();
    assert!(f.server_defaulted);
    assert_eq!(f.hosts[1].url, "https://registry-1.docker.io");
    assert!(!f.hosts[1].mirror);
    let f = parse_in(Path::new("/d"), "server = \"\"\n", "ghcr.io").unwrap();
    assert!(f.server_defaulted);
    assert_eq!(f.hosts[0].url, "https://ghcr.io");
    let f = parse_in(Path::new("/d"), "server = \"mirror.example\"\n", "ghcr.io").unwrap();
    assert_eq!(
        f.hosts[0].url, "https://mirror.example",
        "https:// is implied"
    );
}

#[test]
fn dial_timeout_is_a_go_duration() {
    let text = r#"server = "https://reg.example"
dial_timeout = "500ms"
[host."https://m.example"]
  dial_timeout = "1m30s"
[host."https://n.example"]
"#;
    let f = parse_in(Path::new("/d"), text, "reg.example").unwrap();
    assert_eq!(f.hosts[0].dial_timeout, Some(Duration::from_secs(90)));
    assert_eq!(f.hosts[1].dial_timeout, None, "unset: containerd's 30 s");
    assert_eq!(f.hosts[2].dial_timeout, Some(Duration::from_millis(500)));
    for bad in ["5", "5 seconds", "-1s", "1d"] {
        let text =
            format!("server = \"https://r\"\n[host.\"https://m\"]\ndial_timeout = \"{bad}\"\n");
        let err = parse_in(Path::new("/d"), &text, "r")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dial_timeout") && err.contains("line 2") && err.contains("hosts.toml"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn client_forms_as_containerd() {
    let d = Path::new("/d");
    let one = parse_in(d, "client = \"both.pem\"\n", "r").unwrap();
    assert_eq!(one.hosts[0].tls.client, [(d.join("both.pem"), None)]);
    // A flat list is several combined files, not a (cert, key) pair.
    let list = parse_in(d, "client = [\"a.pem\", \"b.pem\"]\n", "r").unwrap();
    assert_eq!(
        list.hosts[0].tls.client,
        [(d.join("a.pem"), None), (d.join("b.pem"), None)]
    );
    let mixed = parse_in(
        d,
        "client = [[\"/c\", \"\"], \"e.pem\", [\"c\", \"/k\"]]\n",
        "r",
    )
    .unwrap();
    assert_eq!(
        mixed.hosts[0].tls.client,
        [
            (PathBuf::from("/c"), None),
            (d.join("e.pem"), None),
            (d.join("c"), Some(PathBuf::from("/k")))
        ]
    );
    assert!(parse_in(d, "client = [[\"a\"]]\n", "r").is_err());
    assert!(parse_in(d, "client = 3\n", "r").is_err());
}

#[test]
fn capabilities_are_case_insensitive_and_unknown_keys_noted() {
    let text = r#"server = "https://r.example"
capabilites = ["pull"]
[host."https://m.example"]
  capabilities = ["PULL", "Resolve"]
  skipverify = true
"#;
    let f = parse_in(Path::new("/d"), text, "r.example").unwrap();
    assert!(f.hosts[0].pull && f.hosts[0].resolve && !f.hosts[0].tls.skip_verify);
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
    assert!(f.notes.iter().any(|n| n.contains("`capabilites`")));
    assert!(f
        .notes
        .iter()
        .any(|n| n.contains("`skipverify`") && n.contains("[host.\"https://m.example\"]")));
}

#[test]
fn errors_name_file_and_line() {
    let d = Path::new("/etc/containerd/certs.d/reg.example");
    let err = |text: &str| parse_in(d, text, "reg.example").unwrap_err().to_string();
    let e = err("server = \"https://x\"\nskip_verify = \"yes\"\n");
    assert!(
        e.contains("/etc/containerd/certs.d/reg.example/hosts.toml") && e.contains("line 2"),
        "{e}"
    );
    let e = err("server = \"ftp://x\"\n");
    assert!(e.contains("scheme") && e.contains("line 1"), "{e}");
    let e = err("\n[host.\"https://m\"]\ncapabilities = [\"fly\"]\n");
    assert!(e.contains("line 2") && e.contains("\"fly\""), "{e}");
    let e = err("server = [\n");
    assert!(e.contains("line 1") || e.contains("line 2"), "{e}");
}

#[test]
fn read_names_missing_file() {
    let err = read(Path::new("/nonexistent/hosts.toml"), "r").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/hosts.toml"));
}
