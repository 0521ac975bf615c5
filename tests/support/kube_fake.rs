//! A fake Kubernetes API server for tests: plain HTTP/1.1 on 127.0.0.1:0, speaking the real
//! wire format for what it serves, and the port-forward WebSocket protocol in front of local
//! TCP servers (a real `pullcheck agent` per "node", or a few agents behind many nodes).
//!
//! What it serves:
//! - **Objects** (generic store: object path → JSON). [`KubeFake::put`] files any object under
//!   the path the real API server gives it, from its `apiVersion`, `kind`, `metadata.namespace`
//!   and `metadata.name` (`/api/v1/nodes/n1`, `/api/v1/namespaces/ns/pods/p`,
//!   `/apis/apps/v1/namespaces/ns/daemonsets/d`). `GET` of an object path answers it; `GET` of a
//!   collection (`/api/v1/nodes`, `/api/v1/namespaces/ns/pods`, `/api/v1/pods` across
//!   namespaces) answers a `…List` with `metadata.resourceVersion`, filtered by `labelSelector`
//!   (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`) and `fieldSelector`
//!   (`path=v`, `path==v`, `path!=v` on any dotted path: `spec.nodeName`, `metadata.name`,
//!   `status.phase`), comma meaning AND, as the real server does. Every stored object gets a
//!   `metadata.resourceVersion` from one counter. `watch=true` is refused (405 Status) for
//!   now: a later watch only needs the counter and a broadcast of the `put`s.
//! - **Errors** as `Status` objects (`kind: Status`, `reason`, `code`, `details`): 404 for a
//!   missing object, 403 for what [`KubeFake::forbid`] names (`("list", "nodes")`,
//!   `("create", "pods/portforward")` for every pod, or one pod with [`Forward::Forbidden`]),
//!   400 for a malformed selector.
//! - **Port-forward**: `GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=P[,Q]` with a
//!   WebSocket upgrade. Like the kubelet's streaming server: subprotocol `v4.channel.k8s.io`
//!   (kube offers v5 then v4; port-forward speaks v4 only), per requested port a data channel
//!   `2i` and an error channel `2i+1`, every message prefixed with its channel byte, and the
//!   first message on each channel carrying the port as 2 bytes little-endian. Data on the data
//!   channel goes to the TCP address set with [`KubeFake::forward`]; a port with no address
//!   (or whose address refuses) gets the kubelet's error text on the error channel. A pod set
//!   to [`Forward::Hang`] never answers the upgrade (a node that does not answer in time).
//!
//! [`KubeFake::requests`] records every request line (method, path and query) for assertions,
//! e.g. that an agent read the pod whose identity it was asked to use.
//!
//! It runs on its own thread and tokio runtime, so synchronous and async tests can both use
//! it; it stops when dropped.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What the port-forward of one pod does.
#[derive(Debug, Clone)]
pub enum Forward {
    /// Each forwarded port goes to this address (whatever the port number asked).
    To(SocketAddr),
    /// Only these ports are open (port → address); others get "connection refused".
    Ports(HashMap<u16, SocketAddr>),
    /// 403 Forbidden, as the API server answers without `create` on `pods/portforward`.
    Forbidden,
    /// The upgrade is never answered.
    Hang,
}

#[derive(Default)]
struct State {
    /// Object path (`/api/v1/namespaces/ns/pods/p`) → object.
    objects: BTreeMap<String, Value>,
    resource_version: u64,
    /// `ns/name` → port-forward behaviour.
    forwards: HashMap<String, Forward>,
    /// (verb, resource) pairs answered 403, e.g. ("list", "nodes"), ("get", "pods").
    forbidden: HashSet<(String, String)>,
    requests: Vec<String>,
}

