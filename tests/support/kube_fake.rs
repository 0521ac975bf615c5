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
//!   `metadata.resourceVersion` from one counter.
//! - **Watch**: `watch=true` on a collection answers the `ADDED`/`MODIFIED`/`DELETED` events
//!   after `resourceVersion` that match the selectors, one JSON object per line as the real
//!   server streams them. The fake long-polls: it answers as soon as there are events (or
//!   after 2 s with none) and ends the response, as the real server does at `timeoutSeconds`;
//!   clients such as kube's watcher then watch again from the last resourceVersion.
//! - **Create**: `POST` of an object to its collection stores it (`generateName` honoured)
//!   and answers 201, or 409 `AlreadyExists` for a name in use — what Events need.
//! - **Outage**: [`KubeFake::set_available`]`(false)` closes every open connection and drops
//!   new ones unanswered, until it is switched back (a 503 would not do: kube's client retries
//!   those by itself).
//! - **Errors** as `Status` objects (`kind: Status`, `reason`, `code`, `details`): 404 for a
//!   missing object, 403 for what [`KubeFake::forbid`] names (`("list", "nodes")`,
//!   `("get", "pods/portforward")` for every pod, or one pod with [`Forward::Forbidden`]),
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
//! - **Reviews**: TokenReview and SubjectAccessReview (the agent's `--network-listen`), as
//!   [`KubeFake::authenticate`] and [`KubeFake::allow`] set them up (see `review.rs`).
//!
//! [`KubeFake::requests`] records every request line (method, path and query) for assertions,
//! e.g. that an agent read the pod whose identity it was asked to use.
//!
//! It runs on its own thread and tokio runtime, so synchronous and async tests can both use
//! it; it stops when dropped.

mod portforward;
mod review;
mod selector;

// The fake's public surface, for tests that use only part of it.
#[allow(unused_imports)]
pub use portforward::PORTFORWARD_PROTOCOL;
#[allow(unused_imports)]
pub use selector::{parse_field_selector, parse_selector, FieldReq, LabelReq};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use portforward::portforward;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the port-forward of one pod does.
#[derive(Debug, Clone)]
pub enum Forward {
    /// Each forwarded port goes to this address (whatever the port number asked).
    To(SocketAddr),
    /// Only these ports are open (port → address); others get "connection refused".
    Ports(HashMap<u16, SocketAddr>),
    /// 403 Forbidden, as the API server answers without `get` on `pods/portforward` (the
    /// WebSocket upgrade is a GET; seen on the cluster tier's real API server).
    Forbidden,
    /// The upgrade is never answered.
    Hang,
}

