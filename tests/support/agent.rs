//! Runs `pullcheck agent` for tests: the binary on port 0 with JSON logs (the `listening` line
//! gives the bound addresses), killed when dropped; a small HTTP client; and a counting TCP
//! proxy that sits in front of a real registry and counts the manifest requests that reach it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A running agent.
pub struct Agent {
    pub child: Child,
    pub api: SocketAddr,
    pub metrics: Option<SocketAddr>,
    /// The health-only listener, when started with `--health-listen`.
    pub health: Option<SocketAddr>,
    pub network: Option<SocketAddr>,
    pub logs: Arc<Mutex<Vec<String>>>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Flags every test agent gets unless `extra` gives the same flag: loopback port 0, JSON logs,
/// no runtime, no kubelet, an empty containerd config.
pub fn base_args(empty: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let e = empty.to_str().unwrap();
    let config = format!("{e}/config.toml");
    let base: [(&str, &str); 10] = [
        ("--listen", "127.0.0.1:0"),
        ("--metrics-listen", "127.0.0.1:0"),
        ("--log-format", "json"),
        (
            "--runtime-endpoint",
            "unix:///nonexistent/pullcheck-test-cri.sock",
        ),
        ("--runtime-timeout", "1s"),
        ("--proc-root", "/nonexistent/proc"),
        ("--kubelet-root-dir", e),
        ("--containerd-config", &config),
        ("--timeout", "5s"),
        ("--shutdown-grace", "5s"),
    ];
    let mut args = vec!["agent".to_string()];
    for (flag, value) in base {
        if !extra.contains(&flag) {
            args.push(flag.to_string());
            args.push(value.to_string());
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

impl Agent {
    /// Starts an agent with the base flags, the bed's loopback registries allowed
    /// (`--allow-registry-cidr 127.0.0.0/8`), `extra` (replacing base flags) and `env`.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut all = vec!["--allow-registry-cidr", "127.0.0.0/8"];
        all.extend_from_slice(extra);
        Self::start_strict(&all, env)
    }

    /// Starts an agent without allowing loopback registries.
    pub fn start_strict(extra: &[&str], env: &[(&str, &str)]) -> Agent {
        Self::try_start(extra, env).unwrap_or_else(|(code, logs)| {
            panic!("agent exited with {code:?} before listening:\n{logs}")
        })
    }

    /// Like [`start`](Self::start), but returns the exit code and output when it does not
    /// come up.
    pub fn try_start(extra: &[&str], env: &[(&str, &str)]) -> Result<Agent, (Option<i32>, String)> {
        Self::try_start_in(&[], extra, env)
    }

    /// Starts an agent (loopback registries allowed) under `wrapper`, a command that ends by
    /// running its last argument list (e.g. `unshare … sh -c '…; exec "$0" "$@"'`); the
    /// agent's path and arguments follow it.
    pub fn start_in(wrapper: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut all = vec!["--allow-registry-cidr", "127.0.0.0/8"];
        all.extend_from_slice(extra);
        Self::try_start_in(wrapper, &all, env).unwrap_or_else(|(code, logs)| {
            panic!("agent exited with {code:?} before listening:\n{logs}")
        })
    }

    fn try_start_in(
        wrapper: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Agent, (Option<i32>, String)> {
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("config.toml"), "version = 2\n").unwrap();
        let args = base_args(empty.path(), extra);
        let exe = env!("CARGO_BIN_EXE_pullcheck");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(exe),
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(exe);
                c
            }
        };
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for var in super::PROXY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("KUBECONFIG", "/nonexistent/pullcheck-test-kubeconfig");
        cmd.env_remove("KUBERNETES_SERVICE_HOST");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start pullcheck agent");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                // The addresses are on the `listening` line; the agent is up after the
                // start-up line that follows it.
                let mut listening = Value::Null;
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let parsed = serde_json::from_str::<Value>(&line).unwrap_or(Value::Null);
                    logs.lock().unwrap().push(line);
                    if parsed["message"] == "listening" {
                        listening = parsed;
                    } else if parsed["message"] == "pullcheck agent started" {
                        let _ = tx.send(listening.clone());
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = rx.recv_timeout(Duration::from_millis(50)) {
                let addr = |k: &str| v[k].as_str().and_then(|s| s.parse().ok());
                return Ok(Agent {
                    child,
                    api: addr("api").expect("api address"),
                    metrics: addr("metrics"),
                    health: addr("health"),
                    network: addr("network"),
                    logs,
                    _dirs: vec![empty],
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let text = logs.lock().unwrap().join("\n");
                return Err((status.code(), text));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "agent did not listen in 30 s:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics.expect("metrics listener"))
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts an error answer with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let v = self.json();
        assert_eq!(v["code"], code, "{v}");
        assert_eq!(v["status"], status);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        text,
    }
}

pub async fn get(url: &str) -> Answer {
    send(client().get(url)).await
}

/// `/v1/probe?…` with these query pairs, percent-encoded.
pub fn probe_url(agent: &Agent, query: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    agent.url(&format!("/v1/probe?{q}"))
}

/// `GET /v1/probe` with these query pairs.
pub async fn probe(agent: &Agent, query: &[(&str, &str)]) -> Answer {
    send(client().get(probe_url(agent, query))).await
}

/// A POST with a JSON body.
pub fn post_json(url: &str, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// A TCP proxy in front of `upstream` that counts the HTTP requests passing through it, and
/// those for manifests (`… /v2/…/manifests/…`), by reading the request lines on the wire.
pub struct CountingProxy {
    pub addr: SocketAddr,
    pub manifests: Arc<AtomicUsize>,
    /// Manifest requests with the GET method (a registry such as Docker Hub counts these as
    /// pulls; HEAD requests are free).
    pub manifest_gets: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Starts on the calling test's tokio runtime.
    pub async fn start(upstream: SocketAddr) -> CountingProxy {
        let manifests = Arc::new(AtomicUsize::new(0));
        let manifest_gets = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Counts {
            manifests: manifests.clone(),
            manifest_gets: manifest_gets.clone(),
            requests: requests.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let counts = counts.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    relay(client, server, counts).await;
                });
            }
        });
        CountingProxy {
            addr,
            manifests,
            manifest_gets,
            requests,
            task,
        }
    }

    pub fn manifests(&self) -> usize {
        self.manifests.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn manifest_gets(&self) -> usize {
        self.manifest_gets.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Counts {
    manifests: Arc<AtomicUsize>,
    manifest_gets: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: tokio::net::TcpStream, server: tokio::net::TcpStream, counts: Counts) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    // Requests from the prober carry no bodies (GET/HEAD), so every CRLF-terminated line that
    // starts with a method is a request line.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&pending[..i]).into_owned();
            pending.drain(..i + 2);
            let method = line.split(' ').next().unwrap_or("");
            if ["GET", "HEAD", "POST", "PUT"].contains(&method) && line.contains(" HTTP/1.") {
                counts.requests.fetch_add(1, Ordering::SeqCst);
                if line.contains("/manifests/") {
                    counts.manifests.fetch_add(1, Ordering::SeqCst);
                    if method == "GET" {
                        counts.manifest_gets.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
        if sw.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = sw.shutdown().await;
    let _ = down.await;
}