/// A running fake API server (see the module documentation).
pub struct KubeFake {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeFake {
    /// Starts the server on 127.0.0.1:0 on its own thread.
    pub fn start() -> KubeFake {
        let state = Arc::new(Mutex::new(State::default()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake API server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = tcp.set_nodelay(true);
                        let st = st.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let st = st.clone();
                                async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), service)
                                .with_upgrades()
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
            // Hanging port-forwards and open relays end with the runtime.
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().expect("fake API server address");
        KubeFake {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stores (or replaces) an object under the path the real API server gives it.
    pub fn put(&self, mut obj: Value) {
        let path = object_path(&obj).unwrap_or_else(|| panic!("cannot file object {obj}"));
        let mut st = self.state.lock().unwrap();
        st.resource_version += 1;
        obj["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = json!(format!(
                "00000000-0000-4000-8000-{:012}",
                st.resource_version
            ));
        }
        st.objects.insert(path, obj);
    }

    /// Removes the object at `path` (e.g. `/api/v1/nodes/n1`).
    pub fn remove(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.remove(path)
    }

    /// Sets what a port-forward to pod `namespace/name` does.
    pub fn forward(&self, namespace: &str, name: &str, to: Forward) {
        self.state
            .lock()
            .unwrap()
            .forwards
            .insert(format!("{namespace}/{name}"), to);
    }

    /// Answers 403 to `verb` on `resource` (`list`/`get` on `nodes`, `pods`, `secrets`;
    /// `create` on `pods/portforward`), in every namespace.
    pub fn forbid(&self, verb: &str, resource: &str) {
        self.state
            .lock()
            .unwrap()
            .forbidden
            .insert((verb.to_string(), resource.to_string()));
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Writes a kubeconfig with one context per `(context, server, namespace)`, the first one
    /// current, and no credentials (the fake does not authenticate).
    pub fn write_kubeconfig(path: &Path, contexts: &[(&str, &str, &str)]) {
        let clusters: Vec<Value> = contexts
            .iter()
            .map(|(c, server, _)| json!({"name": format!("{c}-cluster"), "cluster": {"server": server}}))
            .collect();
        let ctxs: Vec<Value> = contexts
            .iter()
            .map(|(c, _, ns)| {
                json!({"name": c, "context": {"cluster": format!("{c}-cluster"), "user": "tester", "namespace": ns}})
            })
            .collect();
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": clusters, "contexts": ctxs,
            "current-context": contexts.first().map(|c| c.0).unwrap_or(""),
            "users": [{"name": "tester", "user": {}}],
        });
        // JSON is YAML: kube reads either.
        std::fs::write(path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }
}

impl Drop for KubeFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// === objects and paths ===

/// The plural resource name the API server uses for `kind`.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// `/api/v1` or `/apis/GROUP/VERSION` for an `apiVersion`.
fn api_prefix(api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((group, version)) => format!("/apis/{group}/{version}"),
        None => format!("/api/{api_version}"),
    }
}

fn object_path(obj: &Value) -> Option<String> {
    let prefix = api_prefix(obj["apiVersion"].as_str()?);
    let resource = plural(obj["kind"].as_str()?);
    let name = obj["metadata"]["name"].as_str()?;
    Some(match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{resource}/{name}"),
        None => format!("{prefix}/{resource}/{name}"),
    })
}

/// A request path, parsed: API prefix, namespace, resource, name, subresource.
#[derive(Debug, PartialEq)]
struct Target {
    prefix: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "..") {
        return None;
    }
    let (prefix, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (format!("/api/{v}"), rest),
        ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, more @ ..] if !more.is_empty() => (Some(ns.to_string()), more),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [r] => (r, None, None),
        [r, n] => (r, Some(n.to_string()), None),
        [r, n, s] => (r, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Target {
        prefix,
        namespace,
        resource: resource.to_string(),
        name,
        subresource,
    })
}

/// A `Status` object as the API server sends it with an error.
pub fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
}