#[derive(Default)]
pub(crate) struct State {
    /// Object path (`/api/v1/namespaces/ns/pods/p`) → object.
    objects: BTreeMap<String, Value>,
    resource_version: u64,
    /// `ns/name` → port-forward behaviour.
    forwards: HashMap<String, Forward>,
    /// (verb, resource) pairs answered 403, e.g. ("list", "nodes"), ("get", "pods").
    forbidden: HashSet<(String, String)>,
    requests: Vec<String>,
    /// Every change, for watches: (resourceVersion, type, object path, object).
    log: Vec<(u64, &'static str, String, Value)>,
    /// Simulated outage.
    down: bool,
    /// Open connections, closed when an outage starts.
    conns: Vec<tokio::task::AbortHandle>,
    /// TokenReview and SubjectAccessReview.
    reviewer: review::Reviewer,
    /// Every `Authorization` header received.
    authorization: Vec<String>,
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
                        if st.lock().unwrap().down {
                            // An outage: the connection is dropped unanswered.
                            drop(tcp);
                            continue;
                        }
                        let _ = tcp.set_nodelay(true);
                        let st2 = st.clone();
                        let conn = tokio::spawn(async move {
                            let st = st2;
                            let service = hyper::service::service_fn(move |req| {
                                let st = st.clone();
                                async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), service)
                                .with_upgrades()
                                .await;
                        });
                        let mut state = st.lock().unwrap();
                        state.conns.retain(|c| !c.is_finished());
                        state.conns.push(conn.abort_handle());
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
    pub fn put(&self, obj: Value) {
        let path = object_path(&obj).unwrap_or_else(|| panic!("cannot file object {obj}"));
        store(&mut self.state.lock().unwrap(), path, obj);
    }

    /// Removes the object at `path` (e.g. `/api/v1/nodes/n1`).
    pub fn remove(&self, path: &str) -> Option<Value> {
        let mut st = self.state.lock().unwrap();
        let obj = st.objects.remove(path)?;
        st.resource_version += 1;
        let rv = st.resource_version;
        st.log.push((rv, "DELETED", path.to_string(), obj.clone()));
        Some(obj)
    }

    /// Every stored object whose path starts with `prefix` (e.g. the Events created in a
    /// namespace: `/api/v1/namespaces/team-a/events/`).
    pub fn objects(&self, prefix: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Starts (`false`) or ends (`true`) a simulated outage: open connections are closed
    /// and new ones dropped unanswered, as when the API server process is gone.
    pub fn set_available(&self, up: bool) {
        let mut st = self.state.lock().unwrap();
        st.down = !up;
        if !up {
            for c in st.conns.drain(..) {
                c.abort();
            }
        }
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

    /// Authenticates `token` as `user` (a TokenReview `status.user`: `username`, `uid`,
    /// `groups`, `extra`).
    pub fn authenticate(&self, token: &str, user: Value) {
        self.state
            .lock()
            .unwrap()
            .reviewer
            .users
            .insert(token.to_string(), user);
    }

    /// Allows `username` everything a SubjectAccessReview asks, with `reason`.
    pub fn allow(&self, username: &str, reason: &str) {
        self.state
            .lock()
            .unwrap()
            .reviewer
            .allowed
            .insert(username.to_string(), reason.to_string());
    }

    /// Every review of `kind` (`TokenReview`, `SubjectAccessReview`) received, in order.
    pub fn reviews(&self, kind: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .reviewer
            .seen
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every `Authorization` header received, in order.
    pub fn authorization_headers(&self) -> Vec<String> {
        self.state.lock().unwrap().authorization.clone()
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Writes a kubeconfig with one context per `(context, server, namespace)`, the first one
    /// current, and no credentials (the fake does not authenticate its clients; it reviews the
    /// tokens they hand on).
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

/// Files `obj` at `path` with the next resourceVersion (and a UID when it has none), logging
/// the change for watches.
fn store(st: &mut State, path: String, mut obj: Value) {
    st.resource_version += 1;
    let rv = st.resource_version;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    if obj["metadata"]["uid"].is_null() {
        obj["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{rv:012}"));
    }
    let kind = if st.objects.contains_key(&path) {
        "MODIFIED"
    } else {
        "ADDED"
    };
    st.log.push((rv, kind, path.clone(), obj.clone()));
    st.objects.insert(path, obj);
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
pub(crate) struct Target {
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

pub(crate) fn reply(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

pub(crate) fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    {
        let mut st = state.lock().unwrap();
        st.requests
            .push(format!("{} {}?{}", req.method(), path, query));
        if let Some(h) = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            st.authorization.push(h.to_string());
        }
    }
    if req.method() == hyper::Method::POST
        && (path == review::TOKEN_REVIEWS || path == review::ACCESS_REVIEWS)
    {
        let body = match req.into_body().collect().await {
            Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let answer = state.lock().unwrap().reviewer.answer(&path, body);
        return match answer {
            Some((code, v)) => reply(code, &v),
            None => no_route(),
        };
    }
    let Some(t) = parse_target(&path) else {
        return no_route();
    };
    if state.lock().unwrap().down {
        return reply(
            503,
            &status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
                json!({}),
            ),
        );
    }
    if req.method() == hyper::Method::POST && t.name.is_none() {
        return create(&state, &t, req).await;
    }
    if req.method() != hyper::Method::GET {
        return reply(
            405,
            &status(
                405,
                "MethodNotAllowed",
                "the fake API server reads, and creates by POST to a collection",
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
        (None, _) if query_param(&query, "watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(&state, &t, &query).await
        }
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

pub(crate) fn object_key(t: &Target, name: &str) -> String {
    match &t.namespace {
        Some(ns) => format!("{}/namespaces/{ns}/{}/{name}", t.prefix, t.resource),
        None => format!("{}/{}/{name}", t.prefix, t.resource),
    }
}

pub(crate) fn not_found(resource: &str, name: &str) -> Response<Full<Bytes>> {
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

pub(crate) fn forbidden(
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

type Selectors = (Vec<LabelReq>, Vec<FieldReq>);

fn selectors(query: &str) -> Result<Selectors, Box<Response<Full<Bytes>>>> {
    let bad =
        |message: String| Box::new(reply(400, &status(400, "BadRequest", &message, json!({}))));
    let labels = query_param(query, "labelSelector")
        .map(|s| parse_selector(&s))
        .transpose()
        .map_err(|e| bad(format!("unable to parse requirement: {e}")))?
        .unwrap_or_default();
    let fields = query_param(query, "fieldSelector")
        .map(|s| parse_field_selector(&s))
        .transpose()
        .map_err(|e| bad(format!("invalid field selector: {e}")))?
        .unwrap_or_default();
    Ok((labels, fields))
}

/// Whether the object at `path` belongs to the collection `t` names.
fn in_collection(t: &Target, path: &str) -> bool {
    let scope = match &t.namespace {
        Some(ns) => format!("{}/namespaces/{ns}/{}/", t.prefix, t.resource),
        None => format!("{}/", t.prefix),
    };
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
}

fn selected((labels, fields): &Selectors, obj: &Value) -> bool {
    labels.iter().all(|r| r.matches(&obj["metadata"]["labels"]))
        && fields.iter().all(|f| f.matches(obj))
}

fn list(state: &Arc<Mutex<State>>, t: &Target, query: &str) -> Response<Full<Bytes>> {
    let sel = match selectors(query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let st = state.lock().unwrap();
    let items: Vec<Value> = st
        .objects
        .iter()
        .filter(|(path, obj)| in_collection(t, path) && selected(&sel, obj))
        .map(|(_, obj)| obj.clone())
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

/// Longest wait of a watch request with nothing to report.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// `watch=true`: the matching changes after `resourceVersion`, one JSON event per line.
async fn watch(state: &Arc<Mutex<State>>, t: &Target, query: &str) -> Response<Full<Bytes>> {
    let sel = match selectors(query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let since = query_param(query, "resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or_else(|| state.lock().unwrap().resource_version);
    let deadline = tokio::time::Instant::now() + WATCH_POLL;
    loop {
        let lines: Vec<String> = {
            let st = state.lock().unwrap();
            if st.down {
                return reply(
                    503,
                    &status(
                        503,
                        "ServiceUnavailable",
                        "the server is shutting down",
                        json!({}),
                    ),
                );
            }
            st.log
                .iter()
                .filter(|(rv, _, path, obj)| {
                    *rv > since && in_collection(t, path) && selected(&sel, obj)
                })
                .map(|(_, kind, _, obj)| json!({"type": kind, "object": obj}).to_string())
                .collect()
        };
        if !lines.is_empty() || tokio::time::Instant::now() >= deadline {
            let mut body = lines.join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `POST` to a collection: stores the object, 201; 409 when the name is taken.
async fn create(
    state: &Arc<Mutex<State>>,
    t: &Target,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if state
        .lock()
        .unwrap()
        .forbidden
        .contains(&("create".to_string(), t.resource.clone()))
    {
        return forbidden("create", &t.resource, None, t.namespace.as_deref());
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return reply(
            400,
            &status(400, "BadRequest", "unreadable body", json!({})),
        );
    };
    let Ok(mut obj) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            400,
            &status(400, "BadRequest", "the body is not JSON", json!({})),
        );
    };
    let mut st = state.lock().unwrap();
    if obj["metadata"]["name"].is_null() {
        let base = obj["metadata"]["generateName"]
            .as_str()
            .unwrap_or("x")
            .to_string();
        obj["metadata"]["name"] = json!(format!("{base}{:05}", st.resource_version + 1));
    }
    if let Some(ns) = &t.namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let path = object_key(t, &name);
    if st.objects.contains_key(&path) {
        let kind = t.resource.trim_end_matches('s');
        return reply(
            409,
            &status(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", t.resource),
                json!({"name": name, "kind": kind}),
            ),
        );
    }
    store(&mut st, path.clone(), obj);
    reply(201, &st.objects[&path])
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
