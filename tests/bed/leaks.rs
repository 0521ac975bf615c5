//! Credentials never leak: one secret, unique to the run, is planted in every credential source
//! (`--password-stdin`, a `--docker-config` file, a pull secret read through the Kubernetes API,
//! the node's kubelet `config.json`, a credential-provider plugin's answer, the IMDS role's
//! SecretAccessKey and session token, the GCE metadata token, the kubeconfig's bearer token and
//! the agent network listener's bearer token); then every command runs — `probe` in text and
//! JSON for success and every failing family, `node`, `explain`, and the agent's every endpoint
//! including bad input — at trace level. Neither the secret nor any base64 form of it may
//! appear in stdout, stderr, an HTTP answer or the metrics; and a registry that redirects to
//! another host never receives the Authorization header.

use crate::support;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::agent::*;
use support::*;

/// A secret no other run shares.
fn unique_secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("pcleak-{:016x}", h.finish())
}

/// Every form the secret could take in text: itself, and the run of base64 characters that
/// encodes it wherever it sits inside a larger encoded value (`user:secret`, a Basic header, a
/// docker config), in the standard and URL-safe alphabets.
fn forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut out = vec![secret.to_string()];
    for engine in [STANDARD, URL_SAFE] {
        for shift in 0..3usize {
            let padded = format!("{}{secret}", "x".repeat(shift));
            let enc = engine.encode(padded.as_bytes());
            // Characters that depend on the secret's bytes alone.
            let start = shift.div_ceil(3) * 4;
            let end = (shift + secret.len()) / 3 * 4;
            out.push(enc[start..end].to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asserts that no form of the secret is in `text`.
fn clean(what: &str, text: &str, needles: &[String]) {
    for n in needles {
        if let Some(at) = text.find(n.as_str()) {
            let from = at.saturating_sub(200);
            let to = (at + n.len() + 100).min(text.len());
            panic!(
                "a form of the secret ({n}) leaked into {what}:\n…{}…",
                text.get(from..to).unwrap_or(text)
            );
        }
    }
}

// --------------------------------------------------------------- a registry taking the secret

const USER: &str = "leak-user";

/// A plain-HTTP registry that accepts Basic auth with the secret as password (any user) and
/// answers each repository with one outcome: `ok/app` serves an amd64 image, `locked/app`
/// rejects every credential (401), `denied/app` 403 DENIED, `expired/app` ECR's expired-token
/// 403, `limited/app` 429, `missing/app` 404 MANIFEST_UNKNOWN, `broken/app` 500, and
/// `reflect/app` a hostile 401 that echoes the Authorization header it got in its body and
/// headers, `echo/app` a 429 that echoes the password in every rate-limit header; the other
/// `echo…` repositories echo it in every other position a registry can reach: a plain-text
/// 403 body, a manifest media type, an index's platforms, a config blob's error, a redirect's
/// `Location`, a Bearer challenge's realm and description.
struct Registry {
    addr: SocketAddr,
}

impl Registry {
    fn start(secret: &str) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let secret = secret.to_string();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let secret = secret.clone();
                std::thread::spawn(move || serve(c, &secret));
            }
        });
        Registry { addr }
    }
}

fn config_blob() -> &'static str {
    r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
}

fn sha(data: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(data.as_bytes()))
}

fn manifest() -> String {
    let cfg = config_blob();
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": sha(cfg), "size": cfg.len()},
           "layers": []})
    .to_string()
}

fn serve(c: TcpStream, secret: &str) {
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut out = c;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut authorization = None;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "authorization" => authorization = Some(v.trim().to_string()),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let valid = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|d| String::from_utf8(d).ok())
            .is_some_and(|d| d.split_once(':').is_some_and(|(_, p)| p == secret));
        let reply = respond(path, valid, authorization.as_deref().unwrap_or(""), secret);
        let (status, headers, body) = reply;
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if method != "HEAD" {
            bytes.extend_from_slice(body.as_bytes());
        }
        if out.write_all(&bytes).is_err() {
            return;
        }
    }
}