fn reply(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    state
        .lock()
        .unwrap()
        .requests
        .push(format!("{} {}?{}", req.method(), path, query));
    let Some(t) = parse_target(&path) else {
        return no_route();
    };
    if req.method() != hyper::Method::GET {
        return reply(
            405,
            &status(
                405,
                "MethodNotAllowed",
                "the fake API server only reads",
                json!({}),
            ),
        );
    }
    let verb = match (&t.name, &t.subresource) {
        (_, Some(_)) => "create",
        (Some(_), None) => "get",
        (None, None) => "list",
    };
    let resource = match &t.subresource {
        Some(s) => format!("{}/{s}", t.resource),
        None => t.resource.clone(),
    };
    if state
        .lock()
        .unwrap()
        .forbidden
        .contains(&(verb.to_string(), resource.clone()))
    {
        return forbidden(verb, &resource, t.name.as_deref(), t.namespace.as_deref());
    }
    match (&t.name, t.subresource.as_deref()) {
        (None, _) => list(&state, &t, &query),
        (Some(name), None) => {
            let key = object_key(&t, name);
            match state.lock().unwrap().objects.get(&key) {
                Some(obj) => reply(200, obj),
                None => not_found(&t.resource, name),
            }
        }
        (Some(name), Some("portforward")) if t.resource == "pods" => {
            portforward(state, req, &t, name, &query).await
        }
        (Some(_), Some(_)) => no_route(),
    }
}

/// 404 for a path the API server does not serve.
fn no_route() -> Response<Full<Bytes>> {
    reply(
        404,
        &status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        ),
    )
}

fn object_key(t: &Target, name: &str) -> String {
    match &t.namespace {
        Some(ns) => format!("{}/namespaces/{ns}/{}/{name}", t.prefix, t.resource),
        None => format!("{}/{}/{name}", t.prefix, t.resource),
    }
}

fn not_found(resource: &str, name: &str) -> Response<Full<Bytes>> {
    reply(
        404,
        &status(
            404,
            "NotFound",
            &format!("{resource} \"{name}\" not found"),
            json!({"name": name, "kind": resource}),
        ),
    )
}

fn forbidden(
    verb: &str,
    resource: &str,
    name: Option<&str>,
    ns: Option<&str>,
) -> Response<Full<Bytes>> {
    let (res, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let subject = match name {
        Some(n) => format!("{res} \"{n}\" is forbidden"),
        None => format!("{res} is forbidden"),
    };
    let scope = match ns {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    let what = if sub.is_empty() {
        res.to_string()
    } else {
        format!("{res}/{sub}")
    };
    let message = format!(
        "{subject}: User \"tester\" cannot {verb} resource \"{what}\" in API group \"\"{scope}"
    );
    let mut details = json!({"kind": res});
    if let Some(n) = name {
        details["name"] = json!(n);
    }
    reply(403, &status(403, "Forbidden", &message, details))
}

fn list(state: &Arc<Mutex<State>>, t: &Target, query: &str) -> Response<Full<Bytes>> {
    if query_param(query, "watch").is_some_and(|w| w == "true" || w == "1") {
        return reply(
            405,
            &status(
                405,
                "MethodNotAllowed",
                "watch is not implemented by the fake API server",
                json!({}),
            ),
        );
    }
    let bad = |e: String| reply(400, &status(400, "BadRequest", &e, json!({})));
    let labels = match query_param(query, "labelSelector").map(|s| parse_selector(&s)) {
        Some(Err(e)) => return bad(format!("unable to parse requirement: {e}")),
        other => other.and_then(Result::ok).unwrap_or_default(),
    };
    let fields = match query_param(query, "fieldSelector").map(|s| parse_field_selector(&s)) {
        Some(Err(e)) => return bad(format!("invalid field selector: {e}")),
        other => other.and_then(Result::ok).unwrap_or_default(),
    };
    let st = state.lock().unwrap();
    let scope = match &t.namespace {
        Some(ns) => format!("{}/namespaces/{ns}/{}/", t.prefix, t.resource),
        None => format!("{}/", t.prefix),
    };
    let items: Vec<Value> = st
        .objects
        .iter()
        .filter(|(path, _)| {
            let Some(rest) = path.strip_prefix(&scope) else {
                return false;
            };
            if t.namespace.is_some() {
                return !rest.contains('/');
            }
            // Cluster-scoped `resource/name`, or every namespace's `namespaces/ns/resource/name`.
            let parts: Vec<&str> = rest.split('/').collect();
            matches!(parts.as_slice(), [r, _] if *r == t.resource)
                || matches!(parts.as_slice(), ["namespaces", _, r, _] if *r == t.resource)
        })
        .map(|(_, obj)| obj)
        .filter(|obj| labels.iter().all(|r| r.matches(&obj["metadata"]["labels"])))
        .filter(|obj| fields.iter().all(|f| f.matches(obj)))
        .cloned()
        .collect();
    let kind = items
        .first()
        .and_then(|o| o["kind"].as_str())
        .map(|k| format!("{k}List"))
        .unwrap_or_else(|| list_kind(&t.resource));
    let api_version = t
        .prefix
        .trim_start_matches("/api/")
        .trim_start_matches("/apis/")
        .to_string();
    reply(
        200,
        &json!({"kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": st.resource_version.to_string()}, "items": items}),
    )
}

/// `PodList` for `pods`, `NodeList` for `nodes`, … for an empty list.
pub fn list_kind(resource: &str) -> String {
    let singular = resource
        .strip_suffix("ies")
        .map(|s| format!("{s}y"))
        .or_else(|| resource.strip_suffix("sses").map(|s| format!("{s}ss")))
        .or_else(|| resource.strip_suffix('s').map(str::to_string))
        .unwrap_or_else(|| resource.to_string());
    let mut c = singular.chars();
    let cap: String = c
        .next()
        .map(|f| f.to_ascii_uppercase())
        .into_iter()
        .chain(c)
        .collect();
    format!("{cap}List")
}

// === selectors ===

/// One label requirement.
#[derive(Debug, PartialEq)]
pub enum LabelReq {
    /// `k=v`, `k==v`, `k in (…)`.
    In(String, Vec<String>),
    /// `k!=v`, `k notin (…)` (true when the label is absent).
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    Absent(String),
}

impl LabelReq {
    /// Whether an object with these `metadata.labels` meets the requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            LabelReq::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::Absent(k) => get(k).is_none(),
        }
    }
}

