//! The edges round 2 of the security review crossed: a redirect to a metadata address hidden
//! in an IPv6 literal (SIIT, a NAT64 network-specific prefix), a web page making the agent
//! probe without an `Origin` (an `<img>`: `Sec-Fetch-Site`, a foreign `Referer`) or from an
//! IP-literal `Origin`, and bidirectional and invisible characters from a registry reaching
//! a terminal through a probe's reason, `explain`, the CLI's JSON or the agent's answers.

use crate::support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::agent::*;

/// What the registry's error message says: U+061C (ARABIC LETTER MARK, a Bidi_Control), a
/// right-to-left override, NEL (a C1 control), isolates, a soft hyphen and a tag character.
const HOSTILE: &str =
    "pull of app\u{61c} denied \u{202e}exe.gnp\u{85} \u{2066}x\u{2069} so\u{ad}ft \u{e0041}";

/// A registry on loopback answering by repository: `siit/app` and `nsp/app` redirect every
/// manifest request to the metadata address inside an IPv6 literal (SIIT's IPv4-translated
/// `::ffff:0:a9fe:a9fe`, and `fd00:c1::a9fe:a9fe` under a ULA NAT64 prefix); anything else
/// is 403 DENIED with [`HOSTILE`] as its message. Counts the requests it is sent.
fn odd_registry() -> (SocketAddr, Arc<AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
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
                count.fetch_add(1, Ordering::SeqCst);
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let redirect = |to: &str| {
                    format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{to}/latest/meta-data/iam/security-credentials/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                };
                let reply = if path == "/v2/" {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
                } else if path.starts_with("/v2/siit/") {
                    redirect("[::ffff:0:a9fe:a9fe]")
                } else if path.starts_with("/v2/nsp/") {
                    redirect("[fd00:c1::a9fe:a9fe]")
                } else {
                    let body =
                        serde_json::json!({"errors": [{"code": "DENIED", "message": HOSTILE}]})
                            .to_string();
                    format!("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                };
                let _ = out.write_all(reply.as_bytes());
            });
        }
    });
    (addr, seen)
}

/// No character a terminal acts on, raw.
fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text
        .chars()
        .find(|c| pullcheck::term::unsafe_char(*c) && *c != '\n' && *c != '\t')
    {
        panic!("{what}: U+{:04X} raw in {text:?}", c as u32);
    }
}

/// A redirect to the metadata address inside an IPv6 literal is refused by the agent's
/// address policy before anything connects: the exchange is a `policy` refusal naming the
/// metadata range (an attempt would be a connection failure of another kind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_embedded_metadata_address_is_refused_before_connecting() {
    let (reg, _) = odd_registry();
    let hosts = support::http_hosts(&reg.to_string());
    let agent = Agent::start(&["--hosts-dir", support::path(hosts.path())], &[]);
    for repo in ["siit", "nsp"] {
        let a = probe(&agent, &[("image", &format!("{reg}/{repo}/app:v1"))]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let r = a.json();
        assert_eq!(r["verdict"], "unknown", "{repo}: {r}");
        let refused = r["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["transport"]["kind"] == "policy")
            .unwrap_or_else(|| panic!("{repo}: no refused exchange: {r}"));
        let message = refused["transport"]["message"].as_str().unwrap();
        assert!(
            message.contains("cloud metadata") && message.contains("registry policy"),
            "{repo}: {message}"
        );
        assert!(
            refused["url"].as_str().unwrap().contains("a9fe:a9fe"),
            "{repo}: {refused}"
        );
    }
}

/// What a web page can make a browser send to the agent on a workstation's loopback
/// (through `kubectl port-forward`): each is 403 and no probe runs; the same request from a
/// program (no browser headers), or from the agent's own origin, is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_cannot_make_the_agent_probe() {
    let (reg, seen) = odd_registry();
    let hosts = support::http_hosts(&reg.to_string());
    let agent = Agent::start(&["--hosts-dir", support::path(hosts.path())], &[]);
    let url = probe_url(&agent, &[("image", &format!("{reg}/bidi/app:v1"))]);
    let c = client();
    for (header, value) in [
        // An <img src=…> on another site: no Origin at all.
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("referer", "https://evil.example/page.html"),
        ("referer", "http://203.0.113.7/"),
        // IP-literal origins other than loopback.
        ("origin", "http://203.0.113.7"),
        ("origin", "http://[2001:db8::1]:8080"),
    ] {
        let before = seen.load(Ordering::SeqCst);
        let a = send(c.get(&url).header(header, value)).await;
        a.assert_error(403, "forbidden");
        assert!(
            a.json()["message"]
                .as_str()
                .unwrap()
                .contains("web pages are refused"),
            "{header}: {}",
            a.text
        );
        assert_eq!(
            seen.load(Ordering::SeqCst),
            before,
            "{header}: {value} made the agent probe"
        );
    }
    let own = format!("http://{}/", agent.api);
    for headers in [
        vec![],
        vec![("sec-fetch-site", "same-origin"), ("referer", own.as_str())],
        vec![("origin", "http://localhost:8001")],
        vec![("sec-fetch-site", "none")],
    ] {
        let mut req = c.get(&url);
        for (h, v) in &headers {
            req = req.header(*h, *v);
        }
        let a = send(req).await;
        assert_eq!(a.status, 200, "{headers:?}: {}", a.text);
        assert_eq!(a.json()["verdict"], "forbidden", "{headers:?}: {}", a.text);
    }
}

