//! CRI-O's pull path against containers/image itself. Debian's skopeo is built on
//! containers/image, the library CRI-O pulls with: `skopeo copy docker://… dir:…` with the
//! registries.conf and certs a test writes fails with exactly the errors CRI-O returns, and
//! resolves mirrors as CRI-O does. For every bed scenario the test checks
//! - the verdict of `pullcheck probe --runtime-kind crio` reading the same files;
//! - `explain` of skopeo's error, as CRI-O returns it and as the kubelet wraps it;
//! - for the mirror cases, the host skopeo's debug log used against the host the probe reports.
//!
//! `PULLCHECK_RECORD_MESSAGES=DIR` writes each error with explain's verdict to
//! `DIR/containers-image-skopeo-<version>-messages.tsv`, the fixture the classifier's unit tests
//! read (`tests/fixtures/`).

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::*;

/// One node's CRI-O files: registries.conf, a certs.d root, policy.json and registries.d.
struct Node {
    _dir: tempfile::TempDir,
    conf: PathBuf,
    certs: PathBuf,
    policy: PathBuf,
    registries_d: PathBuf,
}

/// The policy CRI-O's packages install: accept anything.
const ACCEPT: &str = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;

/// registries.conf entries marking the bed's plain-HTTP registries insecure (CRI-O speaks
/// HTTPS to every registry unless told).
fn insecure_bed() -> String {
    let b = bed();
    ["plain", "token", "fronts", "closed", "hang"]
        .iter()
        .map(|n| {
            format!(
                "[[registry]]\nlocation = \"{}\"\ninsecure = true\n\n",
                b.addr(n)
            )
        })
        .collect()
}

impl Node {
    fn new(conf: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.conf");
        std::fs::write(&path, conf).unwrap();
        let certs = dir.path().join("certs.d");
        std::fs::create_dir(&certs).unwrap();
        let policy = dir.path().join("policy.json");
        std::fs::write(&policy, ACCEPT).unwrap();
        let registries_d = dir.path().join("registries.d");
        std::fs::create_dir(&registries_d).unwrap();
        Node {
            conf: path,
            certs,
            policy,
            registries_d,
            _dir: dir,
        }
    }

