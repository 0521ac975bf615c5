//! `pullcheck probe` against the real test bed: every verdict the bed can produce, with its key
//! evidence and exit code.

use crate::support;

use support::table::{self, row};
use support::*;

fn plain() -> (String, tempfile::TempDir) {
    let addr = bed().addr("plain");
    let hosts = http_hosts(&addr);
    (addr, hosts)
}

fn ca_hosts(host: &str, extra: &str) -> tempfile::TempDir {
    hosts_dir(&[(
        host,
        format!(
            "server = \"https://{host}\"\nca = \"{}\"\n{extra}",
            bed().str("ca")
        ),
    )])
}

#[test]
fn ok_single_platform_image_through_hosts_toml() {
    let (addr, hosts) = plain();
    let r = probe_json(
        &format!("{addr}/app:amd64"),
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--platform",
            "linux/amd64",
        ],
        None,
        &[],
        "ok",
    );
    assert_eq!(r["exitCode"], 0);
    assert_eq!(r["platforms"][0]["architecture"], "amd64");
    assert!(r["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        steps(&r),
        [
            ("manifest HEAD".into(), Some(200)),
            ("manifest".into(), Some(200)),
            ("config".into(), Some(200)),
            ("layer".into(), Some(206))
        ],
        "cold probe: HEAD (the digest), GET by it, config and the one layer's first byte"
    );
    assert_eq!(r["layers"]["layers"], 1);
    assert_eq!(
        r["layers"]["checked"], 1,
        "the config was read, the layer asked"
    );
    assert_eq!(r["layers"]["storageHosts"], serde_json::json!([]));
    assert_eq!(r["identity"]["source"]["kind"], "anonymous");
}

#[test]
fn http_registry_when_hosts_toml_says_https() {
    let addr = bed().addr("plain");
    // Without hosts.toml, containerd (and the probe) speak plain HTTP to a loopback registry.
    let r = probe_json(
        &format!("{addr}/app:amd64"),
        &["--platform", "linux/amd64"],
        None,
        &[],
        "ok",
    );
    assert!(
        r["endpoints"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("plain HTTP"),
        "{r}"
    );
    // hosts.toml naming an https server (with TLS settings, so no loopback fallback).
    let hosts = ca_hosts(&addr, "");
    let r = probe_json(
        &format!("{addr}/app:amd64"),
        &["--hosts-dir", path(hosts.path())],
        None,
        &[],
        "http_registry",
    );
    assert_eq!(r["exitCode"], 7);
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("server gave HTTP response to HTTPS client"));
    assert!(
        r["remediation"]
            .as_str()
            .unwrap()
            .contains(&format!("server = \\\"http://{addr}\\\""))
            || r["remediation"]
                .as_str()
                .unwrap()
                .contains(&format!("server = \"http://{addr}\""))
    );
    assert!(steps(&r)
        .iter()
        .any(|(s, st)| s == "plain_http_check" && st.is_some()));
}

#[test]
fn index_selects_the_node_platform_or_reports_mismatch() {
    let (addr, hosts) = plain();
    table::check(
        vec![
            row(format!("{addr}/app:both"), "ok")
                .hosts(hosts.path())
                .platform("linux/amd64")
                .at("/selectedPlatform/architecture", "amd64")
                .holds(
                    "an index: the index, the amd64 manifest, its config and its layer",
                    |r| {
                        let want: Vec<(String, Option<u64>)> = [
                            ("manifest HEAD", 200),
                            ("manifest", 200),
                            ("platform_manifest", 200),
                            ("config", 200),
                            ("layer", 206),
                        ]
                        .into_iter()
                        .map(|(s, st)| (s.to_string(), Some(st)))
                        .collect();
                        let got = steps(r);
                        (got == want).then_some(()).ok_or(format!("{got:?}"))
                    },
                ),
            row(format!("{addr}/app:both"), "ok")
                .hosts(hosts.path())
                .platform("linux/aarch64")
                .at("/selectedPlatform/architecture", "arm64"),
            row(format!("{addr}/app:armonly"), "platform_mismatch")
                .hosts(hosts.path())
                .platform("linux/amd64")
                .exit(10)
                .holds("one platform listed", |r| {
                    match r["platforms"].as_array().map(Vec::len) {
                        Some(1) => Ok(()),
                        n => Err(format!("{n:?}")),
                    }
                })
                .reason_has("linux/arm64"),
            row(format!("{addr}/app:both"), "platform_mismatch")
                .hosts(hosts.path())
                .platform("linux/s390x"),
        ],
        table::cli,
    );
}

#[test]
fn single_platform_image_for_another_arch_warns_of_exec_format() {
    let (addr, hosts) = plain();
    let r = probe_json(
        &format!("{addr}/app:arm64single"),
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--platform",
            "linux/amd64",
        ],
        None,
        &[],
        "ok",
    );
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("exec format error"),
        "{}",
        r["warnings"]
    );
}

#[test]
fn missing_tag_and_missing_repository_are_told_apart() {
    let (addr, hosts) = plain();
    let digest = format!("sha256:{}", "0".repeat(64));
    table::check(
        vec![
            row(format!("{addr}/app:nope"), "manifest_unknown")
                .hosts(hosts.path())
                .exit(4)
                .reason_has("amd64")
                .holds("the tags were listed", |r| tags_status(r, 200)),
            row(format!("{addr}/nosuch/app:v1"), "repository_unknown")
                .hosts(hosts.path())
                .holds("the tags list is 404", |r| tags_status(r, 404)),
            row(format!("{addr}/app@{digest}"), "manifest_unknown").hosts(hosts.path()),
        ],
        table::cli,
    );
}

/// The report has a `tags` exchange answered with `status`.
fn tags_status(r: &serde_json::Value, status: u64) -> Result<(), String> {
    let steps = steps(r);
    if steps
        .iter()
        .any(|(s, st)| s == "tags" && *st == Some(status))
    {
        Ok(())
    } else {
        Err(format!("exchanges {steps:?}"))
    }
}