/// Parses a label selector as the API server does (the subset kubectl users write).
pub fn parse_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    let valid = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    let mut out = Vec::new();
    for term in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("{term:?}: expected a set in parentheses"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some((k, v)) = term.split_once("!=") {
            LabelReq::NotIn(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            LabelReq::In(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            LabelReq::NotIn(k.trim().into(), set(rest)?)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            LabelReq::In(k.trim().into(), set(rest)?)
        } else if let Some(k) = term.strip_prefix('!') {
            LabelReq::Absent(k.trim().into())
        } else {
            LabelReq::Exists(term.into())
        };
        let key = match &req {
            LabelReq::In(k, _)
            | LabelReq::NotIn(k, _)
            | LabelReq::Exists(k)
            | LabelReq::Absent(k) => k,
        };
        if !valid(key) {
            return Err(format!("invalid label key {key:?}"));
        }
        out.push(req);
    }
    Ok(out)
}

/// One field requirement: dotted path, wanted value, equal or not.
#[derive(Debug, PartialEq)]
pub struct FieldReq {
    path: String,
    value: String,
    equal: bool,
}

impl FieldReq {
    /// Whether `obj` meets the requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let mut v = obj;
        for part in self.path.split('.') {
            v = &v[part];
        }
        let actual = v.as_str().unwrap_or("");
        (actual == self.value) == self.equal
    }
}

/// Parses a field selector (`spec.nodeName=n1,status.phase!=Failed`).
pub fn parse_field_selector(s: &str) -> Result<Vec<FieldReq>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|term| {
            let (path, value, equal) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, false)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, true)
            } else {
                return Err(format!("{term:?}: expected field=value or field!=value"));
            };
            Ok(FieldReq {
                path: path.trim().to_string(),
                value: value.trim().to_string(),
                equal,
            })
        })
        .collect()
}

// === port-forward ===

/// The kubelet's v4 binary channel protocol for port-forward.
pub const PORTFORWARD_PROTOCOL: &str = "v4.channel.k8s.io";