type Reply = (&'static str, Vec<(String, String)>, String);

/// 200 with the amd64 image's manifest.
fn manifest_reply() -> Reply {
    let m = manifest();
    (
        "200 OK",
        vec![
            (
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            ),
            ("Docker-Content-Digest".into(), sha(&m)),
        ],
        m,
    )
}

fn errors(code: &str, message: &str) -> String {
    json!({"errors": [{"code": code, "message": message}]}).to_string()
}

fn respond(path: &str, valid: bool, authorization: &str, secret: &str) -> Reply {
    let challenge = (
        "WWW-Authenticate".to_string(),
        "Basic realm=\"leaks\"".to_string(),
    );
    let json_type = ("Content-Type".to_string(), "application/json".to_string());
    let repo = path
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once('/'))
        .map(|(r, _)| r)
        .unwrap_or("");
    if repo == "reflect" {
        // A hostile registry: it echoes the credential it was sent.
        return (
            "401 Unauthorized",
            vec![
                challenge,
                json_type,
                ("X-Echo".to_string(), authorization.to_string()),
            ],
            errors("UNAUTHORIZED", &format!("bad credentials {authorization}")),
        );
    }
    if repo == "echochallenge" && path != "/v2/" {
        // Bearer from the start: the realm and description carry the secret.
        return (
            "401 Unauthorized",
            vec![
                json_type,
                (
                    "WWW-Authenticate".into(),
                    format!("Bearer realm=\"http://127.0.0.1:9/{secret}\",service=\"{secret}\",error_description=\"{secret}\""),
                ),
            ],
            errors("UNAUTHORIZED", &format!("token for {secret} required")),
        );
    }
    if !valid {
        return (
            "401 Unauthorized",
            vec![challenge, json_type],
            errors("UNAUTHORIZED", "authentication required"),
        );
    }
    if path == "/v2/" {
        return ("200 OK", vec![json_type], "{}".into());
    }
    match repo {
        "ok" if path.contains("/blobs/") => ("200 OK", vec![], config_blob().to_string()),
        "ok" => manifest_reply(),
        "locked" => (
            "401 Unauthorized",
            vec![challenge, json_type],
            errors("UNAUTHORIZED", "authentication required"),
        ),
        "denied" => (
            "403 Forbidden",
            vec![json_type],
            errors("DENIED", "requested access to the resource is denied"),
        ),
        "expired" => (
            "403 Forbidden",
            vec![json_type],
            errors(
                "DENIED",
                "Your authorization token has expired. Reauthenticate and try again.",
            ),
        ),
        "limited" => (
            "429 Too Many Requests",
            vec![
                json_type,
                ("RateLimit-Limit".into(), "100;w=21600".into()),
                ("RateLimit-Remaining".into(), "0;w=21600".into()),
                ("Retry-After".into(), "60".into()),
            ],
            errors("TOOMANYREQUESTS", "You have reached your pull rate limit."),
        ),
        // A hostile registry that echoes the password it was given in every rate-limit header
        // (parsed into rateLimit and the reason, and kept node-wide for /v1/node), an unknown
        // header, the OCI error and the status line's neighbours.
        "echo" => (
            "429 Too Many Requests",
            vec![
                json_type,
                ("RateLimit-Limit".into(), format!("100;w=21600;{secret}")),
                ("RateLimit-Remaining".into(), format!("0;w=21600;{secret}")),
                ("Docker-RateLimit-Source".into(), format!("user:{secret}")),
                ("Retry-After".into(), format!("{secret} seconds")),
                ("X-Leak".into(), secret.to_string()),
                ("Warning".into(), format!("299 - \"{secret}\"")),
            ],
            errors("TOOMANYREQUESTS", &format!("limit for {secret}")),
        ),
        "echotext" => (
            "403 Forbidden",
            vec![("Content-Type".into(), "text/plain".into())],
            format!("no access for {secret} ({authorization})\n"),
        ),
        "echotype" => (
            "200 OK",
            vec![("Content-Type".into(), format!("application/x-{secret}"))],
            json!({"schemaVersion": 2, "mediaType": format!("application/x-{secret}")}).to_string(),
        ),
        "echoindex" => {
            let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha(secret), "size": 10,
                    "platform": {"os": format!("os-{secret}"), "architecture": format!("arch-{secret}"),
                                 "variant": secret}}]})
            .to_string();
            (
                "200 OK",
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.index.v1+json".into(),
                )],
                m,
            )
        }
        "echoblob" if path.contains("/blobs/") => (
            "404 Not Found",
            vec![json_type],
            errors("BLOB_UNKNOWN", &format!("blob unknown to {secret}")),
        ),
        "echoblob" => manifest_reply(),
        "echoredirect" => (
            "307 Temporary Redirect",
            vec![(
                "Location".into(),
                format!("/v2/missing/manifests/{secret}?leak={secret}"),
            )],
            String::new(),
        ),
        "missing" => (
            "404 Not Found",
            vec![json_type],
            errors("MANIFEST_UNKNOWN", "manifest unknown"),
        ),
        _ => (
            "500 Internal Server Error",
            vec![json_type],
            errors("UNKNOWN", "internal error"),
        ),
    }
}