#[test]
fn tls_verdicts() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    // A CA that did not sign the registry's certificate.
    let wrong_ca = hosts_dir(&[(
        &tls,
        format!(
            "server = \"https://{tls}\"\nca = \"{}\"\n",
            b.str("client_cert")
        ),
    )]);
    let exp = format!("localhost:{}", b.port("expired"));
    let expired = ca_hosts(&exp, "");
    let wrong = format!("localhost:{}", b.port("wrongname"));
    let wrong_name = ca_hosts(&wrong, "");
    let selfsigned = format!("localhost:{}", b.port("selfsigned"));
    let own_ca = hosts_dir(&[(
        &selfsigned,
        format!(
            "server = \"https://{selfsigned}\"\nca = \"{}\"\n",
            b.str("selfsigned_cert")
        ),
    )]);
    let selfsigned_bed_ca = ca_hosts(&selfsigned, "");
    let caleaf = format!("localhost:{}", b.port("caleaf"));
    let caleaf_hosts = ca_hosts(&caleaf, "");
    // skip_verify makes the wrong name acceptable, as containerd does.
    let skip = hosts_dir(&[(
        &wrong,
        format!("server = \"https://{wrong}\"\nskip_verify = true\n"),
    )]);
    table::check(
        vec![
            // No hosts.toml: plain HTTP to a TLS port, as containerd does for loopback
            // registries.
            row(format!("{tls}/app:amd64"), "tls_error").reason_has("contacted over plain HTTP"),
            row(format!("{tls}/app:amd64"), "tls_unknown_authority").hosts(wrong_ca.path()),
            row(format!("{exp}/app:amd64"), "tls_certificate_expired")
                .hosts(expired.path())
                .exit(7),
            row(format!("{wrong}/app:amd64"), "tls_hostname_mismatch").hosts(wrong_name.path()),
            row(format!("{wrong}/app:amd64"), "ok")
                .hosts(skip.path())
                .platform("linux/amd64"),
            // Go's rules: a CA:TRUE certificate served as the registry's own is fine when it
            // chains to (or is) a trusted certificate (runtime_containerd::go_certificate_rules_agree).
            row(format!("{selfsigned}/app:amd64"), "ok")
                .hosts(own_ca.path())
                .platform("linux/amd64"),
            row(format!("{caleaf}/app:amd64"), "ok")
                .hosts(caleaf_hosts.path())
                .platform("linux/amd64"),
            row(format!("{selfsigned}/app:amd64"), "tls_unknown_authority")
                .hosts(selfsigned_bed_ca.path())
                .reason_has("x509: certificate signed by unknown authority"),
            // The expired certificate says when it expired, as Go does, and how long ago.
            row(format!("{exp}/app:amd64"), "tls_certificate_expired")
                .hosts(expired.path())
                .reason_has("is after 2021-01-01T00:00:00Z (expired ")
                .reason_has(" days ago)"),
        ],
        table::cli,
    );
}

#[test]
fn client_certificate_required() {
    let b = bed();
    let m = format!("localhost:{}", b.port("mtls"));
    let hosts = ca_hosts(&m, "");
    let with_client = ca_hosts(
        &m,
        &format!(
            "client = [[\"{}\", \"{}\"]]\n",
            b.str("client_cert"),
            b.str("client_key")
        ),
    );
    table::check(
        vec![
            row(format!("{m}/app:amd64"), "tls_error")
                .hosts(hosts.path())
                .reason_has("client certificate"),
            row(format!("{m}/app:amd64"), "ok")
                .hosts(with_client.path())
                .platform("linux/amd64"),
        ],
        table::cli,
    );
}

#[test]
fn basic_auth_registry() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = ca_hosts(&tls, "");
    let h = path(hosts.path());
    let img = format!("{tls}/app:amd64");
    let user = b.user();
    let as_user = ["--hosts-dir", h, "--username", &user, "--password-stdin"];
    table::check(
        vec![
            row(&img, "unauthorized")
                .args(&["--hosts-dir", h])
                .exit(5)
                .reason_has("no basic auth credentials"),
            row(&img, "unauthorized")
                .args(&as_user)
                .stdin("wrong-password\n")
                .reason_has("rejected")
                .at("/identity/source/kind", "flags"),
            row(&img, "ok")
                .args(&as_user)
                .args(&["--platform", "linux/amd64"])
                .stdin(&format!("{}\n", b.password()))
                .text_has("/identity/description", &user),
        ],
        table::cli,
    );
}