async fn portforward(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
    t: &Target,
    name: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let ns = t.namespace.clone().unwrap_or_default();
    let (exists, behaviour) = {
        let st = state.lock().unwrap();
        (
            st.objects.contains_key(&object_key(t, name)),
            st.forwards.get(&format!("{ns}/{name}")).cloned(),
        )
    };
    if !exists {
        return not_found("pods", name);
    }
    match behaviour {
        Some(Forward::Forbidden) => {
            return forbidden("create", "pods/portforward", Some(name), Some(&ns));
        }
        Some(Forward::Hang) => {
            std::future::pending::<()>().await;
        }
        _ => {}
    }
    let ports: Result<Vec<u16>, _> = query_param(query, "ports")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().parse::<u16>())
        .collect();
    let ports = match ports {
        Ok(p) if !p.is_empty() && !p.contains(&0) => p,
        _ => {
            return reply(
                400,
                &status(
                    400,
                    "BadRequest",
                    "query parameter \"ports\" is required",
                    json!({}),
                ),
            )
        }
    };
    let headers = req.headers();
    let upgrade = headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec());
    let offered = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .any(|p| p.trim() == PORTFORWARD_PROTOCOL);
    let (Some(key), true, true) = (key, upgrade, offered) else {
        return reply(400, &status(400, "BadRequest", "unable to upgrade connection: expected a WebSocket upgrade offering v4.channel.k8s.io", json!({})));
    };
    let targets: Vec<Option<SocketAddr>> = ports
        .iter()
        .map(|p| match &behaviour {
            Some(Forward::To(a)) => Some(*a),
            Some(Forward::Ports(m)) => m.get(p).copied(),
            _ => None,
        })
        .collect();
    let pod = format!("{ns}/{name}");
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        relay(ws, ports, targets, pod).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header(
            "sec-websocket-accept",
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key),
        )
        .header("sec-websocket-protocol", PORTFORWARD_PROTOCOL)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

/// One WebSocket ↔ one TCP connection per port, until either side closes.
async fn relay(
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    ports: Vec<u16>,
    targets: Vec<Option<SocketAddr>>,
    pod: String,
) {
    let (mut sink, mut stream) = ws.split();
    let (to_ws, mut from_tcp) = tokio::sync::mpsc::channel::<Message>(64);
    let mut writers = Vec::new();
    for (i, (port, target)) in ports.iter().zip(&targets).enumerate() {
        let (data, err) = (2 * i as u8, 2 * i as u8 + 1);
        // The first message on each channel carries the port, little-endian.
        for ch in [data, err] {
            if sink.send(framed(ch, &port.to_le_bytes())).await.is_err() {
                return;
            }
        }
        let conn = match target {
            Some(a) => tokio::net::TcpStream::connect(a).await.ok(),
            None => None,
        };
        let Some(conn) = conn else {
            let text = format!(
                "error forwarding port {port} to pod {pod}, uid : failed to connect to localhost:{port} inside namespace {pod}: connection refused"
            );
            let _ = sink.send(framed(err, text.as_bytes())).await;
            writers.push(None);
            continue;
        };
        let _ = conn.set_nodelay(true);
        let (mut r, w) = conn.into_split();
        writers.push(Some(w));
        let to_ws = to_ws.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to_ws.send(framed(data, &buf[..n])).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // The pod closed its side: end the stream (v4 has no half-close).
            let _ = to_ws.send(Message::Close(None)).await;
        });
    }
    drop(to_ws);
    loop {
        tokio::select! {
            out = from_tcp.recv() => {
                let Some(msg) = out else { break };
                let close = msg.is_close();
                if sink.send(msg).await.is_err() || close {
                    break;
                }
            }
            inc = stream.next() => {
                match inc {
                    Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                        let ch = b[0] as usize;
                        if ch.is_multiple_of(2) {
                            if let Some(Some(w)) = writers.get_mut(ch / 2) {
                                if w.write_all(&b[1..]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                }
            }
        }
    }
    for w in writers.iter_mut().flatten() {
        let _ = w.shutdown().await;
    }
    let _ = sink.close().await;
}