/// Repositories of [`Registry`] and the verdict each gives with the secret as password.
const FAMILIES: &[(&str, &str)] = &[
    ("ok", "ok"),
    ("locked", "unauthorized"),
    ("denied", "forbidden"),
    ("expired", "credentials_expired"),
    ("limited", "rate_limited"),
    ("echo", "rate_limited"),
    ("echotext", "forbidden"),
    ("echotype", "unsupported_manifest"),
    ("echoindex", "platform_mismatch"),
    ("echoblob", "blob_unknown"),
    ("echoredirect", "manifest_unknown"),
    ("echochallenge", "connection_refused"),
    ("missing", "manifest_unknown"),
    ("broken", "registry_error"),
    ("reflect", "unauthorized"),
];

// --------------------------------------------------------------- cloud and Kubernetes fakes

/// IMDSv2 and GCE metadata (scripts/cloud_fakes.py) and the Kubernetes API (the one fake,
/// tests/support/kube_fake.rs), whose secrets are ours.
struct Fakes {
    child: Child,
    imds: u16,
    gce: u16,
    kube: support::kube_fake::KubeFake,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FAKES_PY: &str = r#"
import http.server, os, socketserver, sys, threading
sys.path.insert(0, sys.argv[1])
from cloud_fakes import Gce, Imds
secret = os.environ["LEAK_SECRET"]
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
def serve(handler, **attrs):
    srv = Server(("127.0.0.1", 0), handler)
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]
ports = [
    serve(Imds, role="leak-role", omit_ttl=False, secret_key=secret, session_token=secret),
    serve(Gce, token=secret, email="leak@leaks.iam.gserviceaccount.com",
          scopes=["https://www.googleapis.com/auth/devstorage.read_only"]),
]
print(" ".join(map(str, ports)), flush=True)
sys.stdin.read()
"#;