    /// `certs.d/<host>/` with the bed's CA (and its client certificate pair when `client`).
    fn trust(&self, host: &str, client: bool) -> PathBuf {
        let d = self.certs.join(host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(bed().str("ca"), d.join("ca.crt")).unwrap();
        if client {
            std::fs::copy(bed().str("client_cert"), d.join("client.cert")).unwrap();
            std::fs::copy(bed().str("client_key"), d.join("client.key")).unwrap();
        }
        d
    }
}

/// What skopeo did.
struct Copied {
    /// The fatal error, unquoted; `None`: the copy succeeded.
    error: Option<String>,
    /// `host[:port]` of every source it tried, in order (its debug log's `Trying to access`).
    tried: Vec<String>,
    log: String,
}

/// Go's `strconv.Quote` undone for logrus's `msg="…"`.
fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The test's registries.conf and skopeo's per-user drop-in directory, as CRI-O's defaults.
fn default_paths(message: &str) -> String {
    let mut out = String::new();
    for word in message.split_inclusive(' ') {
        let w = word.trim_end().trim_matches('"');
        if w.ends_with("/registries.conf") {
            out.push_str(&word.replacen(w, "/etc/containers/registries.conf", 1));
        } else if w.ends_with("/registries.conf.d") {
            out.push_str(&word.replacen(w, "/etc/containers/registries.conf.d", 1));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn skopeo(node: &Node, image: &str, cert_dir: Option<&Path>, creds: Option<&str>) -> Copied {
    skopeo_with(node, image, cert_dir, creds, &[])
}

fn skopeo_with(
    node: &Node,
    image: &str,
    cert_dir: Option<&Path>,
    creds: Option<&str>,
    extra: &[&str],
) -> Copied {
    let dest = tempfile::tempdir().unwrap();
    let dir_arg = format!("dir:{}", dest.path().join("image").display());
    let src = format!("docker://{image}");
    let conf = node.conf.display().to_string();
    let policy = node.policy.display().to_string();
    let registries_d = node.registries_d.display().to_string();
    let mut args = vec![
        "--debug",
        "--registries-conf",
        &conf,
        "--policy",
        &policy,
        "--registries.d",
        &registries_d,
        "copy",
        "--command-timeout",
        "20s",
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
    ];
    let cert = cert_dir.map(|d| format!("--src-cert-dir={}", d.display()));
    if let Some(c) = &cert {
        args.push(c);
    }
    let creds_arg = creds.map(|c| format!("--src-creds={c}"));
    if let Some(c) = &creds_arg {
        args.push(c);
    }
    args.extend_from_slice(extra);
    args.extend([src.as_str(), dir_arg.as_str()]);
    let run = run_program("skopeo", &args, None);
    let mut tried = Vec::new();
    let mut error = None;
    for line in run.stderr.lines() {
        if let Some(rest) = line.split("msg=\"Trying to access \\\"").nth(1) {
            let host = rest.split('/').next().unwrap_or("").to_string();
            tried.push(host);
        }
        if line.contains("level=fatal") {
            let msg = line
                .split_once("msg=\"")
                .map(|(_, m)| m.strip_suffix('"').unwrap_or(m))
                .unwrap_or(line);
            error = Some(unquote(msg));
        }
    }
    if run.code != 0 && error.is_none() {
        error = Some(run.stderr.lines().last().unwrap_or("").to_string());
    }
    Copied {
        error,
        tried,
        log: run.stderr,
    }
}

fn probe_crio(node: &Node, image: &str, creds: Option<(&str, &str)>) -> (Run, Value) {
    probe_crio_with(node, image, creds, &[])
}

fn probe_crio_with(
    node: &Node,
    image: &str,
    creds: Option<(&str, &str)>,
    extra: &[&str],
) -> (Run, Value) {
    let run = probe_crio_run(node, image, creds, extra);
    let r = run.json();
    (run, r)
}

fn probe_crio_run(node: &Node, image: &str, creds: Option<(&str, &str)>, extra: &[&str]) -> Run {
    let conf = node.conf.display().to_string();
    let certs = node.certs.display().to_string();
    let policy = node.policy.display().to_string();
    let registries_d = node.registries_d.display().to_string();
    // The node's generated alias file: none, unless a test writes one.
    let aliases = node.conf.with_file_name("short-name-aliases.conf");
    let aliases = aliases.display().to_string();
    let mut args = vec![
        "probe",
        image,
        "-o",
        "json",
        "--runtime-kind",
        "crio",
        "--registries-conf",
        &conf,
        "--containers-certs-dir",
        &certs,
        "--signature-policy",
        &policy,
        "--registries-d",
        &registries_d,
        "--short-name-aliases",
        &aliases,
        "--platform",
        "linux/amd64",
        "--timeout",
        "3s",
    ];
    args.extend_from_slice(extra);
    let stdin = creds.map(|(u, p)| {
        args.extend(["--username", u, "--password-stdin"]);
        format!("{p}\n")
    });
    pullcheck(&args, stdin.as_deref(), &[])
}

/// explain's verdict of an error as CRI-O returns it, checked in the kubelet's wrapping too.
fn explained(message: &str) -> String {
    let bare = pullcheck(&["explain", "-o", "json", "-"], Some(message), &[]).json();
    let event = format!("Failed to pull image \"x\": rpc error: code = Unknown desc = {message}");
    let wrapped = pullcheck(&["explain", "-o", "json", "-"], Some(&event), &[]).json();
    assert_eq!(bare["verdict"], wrapped["verdict"], "{message}");
    bare["verdict"].as_str().unwrap().to_string()
}

/// With `PULLCHECK_RECORD_MESSAGES=DIR`, appends explain's verdict and the message. The test's
/// files are named by CRI-O's default paths in the recording (the rest is as skopeo said it).
fn record(verdict: &str, message: &str) {
    record_from("skopeo", verdict, message)
}

/// [`record`] for a message `tool` (skopeo or podman) printed.
fn record_from(tool: &str, verdict: &str, message: &str) {
    let message = default_paths(message);
    let Some(dir) = std::env::var_os("PULLCHECK_RECORD_MESSAGES") else {
        return;
    };
    use std::io::Write;
    let version = run_program(tool, &["--version"], None)
        .stdout
        .split_whitespace()
        .last()
        .unwrap_or("unknown")
        .to_string();
    let path = Path::new(&dir).join(format!("containers-image-{tool}-{version}-messages.tsv"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "{verdict}\tUnknown\t{}", message.replace('\n', "\\n")).unwrap();
}

/// A scenario: the image, what trusts it, the credentials, and the verdicts.
struct Case<'a> {
    image: String,
    cert: Option<(String, bool)>,
    creds: Option<(&'a str, &'a str)>,
    /// The probe's verdict.
    probe: &'a str,
    /// explain's verdict of skopeo's error (`ok`: skopeo succeeds), when it differs from the
    /// probe's: containers/image says less than the probe finds.
    explain: Option<&'a str>,
}

fn case<'a>(image: String, probe: &'a str) -> Case<'a> {
    Case {
        image,
        cert: None,
        creds: None,
        probe,
        explain: None,
    }
}

fn check(node: &Node, c: &Case<'_>) {
    let cert_dir = c
        .cert
        .as_ref()
        .map(|(host, client)| node.trust(host, *client));
    let creds = c.creds.map(|(u, p)| format!("{u}:{p}"));
    let copied = skopeo(node, &c.image, cert_dir.as_deref(), creds.as_deref());
    let (run, r) = probe_crio(node, &c.image, c.creds);
    assert_eq!(
        r["verdict"], c.probe,
        "{}: the probe\n{}",
        c.image, run.stdout
    );
    assert_eq!(r["runtimeKind"]["kind"], "crio");
    let want = c.explain.unwrap_or(c.probe);
    match &copied.error {
        None => assert_eq!(want, "ok", "{}: skopeo pulled it\n{}", c.image, copied.log),
        Some(message) => {
            assert_ne!(want, "ok", "{}: skopeo failed: {message}", c.image);
            let got = explained(message);
            assert_eq!(got, want, "{}: explain of {message:?}", c.image);
            record(&got, message);
        }
    }
    // The next case sees the node without this case's certificates.
    if let Some(d) = cert_dir {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn every_scenario_gets_the_verdict_containers_image_gives() {
    let b = bed();
    let node = Node::new(&insecure_bed());
    let (plain, token, fronts) = (b.addr("plain"), b.addr("token"), b.addr("fronts"));
    let (user, pw) = (b.user(), b.password());
    let tls = format!("localhost:{}", b.port("tls"));
    let mut cases = vec![
        case(format!("{plain}/app:amd64"), "ok"),
        case(format!("{plain}/app:both"), "ok"),
        case(format!("{plain}/app:arm64single"), "ok"),
        case(format!("{plain}/app:nope"), "manifest_unknown"),
        // containers/image reports a missing repository as `manifest unknown`; the probe's
        // tag listing tells the two apart.
        Case {
            explain: Some("manifest_unknown"),
            ..case(format!("{plain}/nope/app:v1"), "repository_unknown")
        },
        case(format!("{plain}/app:armonly"), "platform_mismatch"),
        case(format!("{plain}/lost/app:v1"), "blob_unknown"),
        case(format!("{}/app:v1", b.addr("closed")), "connection_refused"),
        case("nosuch.registry.test:5000/app:v1".into(), "dns_failure"),
        case(format!("{token}/public/app:both"), "ok"),
        case(
            format!("{token}/private/app:both"),
            "not_found_or_unauthorized",
        ),
        Case {
            creds: Some((&user, &pw)),
            ..case(format!("{token}/private/app:both"), "ok")
        },
        Case {
            creds: Some((&user, "wrong")),
            ..case(format!("{token}/private/app:both"), "unauthorized")
        },
        Case {
            cert: Some((tls.clone(), false)),
            ..case(format!("{tls}/app:amd64"), "unauthorized")
        },
        Case {
            cert: Some((tls.clone(), false)),
            creds: Some((&user, &pw)),
            ..case(format!("{tls}/app:amd64"), "ok")
        },
        case(format!("{tls}/app:amd64"), "tls_unknown_authority"),
        case(
            format!("localhost:{}/app:amd64", b.port("plain")),
            "http_registry",
        ),
    ];
    for (port, verdict) in [
        ("expired", "tls_certificate_expired"),
        ("wrongname", "tls_hostname_mismatch"),
    ] {
        for host in ["127.0.0.1", "localhost"] {
            let h = format!("{host}:{}", b.port(port));
            cases.push(Case {
                cert: Some((h.clone(), false)),
                ..case(format!("{h}/app:amd64"), verdict)
            });
        }
    }
    let mtls = format!("localhost:{}", b.port("mtls"));
    cases.push(Case {
        cert: Some((mtls.clone(), true)),
        ..case(format!("{mtls}/app:amd64"), "ok")
    });
    for (path, verdict, explain) in [
        ("denied/app:v1", "forbidden", None),
        ("expired/app:v1", "credentials_expired", None),
        ("gar/app:v1", "not_found_or_unauthorized", None),
        ("ecrmissing/app:v1", "repository_unknown", None),
        ("unavailable/app:v1", "registry_error", None),
        ("internal/app:v1", "registry_error", None),
        ("schema1/app:v1", "unsupported_manifest", None),
        ("huge/app:v1", "registry_error", None),
        ("garbage/app:v1", "registry_error", None),
        // containers/image does not check a tag's manifest against Docker-Content-Digest: it
        // fails later, on the config the altered manifest names.
        ("tampered/app:v1", "digest_mismatch", Some("blob_unknown")),
        ("layerdns/app:amd64", "dns_failure", None),
        ("layerrefused/app:amd64", "connection_refused", None),
        // The fronts are `insecure` (plain HTTP): containers/image pings both schemes with one
        // client whose verification is off, so the https storage host's unknown CA does not
        // stop it (containerd, with `server = "http://…"`, verifies it: runtime_containerd).
        ("layertls/app:amd64", "ok", None),
        ("layer403/app:amd64", "blob_denied", None),
        // Only the layer goes to storage (the registry serves the config, as ECR and GAR do).
        ("storedns/app:amd64", "dns_failure", None),
        ("storerefused/app:amd64", "connection_refused", None),
        ("storetls/app:amd64", "ok", None),
        ("layerloop/app:amd64", "registry_error", None),
    ] {
        cases.push(Case {
            explain,
            ..case(format!("{fronts}/{path}"), verdict)
        });
    }
    for c in &cases {
        check(&node, c);
    }
}

/// Go's readings of odd input (scripts/testbed.py's ODD_CASES), as containers/image (Go's
/// encoding/json and net/url too) reads them: duplicate keys, keys in other cases or spelt
/// with `ſ`, and a blob redirect with raw UTF-8 in its Location pull; so does a layer of size
/// `-0` (0 for Go), which containerd refuses to fetch (runtime_containerd) and skopeo fetches.
#[test]
fn go_json_and_url_rules_as_containers_image_reads_them() {
    let node = Node::new(&insecure_bed());
    let fronts = bed().addr("fronts");
    for (path, verdict) in [
        ("dupkeys/app:v1", "ok"),
        ("capkeys/app:v1", "ok"),
        ("foldkeys/app:v1", "ok"),
        ("locutf8/app:v1", "ok"),
        ("negzero/app:v1", "ok"),
    ] {
        check(&node, &case(format!("{fronts}/{path}"), verdict));
    }
}

/// Go's certificate rules, as containers/image applies them: a self-signed certificate marked
/// CA:TRUE (the `openssl req -x509` recipe) in the host's certs.d is the registry's own and
/// pulls; a CA:TRUE leaf signed by a trusted CA pulls too. The Rust verifier refuses both
/// (a CA used as an end entity); the probe follows Go.
#[test]
fn a_ca_certificate_served_as_the_registry_s_own_pulls_as_containers_image_pulls() {
    let b = bed();
    let node = Node::new(&insecure_bed());
    let selfsigned = format!("localhost:{}", b.port("selfsigned"));
    let dir = node.certs.join(&selfsigned);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(b.str("selfsigned_cert"), dir.join("ca.crt")).unwrap();
    let image = format!("{selfsigned}/app:amd64");
    let copied = skopeo(&node, &image, Some(&dir), None);
    assert!(copied.error.is_none(), "skopeo pulls: {}", copied.log);
    let (run, r) = probe_crio(&node, &image, None);
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    std::fs::remove_dir_all(&dir).unwrap();

    let caleaf = format!("localhost:{}", b.port("caleaf"));
    let dir = node.trust(&caleaf, false);
    let image = format!("{caleaf}/app:amd64");
    let copied = skopeo(&node, &image, Some(&dir), None);
    assert!(copied.error.is_none(), "skopeo pulls: {}", copied.log);
    let (run, r) = probe_crio(&node, &image, None);
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
}

/// What podman (containers/image's `shortnames.Resolve`, the code CRI-O resolves with) did
/// with a short name.
struct Pulled {
    /// How it resolved the name (`Resolved "x" as an alias (…)` or `Resolving "x" using
    /// unqualified-search registries (…)`).
    resolution: Option<String>,
    /// The candidates it pulled, in order.
    tried: Vec<String>,
    /// The error CRI-O would return: the last candidate's (podman lists them all).
    error: Option<String>,
    log: String,
}

/// `podman pull` with the node's registries.conf, in a throwaway store. CRI-O forces
/// `short-name-mode = "disabled"`; the test's files say so for podman.
fn podman(node: &Node, image: &str) -> Pulled {
    let store = tempfile::tempdir().unwrap();
    let root = store.path().join("root").display().to_string();
    let run_root = store.path().join("run").display().to_string();
    let policy = node.policy.display().to_string();
    let conf = node.conf.display().to_string();
    let run = run_with_env(
        "podman",
        &[
            "--root",
            &root,
            "--runroot",
            &run_root,
            "--storage-driver",
            "vfs",
            "pull",
            "--signature-policy",
            &policy,
            "--arch",
            "amd64",
            "--os",
            "linux",
            image,
        ],
        None,
        &[("CONTAINERS_REGISTRIES_CONF", &conf)],
    );
    let text = format!("{}{}", run.stdout, run.stderr);
    let mut tried = Vec::new();
    let mut resolution = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Trying to pull ") {
            tried.push(rest.trim_end_matches("...").to_string());
        }
        if line.starts_with("Resolved ") || line.starts_with("Resolving ") {
            resolution = Some(line.to_string());
        }
    }
    let error = (run.code != 0).then(|| {
        let after = text.split_once("Error: ").map_or(text.as_str(), |(_, e)| e);
        match after.rsplit_once("\n * ") {
            Some((_, last)) => last.trim_end().to_string(),
            None => after.trim_end().to_string(),
        }
    });
    Pulled {
        resolution,
        tried,
        error,
        log: text,
    }
}

#[test]
fn short_names_resolve_as_containers_image_resolves_them() {
    let b = bed();
    let (plain, closed) = (b.addr("plain"), b.addr("closed"));
    let base = format!("short-name-mode = \"disabled\"\n\n{}", insecure_bed());
    struct Short<'a> {
        conf: String,
        image: &'a str,
        /// The reference the pull comes from (`None`: every candidate fails).
        from: Option<String>,
        resolved_by: &'a str,
        verdict: &'a str,
    }
    let cases = [
        // The first search registry refuses connections, the second has it.
        Short {
            conf: format!("unqualified-search-registries = [\"{closed}\", \"{plain}\"]\n{base}"),
            image: "app:amd64",
            from: Some(format!("{plain}/app:amd64")),
            resolved_by: "search_registries",
            verdict: "ok",
        },
        // An alias wins over the search registries (which would fail).
        Short {
            conf: format!(
                "unqualified-search-registries = [\"{closed}\"]\n{base}\n[aliases]\n\"pullcheck-app\" = \"{plain}/app\"\n"
            ),
            image: "pullcheck-app:both",
            from: Some(format!("{plain}/app:both")),
            resolved_by: "alias",
            verdict: "ok",
        },
        // Every candidate fails: CRI-O returns the last one's error.
        Short {
            conf: format!("unqualified-search-registries = [\"{closed}\", \"{plain}\"]\n{base}"),
            image: "app:nope",
            from: None,
            resolved_by: "search_registries",
            verdict: "manifest_unknown",
        },
        Short {
            conf: format!("unqualified-search-registries = [\"{plain}\", \"{closed}\"]\n{base}"),
            image: "app:nope",
            from: None,
            resolved_by: "search_registries",
            verdict: "connection_refused",
        },
        // The path of a repository under a search registry.
        Short {
            conf: format!("unqualified-search-registries = [\"{plain}\"]\n{base}"),
            image: "lost/app:v1",
            from: None,
            resolved_by: "search_registries",
            verdict: "blob_unknown",
        },
    ];
    for c in &cases {
        let node = Node::new(&c.conf);
        let pulled = podman(&node, c.image);
        let (run, r) = probe_crio(&node, c.image, None);
        let sn = &r["shortName"];
        assert_eq!(
            sn["resolvedBy"], c.resolved_by,
            "{}\n{}",
            c.image, run.stdout
        );
        let probed: Vec<String> = sn["tried"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["reference"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            probed, pulled.tried,
            "{}: the candidates in podman's order\n{}",
            c.image, pulled.log
        );
        let said = pulled.resolution.as_deref().unwrap_or("");
        let word = if c.resolved_by == "alias" {
            "as an alias"
        } else {
            "using unqualified-search registries"
        };
        assert!(said.contains(word), "{}: {said}", c.image);
        assert_eq!(r["verdict"], c.verdict, "{}\n{}", c.image, run.stdout);
        match (&c.from, &pulled.error) {
            (Some(from), None) => {
                assert_eq!(pulled.tried.last(), Some(from), "{}", pulled.log);
                assert_eq!(r["normalized"], from.as_str());
            }
            (None, Some(message)) => {
                let got = explained(message);
                assert_eq!(got, c.verdict, "{}: explain of {message:?}", c.image);
                record_from("podman", &got, message);
            }
            _ => panic!("{}: podman did not do as expected\n{}", c.image, pulled.log),
        }
    }
}

#[test]
fn a_short_name_nothing_resolves_is_refused_as_cri_o_refuses_it() {
    for conf in [
        format!("unqualified-search-registries = []\n{}", insecure_bed()),
        insecure_bed(),
    ] {
        let node = Node::new(&conf);
        let pulled = podman(&node, "pullcheck-nowhere:v1");
        let message = pulled.error.expect("podman refuses it");
        let (run, r) = probe_crio(&node, "pullcheck-nowhere:v1", None);
        assert_eq!(r["verdict"], "short_name_unresolved", "{}", run.stdout);
        assert_eq!(run.code, 11);
        // The probe says CRI-O's own words.
        assert!(
            r["reason"].as_str().unwrap().contains(&message),
            "{message:?} in {}",
            r["reason"]
        );
        assert!(r["evidence"].as_array().unwrap().is_empty());
        assert_eq!(explained(&message), "short_name_unresolved");
        record_from("podman", "short_name_unresolved", &message);
    }
}

/// The host the probe's winning (or last) attempt used, as `host[:port]`.
fn probe_host(r: &Value) -> String {
    let attempts = r["attempts"].as_array().unwrap();
    let a = attempts
        .iter()
        .find(|a| a["verdict"] == "ok")
        .or(attempts.last())
        .unwrap();
    let url = a["host"].as_str().unwrap();
    url.split_once("://").map_or(url, |(_, h)| h).to_string()
}

#[test]
fn mirrors_resolve_as_containers_image_resolves_them() {
    let b = bed();
    let (plain, token, closed) = (b.addr("plain"), b.addr("token"), b.addr("closed"));
    let digest = probe_crio(
        &Node::new(&insecure_bed()),
        &format!("{plain}/app:both"),
        None,
    )
    .1["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let conf = format!(
        "{}
[[registry]]
prefix = \"mirrored.test/team\"
location = \"{closed}/nothing\"

[[registry.mirror]]
location = \"{closed}\"
insecure = true

[[registry.mirror]]
location = \"{token}/public\"
insecure = true

[[registry]]
prefix = \"digests.test/team\"
location = \"{plain}\"
insecure = true

[[registry.mirror]]
location = \"{token}/public\"
insecure = true
pull-from-mirror = \"digest-only\"

[[registry]]
prefix = \"bydigest.test\"
location = \"{plain}\"
insecure = true
mirror-by-digest-only = true

[[registry.mirror]]
location = \"{token}/public\"
insecure = true

[[registry]]
prefix = \"blocked.test\"
location = \"blocked.test\"
blocked = true

[[registry]]
location = \"blockedsrc.test\"
blocked = true

[[registry.mirror]]
location = \"{token}/public\"
insecure = true
",
        insecure_bed()
    );
    let node = Node::new(&conf);
    for (image, used) in [
        // The first mirror refuses: both go on to the second (which rewrites the path).
        ("mirrored.test/team/app:both".to_string(), token.clone()),
        // A digest-only mirror is skipped for a tag, used for a digest.
        ("digests.test/team/app:both".to_string(), plain.clone()),
        (format!("digests.test/team/app@{digest}"), token.clone()),
        ("bydigest.test/app:both".to_string(), plain.clone()),
        (format!("bydigest.test/app@{digest}"), token.clone()),
        // A blocked registry's mirror still serves it (the block applies to the source).
        ("blockedsrc.test/app:both".to_string(), token.clone()),
    ] {
        let copied = skopeo(&node, &image, None, None);
        assert!(
            copied.error.is_none(),
            "{image}: {:?}\n{}",
            copied.error,
            copied.log
        );
        let (run, r) = probe_crio(&node, &image, None);
        assert_eq!(r["verdict"], "ok", "{image}\n{}", run.stdout);
        assert_eq!(
            copied.tried.last(),
            Some(&used),
            "{image}: skopeo tried {:?}",
            copied.tried
        );
        assert_eq!(probe_host(&r), used, "{image}: the probe\n{}", run.stdout);
    }
    // Blocked: neither sends a request; the probe names the file and line.
    let copied = skopeo(&node, "blocked.test/app:both", None, None);
    let message = copied.error.expect("skopeo refuses a blocked registry");
    assert_eq!(explained(&message), "registry_blocked", "{message}");
    record("registry_blocked", &message);
    let (run, r) = probe_crio(&node, "blocked.test/app:both", None);
    assert_eq!(r["verdict"], "registry_blocked", "{}", run.stdout);
    assert_eq!(run.code, 11);
    let line = conf.lines().position(|l| l == "blocked = true").unwrap() + 1;
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("registries.conf:{line}")),
        "{}",
        r["reason"]
    );
}

