//! `pullcheck agent` and bad input: missing and invalid parameters, unknown fields, wrong
//! content types, oversized bodies and queries, wrong methods and paths, slow clients. Every one
//! is a 4xx JSON error with a stable code; none is a 5xx, none takes the agent down.

use crate::support;

use std::time::Duration;
use support::agent::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_json_error() {
    let agent = Agent::start(
        &["--max-body-bytes", "1024", "--max-query-bytes", "512"],
        &[],
    );
    let url = agent.url("/v1/probe");
    let c = client();
    for (query, status, code) in [
        ("", 400, "missing_parameter"),
        ("image=", 400, "missing_parameter"),
        ("image=UPPER/Case", 400, "invalid_image"),
        ("image=https://ghcr.io/x", 400, "invalid_image"),
        ("image=nginx&image=redis", 400, "invalid_parameter"),
        ("image=nginx&colour=red", 400, "unknown_parameter"),
        ("image=nginx&platform=%2F", 400, "invalid_parameter"),
        ("image=nginx&fresh=perhaps", 400, "invalid_parameter"),
        ("image=nginx&pod=no-slash", 400, "invalid_parameter"),
        ("image=nginx&secret=a/b/c", 400, "invalid_parameter"),
        ("image=%FF%FE", 400, "invalid_image"),
        ("image=nginx&pod=ns/web", 422, "kubernetes_unavailable"),
    ] {
        send(c.get(format!("{url}?{query}")))
            .await
            .assert_error(status, code);
    }
    let long = format!("{url}?image={}", "a".repeat(600));
    send(c.get(long)).await.assert_error(414, "uri_too_long");
    let huge_image = format!("{url}?image={}", "a".repeat(500));
    send(c.get(huge_image))
        .await
        .assert_error(400, "invalid_image");

    let post = |body: &'static str, ctype: Option<&'static str>| {
        let mut r = c.post(&url).body(body);
        if let Some(t) = ctype {
            r = r.header("content-type", t);
        }
        send(r)
    };
    post(r#"{"image":"nginx"}"#, None)
        .await
        .assert_error(415, "unsupported_media_type");
    post(r#"{"image":"nginx"}"#, Some("text/plain"))
        .await
        .assert_error(415, "unsupported_media_type");
    post("{", Some("application/json"))
        .await
        .assert_error(400, "invalid_json");
    post("", Some("application/json"))
        .await
        .assert_error(400, "invalid_json");
    post(r#"{"image":"nginx","extra":1}"#, Some("application/json"))
        .await
        .assert_error(400, "invalid_json");
    post(r#"{"image":["nginx"]}"#, Some("application/json"))
        .await
        .assert_error(400, "invalid_json");
    post(
        r#"{"image":"nginx","secret":"ns/a"}"#,
        Some("application/json"),
    )
    .await
    .assert_error(400, "invalid_json");
    post(
        r#"{"image":"Bad Ref"}"#,
        Some("application/json; charset=utf-8"),
    )
    .await
    .assert_error(400, "invalid_image");
    let big = format!(r#"{{"image":"{}"}}"#, "a".repeat(2000));
    send(
        c.post(&url)
            .header("content-type", "application/json")
            .body(big),
    )
    .await
    .assert_error(413, "payload_too_large");
    // Without Content-Length (chunked) the limit still holds.
    let api = agent.api;
    let chunked = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let chunk = "a".repeat(800);
        write!(s, "POST /v1/probe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
        for _ in 0..3 {
            let _ = write!(s, "{:x}\r\n{chunk}\r\n", chunk.len());
        }
        let _ = write!(s, "0\r\n\r\n");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp
    })
    .await
    .unwrap();
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(
        chunked.contains("\"code\":\"payload_too_large\""),
        "{chunked}"
    );

    send(c.delete(&url))
        .await
        .assert_error(405, "method_not_allowed");
    send(c.put(agent.url("/v1/node")))
        .await
        .assert_error(405, "method_not_allowed");
    get(&agent.url("/v2/")).await.assert_error(404, "not_found");
    // Not reachable from a browser by accident: a DNS-rebinding page sends its own name as
    // Host, a cross-site page its own Origin; a GET cannot start a runtime pull.
    let node = agent.url("/v1/node");
    send(c.get(&node).header("host", "rebind.evil.example:8080"))
        .await
        .assert_error(403, "forbidden");
    send(c.get(&node).header("origin", "https://evil.example"))
        .await
        .assert_error(403, "forbidden");
    send(c.get(agent.url("/healthz")).header("origin", "null"))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        send(
            c.get(&node)
                .header("host", "localhost:1234")
                .header("origin", "http://localhost:1234")
        )
        .await
        .status,
        200
    );
    send(c.get(agent.url("/v1/probe?image=127.0.0.1:1/app:v1&runtimePull=true")))
        .await
        .assert_error(405, "method_not_allowed");
    // Still alive and well.
    assert_eq!(get(&agent.url("/healthz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_get_408_or_are_cut_off() {
    use std::io::{Read, Write};
    let agent = Agent::start(&["--client-timeout", "500ms"], &[]);
    let api = agent.api;
    let outcome = tokio::task::spawn_blocking(move || {
        // A body that stops arriving: 408 with a JSON error.
        let mut s = std::net::TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "POST /v1/probe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ima").unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        // A request head that never ends: the connection is closed.
        let mut s2 = std::net::TcpStream::connect(api).unwrap();
        s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s2, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let closed = s2.read_to_end(&mut buf).is_ok();
        let took = started.elapsed();
        // A keep-alive connection that goes quiet after its answer: closed after the same
        // timeout (hyper starts the head timer when the connection turns idle), not held.
        let mut s3 = std::net::TcpStream::connect(api).unwrap();
        s3.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s3, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let idle_since = std::time::Instant::now();
        let mut idle = Vec::new();
        let idle_closed = s3.read_to_end(&mut idle).is_ok();
        let idle = (idle_closed, idle_since.elapsed(), String::from_utf8_lossy(&idle).into_owned());
        (resp, closed, took, String::from_utf8_lossy(&buf).into_owned(), idle)
    })
    .await
    .unwrap();
    let (resp, closed, took, head_resp, (idle_closed, idle_took, idle_resp)) = outcome;
    assert!(idle_resp.starts_with("HTTP/1.1 200"), "{idle_resp}");
    assert!(idle_closed, "an idle keep-alive connection was held open");
    assert!(idle_took < Duration::from_secs(3), "{idle_took:?}");
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("\"code\":\"request_timeout\""), "{resp}");
    assert!(closed, "the slow head's connection was not closed");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!head_resp.contains(" 200 "), "{head_resp}");
    assert_eq!(get(&agent.url("/healthz")).await.status, 200);
}

/// 4,200 keep-alive connections once filled `--max-connections` and `/healthz` on the API
/// listener (the liveness probe's target then) timed out. Scaled down: 48 connections against
/// a limit of 32 starve the API listener's `/healthz`; the health listener still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_storm_cannot_starve_the_health_listener() {
    use std::io::{Read, Write};
    let agent = Agent::start(
        &[
            "--max-connections",
            "32",
            "--client-timeout",
            "60s",
            "--health-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let api = agent.api;
    let health = agent.health.expect("the health listener's address");
    let held = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for _ in 0..48 {
            let mut s = std::net::TcpStream::connect(api).unwrap();
            write!(s, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            held.push(s);
        }
        // The first 32 are answered and kept alive; the rest wait in the backlog.
        for s in held.iter_mut().take(32) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        held
    })
    .await
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let starved = quick.get(agent.url("/healthz")).send().await;
    assert!(
        starved.is_err(),
        "the API listener answered although every slot is held"
    );
    let alive = quick
        .get(format!("http://{health}/healthz"))
        .send()
        .await
        .expect("the health listener answers during the storm");
    assert_eq!(alive.status(), 200);
    let ready = quick
        .get(format!("http://{health}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        quick
            .get(format!("http://{health}/v1/node"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "the health listener serves health only"
    );
    drop(held);
}

// ------------------------------------------------------------ a registry that tries to OOM us

/// A hostile registry on loopback: every repository needs a Bearer token, and the realm hands
/// out 1 MiB tokens valid for a year (`expires_in` from the request: `huge` asks for
/// u64::MAX); `wide/app` is an index of 10,000 platforms, none of them the node's.
fn hostile_registry() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let token = "t".repeat(1024 * 1024 - 1024); // just under the token reply limit
    let index = {
        let manifests: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{:064x}","size":500,"platform":{{"os":"plan9","architecture":"arch{i}-{}"}}}}"#,
                    i,
                    "x".repeat(60)
                )
            })
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            manifests.join(",")
        )
    };
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let (token, index) = (token.clone(), index.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(c.try_clone().unwrap());
                let mut out = c;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut bearer = false;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        bearer |= h.to_ascii_lowercase().starts_with("authorization: bearer");
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let head = line.starts_with("HEAD");
                    let (status, ctype, body) = if path.starts_with("/token") {
                        let life = if path.contains("huge") {
                            "18446744073709551615"
                        } else {
                            "31536000"
                        };
                        (
                            "200 OK",
                            "application/json",
                            format!(r#"{{"token":"{token}","expires_in":{life}}}"#),
                        )
                    } else if !bearer {
                        (
                            "401 Unauthorized",
                            "application/json",
                            r#"{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}"#.to_string(),
                        )
                    } else if path.starts_with("/v2/wide/") {
                        (
                            "200 OK",
                            "application/vnd.oci.image.index.v1+json",
                            index.clone(),
                        )
                    } else {
                        ("404 Not Found", "application/json", r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_string())
                    };
                    let challenge = format!(
                        "WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"hostile\"\r\n"
                    );
                    let mut reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{}\r\n",
                        body.len(),
                        if status.starts_with("401") { challenge.as_str() } else { "" }
                    )
                    .into_bytes();
                    if !head {
                        reply.extend_from_slice(body.as_bytes());
                    }
                    if out.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// 1 MiB tokens with a one-year lifetime for 400 repositories once took the agent from 59 to
/// 538 MB; 200 probes of a 10,000-platform index from 33 to 345 MB; a token valid for
/// u64::MAX seconds panicked it (500 on every try). The caches now hold bytes, reports list
/// at most 64 platforms, lifetimes are clamped: the agent stays far below the DaemonSet's
/// 256 Mi limit and answers every probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_cannot_grow_the_agent_past_its_limit() {
    let reg = hostile_registry();
    let agent = Agent::start(
        &[
            "--allow-registry-cidr",
            "127.0.0.0/8",
            "--default-registry-budget",
            "100000/1m",
            "--max-concurrent-probes",
            "8",
        ],
        &[],
    );
    let pid = agent.child.id();
    let before = rss_mib(pid);
    let c = client();
    let image = |repo: &str, tag: &str| format!("{reg}/{repo}:{tag}");
    let probe = |img: String| {
        let url = probe_url(
            &agent,
            &[("image", img.as_str()), ("platform", "linux/amd64")],
        );
        let c = c.clone();
        async move { send(c.get(url)).await }
    };
    // The overflowing lifetime: an answer, not a 500.
    let a = probe(image("huge", "v1")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["verdict"], "manifest_unknown", "{}", a.text);
    // 400 repositories × 1 MiB tokens.
    for batch in (0..400).collect::<Vec<_>>().chunks(8) {
        let answers = futures_util::future::join_all(
            batch
                .iter()
                .map(|i| probe(image(&format!("repo{i}"), "v1"))),
        )
        .await;
        for a in answers {
            assert_eq!(a.status, 200, "{}", a.text);
        }
    }
    let after_tokens = rss_mib(pid);
    // 200 probes of the 10,000-platform index, each a new answer to keep.
    let mut largest = 0;
    for batch in (0..200).collect::<Vec<_>>().chunks(8) {
        let answers = futures_util::future::join_all(
            batch.iter().map(|i| probe(image("wide", &format!("v{i}")))),
        )
        .await;
        for a in answers {
            assert_eq!(a.status, 200, "{}", a.text);
            let r = a.json();
            assert_eq!(r["verdict"], "platform_mismatch", "{}", a.text);
            assert_eq!(r["platforms"].as_array().map(Vec::len), Some(64));
            assert_eq!(r["platformsOmitted"], 10_000 - 64);
            largest = largest.max(a.text.len());
        }
    }
    let after_index = rss_mib(pid);
    println!(
        "agent RSS: {before:.1} MiB at start, {after_tokens:.1} MiB after 400 × 1 MiB tokens, \
         {after_index:.1} MiB after 200 × 10,000-platform indexes (largest report {largest} bytes)"
    );
    assert!(largest < 64 * 1024, "a report of {largest} bytes");
    assert!(
        after_tokens < 160.0 && after_index < 160.0,
        "RSS {before:.1} → {after_tokens:.1} → {after_index:.1} MiB"
    );
}

/// A keep-alive connection returns its slot after 1,000 requests: the 1,000th answer says
/// `Connection: close` and the agent closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_closed_after_its_request_allowance() {
    use std::io::{BufRead, BufReader, Read, Write};
    let agent = Agent::start(&[], &[]);
    let api = agent.api;
    let closed_at = tokio::task::spawn_blocking(move || {
        let s = std::net::TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        for i in 1..=1001 {
            if w.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .is_err()
            {
                return i;
            }
            let (mut close, mut length) = (false, 0usize);
            let mut status = String::new();
            if r.read_line(&mut status).unwrap_or(0) == 0 {
                return i;
            }
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end().to_ascii_lowercase();
                if h.is_empty() {
                    break;
                }
                close |= h == "connection: close";
                if let Some(v) = h.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            r.read_exact(&mut body).unwrap();
            if close {
                return i;
            }
        }
        0
    })
    .await
    .unwrap();
    assert_eq!(closed_at, 1000, "the connection's last request");
}

// ------------------------------------------------------------ names handed to a proxy

/// A proxy that records every request line it is sent and plays the registry behind it:
/// `registry.test/redirect/…` redirects to `localhost`, anything else under
/// `registry.test` asks for a token at a `localhost` realm. `localhost` stands for a name that
/// resolves to an address the agent refuses (the metadata address on a real node).
fn recording_proxy() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    log.lock().unwrap().push(line.trim().to_string());
                    let target = format!(
                        "http://localhost:{}/latest/meta-data/iam/security-credentials/",
                        addr.port()
                    );
                    let resp = if line.contains("registry.test/v2/redirect/") {
                        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
                    } else if line.contains("registry.test/") {
                        format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{target}\",service=\"registry.test\"\r\nContent-Length: 0\r\n\r\n")
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_string()
                    };
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// With a proxy in containerd's environment, a redirect or a token realm naming a host that
/// resolves to a refused address was handed to the proxy unchecked (the proxy's log showed
/// `GET http://<name>/latest/meta-data/iam/security-credentials/`). Now the name is resolved
/// and checked first: the proxy only ever sees the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_a_refused_address_is_not_handed_to_the_proxy() {
    let (proxy, seen) = recording_proxy();
    let hosts = support::hosts_dir(&[(
        "registry.test",
        "server = \"http://registry.test\"\n".into(),
    )]);
    let proxy_url = format!("http://{proxy}");
    // No --allow-registry-cidr: loopback is refused, as the metadata address is on a node.
    let agent = Agent::start_strict(
        &["--hosts-dir", hosts.path().to_str().unwrap()],
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("HTTPS_PROXY", proxy_url.as_str()),
        ],
    );
    for image in [
        "registry.test/redirect/app:v1",
        "registry.test/token/app:v1",
    ] {
        let a = get(&agent.url(&format!("/v1/probe?image={image}&fresh=true"))).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let r = a.json();
        // Not followed, and said why: neither a DNS failure nor nothing-listens.
        assert_eq!(r["verdict"], "unknown", "{image}: {}", a.text);
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("localhost")
                && reason.contains("refused by the agent's registry policy"),
            "{image}: {reason}"
        );
        assert!(r["remediation"]
            .as_str()
            .unwrap()
            .contains("--allow-registry-cidr"));
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.contains("http://registry.test/v2/")),
        "the registry itself goes through the proxy: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|l| !l.contains("localhost") && !l.contains("meta-data")),
        "the proxy was handed a refused name: {seen:?}"
    );
}