fn start_fakes(secret: &str) -> Fakes {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut child = Command::new("python3")
        .args(["-c", FAKES_PY])
        .arg(&scripts)
        .env("LEAK_SECRET", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 for scripts/cloud_fakes.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(ports.len(), 2, "fakes did not start: {line:?}");
    // The Kubernetes API: the one fake, reviewing the planted token as the leak checker.
    let kube = support::kube_fake::KubeFake::start();
    kube.authenticate(secret, serde_json::json!({"username": "leak-checker"}));
    kube.allow("leak-checker", "allowed by the fake");
    Fakes {
        child,
        imds: ports[0],
        gce: ports[1],
        kube,
    }
}

// --------------------------------------------------------------- the planted node

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const GAR: &str = "europe-docker.pkg.dev";
const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// Everything planted, on disk.
struct Planted {
    secret: String,
    needles: Vec<String>,
    registry: Registry,
    fakes: Fakes,
    dir: tempfile::TempDir,
}

impl Planted {
    fn new() -> Planted {
        let secret = unique_secret();
        let needles = forms(&secret);
        let registry = Registry::start(&secret);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let reg = registry.addr.to_string();
        let docker_config = |user: &str| {
            json!({"auths": {&reg: {"auth": b64(&format!("{user}:{secret}"))}}}).to_string()
        };
        std::fs::write(d.join("docker-config.json"), docker_config("file-user")).unwrap();
        // The kubelet's node credential file.
        std::fs::create_dir_all(d.join("kubelet")).unwrap();
        std::fs::write(d.join("kubelet/config.json"), docker_config("node-user")).unwrap();
        // A credential-provider plugin for the registry.
        std::fs::create_dir_all(d.join("bin")).unwrap();
        let plugin = d.join("bin/leaky-provider");
        std::fs::write(
            &plugin,
            format!(
                "#!/bin/sh\ncat >/dev/null\necho '{{\"apiVersion\":\"{V1}\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"1s\",\"auth\":{{\"{reg}\":{{\"username\":\"plugin-user\",\"password\":\"{secret}\"}}}}}}'\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            d.join("providers.yaml"),
            format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: leaky-provider\n  matchImages: [\"{reg}\"]\n  defaultCacheDuration: 1s\n  apiVersion: {V1}\n"),
        )
        .unwrap();
        // A pull secret and a pod using it, in the fake API's store.
        let fakes = start_fakes(&secret);
        fakes.kube.put(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                   "metadata": {"name": "pull", "namespace": "leaks"},
                   "data": {".dockerconfigjson": b64(&docker_config("secret-user"))}}),
        );
        fakes.kube.put(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "leaks"},
                   "spec": {"imagePullSecrets": [{"name": "pull"}], "containers": [{"name": "app", "image": "x"}]}}),
        );
        std::fs::write(
            d.join("kubeconfig"),
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: leaks\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: leaks\n  user:\n    token: {secret}\ncontexts:\n- name: leaks\n  context:\n    cluster: leaks\n    user: leaks\ncurrent-context: leaks\n", fakes.kube.addr.port()),
        )
        .unwrap();
        // hosts.toml: the registry over plain HTTP, and the cloud registries sent to it.
        let b = bed();
        let server = format!("server = \"http://{reg}\"\n");
        let mut hosts = vec![
            (reg.clone(), server.clone()),
            (ECR.to_string(), server.clone()),
            (GAR.to_string(), server),
        ];
        let expired = format!("localhost:{}", b.port("expired"));
        hosts.push((
            expired.clone(),
            format!("server = \"https://{expired}\"\nca = \"{}\"\n", b.str("ca")),
        ));
        for name in ["broken", "hang", "closed"] {
            let a = b.addr(name);
            hosts.push((a.clone(), format!("server = \"http://{a}\"\n")));
        }
        for (host, body) in hosts {
            let h = d.join("certs.d").join(&host);
            std::fs::create_dir_all(&h).unwrap();
            std::fs::write(h.join("hosts.toml"), body).unwrap();
        }
        Planted {
            secret,
            needles,
            registry,
            fakes,
            dir,
        }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn reg(&self) -> String {
        self.registry.addr.to_string()
    }

    /// Node flags shared by `probe`, `node` and `agent`: every node-side source planted.
    fn node_args(&self) -> Vec<String> {
        [
            ("--hosts-dir", self.path("certs.d")),
            ("--kubelet-root-dir", self.path("kubelet")),
            (
                "--image-credential-provider-config",
                self.path("providers.yaml"),
            ),
            ("--image-credential-provider-bin-dir", self.path("bin")),
            (
                "--imds-endpoint",
                format!("http://127.0.0.1:{}", self.fakes.imds),
            ),
            (
                "--gce-metadata-host",
                format!("127.0.0.1:{}", self.fakes.gce),
            ),
            ("--kubeconfig", self.path("kubeconfig")),
            ("--proc-root", "/nonexistent/proc".into()),
            ("--metadata-timeout", "2s".into()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect()
    }
}

fn env() -> Vec<(&'static str, String)> {
    let mut env = ecr_env();
    env.extend([
        ("PULLCHECK_LOG", "trace".into()),
        ("RUST_LOG", "trace".into()),
    ]);
    env
}

/// `probe IMAGE -o OUTPUT --platform linux/amd64 --timeout 2s` and every node-side source.
fn probe_args(p: &Planted, image: &str, output: &str) -> Vec<String> {
    let mut args = strings(&[
        "probe",
        image,
        "-o",
        output,
        "--platform",
        "linux/amd64",
        "--timeout",
        "2s",
    ]);
    args.extend(p.node_args());
    args
}

/// Runs the CLI at trace level; checks both streams.
fn run(p: &Planted, args: &[String], stdin: Option<&str>) -> Run {
    let env = env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut all: Vec<&str> = vec!["--log", "trace"];
    all.extend(args.iter().map(String::as_str));
    let out = pullcheck(&all, stdin, &env);
    let what = format!("pullcheck {}", args.join(" "));
    clean(&format!("the stdout of {what}"), &out.stdout, &p.needles);
    clean(&format!("the stderr of {what}"), &out.stderr, &p.needles);
    if args[0] == "probe" {
        assert!(
            out.stderr.contains("TRACE"),
            "{what} ran at trace level:\n{}",
            out.stderr
        );
    }
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn no_command_leaks_a_credential() {
    let p = Planted::new();
    let reg = p.reg();
    let secret_line = format!("{}\n", p.secret);
    let b = bed();
    // Every family, with --username/--password-stdin and with --docker-config, text and JSON.
    for (repo, verdict) in FAMILIES {
        let image = format!("{reg}/{repo}/app:v1");
        for output in ["json", "text"] {
            for source in ["stdin", "docker-config"] {
                let mut args = probe_args(&p, &image, output);
                let stdin = match source {
                    "stdin" => {
                        args.extend(strings(&["--username", USER, "--password-stdin"]));
                        Some(secret_line.as_str())
                    }
                    _ => {
                        args.extend(["--docker-config".to_string(), p.path("docker-config.json")]);
                        None
                    }
                };
                let out = run(&p, &args, stdin);
                if output == "json" {
                    assert_eq!(
                        out.json()["verdict"],
                        *verdict,
                        "{repo} via {source}: {}",
                        out.stdout
                    );
                }
            }
        }
    }
    // Each other source on its own, success and a failure.
    for (flags, label) in [
        (strings(&["--secret", "leaks/pull"]), "pull secret"),
        (strings(&["--pod", "leaks/web"]), "pod"),
        (Vec::new(), "node file and plugin"),
    ] {
        for (repo, verdict) in [("ok", "ok"), ("denied", "forbidden")] {
            let image = format!("{reg}/{repo}/app:v1");
            for output in ["json", "text"] {
                let mut args = probe_args(&p, &image, output);
                args.extend(flags.clone());
                let out = run(&p, &args, None);
                if output == "json" {
                    assert_eq!(out.json()["verdict"], verdict, "{label}: {}", out.stdout);
                }
            }
        }
    }
    // Cloud identities: ECR through IMDS (secret key and session token planted; the registry
    // refuses moto's token), GKE's metadata token (the registry takes it).
    for (image, verdict) in [
        (format!("{ECR}/ok/app:v1"), "unauthorized"),
        (format!("{GAR}/ok/app:v1"), "ok"),
    ] {
        for output in ["json", "text"] {
            let args = probe_args(&p, &image, output);
            let out = run(&p, &args, None);
            if output == "json" {
                assert_eq!(out.json()["verdict"], verdict, "{image}: {}", out.stdout);
            }
        }
    }
    // Transport failures with the secret in hand: TLS, refused, timeout; a runtime pull that
    // cannot reach a runtime; and the redirect to another host.
    let failures = [
        (
            format!("localhost:{}/app:v1", b.port("expired")),
            "tls_certificate_expired",
        ),
        (format!("{}/app:v1", b.addr("closed")), "connection_refused"),
        (format!("{}/app:v1", b.addr("hang")), "timeout"),
        (
            format!("{}/redirect/leaks/app:v1", b.addr("broken")),
            "manifest_unknown",
        ),
    ];
    for (image, verdict) in &failures {
        for output in ["json", "text"] {
            let mut args = strings(&["probe", image, "-o", output]);
            args.extend(p.node_args());
            args.extend(strings(&[
                "--username",
                USER,
                "--password-stdin",
                "--timeout",
                "1s",
            ]));
            let out = run(&p, &args, Some(&secret_line));
            if output == "json" {
                assert_eq!(out.json()["verdict"], *verdict, "{image}: {}", out.stdout);
            }
        }
    }
    let mut args = strings(&[
        "probe",
        &format!("{reg}/ok/app:v1"),
        "-o",
        "json",
        "--runtime-pull",
    ]);
    args.extend(p.node_args());
    args.extend(strings(&[
        "--runtime-endpoint",
        "unix:///nonexistent/leaks-cri.sock",
        "--username",
        USER,
        "--password-stdin",
    ]));
    let out = run(&p, &args, Some(&secret_line));
    assert_eq!(
        out.json()["runtime"]["verdict"],
        "runtime_unavailable",
        "{}",
        out.stdout
    );
    let record = redirect_record("/v2/redirect/leaks/");
    assert!(
        !record.is_empty() && record.iter().all(|r| r["authorization"] == false),
        "the redirect reached the other host, without an Authorization header: {record:?}"
    );
    // node and explain.
    for output in ["json", "text"] {
        let mut args = strings(&[
            "node",
            "-o",
            output,
            "--runtime-endpoint",
            "unix:///nonexistent/leaks-cri.sock",
        ]);
        args.extend(p.node_args());
        run(&p, &args, None);
        let message = format!("Failed to pull image \"{reg}/locked/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"{reg}/locked/app:v1\": failed to resolve reference \"{reg}/locked/app:v1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed");
        run(&p, &strings(&["explain", "-o", output, &message]), None);
    }
}

/// The agent's every endpoint, with every node-side source planted, pod and secret
/// parameters, the network listener's bearer token, bad input, and its trace-level logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_endpoint_leaks_a_credential() {
    let p = Planted::new();
    let reg = p.reg();
    let env = env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut extra: Vec<String> = p
        .node_args()
        .into_iter()
        .filter(|a| a != "--proc-root" && a != "/nonexistent/proc")
        .collect();
    // The drift monitor re-probes a watched image with the planted pull secret, so its
    // state, metrics and logs are checked too.
    let watch = tempfile::tempdir().unwrap();
    let list = watch.path().join("watch.yaml");
    std::fs::write(
        &list,
        format!("images:\n  - image: {reg}/ok/app:v1\n    secrets: [leaks/pull]\n  - {reg}/denied/app:v1\n"),
    )
    .unwrap();
    extra.extend(strings(&[
        "--watch-list",
        path(&list),
        "--monitor-interval",
        "1s",
    ]));
    extra.extend(strings(&[
        "--log",
        "trace",
        "--network-listen",
        "127.0.0.1:0",
        "--node-name",
        "leak-node",
        "--default-registry-budget",
        "10000/1m",
    ]));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let agent = Agent::start(&extra, &env);
    let mut answers: Vec<(String, Answer)> = Vec::new();
    let mut probes: Vec<(Vec<(&str, String)>, &str)> = Vec::new();
    for (repo, verdict) in FAMILIES {
        probes.push((vec![("image", format!("{reg}/{repo}/app:v1"))], verdict));
    }
    probes.push((
        vec![
            ("image", format!("{reg}/ok/app:v1")),
            ("secret", "leaks/pull".into()),
        ],
        "ok",
    ));
    probes.push((
        vec![
            ("image", format!("{reg}/denied/app:v1")),
            ("pod", "leaks/web".into()),
        ],
        "forbidden",
    ));
    probes.push((vec![("image", format!("{ECR}/ok/app:v1"))], "unauthorized"));
    probes.push((vec![("image", format!("{GAR}/ok/app:v1"))], "ok"));
    for (query, verdict) in &probes {
        let mut q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        q.extend([("platform", "linux/amd64"), ("fresh", "true")]);
        let a = probe(&agent, &q).await;
        assert_eq!(a.status, 200, "{q:?}: {}", a.text);
        assert_eq!(a.json()["verdict"], *verdict, "{q:?}: {}", a.text);
        answers.push((format!("GET /v1/probe {q:?}"), a));
        // Cached, and POST.
        let a = probe(&agent, &q[..q.len() - 1]).await;
        answers.push((format!("GET /v1/probe (cached) {q:?}"), a));
        let mut body = serde_json::Map::new();
        for (k, v) in query {
            let v = if *k == "secret" { json!([v]) } else { json!(v) };
            body.insert(k.to_string(), v);
        }
        body.insert("platform".into(), json!("linux/amd64"));
        let a = send(post_json(&agent.url("/v1/probe"), &Value::Object(body))).await;
        assert_eq!(a.status, 200, "POST {query:?}: {}", a.text);
        answers.push((format!("POST /v1/probe {query:?}"), a));
    }
    // The monitor has probed its watch list with the planted secret.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = get(&agent.url("/v1/monitor")).await.json();
        let probed = m["targets"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["credentials"] == "secrets leaks/pull" && t["verdict"] == "ok")
        });
        if probed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "monitor never probed: {m:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", p.secret))
    );
    let c = client();
    for (label, req) in [
        ("/v1/node", c.get(agent.url("/v1/node"))),
        ("/v1/monitor", c.get(agent.url("/v1/monitor"))),
        ("/healthz", c.get(agent.url("/healthz"))),
        ("/readyz", c.get(agent.url("/readyz"))),
        ("/openapi.json", c.get(agent.url("/openapi.json"))),
        (
            "bad image",
            c.get(agent.url("/v1/probe?image=UPPER%2F%2Fbad::")),
        ),
        (
            "unknown parameter",
            c.get(agent.url(&format!("/v1/probe?image=x&token={}", p.secret))),
        ),
        (
            "missing image",
            c.get(agent.url("/v1/probe"))
                .header("authorization", &basic),
        ),
        (
            "bad json",
            c.post(agent.url("/v1/probe"))
                .header("content-type", "application/json")
                .body(format!("{{\"image\": \"{}", p.secret)),
        ),
        (
            "unknown field",
            c.post(agent.url("/v1/probe"))
                .header("content-type", "application/json")
                .body(json!({"image": "x", "password": p.secret}).to_string()),
        ),
        (
            "not found",
            c.get(agent.url("/nope"))
                .header("authorization", format!("Bearer {}", p.secret)),
        ),
        ("/metrics", c.get(agent.metrics_url("/metrics"))),
        ("metrics /readyz", c.get(agent.metrics_url("/readyz"))),
    ] {
        answers.push((label.to_string(), send(req).await));
    }
    // The network listener: the secret is a valid bearer token (TokenReview by the fake), a
    // variant of it is not.
    let net = format!("http://{}", agent.network.expect("network listener"));
    let q = format!("{net}/v1/probe?image={reg}/ok/app:v1&platform=linux/amd64");
    let a = send(
        c.get(&q)
            .header("authorization", format!("Bearer {}", p.secret)),
    )
    .await;
    assert_eq!(a.status, 200, "reviewed token: {}", a.text);
    answers.push(("network, valid token".into(), a));
    let a = send(
        c.get(&q)
            .header("authorization", format!("Bearer x{}", p.secret)),
    )
    .await;
    a.assert_error(401, "unauthenticated");
    answers.push(("network, wrong token".into(), a));
    answers.push((
        "network /v1/node".into(),
        send(
            c.get(format!("{net}/v1/node"))
                .header("authorization", format!("Bearer {}", p.secret)),
        )
        .await,
    ));
    // Metrics last, after everything else was counted.
    answers.push((
        "/metrics (end)".into(),
        send(c.get(agent.metrics_url("/metrics"))).await,
    ));
    for (label, a) in &answers {
        clean(&format!("the answer to {label}"), &a.text, &p.needles);
        let headers: String = a
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("")))
            .collect();
        clean(
            &format!("the headers of the answer to {label}"),
            &headers,
            &p.needles,
        );
    }
    agent.terminate();
    let mut agent = agent;
    assert_eq!(agent.wait_exit(std::time::Duration::from_secs(30)), Some(0));
    let logs = agent.logs();
    assert!(logs.contains("TRACE"), "the agent logged at trace level");
    clean("the agent's logs", &logs, &p.needles);
}

#[test]
fn the_forms_cover_base64_in_any_alignment() {
    let s = "pcleak-0123456789abcdef";
    let f = forms(s);
    for prefix in ["", "u:", "user:", "{\"auth\":\"", "leak-user:"] {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{s}\"}}"));
        assert!(
            f.iter().any(|n| enc.contains(n.as_str())),
            "{prefix}: {enc}"
        );
    }
    assert!(f.iter().all(|n| n.len() >= 20), "{f:?}");
}