#[test]
fn a_registries_conf_crio_would_refuse_is_named_with_its_line() {
    let node = Node::new("[[registry]]\nlocation = \"a.test\"\nblocked = \"yes\"\n");
    let (run, _) = {
        let conf = node.conf.display().to_string();
        let run = pullcheck(
            &[
                "probe",
                "a.test/x:1",
                "--runtime-kind",
                "crio",
                "--registries-conf",
                &conf,
            ],
            None,
            &[],
        );
        (run, ())
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert!(
        run.stderr.contains("CRI-O refuses to start"),
        "{}",
        run.stderr
    );
    // skopeo (containers/image) refuses the same file.
    let copied = skopeo(&node, "a.test/x:1", None, None);
    assert!(copied.error.is_some(), "{}", copied.log);
}

fn auth_json(entries: &[(&str, &str, &str)]) -> String {
    use base64::Engine;
    let auths: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(key, user, pw)| {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
            (key.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    serde_json::json!({ "auths": auths }).to_string()
}

#[test]
fn crio_s_auth_file_is_read_most_specific_first_as_containers_image_reads_it() {
    let b = bed();
    let token = b.addr("token");
    let (user, pw) = (b.user(), b.password());
    let node = Node::new(&insecure_bed());
    let auth = node.certs.with_file_name("auth.json");
    let auth_s = auth.display().to_string();
    let image = format!("{token}/private/app:both");
    let repo_key = format!("{token}/private/app");
    for (entries, verdict) in [
        (vec![(token.as_str(), user.as_str(), pw.as_str())], "ok"),
        // The repository's own key wins over the registry's, right or wrong.
        (
            vec![
                (token.as_str(), user.as_str(), pw.as_str()),
                (repo_key.as_str(), user.as_str(), "wrong"),
            ],
            "unauthorized",
        ),
        (
            vec![
                (token.as_str(), user.as_str(), "wrong"),
                (repo_key.as_str(), user.as_str(), pw.as_str()),
            ],
            "ok",
        ),
    ] {
        std::fs::write(&auth, auth_json(&entries)).unwrap();
        let copied = skopeo_with(&node, &image, None, None, &["--authfile", &auth_s]);
        let (run, r) = probe_crio_with(&node, &image, None, &["--crio-auth-file", &auth_s]);
        assert_eq!(r["verdict"], verdict, "{entries:?}\n{}", run.stdout);
        match copied.error {
            None => assert_eq!(verdict, "ok", "{entries:?}: skopeo pulled it"),
            Some(m) => assert_eq!(explained(&m), verdict, "{entries:?}: {m}"),
        }
        if verdict == "ok" {
            assert_eq!(
                r["identity"]["source"]["kind"], "crioAuthFile",
                "{}",
                r["identity"]
            );
        }
    }
}

#[test]
fn the_kubelet_s_credentials_stay_off_a_mirror_on_another_domain() {
    // The pod's credentials are for the image's registry; CRI-O does not send them to a mirror
    // on another domain, so the private mirror refuses, and the registry's own error (here:
    // nothing listens) is the one CRI-O reports.
    let b = bed();
    let (token, closed) = (b.addr("token"), b.addr("closed"));
    let (user, pw) = (b.user(), b.password());
    let conf = format!(
        "{}[[registry]]\nprefix = \"private.test\"\nlocation = \"{closed}/private\"\n\n[[registry.mirror]]\nlocation = \"{token}/private\"\ninsecure = true\n",
        insecure_bed()
    );
    let node = Node::new(&conf);
    let image = "private.test/app:both";
    let creds = format!("{user}:{pw}");
    let copied = skopeo(&node, image, None, Some(&creds));
    let message = copied
        .error
        .expect("the mirror refuses and the registry is down");
    assert_eq!(explained(&message), "connection_refused", "{message}");
    let (run, r) = probe_crio(&node, image, Some((&user, &pw)));
    assert_eq!(r["verdict"], "connection_refused", "{}", run.stdout);
    let mirror = r["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["host"] == format!("http://{token}"))
        .expect("the mirror over plain HTTP (insecure)");
    assert_eq!(
        mirror["verdict"], "not_found_or_unauthorized",
        "{}",
        run.stdout
    );
    assert_eq!(
        mirror["identity"]["source"]["kind"], "anonymous",
        "{}",
        run.stdout
    );
    // With the mirror's own entry in CRI-O's auth file, the mirror serves it, for both.
    let auth = node.certs.with_file_name("auth.json");
    std::fs::write(&auth, auth_json(&[(&token, &user, &pw)])).unwrap();
    let auth_s = auth.display().to_string();
    let copied = skopeo_with(&node, image, None, Some(&creds), &["--authfile", &auth_s]);
    assert!(copied.error.is_none(), "{:?}", copied.error);
    assert_eq!(copied.tried.last(), Some(&token));
    let (run, r) = probe_crio_with(
        &node,
        image,
        Some((&user, &pw)),
        &["--crio-auth-file", &auth_s],
    );
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    assert_eq!(probe_host(&r), token);
}

#[test]
fn pullcheck_node_shows_what_cri_o_applies() {
    let node = Node::new(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"mirror.example.com\"\npull-from-mirror = \"digest-only\"\n\n[[registry]]\nlocation = \"evil.test\"\nblocked = true\n",
    );
    let conf = node.conf.display().to_string();
    let args = [
        "node",
        "--runtime-kind",
        "crio",
        "--registries-conf",
        &conf,
        "--runtime-endpoint",
        "unix:///nonexistent/crio.sock",
    ];
    let text = pullcheck(&args, None, &[]).stdout;
    assert!(text.contains("CRI-O policy"), "{text}");
    assert!(
        text.contains("mirrors mirror.example.com (digest-only), then docker.io"),
        "{text}"
    );
    assert!(text.contains("evil.test → evil.test (blocked)"), "{text}");
    assert!(!text.contains("containerd defaults"), "{text}");
    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let v = pullcheck(&json_args, None, &[]).json();
    assert_eq!(v["crioRegistries"]["registries"][1]["blocked"], true, "{v}");
    assert!(v.get("registry").is_none());
}

#[test]
fn the_signature_policy_refuses_as_containers_image_refuses() {
    let b = bed();
    let plain = b.addr("plain");
    let node = Node::new(&insecure_bed());
    let image = format!("{plain}/app:amd64");
    let lookaside = node.certs.with_file_name("sigs");
    let scoped = |req: &str| {
        format!(
            r#"{{"default":[{{"type":"insecureAcceptAnything"}}],"transports":{{"docker":{{"{plain}/app":[{req}]}}}}}}"#
        )
    };
    for (policy, registries_d, verdict) in [
        (
            r#"{"default":[{"type":"reject"}]}"#.to_string(),
            None,
            "signature_rejected",
        ),
        (
            scoped(r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent.gpg"}"#),
            None,
            "signature_rejected",
        ),
        (
            scoped(r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent.gpg"}"#),
            Some(format!(
                "docker:\n  {plain}:\n    lookaside: file://{}\n",
                lookaside.display()
            )),
            "signature_rejected",
        ),
        (
            r#"{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent.pub"}]}"#.to_string(),
            None,
            "signature_rejected",
        ),
        (scoped(r#"{"type":"insecureAcceptAnything"}"#), None, "ok"),
    ] {
        std::fs::write(&node.policy, &policy).unwrap();
        let rd = node.registries_d.join("test.yaml");
        match &registries_d {
            Some(text) => std::fs::write(&rd, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(&rd);
            }
        }
        let copied = skopeo(&node, &image, None, None);
        let (run, r) = probe_crio(&node, &image, None);
        assert_eq!(r["verdict"], verdict, "{policy}\n{}", run.stdout);
        match copied.error {
            None => assert_eq!(verdict, "ok"),
            Some(m) => {
                assert_eq!(explained(&m), verdict, "{m}");
                record(verdict, &m);
            }
        }
    }
    // A policy containers/image cannot load: CRI-O fails every pull; the probe names the file.
    std::fs::write(&node.policy, r#"{"default":[{"type":"frobnicate"}]}"#).unwrap();
    let m = skopeo(&node, &image, None, None).error.unwrap();
    assert_eq!(explained(&m), "signature_rejected", "{m}");
    let run = probe_crio_run(&node, &image, None, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown policy requirement type"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_follows_cri_o_s_files_too() {
    use support::agent::{get, probe, Agent};
    let plain = bed().addr("plain");
    let node = Node::new(&format!(
        "unqualified-search-registries = [\"{plain}\"]\n{}[[registry]]\nlocation = \"blocked.test\"\nblocked = true\n",
        insecure_bed()
    ));
    let (conf, policy, rd) = (
        node.conf.display().to_string(),
        node.policy.display().to_string(),
        node.registries_d.display().to_string(),
    );
    // The generated alias file, as a config key: it names the short name's registry.
    let aliases = node.conf.with_file_name("short-name-aliases.conf");
    std::fs::write(
        &aliases,
        format!("[aliases]\n\"pullcheck-agent\" = \"{plain}/app\"\n"),
    )
    .unwrap();
    let aliases = aliases.display().to_string();
    let agent = Agent::start(
        &[
            "--runtime-kind",
            "crio",
            "--registries-conf",
            &conf,
            "--signature-policy",
            &policy,
            "--registries-d",
            &rd,
        ],
        &[("PULLCHECK_SHORT_NAME_ALIASES", &aliases)],
    );
    let ok = probe(&agent, &[("image", &format!("{plain}/app:amd64"))]).await;
    assert_eq!(ok.json()["verdict"], "ok", "{}", ok.text);
    assert_eq!(ok.json()["runtimeKind"]["kind"], "crio");
    let short = probe(&agent, &[("image", "app:both")]).await.json();
    assert_eq!(short["verdict"], "ok", "{short}");
    assert_eq!(short["normalized"], format!("{plain}/app:both"));
    assert_eq!(short["shortName"]["resolvedBy"], "search_registries");
    let aliased = probe(&agent, &[("image", "pullcheck-agent:amd64")])
        .await
        .json();
    assert_eq!(aliased["shortName"]["resolvedBy"], "alias", "{aliased}");
    assert_eq!(aliased["verdict"], "ok", "{aliased}");
    let blocked = probe(&agent, &[("image", "blocked.test/app:v1")]).await;
    assert_eq!(
        blocked.json()["verdict"],
        "registry_blocked",
        "{}",
        blocked.text
    );
    let node_doc = get(&agent.url("/v1/node")).await.json();
    assert!(
        node_doc["crioRegistries"]["registries"]
            .as_array()
            .is_some_and(|r| r.iter().any(|e| e["blocked"] == true)),
        "{node_doc}"
    );
}
