//! `pullcheck agent` and bad input: missing and invalid parameters, unknown fields, wrong
//! content types, oversized bodies and queries, wrong methods and paths, slow clients. Every one
//! is a 4xx JSON error with a stable code; none is a 5xx, none takes the agent down.

mod support;

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
        (resp, closed, started.elapsed(), String::from_utf8_lossy(&buf).into_owned())
    })
    .await
    .unwrap();
    let (resp, closed, took, head_resp) = outcome;
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