#[test]
fn token_registry_like_docker_hub() {
    let b = bed();
    let addr = b.addr("token");
    let hosts = http_hosts(&addr);
    let h = path(hosts.path());
    let r = probe_json(
        &format!("{addr}/public/app:both"),
        &["--hosts-dir", h, "--platform", "linux/amd64"],
        None,
        &[],
        "ok",
    );
    assert_eq!(
        steps(&r),
        [
            ("manifest HEAD".into(), Some(401)),
            ("token".into(), Some(200)),
            ("manifest HEAD".into(), Some(200)),
            ("manifest".into(), Some(200)),
            ("platform_manifest".into(), Some(200)),
            ("config".into(), Some(200)),
            ("layer".into(), Some(206))
        ],
        "cold token probe: the challenge round, then the blob path with the token"
    );
    let r = probe_json(
        &format!("{addr}/private/app:both"),
        &["--hosts-dir", h],
        None,
        &[],
        "not_found_or_unauthorized",
    );
    assert!(r["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["challenge"]["error"] == "insufficient_scope"));
    let user = b.user();
    let pw = format!("{}\n", b.password());
    let creds = [
        "--hosts-dir",
        h,
        "--username",
        user.as_str(),
        "--password-stdin",
        "--platform",
        "linux/amd64",
    ];
    probe_json(
        &format!("{addr}/private/app:both"),
        &creds,
        Some(&pw),
        &[],
        "ok",
    );
    let r = probe_json(
        &format!("{addr}/private/app:both"),
        &creds,
        Some("bad\n"),
        &[],
        "unauthorized",
    );
    assert!(
        steps(&r)
            .iter()
            .any(|(s, st)| s == "token" && *st == Some(401)),
        "{:?}",
        steps(&r)
    );
    probe_json(
        &format!("{addr}/private/nosuch:v1"),
        &creds,
        Some(&pw),
        &[],
        "repository_unknown",
    );
    probe_json(
        &format!("{addr}/private/app:nope"),
        &creds,
        Some(&pw),
        &[],
        "manifest_unknown",
    );
}

#[test]
fn docker_config_credentials_with_kubelet_matching() {
    let b = bed();
    let addr = b.addr("token");
    let hosts = http_hosts(&addr);
    let cfg = tempfile::NamedTempFile::new().unwrap();
    let auth = base64_encode(&format!("{}:{}", b.user(), b.password()));
    std::fs::write(cfg.path(), format!(r#"{{"auths":{{"{addr}/private":{{"auth":"{auth}"}},"other.example":{{"auth":"eDp5"}}}}}}"#)).unwrap();
    let r = probe_json(
        &format!("{addr}/private/app:both"),
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--docker-config",
            path(cfg.path()),
            "--platform",
            "linux/amd64",
        ],
        None,
        &[],
        "ok",
    );
    assert_eq!(r["identity"]["source"]["kind"], "pullSecret");
    assert_eq!(r["identity"]["source"]["key"], format!("{addr}/private"));
    // The key's path does not cover public/: anonymous is used, and public pulls fine.
    let r = probe_json(
        &format!("{addr}/public/app:both"),
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--docker-config",
            path(cfg.path()),
        ],
        None,
        &[],
        "ok",
    );
    assert_eq!(r["identity"]["source"]["kind"], "anonymous");
}

fn base64_encode(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn fronts() -> (String, tempfile::TempDir) {
    let addr = bed().addr("fronts");
    let hosts = http_hosts(&addr);
    (addr, hosts)
}

#[test]
fn rate_limited_with_quota_figures() {
    let (addr, hosts) = fronts();
    table::check(
        vec![
            row(format!("{addr}/ratelimited/app:v1"), "rate_limited")
                .hosts(hosts.path())
                .exit(6)
                .at("/rateLimit/limit", 100)
                .at("/rateLimit/remaining", 0)
                .at("/rateLimit/windowSeconds", 21600)
                .at("/rateLimit/retryAfterSeconds", 3600)
                .at("/rateLimit/source", "192.0.2.10")
                .holds("a 429 is never retried", |r| match steps(r).len() {
                    1 => Ok(()),
                    n => Err(format!("{n} exchanges")),
                }),
            // Quota is read on successful answers too.
            row(format!("{addr}/hubok/app:amd64"), "ok")
                .hosts(hosts.path())
                .platform("linux/amd64")
                .at("/rateLimit/remaining", 42),
        ],
        table::cli,
    );
}

#[test]
fn denials_expiry_and_ambiguity_from_registry_messages() {
    let (addr, hosts) = fronts();
    table::check(
        vec![
            row(format!("{addr}/denied/app:v1"), "forbidden")
                .hosts(hosts.path())
                .reason_has("ecr:BatchGetImage")
                .remediation_has("ecr:BatchGetImage"),
            row(format!("{addr}/expired/app:v1"), "credentials_expired").hosts(hosts.path()),
            row(format!("{addr}/gar/app:v1"), "not_found_or_unauthorized").hosts(hosts.path()),
            row(format!("{addr}/ecrmissing/app:v1"), "repository_unknown").hosts(hosts.path()),
        ],
        table::cli,
    );
}

#[test]
fn registry_errors_and_bad_content() {
    let (addr, hosts) = fronts();
    let excerpt = |r: &serde_json::Value| {
        manifest_get(r)["bodyExcerpt"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no manifest GET excerpt in {:?}", steps(r)))
    };
    table::check(
        vec![
            row(format!("{addr}/unavailable/app:v1"), "registry_error")
                .hosts(hosts.path())
                .exit(9)
                .reason_has("503"),
            row(format!("{addr}/internal/app:v1"), "registry_error")
                .hosts(hosts.path())
                .holds("the manifest GET's body excerpt is kept", move |r| {
                    let text = excerpt(r)?;
                    text.contains("internal error").then_some(()).ok_or(text)
                }),
            row(format!("{addr}/schema1/app:v1"), "unsupported_manifest")
                .hosts(hosts.path())
                .reason_has("schema 1"),
            row(format!("{addr}/huge/app:v1"), "registry_error")
                .hosts(hosts.path())
                .reason_has("limit"),
            row(format!("{addr}/garbage/app:v1"), "registry_error").hosts(hosts.path()),
            row(format!("{addr}/tampered/app:v1"), "digest_mismatch")
                .hosts(hosts.path())
                .reason_has(&bed().str("tampered_claimed_digest")),
            row(format!("{addr}/hugeerror/app:v1"), "manifest_unknown")
                .hosts(hosts.path())
                .holds("error bodies are bounded", move |r| {
                    let text = excerpt(r)?;
                    (text.len() < 400)
                        .then_some(())
                        .ok_or(format!("{} bytes", text.len()))
                }),
        ],
        table::cli,
    );
}

#[test]
fn broken_servers_do_not_break_the_probe() {
    let b = bed();
    let addr = b.addr("broken");
    let hosts = http_hosts(&addr);
    let h = path(hosts.path());
    let r = probe_json(
        &format!("{addr}/badheader/app:v1"),
        &["--hosts-dir", h],
        None,
        &[],
        "registry_error",
    );
    assert_eq!(manifest_get(&r)["status"], 503);
    let r = probe_json(
        &format!("{addr}/midbody/app:v1"),
        &["--hosts-dir", h, "--timeout", "1s"],
        None,
        &[],
        "timeout",
    );
    assert_eq!(r["exitCode"], 8);
    let r = probe_json(
        &format!("{addr}/badrealm/app:v1"),
        &["--hosts-dir", h],
        None,
        &[],
        "connection_refused",
    );
    assert!(
        r["reason"].as_str().unwrap().contains("token"),
        "{}",
        r["reason"]
    );
    // A redirect to another host never carries the Authorization header.
    let pw = format!("{}\n", b.password());
    let user = b.user();
    probe_json(
        &format!("{addr}/redirect/probe/app:v1"),
        &["--hosts-dir", h, "--username", &user, "--password-stdin"],
        Some(&pw),
        &[],
        "manifest_unknown",
    );
    let record = redirect_record("/v2/redirect/probe/");
    assert!(
        !record.is_empty() && record.iter().all(|r| r["authorization"] == false),
        "the redirect reached the other host, without the Authorization header: {record:?}"
    );
}

#[test]
fn network_verdicts() {
    let b = bed();
    let proxy = format!("http://{}", b.addr("closed"));
    table::check(
        vec![
            row(format!("{}/app:v1", b.addr("closed")), "connection_refused").exit(8),
            row("registry.does-not-exist.invalid/app:v1", "dns_failure"),
            row(format!("{}/app:v1", b.addr("hang")), "timeout")
                .args(&["--timeout", "1s"])
                .reason_has("timed out"),
            row("registry.test/app:v1", "proxy_error")
                .env("HTTPS_PROXY", &proxy)
                .reason_has(&proxy),
        ],
        table::cli,
    );
}

/// `--timeout` bounds the whole probe, not each step: a registry that answers every request
/// just in time (0.6 s) and redirects ten times would take 6.6 s with a limit per hop; the
/// probe ends at its one deadline and says which step it cut.
#[test]
fn one_deadline_bounds_the_whole_probe() {
    let b = bed();
    let slow = b.addr("slow");
    let started = std::time::Instant::now();
    let r = probe_json(
        &format!("{slow}/app:v1"),
        &["--timeout", "2s", "--platform", "linux/amd64"],
        None,
        &[],
        "timeout",
    );
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(4500),
        "the probe took {took:?} with --timeout 2s: {r:#}"
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("the probe's time limit (--timeout) ran out during this step"),
        "{reason}"
    );
    let last = r["evidence"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["transport"]["kind"], "timeout", "{last:#}");
    assert!(
        last["url"].as_str().unwrap().contains("?hop="),
        "cut mid-redirects: {last:#}"
    );
}

#[test]
fn invalid_references_and_usage_errors() {
    let r = probe_json(
        "Docker.io/Library/Nginx",
        &[],
        None,
        &[],
        "invalid_reference",
    );
    assert_eq!(r["exitCode"], 3);
    assert!(r["reason"].as_str().unwrap().contains("lowercase"));
    probe_json("nginx:", &[], None, &[], "invalid_reference");
    let text = pullcheck(&["probe", "UPPER/case"], None, &[]);
    assert_eq!(text.code, 3);
    assert!(text.stdout.contains("Verdict:") && text.stdout.contains("invalid_reference"));
    for bad in [
        vec!["probe", "nginx", "--platform", "linux"],
        vec!["probe", "nginx", "--timeout", "soon"],
        vec!["probe"],
        vec!["probe", "nginx", "--username", "u"],
        vec!["probe", "nginx", "-o", "yaml"],
    ] {
        let r = pullcheck(&bad, None, &[]);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"));
    }
    let missing = pullcheck(
        &[
            "probe",
            "nginx",
            "--docker-config",
            "/nonexistent/config.json",
        ],
        None,
        &[],
    );
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/config.json"));
    let hosts = hosts_dir(&[("reg.example", "server = 42\n".into())]);
    let bad_toml = pullcheck(
        &[
            "probe",
            "reg.example/app",
            "--hosts-dir",
            path(hosts.path()),
        ],
        None,
        &[],
    );
    assert_eq!(bad_toml.code, 2);
    assert!(
        bad_toml.stderr.contains("hosts.toml") && bad_toml.stderr.contains("line 1"),
        "{}",
        bad_toml.stderr
    );
}

#[test]
fn text_output_reads_like_describe() {
    let (addr, hosts) = plain();
    let r = pullcheck(
        &[
            "probe",
            &format!("{addr}/app:nope"),
            "--hosts-dir",
            path(hosts.path()),
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 4);
    for label in [
        "Image:",
        "Verdict:",
        "Reason:",
        "Identity:",
        "Remediation:",
        "Evidence:",
    ] {
        assert!(r.stdout.contains(label), "{label} missing:\n{}", r.stdout);
    }
}

/// The layer path through the bed's fronts: blobs redirect to a storage host (as ECR to S3,
/// GAR to Cloud Storage, Docker Hub to its CDN) that works, refuses, has a certificate the
/// node does not trust, answers 403 like an expired signed URL, loops, or streams 10 GiB; and
/// a real registry that lost a layer. The manifest is fine every time.
#[test]
fn layer_path_verdicts_name_the_storage_host() {
    let b = bed();
    let fronts = b.addr("fronts");
    let hosts = http_hosts(&fronts);
    let h = path(hosts.path());
    let storage = format!("localhost:{}", b.port("storage"));
    let layer = b.str("layer_digest");
    let probe = |repo: &str, tag: &str, verdict: &str| {
        probe_json(
            &format!("{fronts}/{repo}/app:{tag}"),
            &["--hosts-dir", h, "--platform", "linux/amd64"],
            None,
            &[],
            verdict,
        )
    };
    let reason = |r: &serde_json::Value| r["reason"].as_str().unwrap().to_string();

    // Layers served from a storage host: ok, and the report says where they come from.
    for tag in ["amd64", "both"] {
        let r = probe("layerok", tag, "ok");
        assert_eq!(
            r["layers"]["storageHosts"],
            serde_json::json!([storage]),
            "{r:#}"
        );
        assert!(
            reason(&r).contains(&format!("layers from {storage}")),
            "{r:#}"
        );
        let hops: Vec<_> = steps(&r)
            .into_iter()
            .filter(|(s, _)| s == "layer")
            .collect();
        assert_eq!(
            hops,
            [("layer".into(), Some(307)), ("layer".into(), Some(206))]
        );
        let sent = r["evidence"].as_array().unwrap();
        let to_storage = sent
            .iter()
            .find(|e| e["step"] == "layer" && e["status"] == 206)
            .unwrap();
        assert!(to_storage["url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature"));
        assert_eq!(
            to_storage["auth"], "none",
            "no credentials to the storage host"
        );
    }

    let r = probe("layerrefused", "amd64", "connection_refused");
    let closed = b.addr("closed");
    assert!(
        reason(&r).contains(&format!("storage host {closed}")),
        "{}",
        reason(&r)
    );
    // containerd fetches the config and the layers together; here the config comes first.
    assert!(
        reason(&r).contains("config blob sha256:") || reason(&r).contains(&layer),
        "names the blob: {}",
        reason(&r)
    );
    assert!(
        r["remediation"].as_str().unwrap().contains("S3 gateway"),
        "{r:#}"
    );
    assert_eq!(r["exitCode"], 8);

    let r = probe("layertls", "amd64", "tls_unknown_authority");
    let tls_storage = format!("localhost:{}", b.port("storage_tls"));
    assert!(reason(&r).contains(&tls_storage), "{}", reason(&r));
    assert!(r["remediation"]
        .as_str()
        .unwrap()
        .contains("registry's own TLS is fine"));

    let r = probe("layer403", "both", "blob_denied");
    assert!(reason(&r).contains("Request has expired"), "{}", reason(&r));
    assert!(
        reason(&r).contains(&format!("storage host {storage}")),
        "{}",
        reason(&r)
    );
    assert_eq!(r["exitCode"], 5);

    let r = probe("layerloop", "amd64", "registry_error");
    assert!(reason(&r).contains("redirects in a loop"), "{}", reason(&r));
    let hops = steps(&r)
        .iter()
        .filter(|(s, _)| s == "layer" || s == "config")
        .count();
    assert_eq!(
        hops, 11,
        "the first request and ten redirects, as Go's client"
    );

    // Registries that serve the config themselves and send only the layers to storage (ECR,
    // GAR): the failing storage host is met on the layer path. The verdict is that host's
    // failure, named, with the failing hop as the last exchange — never the registry's 307.
    let cases = [
        (
            "storedns",
            "dns_failure",
            "nosuch.storage.test".to_string(),
            8,
        ),
        ("storerefused", "connection_refused", closed.clone(), 8),
        ("storetls", "tls_unknown_authority", tls_storage.clone(), 7),
    ];
    for (repo, verdict, host, exit) in cases {
        let r = probe(repo, "amd64", verdict);
        let why = reason(&r);
        assert!(
            why.starts_with(&format!("layer blob {layer} (GET "))
                && why.contains("redirected to")
                && why.contains(&host),
            "{repo}: {why}"
        );
        assert!(!why.contains(": 307"), "{repo}: {why}");
        assert_eq!(r["exitCode"], exit, "{repo}");
        let last = r["evidence"].as_array().unwrap().last().unwrap().clone();
        assert!(
            last["url"].as_str().unwrap().contains(&host) && last["transport"].is_object(),
            "{repo}: the failing hop is in the evidence: {last:#}"
        );
        assert!(
            !r["remediation"].as_str().unwrap().contains("5xx"),
            "{repo}: {r:#}"
        );
    }
    let r = probe("storeok", "amd64", "ok");
    assert_eq!(
        r["layers"]["storageHosts"],
        serde_json::json!([storage]),
        "{r:#}"
    );

    // 200 with a 10 GiB body that keeps coming: one chunk read, then cut off.
    let started = std::time::Instant::now();
    let r = probe("layerhuge", "amd64", "ok");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "not downloaded"
    );
    assert_eq!(r["layers"]["checked"], 1);

    // A registry that lost a layer (its blob data deleted): docker-registry answers 404
    // BLOB_UNKNOWN for the layer; the manifest and config are fine.
    let plain = b.addr("plain");
    let hosts = http_hosts(&plain);
    let r = probe_json(
        &format!("{plain}/lost/app:v1"),
        &["--hosts-dir", path(hosts.path())],
        None,
        &[],
        "blob_unknown",
    );
    let lost = b.str("lost_layer_digest");
    assert!(reason(&r).contains(&lost), "{}", reason(&r));
    let last = r["evidence"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ociErrors"][0]["code"], "BLOB_UNKNOWN", "{last:#}");
    assert_eq!(r["exitCode"], 10);

    // Text view: the Layers line.
    let t = pullcheck(
        &[
            "probe",
            &format!("{fronts}/layerok/app:amd64"),
            "--hosts-dir",
            h,
        ],
        None,
        &[],
    );
    assert!(
        t.stdout.contains("\nLayers:       1 layer, ")
            && t.stdout.contains(&format!(
                " compressed, from {storage}; blobs (config and layers): "
            )),
        "{}",
        t.stdout
    );
}

/// The text view's three levels: `--brief` is the answer alone; the default folds a pullable
/// image's exchanges and notes into a line each (a failure's are listed); `--verbose` lists
/// them always.
#[test]
fn text_views_brief_default_verbose() {
    let (addr, hosts) = plain();
    let h = path(hosts.path());
    let text = |image: &str, extra: &[&str]| {
        let mut args = vec![
            "probe",
            image,
            "--hosts-dir",
            h,
            "--platform",
            "linux/amd64",
        ];
        args.extend_from_slice(extra);
        pullcheck(&args, None, &[]).stdout
    };
    let labels = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .filter(|k| !k.starts_with(' '))
            .collect()
    };
    let ok = format!("{addr}/app:amd64");
    let brief = text(&ok, &["--brief"]);
    assert_eq!(
        labels(&brief),
        ["Image", "Verdict", "Identity", "Reason", "Remediation"],
        "{brief}"
    );
    let normal = text(&ok, &[]);
    assert!(
        normal.contains(
            "\nEvidence:     4 requests, all answered (--verbose or -o json lists them)\n"
        ),
        "{normal}"
    );
    assert!(
        !normal.contains("\nNote:") && !normal.contains("Remediation:"),
        "{normal}"
    );
    assert!(normal.contains("\nNotes:        "), "{normal}");
    assert!(normal.lines().count() <= 16, "{normal}");
    let verbose = text(&ok, &["--verbose"]);
    assert!(
        verbose.contains("\nEvidence:\n  HEAD  http://"),
        "{verbose}"
    );
    assert!(verbose.contains("\nNote:         "), "{verbose}");
    // Each note once: the runtime's absence is said in the image store's line only.
    let socket = "no container runtime socket found";
    assert_eq!(verbose.matches(socket).count(), 1, "{verbose}");
    // A failure lists its exchanges and notes without being asked.
    let missing = text(&format!("{addr}/app:nope"), &[]);
    assert!(
        missing.contains("\nEvidence:\n  HEAD  http://"),
        "{missing}"
    );
    assert!(missing.contains("\nRemediation:  "), "{missing}");
    let both = pullcheck(&["probe", &ok, "--brief", "--verbose"], None, &[]);
    assert_eq!(
        both.code, 2,
        "--brief and --verbose conflict: {}",
        both.stderr
    );
}

/// containerd 1.x retries `server` after a `[host]` entry with the same URL fails, without
/// that entry's CA: the text view's Attempts list shows the host twice and says why.
#[test]
fn attempts_say_when_containerd_retries_the_same_host() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = hosts_dir(&[(
        &tls,
        format!(
            "server = \"https://{tls}\"\n[host.\"https://{tls}\"]\n  ca = \"{}\"\n",
            b.str("ca")
        ),
    )]);
    let run = pullcheck(
        &[
            "probe",
            &format!("{tls}/app:nope"),
            "--hosts-dir",
            path(hosts.path()),
            "--runtime-version",
            "containerd/1.6",
        ],
        None,
        &[],
    );
    let attempts: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "Attempts:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    // The [host] entry, the `server` again, then (1.6, loopback) the plain-HTTP fallback.
    assert_eq!(attempts.len(), 3, "{}", run.stdout);
    assert!(
        attempts[2].contains(" http://") && !attempts[2].contains("the same host again"),
        "{}",
        run.stdout
    );
    assert!(
        !attempts[0].contains("the same host again"),
        "{}",
        run.stdout
    );
    assert!(
        attempts[1].contains("[the same host again: containerd 1.x retries `server`"),
        "{}",
        run.stdout
    );
}

/// A manifest naming 10,000 layers (the same real blob, 1.5 MB of JSON, pushed to the real
/// registry, in a repository of its own: other modules list the tags of `app`): a clear answer
/// within the step time, at most 256 layers asked for, the rest counted as unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_layers_are_bounded() {
    let plain = bed().addr("plain");
    let c = support::agent::client();
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let body = c
        .get(format!("http://{plain}/v2/app/manifests/amd64"))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let base: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut many = base.clone();
    let layer = base["layers"][0].clone();
    // The registry takes a manifest only when its blobs are in the repository: mount them.
    for blob in [&base["config"]["digest"], &layer["digest"]] {
        let digest = blob.as_str().unwrap();
        let mount = c
            .post(format!(
                "http://{plain}/v2/manylayers/app/blobs/uploads/?mount={digest}&from=app"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(mount.status(), 201, "mount {digest}");
    }
    many["layers"] = serde_json::Value::Array(vec![layer; 10_000]);
    let put = c
        .put(format!("http://{plain}/v2/manylayers/app/manifests/v1"))
        .header("content-type", accept)
        .body(serde_json::to_vec(&many).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.status(),
        201,
        "{}",
        put.text().await.unwrap_or_default()
    );
    let hosts = http_hosts(&plain);
    let started = std::time::Instant::now();
    let r = tokio::task::spawn_blocking(move || {
        probe_json(
            &format!("{plain}/manylayers/app:v1"),
            &["--hosts-dir", path(hosts.path()), "--timeout", "5s"],
            None,
            &[],
            "ok",
        )
    })
    .await
    .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(r["layers"]["layers"], 10_000);
    assert_eq!(r["layers"]["unchecked"], 10_000 - 256);
    assert_eq!(
        r["layers"]["checked"], 1,
        "one blob named 10,000 times is asked for once"
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("9744 more not checked"),
        "{}",
        r["reason"]
    );
}

/// A reader that went away (`pullcheck … | head`, a closed pipe) ends the output quietly: the
/// exit code is the verdict's, not a panic's 101 with a backtrace.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let exe = env!("CARGO_BIN_EXE_pullcheck");
    for output in ["json", "text"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(exe)
            .args(["explain", "rpc error: code = NotFound desc = failed to pull and unpack image \"x\": not found", "-o", output])
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{output}: {stderr}");
        assert_eq!(out.status.code(), Some(4), "{output}: {stderr}");
    }
}

/// Only the node's own cloud is asked: with `--cloud gcp` the EKS identity is "not an EC2
/// instance", not an IMDS error, and IMDS (a port nothing listens on) is never contacted; an
/// unknown `--cloud` is a usage error naming the choices.
#[test]
fn only_the_nodes_cloud_is_asked() {
    let run = pullcheck(
        &[
            "node",
            "--cloud",
            "gcp",
            "--imds-endpoint",
            "http://127.0.0.1:9",
            "--gce-metadata-host",
            "127.0.0.1:9",
            "--metadata-timeout",
            "300ms",
            "--runtime-endpoint",
            "unix:///nonexistent/cri.sock",
            "-o",
            "json",
        ],
        None,
        &[],
    );
    let n = run.json();
    let of = |kind: &str| node_identity(&n, kind).unwrap_or_else(|| panic!("no {kind} in {n}"));
    assert!(
        of("cloud").starts_with("Google Compute Engine (--cloud gcp)"),
        "{n}"
    );
    assert!(of("eks").starts_with("not an EC2 instance"), "{n}");
    assert!(of("gke").starts_with("not available"), "{n}");
    let bad = pullcheck(&["node", "--cloud", "ec2"], None, &[]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr
            .contains("expected auto, aws, gcp, azure or other"),
        "{}",
        bad.stderr
    );
}

/// `--runtime-version` picks the rules predicted for, and the report says where the version
/// came from: a plain-HTTP registry behind `server = "https://…"` on loopback is ok for
/// containerd 1.6 (it falls back to plain HTTP) and `http_registry` for 2.x (it does not).
#[test]
fn the_runtime_version_flag_chooses_the_rules() {
    let plain = bed().addr("plain");
    let hosts = hosts_dir(&[(&plain, format!("server = \"https://{plain}\"\n"))]);
    let h = path(hosts.path());
    let none = "unix:///nonexistent/cri.sock";
    let r = probe_json(
        &format!("{plain}/app:amd64"),
        &["--hosts-dir", h, "--runtime-endpoint", none],
        None,
        &[],
        "ok",
    );
    assert_eq!(r["runtimeVersion"]["source"], "default", "{r}");
    assert!(r["runtimeVersion"]["note"]
        .as_str()
        .unwrap()
        .contains("--runtime-version"));
    let r = probe_json(
        &format!("{plain}/app:amd64"),
        &[
            "--hosts-dir",
            h,
            "--runtime-endpoint",
            none,
            "--runtime-version",
            "containerd/2.1",
        ],
        None,
        &[],
        "http_registry",
    );
    assert_eq!(r["runtimeVersion"]["source"], "flag", "{r}");
    assert!(
        r["endpoints"]["notes"]
            .to_string()
            .contains("not retried over plain HTTP"),
        "{r}"
    );
    let bad = pullcheck(
        &["probe", "x/app:v1", "--runtime-version", "containerd/9"],
        None,
        &[],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("containerd/MAJOR.MINOR"),
        "{}",
        bad.stderr
    );
}

/// Every stored body of a state directory.
fn stored(state: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(state.join("content/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect()
}

fn warnings(r: &serde_json::Value) -> String {
    r["warnings"].to_string()
}

#[test]
fn a_state_dir_spares_the_manifest_get_of_a_digest_the_node_has_read() {
    let (addr, hosts) = plain();
    let state = tempfile::tempdir().unwrap();
    let image = format!("{addr}/app:both");
    let args = [
        "--hosts-dir",
        path(hosts.path()),
        "--platform",
        "linux/amd64",
        "--state-dir",
        path(state.path()),
    ];
    let first = probe_json(&image, &args, None, &[], "ok");
    assert_eq!(first["manifestOrigin"], "registry");
    assert_eq!(
        first["registryCost"]["manifestGets"], 2,
        "the index and amd64's manifest"
    );
    assert_eq!(
        stored(state.path()).len(),
        3,
        "index, manifest and config kept"
    );
    // Another process, as after a restart: the HEAD names the digest, the rest is on disk.
    let again = probe_json(&image, &args, None, &[], "ok");
    assert_eq!(again["manifestOrigin"], "state_dir");
    assert_eq!(again["registryCost"]["manifestGets"], 0);
    assert_eq!(again["registryCost"]["manifestHeads"], 1);
    assert!(manifest_get(&again).is_null(), "{}", again["evidence"]);
    assert_eq!(again["digest"], first["digest"]);
    assert_eq!(again["selectedPlatform"], first["selectedPlatform"]);
    assert_eq!(
        again["layers"]["checked"], 2,
        "the config and the layer are asked again: a stored body is not a reachable blob"
    );

    // A forged index filed under the real index's name (it would say amd64 is missing), and
    // garbage under the others' names: each is dropped with a note, and read again with GET.
    let index = first["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    for file in stored(state.path()) {
        let forged = if file.file_name().unwrap() == index {
            "pullcheck-content 1\napplication/vnd.oci.image.index.v1+json\n{\"schemaVersion\":2,\"manifests\":[]}".as_bytes()
        } else {
            b"\x00\x01garbage".as_slice()
        };
        std::fs::write(&file, forged).unwrap();
    }
    let repaired = probe_json(&image, &args, None, &[], "ok");
    assert_eq!(repaired["manifestOrigin"], "registry");
    let w = warnings(&repaired);
    assert!(w.contains("hashes to sha256:"), "{w}");
    assert!(w.contains("not a pullcheck state file"), "{w}");
    let after = probe_json(&image, &args, None, &[], "ok");
    assert_eq!(
        after["manifestOrigin"], "state_dir",
        "the store was repaired"
    );
}

#[test]
fn a_head_without_a_digest_falls_back_to_get_and_says_so() {
    let (addr, hosts) = fronts();
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--hosts-dir",
        path(hosts.path()),
        "--platform",
        "linux/amd64",
        "--state-dir",
        path(state.path()),
    ];
    let image = format!("{addr}/nodigest/app:amd64");
    for _ in 0..2 {
        let r = probe_json(&image, &args, None, &[], "ok");
        assert_eq!(r["manifestOrigin"], "registry");
        assert_eq!(
            r["registryCost"]["manifestGets"], 1,
            "no digest to look up: GET"
        );
        assert!(
            warnings(&r).contains("without a Docker-Content-Digest"),
            "{}",
            warnings(&r)
        );
    }
}

#[test]
fn a_state_dir_that_is_not_a_directory_is_refused() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let run = pullcheck(
        &[
            "probe",
            "127.0.0.1:1/app:v1",
            "--state-dir",
            file.path().to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--state-dir"), "{}", run.stderr);
}

#[test]
fn a_state_dir_filled_on_another_platform_is_read_for_this_one() {
    let (addr, hosts) = plain();
    let state = tempfile::tempdir().unwrap();
    let image = format!("{addr}/app:both");
    let args = |platform| {
        vec![
            "--hosts-dir".to_string(),
            path(hosts.path()).to_string(),
            "--platform".to_string(),
            platform,
            "--state-dir".to_string(),
            path(state.path()).to_string(),
        ]
    };
    let arm: Vec<String> = args("linux/arm64".into());
    let arm: Vec<&str> = arm.iter().map(String::as_str).collect();
    let on_arm = probe_json(&image, &arm, None, &[], "ok");
    assert_eq!(on_arm["selectedPlatform"]["architecture"], "arm64");
    // The same directory on an amd64 node (a disk image made elsewhere): the index is read
    // from it and judged for amd64; only amd64's own manifest is fetched.
    let amd: Vec<String> = args("linux/amd64".into());
    let amd: Vec<&str> = amd.iter().map(String::as_str).collect();
    let on_amd = probe_json(&image, &amd, None, &[], "ok");
    assert_eq!(on_amd["manifestOrigin"], "state_dir");
    assert_eq!(on_amd["selectedPlatform"]["architecture"], "amd64");
    assert_eq!(
        on_amd["registryCost"]["manifestGets"], 1,
        "amd64's manifest only"
    );
}

/// `--host-root`: the node's files under a directory (kubectl debug node/NAME's /host) are read
/// as the node sees them — here its containerd config and hosts.toml, which send a name nobody
/// resolves to the bed's registry.
#[test]
fn host_root_reads_the_node_s_files_from_its_mount() {
    let addr = bed().addr("plain");
    let node = tempfile::tempdir().unwrap();
    let etc = node.path().join("etc/containerd");
    std::fs::create_dir_all(etc.join("certs.d/registry.node.test")).unwrap();
    std::fs::write(
        etc.join("config.toml"),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/containerd/certs.d\"\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("certs.d/registry.node.test/hosts.toml"),
        format!("server = \"http://{addr}\"\n"),
    )
    .unwrap();
    let root = node.path().to_str().unwrap();
    let image = "registry.node.test/app:amd64";
    // This machine's files know nothing of the name.
    let here = pullcheck(
        &["probe", image, "-o", "json", "--platform", "linux/amd64"],
        None,
        &[],
    );
    assert_eq!(here.json()["verdict"], "dns_failure", "{}", here.stdout);
    let uid = run_program("id", &["-u"], None).stdout.trim().to_string();
    let args = [
        "probe",
        image,
        "-o",
        "json",
        "--platform",
        "linux/amd64",
        "--host-root",
        root,
    ];
    let run = pullcheck(&args, None, &[]);
    if uid != "0" {
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("CAP_SYS_CHROOT"), "{}", run.stderr);
        return;
    }
    let r = run.json();
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    assert_eq!(
        r["endpoints"]["source"].as_str().unwrap(),
        "/etc/containerd/certs.d/registry.node.test/hosts.toml",
        "the node's hosts.toml, by its own path"
    );
    // `node` too, and a directory that is no root filesystem is refused, named.
    let n = pullcheck(&["node", "--host-root", root], None, &[]);
    assert_eq!(n.code, 11, "no runtime in the fake node: {}", n.stdout);
    assert!(n.stdout.contains("registry.node.test"), "{}", n.stdout);
    let bad = pullcheck(&["probe", image, "--host-root", "/nonexistent"], None, &[]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("--host-root /nonexistent: not a node's root filesystem"),
        "{}",
        bad.stderr
    );
}

/// The bed's addresses as the docs show them: each bed port becomes 5000 and up (by name).
fn doc_ports(text: &str) -> String {
    let ports = bed().json["ports"].as_object().unwrap().clone();
    let mut names: Vec<&String> = ports.keys().collect();
    names.sort();
    let mut out = text.to_string();
    // Longest port numbers first, so 4567 does not eat part of 45678.
    let mut by_len: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (ports[*n].to_string(), (5000 + i).to_string()))
        .collect();
    by_len.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (port, shown) in by_len {
        for host in ["127.0.0.1:", "localhost:"] {
            out = out.replace(&format!("{host}{port}"), &format!("{host}@{shown}"));
        }
    }
    out.replace(":@", ":")
}

/// Timings (`3.9 ms`) as `N ms`, and 64-hex digests as `<digest>`.
fn doc_stable(text: &str) -> String {
    let mut timed = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" ms") {
        let before = &rest[..i];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(0, |(j, c)| j + c.len_utf8());
        if start < i && before.as_bytes()[start].is_ascii_digit() {
            timed.push_str(&before[..start]);
            timed.push('N');
        } else {
            timed.push_str(before);
        }
        timed.push_str(" ms");
        rest = &rest[i + 3..];
    }
    timed.push_str(rest);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 64 {
            out.push_str("<digest>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in timed.chars() {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[test]
fn docs_probe_samples_are_what_the_probe_prints() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let (open, close) = ("<!-- probe-sample: ", "<!-- /probe-sample -->");
    let mut out = String::new();
    let mut rest = text.as_str();
    let mut stale = Vec::new();
    while let Some(i) = rest.find(open) {
        let head_end = rest[i..].find("-->").map(|e| i + e + 3).unwrap();
        let spec: Vec<&str> = rest[i + open.len()..head_end - 3]
            .split_whitespace()
            .collect();
        let end = head_end + rest[head_end..].find(close).unwrap();
        let addr = bed().addr(spec[0]);
        let image = format!("{addr}/{}", spec[1]);
        let hosts = (spec.get(2) == Some(&"hosts")).then(|| http_hosts(&addr));
        let mut args = vec!["probe", image.as_str(), "--platform", "linux/amd64"];
        let mut shown = format!("$ pullcheck probe {image}");
        if let Some(h) = &hosts {
            args.extend(["--hosts-dir", path(h.path())]);
            shown.push_str(" --hosts-dir /etc/containerd/certs.d");
        }
        // A /proc with no kubelet and no containerd, shown as /proc: a machine that is no node.
        let proc_dir = tempfile::tempdir().unwrap();
        let run = pullcheck(
            &args,
            None,
            &[("PULLCHECK_PROC_ROOT", path(proc_dir.path()))],
        );
        let mut printed = run.stdout.clone();
        if let Some(h) = &hosts {
            printed = printed.replace(path(h.path()), "/etc/containerd/certs.d");
        }
        let printed = printed.replace(path(proc_dir.path()), "/proc");
        let want = format!(
            "\n```console\n{}\n{}```\n",
            doc_ports(&shown),
            doc_stable(&doc_ports(&printed))
        );
        let body = &rest[head_end..end];
        if body != want {
            stale.push(spec.join(" "));
        }
        out.push_str(&rest[..head_end]);
        out.push_str(&want);
        rest = &rest[end..];
    }
    out.push_str(rest);
    if std::env::var_os("PULLCHECK_BLESS").is_some() {
        std::fs::write(&file, out).unwrap();
        return;
    }
    assert!(
        stale.is_empty(),
        "stale samples in docs/cli.md (PULLCHECK_BLESS=1 cargo test --features bed --test bed probe_bed::docs_): {stale:?}"
    );
}