/// U+061C and its kin from a registry, in the agent's JSON, the CLI's JSON and text, and
/// `explain`'s JSON and text: escaped (`\u061c` in JSON, `\u{61c}` in text), never raw, and
/// the JSON still decodes to the registry's exact message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_and_invisible_characters_are_escaped_in_every_output() {
    let (reg, _) = odd_registry();
    let hosts = support::http_hosts(&reg.to_string());
    let image = format!("{reg}/bidi/app:v1");
    let agent = Agent::start(&["--hosts-dir", support::path(hosts.path())], &[]);
    let a = probe(&agent, &[("image", &image)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_clean("the agent's answer", &a.text);
    assert!(a.text.contains(r"\u061c"), "{}", a.text);
    let r = a.json();
    assert_eq!(r["verdict"], "forbidden", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains(HOSTILE),
        "the JSON decodes to the registry's message: {r}"
    );
    let agent_error = get(&agent.url("/v1/probe?image=app\u{61c}")).await;
    assert_eq!(agent_error.status, 400, "{}", agent_error.text);
    assert_clean("the agent's error", &agent_error.text);

    let hosts_flag = ["--hosts-dir", support::path(hosts.path())];
    let json = support::probe_run(&image, &hosts_flag, None, &[]);
    assert_clean("probe -o json", &json.stdout);
    assert!(json.stdout.contains(r"\u061c"), "{}", json.stdout);
    assert!(json.json()["reason"].as_str().unwrap().contains(HOSTILE));
    let mut args = vec!["probe", image.as_str(), "-o", "text"];
    args.extend_from_slice(&hosts_flag);
    let text = support::pullcheck(&args, None, &[]);
    assert_clean("probe -o text", &text.stdout);
    assert!(
        text.stdout.contains(r"app\u{61c} denied"),
        "{}",
        text.stdout
    );

    let message = format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to \
         resolve reference \"{image}\": pull access denied, repository does not exist or may \
         require authorization: server message: {HOSTILE}"
    );
    let text = support::pullcheck(&["explain", &message], None, &[]);
    assert_clean("explain", &text.stdout);
    assert!(text.stdout.contains(r"\u{61c}"), "{}", text.stdout);
    let json = support::pullcheck(&["explain", &message, "-o", "json"], None, &[]);
    assert_clean("explain -o json", &json.stdout);
    assert!(json.stdout.contains(r"\u061c"), "{}", json.stdout);
    assert!(json.json().to_string().contains("\u{61c}"));
}
