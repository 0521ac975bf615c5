#!/usr/bin/env python3
"""pullcheck test bed: real registries, nginx fronts and misbehaving servers, on loopback only.

Usage: testbed.py up DIR [--remove-on-exit]
                            start everything under DIR, push the test images, write DIR/bed.json,
                            then stay up until stdin closes or SIGTERM/SIGINT arrives (and then
                            remove DIR, with --remove-on-exit).

Everything here is real software from Debian: docker-registry (Docker Distribution), nginx,
openssl (certificates, token signing), skopeo (pushing images). Python only plays the parts
that have no packaged equivalent: the token realm (JWT issuer), a server that accepts and never
answers, a server with broken replies (invalid header bytes, a body that stalls), a blob server
whose body never ends, and the cloud metadata services (IMDSv2, GCE metadata;
scripts/cloud_fakes.py). moto's server (PyPI) answers the ECR API when installed.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tarfile
import threading
import time
import http.server
import urllib.parse

from cloud_fakes import Gce, Imds  # same directory

LOOPBACK = "127.0.0.1"
CHILDREN = []


def listening_socket(backlog=128):
    """A socket bound to a port the kernel picks, listening; the caller reads the port from it.
    Every listener of the bed is made this way or reports the port its program bound: no port is
    picked first and bound later, so nothing else on the machine can take it in between."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    s.listen(backlog)
    return s


def port_of(s):
    return s.getsockname()[1]


def run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise SystemExit(f"testbed: {' '.join(cmd)} failed: {res.stderr.strip()}")
    return res.stdout


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------- certificates (openssl)

def make_pki(d):
    """A CA, a server certificate for localhost/127.0.0.1, one for another name, an expired one,
    a client certificate, and the token signing key."""
    p = lambda n: os.path.join(d, n)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
         "-out", p("ca.crt"), "-days", "30", "-subj", "/CN=pullcheck test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def leaf(name, sans, extra=(), eku="serverAuth", ca="FALSE"):
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p(name + ".key"),
             "-out", p(name + ".csr"), "-subj", "/CN=" + sans[0].split(":", 1)[1]])
        ext = p(name + ".ext")
        with open(ext, "w") as f:
            f.write(f"basicConstraints=CA:{ca}\nkeyUsage=digitalSignature,keyEncipherment\n")
            f.write(f"extendedKeyUsage={eku}\nsubjectAltName=" + ",".join(sans) + "\n")
        run(["openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
             "-CAcreateserial", "-out", p(name + ".crt"), "-extfile", ext, *extra])

    leaf("server", ["DNS:localhost", "DNS:tls.registry.test", "IP:127.0.0.1"], ["-days", "30"])
    leaf("wrongname", ["DNS:registry.test"], ["-days", "30"])
    leaf("client", ["DNS:pullcheck-client"], ["-days", "30"], eku="clientAuth")
    # Certificates Go accepts and webpki refuses (a CA certificate served as the server's own):
    # the common self-signed recipe (`openssl req -x509`: CA:TRUE), trusted as its own CA; and
    # a CA:TRUE leaf signed by the bed's CA.
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("selfsigned.key"),
         "-out", p("selfsigned.crt"), "-days", "30", "-subj", "/CN=localhost",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    leaf("caleaf", ["DNS:localhost", "IP:127.0.0.1"], ["-days", "30"], ca="TRUE")
    # An expired certificate: `openssl ca` is the one openssl 3.0 tool that takes explicit dates.
    os.makedirs(p("ca-db"), exist_ok=True)
    open(p("ca-db/index.txt"), "w").close()
    with open(p("ca-db/serial"), "w") as f:
        f.write("1000\n")
    with open(p("ca.cnf"), "w") as f:
        f.write(f"""[ ca ]
default_ca = test
[ test ]
database = {p('ca-db/index.txt')}
serial = {p('ca-db/serial')}
new_certs_dir = {p('ca-db')}
default_md = sha256
policy = anything
copy_extensions = copy
[ anything ]
commonName = supplied
[ ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
""")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("expired.key"),
         "-out", p("expired.csr"), "-subj", "/CN=localhost"])
    run(["openssl", "ca", "-batch", "-config", p("ca.cnf"), "-cert", p("ca.crt"), "-keyfile", p("ca.key"),
         "-in", p("expired.csr"), "-out", p("expired.crt"), "-startdate", "20200101000000Z",
         "-enddate", "20210101000000Z", "-extensions", "ext", "-notext"])
    # Token signing key and its self-signed certificate (the registry's rootcertbundle).
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("token.key"),
         "-out", p("token.crt"), "-days", "30", "-subj", "/CN=pullcheck test token issuer"])
    res = subprocess.run(["openssl", "x509", "-in", p("token.crt"), "-outform", "DER"], capture_output=True, check=True)
    with open(p("token.der"), "wb") as f:
        f.write(res.stdout)


# ---------------------------------------------------------------- images (OCI layouts for skopeo)

def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def image_manifest(layout, arch, variant=None, label="app", payload=None):
    """One single-platform image: a one-file layer (a line of text naming label and arch, so each
    label gets its own layer digest, or `payload` as big.bin), its config and its manifest."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as t:
        content = payload if payload is not None else f"pullcheck test image {label} {arch}\n".encode()
        info = tarfile.TarInfo("big.bin" if payload is not None else "hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        t.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    # Random bytes do not compress: the fastest level gives the same size as the best.
    layer = blob(layout, gzip.compress(raw, mtime=0, compresslevel=1 if payload is not None else 9))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers",
              "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}, "config": {"Cmd": ["/hello"]}}
    if variant:
        config["variant"] = variant
    cfg = blob(layout, json.dumps(config, sort_keys=True).encode())
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    desc = blob(layout, json.dumps(manifest).encode())
    desc["mediaType"] = manifest["mediaType"]
    desc["platform"] = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    return desc


def make_layout(d):
    layout = os.path.join(d, "layout")
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    refs = []

    def ref(name, desc):
        d2 = dict(desc)
        d2.pop("platform", None) if d2["mediaType"].endswith("manifest.v1+json") else None
        d2["annotations"] = {"org.opencontainers.image.ref.name": name}
        refs.append(d2)

    amd = image_manifest(layout, "amd64")
    arm = image_manifest(layout, "arm64", "v8")
    ref("amd64", amd)
    ref("arm64single", image_manifest(layout, "arm64", label="single"))

    def index(entries):
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
        desc = blob(layout, json.dumps(idx).encode())
        desc["mediaType"] = idx["mediaType"]
        return desc

    ref("both", index([amd, arm]))
    ref("armonly", index([arm]))
    # lost/app:v1: its own layer, whose data the plain registry then loses (BLOB_UNKNOWN).
    ref("lost", image_manifest(layout, "amd64", label="lost"))
    # Go's JSON and URL rules under odd input (see odd_manifests): each case an image of its own,
    # so no blob of one is already in containerd's content store from another.
    for label in ODD_CASES:
        ref(label, image_manifest(layout, "amd64", label=label))
    # big/app:v1: one ~24 MiB incompressible layer, more than a nearly full node disk holds.
    ref("big", image_manifest(layout, "amd64", label="big", payload=os.urandom(24 * 1024 * 1024)))
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": refs}, f)
    return layout


def layout_manifest(layout, name):
    """The manifest (parsed) that a layout's index.json names `name`."""
    with open(os.path.join(layout, "index.json")) as f:
        refs = json.load(f)["manifests"]
    desc = next(r for r in refs if r["annotations"]["org.opencontainers.image.ref.name"] == name)
    with open(os.path.join(layout, "blobs", "sha256", desc["digest"].split(":", 1)[1])) as f:
        return json.load(f)


# Odd input Go reads its own way, each served as `CASE/app:v1` (the manifest by the nginx fronts,
# the blobs by the plain registry): duplicate keys (encoding/json keeps the last), keys in
# another case (matched case-insensitively), keys spelt with U+017F LATIN SMALL LETTER LONG S
# (Go's case folding matches it to `s`), a layer size of `-0` (0 for Go), and a layer redirect
# whose Location carries raw UTF-8 in its path and query (Go percent-encodes the path).
ODD_CASES = ("dupkeys", "capkeys", "foldkeys", "negzero", "locutf8")


def odd_manifests(layout):
    """The served manifest body of each ODD_CASES case, from its image's real manifest."""
    out = {}
    for label in ODD_CASES:
        m = layout_manifest(layout, label)
        mt, cfg, layers = m["mediaType"], m["config"], m["layers"]
        j = lambda v: json.dumps(v, ensure_ascii=False)
        if label == "dupkeys":
            bogus = {"mediaType": cfg["mediaType"], "digest": "sha256:" + "0" * 64, "size": 2}
            body = ('{"schemaVersion":1,"schemaVersion":2,'
                    f'"mediaType":"application/vnd.oci.image.index.v1+json","mediaType":{j(mt)},'
                    f'"config":{j(bogus)},"config":{j(cfg)},"layers":[{j(bogus)}],"layers":{j(layers)}}}')
        elif label == "capkeys":
            upper = lambda d: {"MediaType": d["mediaType"], "DIGEST": d["digest"], "Size": d["size"]}
            body = j({"SchemaVersion": 2, "MEDIATYPE": mt, "Config": upper(cfg), "Layers": [upper(x) for x in layers]})
        elif label == "foldkeys":
            folded = lambda d: {"mediaType": d["mediaType"], "digeſt": d["digest"], "ſize": d["size"]}
            body = j({"ſchemaVersion": 2, "mediaType": mt, "config": folded(cfg), "layerſ": [folded(x) for x in layers]})
        elif label == "negzero":
            body = j({**m, "layers": [{**x, "size": "NEGZERO"} for x in layers]}).replace('"NEGZERO"', "-0")
        else:
            body = j(m)
        out[label] = body.encode()
    return out


def push(layout, src, dest, *flags):
    all_flag = ["--all"] if src in ("both", "armonly") else []
    for attempt in range(20):
        res = subprocess.run(["skopeo", "copy", "--quiet", *all_flag, *flags, f"oci:{layout}:{src}", dest],
                             capture_output=True, text=True)
        if res.returncode == 0:
            return
        time.sleep(0.25)
    raise SystemExit(f"testbed: skopeo copy {src} -> {dest} failed: {res.stderr.strip()}")


# ---------------------------------------------------------------- token realm (JWT issuer)

class TokenRealm(http.server.BaseHTTPRequestHandler):
    """Docker token authentication: GET (Basic or anonymous) and OAuth2 POST (password grant).
    Valid users get pull+push on everything; anonymous callers get pull on public/* only, and an
    empty grant elsewhere (the registry then answers 401 insufficient_scope, like Docker Hub)."""

    cfg = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def issue(self, user, scopes, service):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            name, actions = parts[1], parts[2].split(",")
            granted = [a for a in actions if a in ("pull", "push")] if user else (
                ["pull"] if name.startswith("public/") and "pull" in actions else [])
            access.append({"type": "repository", "name": name, "actions": granted})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cfg["der"]).decode()]}
        claims = {"iss": "pullcheck-testbed", "sub": user or "", "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.cfg["key"]], input=signing_input,
                             capture_output=True, check=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def check_basic(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None, True
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except Exception:
            return None, False
        return user, (user == self.cfg["user"] and pw == self.cfg["password"])

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        user, ok = self.check_basic()
        if not ok:
            return self.send_json(401, {"details": "incorrect username or password"})
        token = self.issue(user, q.get("scope", []), q.get("service", [""])[0])
        self.send_json(200, {"token": token, "access_token": token, "expires_in": 300,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if form.get("grant_type", [""])[0] != "password":
            return self.send_json(400, {"error": "unsupported_grant_type"})
        user, pw = form.get("username", [""])[0], form.get("password", [""])[0]
        if user != self.cfg["user"] or pw != self.cfg["password"]:
            return self.send_json(401, {"error": "invalid_grant", "details": "incorrect username or password"})
        token = self.issue(user, " ".join(form.get("scope", [])).split(), form.get("service", [""])[0])
        self.send_json(200, {"access_token": token, "expires_in": 300})


# ---------------------------------------------------------------- misbehaving servers

class Broken(http.server.BaseHTTPRequestHandler):
    """Replies no real registry gives, to prove the probe survives them."""

    cfg = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path
        if path == "/v2/" or path.startswith("/v2/?"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(b"{}")
        elif path.startswith("/v2/badheader/"):
            # Invalid UTF-8 in a header value, and a 503 so the probe has to read it.
            self.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                             b"Retry-After: \xff\xfe\r\nX-Broken: \xc3\x28\r\n\r\n")
        elif path.startswith("/v2/midbody/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            # A HEAD answer has no body (one here would be read as the next answer on the
            # connection); the GET's body stalls.
            if self.command == "GET":
                self.wfile.write(b'{"schemaVersion": 2, ')
                self.wfile.flush()
                time.sleep(30)
        elif path.startswith("/v2/badrealm/"):
            self.send_response(401)
            self.send_header("WWW-Authenticate",
                             f'Bearer realm="http://{LOOPBACK}:{self.cfg["closed"]}/token",service="x",scope="repository:badrealm/app:pull"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/v2/redirect/") and not self.headers.get("Authorization"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="redirect"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/v2/redirect/"):
            # Authenticated: redirect to another host (localhost vs 127.0.0.1, another port),
            # which records whether the Authorization header followed.
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{self.cfg['sink']}{path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


class Sink(http.server.BaseHTTPRequestHandler):
    """Records whether a redirected request carried an Authorization header."""

    seen = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        Sink.seen.append(self.headers.get("Authorization"))
        with open(self.server.record, "a") as f:
            f.write(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization") is not None}) + "\n")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Endless(http.server.BaseHTTPRequestHandler):
    """A blob that claims 10 GiB and keeps coming, slowly (zeros, 64 KiB every 50 ms): the fronts'
    /v2/layerhuge/ blobs. A probe must read the first bytes and hang up, never the whole layer."""

    protocol_version = "HTTP/1.1"
    size = 10 * 1024 ** 3

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if "/blobs/" not in self.path:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(self.size))
        self.end_headers()
        if self.command != "GET":
            return
        chunk, sent = bytes(64 * 1024), 0
        try:
            while sent < self.size:
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                time.sleep(0.05)
        except OSError:
            pass  # the client hung up, as it should
        self.close_connection = True


class Slow(http.server.BaseHTTPRequestHandler):
    """A registry that answers every request just in time: 0.6 s, then a redirect to the same
    path one hop further, ten times (Go's limit), then 404. Each step is quick enough for a
    per-step limit; a probe must still end within its one deadline (--timeout)."""

    protocol_version = "HTTP/1.1"
    delay = 0.6

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        time.sleep(self.delay)
        path, _, query = self.path.partition("?")
        hop = int(query.split("=", 1)[1]) if query.startswith("hop=") and query[4:].isdigit() else 0
        if path == "/v2/":
            self.send_response(200)
        elif hop < 10:
            self.send_response(307)
            self.send_header("Location", f"{path}?hop={hop + 1}")
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler, **attrs):
    """Starts `handler` on a port of its own; returns that port."""
    srv = ThreadingServer((LOOPBACK, 0), handler)
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def silent_listener():
    """Accepts connections and never says a word (the 'hangs' scenario)."""
    s = listening_socket(64)
    held = []

    def loop():
        while True:
            try:
                c, _ = s.accept()
                held.append(c)
            except OSError:
                return

    threading.Thread(target=loop, daemon=True).start()
    return s


HELD = []


def closed_port():
    """Binds the `closed` port and never listens: connections are refused (RST), and no other
    program can start listening there while the bed is up. Returns the port."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    HELD.append(s)
    return port_of(s)


# ---------------------------------------------------------------- registries and nginx

def registry_config(d, name, extra):
    root = os.path.join(d, "storage-" + name)
    os.makedirs(root, exist_ok=True)
    cfg = os.path.join(d, f"registry-{name}.yml")
    with open(cfg, "w") as f:
        f.write(f"""version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {LOOPBACK}:0
  secret: {secrets.token_hex(16)}
{extra}""")
    return cfg


def start(cmd, log, **kw):
    out = open(log, "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    CHILDREN.append(proc)
    return proc


def reported_port(log, proc, what, timeout=20.0):
    """The port a program bound itself and wrote to its log (docker-registry's `listening on
    127.0.0.1:PORT` line at log level info, with `, tls` after it when it serves TLS)."""
    needle = f"listening on {LOOPBACK}:"
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log, errors="replace") as f:
            for line in f:
                found = re.search(re.escape(needle) + r"(\d+)", line)
                if found:
                    return int(found.group(1))
        if proc.poll() is not None:
            raise SystemExit(f"testbed: {what} exited early (code {proc.returncode}); see {log}")
        time.sleep(0.05)
    raise SystemExit(f"testbed: {what} did not report a listening port; see {log}")


def wait_http(port, proc, what, timeout=20.0):
    """Waits until something answers HTTP on `port` (the socket may listen before its program
    accepts, as with the sockets nginx inherits)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"testbed: {what} exited early (code {proc.returncode})")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5) as c:
                c.settimeout(0.5)
                c.sendall(b"GET /v2/ HTTP/1.0\r\nHost: bed\r\n\r\n")
                if c.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"testbed: {what} did not answer on {port}")


def bcrypt_hash(password):
    """bcrypt for htpasswd. Debian's `htpasswd` lives in apache2-utils; Python's bcrypt may not
    be installed. Try both."""
    try:
        out = subprocess.run(["htpasswd", "-nbB", "u", password], capture_output=True, text=True, check=True).stdout
        return out.strip().split(":", 1)[1]
    except (OSError, subprocess.CalledProcessError):
        import bcrypt
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()


def nginx_conf(d, ports, upstream, pki, layer_digest, odd):
    p = lambda n: os.path.join(pki, n)
    ratelimit = ('add_header ratelimit-limit "100;w=21600" always;\n'
                 '        add_header ratelimit-remaining "0;w=21600" always;\n'
                 '        add_header docker-ratelimit-source "192.0.2.10" always;')
    # nginx strings are single-quoted: keep quotes inside the JSON as \u0027 escapes.
    envelope = lambda code, msg: json.dumps({"errors": [{"code": code, "message": msg, "detail": None}]}).replace(
        "'", "\\u0027")
    huge = os.path.join(d, "www")
    os.makedirs(os.path.join(huge, "v2"), exist_ok=True)
    with open(os.path.join(huge, "huge-manifest.json"), "wb") as f:
        f.write(b'{"schemaVersion":2,"padding":"' + b"x" * (10 * 1024 * 1024) + b'"}')
    with open(os.path.join(huge, "huge-error.txt"), "wb") as f:
        f.write(b"<html>" + b"oops " * (2 * 1024 * 1024) + b"</html>")
    schema1 = json.dumps({"schemaVersion": 1, "name": "schema1/app", "tag": "v1", "architecture": "amd64",
                          "fsLayers": [], "history": [], "signatures": []})
    with open(os.path.join(huge, "schema1.json"), "w") as f:
        f.write(schema1)
    good_manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                           "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []})
    with open(os.path.join(huge, "tampered.json"), "w") as f:
        f.write(good_manifest)
    for label, body in odd.items():
        with open(os.path.join(huge, f"{label}.json"), "wb") as f:
            f.write(body)
    claimed = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    bodies = {
        "ratelimited": envelope("TOOMANYREQUESTS", "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"),
        "unavailable": envelope("UNAVAILABLE", "service unavailable"),
        "denied": envelope("DENIED", "User: arn:aws:sts::123456789012:assumed-role/ng-2-node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/denied/app because no identity-based policy allows the ecr:BatchGetImage action"),
        "expired": envelope("DENIED", "Your authorization token has expired. Reauthenticate and try again."),
        "gar": envelope("DENIED", "Permission 'artifactregistry.repositories.downloadArtifacts' denied on resource 'projects/p/locations/l/repositories/gar' (or it may not exist)"),
        "ecrmissing": envelope("NAME_UNKNOWN", "The repository with name 'ecrmissing/app' does not exist in the registry with id '123456789012'"),
    }
    tls = lambda crt, key: f"ssl_certificate {p(crt)};\n        ssl_certificate_key {p(key)};"
    proxy = f"proxy_pass http://{LOOPBACK}:{upstream};\n        proxy_set_header Host $http_host;"
    # What S3 answers for a presigned URL past its X-Amz-Expires (ECR's layer URLs are these).
    s3_expired = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                  '<Message>Request has expired</Message><X-Amz-Expires>600</X-Amz-Expires>'
                  '<Expires>2020-01-01T00:00:00Z</Expires><ServerTime>$time_iso8601</ServerTime>'
                  '<RequestId>$request_id</RequestId></Error>')
    # Layer-path fronts: manifests (and everything else) come from the plain registry's app
    # repository; blob GETs are sent elsewhere with a 307, keeping the digest, the way ECR (S3),
    # GAR (GCS) and CDN-backed registries hand out layers. Each target fails in its own way.
    blob_targets = {
        "layerok": f"http://localhost:{ports['storage']}/v2/app/blobs/$1?X-Amz-Signature=abc",
        "layerdns": f"http://nosuch.storage.test:{ports['storage']}/v2/app/blobs/$1",
        "layerrefused": f"http://{LOOPBACK}:{ports['closed']}/v2/app/blobs/$1",
        "layertls": f"https://localhost:{ports['storage_tls']}/v2/app/blobs/$1",
        "layer403": f"http://localhost:{ports['storage']}/denied/$1",
        "layerloop": "$scheme://$http_host$request_uri",
    }
    layer_fronts = "".join(f"""
        location /v2/{name}/app/ {{
            location ~ ^/v2/{name}/app/blobs/([^/]+)$ {{ return 307 {target}; }}
            rewrite ^/v2/{name}/app/(.*)$ /v2/app/$1 break;
            {proxy}
        }}""" for name, target in blob_targets.items())
    # As ECR and GAR do: the registry serves the small config blob itself and sends only the
    # layers (here app:amd64's one layer) to storage, so a failing storage host is first met on
    # the layer path, not while the config is read.
    storage_targets = {
        "storeok": blob_targets["layerok"],
        "storedns": blob_targets["layerdns"],
        "storerefused": blob_targets["layerrefused"],
        "storetls": blob_targets["layertls"],
    }
    layer_fronts += "".join(f"""
        location /v2/{name}/app/ {{
            location ~ ^/v2/{name}/app/blobs/({layer_digest})$ {{ return 307 {target}; }}
            rewrite ^/v2/{name}/app/(.*)$ /v2/app/$1 break;
            {proxy}
        }}""" for name, target in storage_targets.items())
    odd_fronts = "".join(f"""
        location /v2/{label}/app/manifests/ {{
            default_type application/vnd.oci.image.manifest.v1+json;
            try_files /{label}.json =404;
        }}""" for label in odd if label != "locutf8")
    # Raw UTF-8 in the Location of every blob of locutf8/app (nginx sends the bytes as written);
    # the storage server strips the non-ASCII path segment again.
    odd_fronts += f"""
        location ~ ^/v2/locutf8/app/blobs/([^/]+)$ {{
            return 307 "http://localhost:{ports['storage']}/ünïcode/v2/locutf8/app/blobs/$1?X-Amz-Signature=ä€";
        }}"""
    conf = f"""
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log error;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log off;
    log_format audited escape=json '{{"user":"$remote_user","status":$status,"agent":"$http_user_agent","method":"$request_method","uri":"$request_uri"}}';
    client_body_temp_path {d}/nginx-tmp;
    proxy_temp_path {d}/nginx-tmp;
    default_type application/octet-stream;
    server {{
        listen {LOOPBACK}:{ports['expired']} ssl;
        {tls('expired.crt', 'expired.key')}
        location / {{ {proxy} }}
    }}
    server {{
        listen {LOOPBACK}:{ports['wrongname']} ssl;
        {tls('wrongname.crt', 'wrongname.key')}
        location / {{ {proxy} }}
    }}
    server {{
        listen {LOOPBACK}:{ports['selfsigned']} ssl;
        {tls('selfsigned.crt', 'selfsigned.key')}
        location / {{ {proxy} }}
    }}
    server {{
        listen {LOOPBACK}:{ports['caleaf']} ssl;
        {tls('caleaf.crt', 'caleaf.key')}
        location / {{ {proxy} }}
    }}
    server {{
        listen {LOOPBACK}:{ports['mtls']} ssl;
        {tls('server.crt', 'server.key')}
        ssl_client_certificate {p('ca.crt')};
        ssl_verify_client on;
        location / {{ {proxy} }}
    }}
    server {{
        listen {LOOPBACK}:{ports['fronts']};
        root {huge};
        location = /v2/ {{
            {ratelimit}
            {proxy}
        }}
        location /v2/ratelimited/ {{
            {ratelimit}
            add_header Retry-After "3600" always;
            default_type application/json;
            return 429 '{bodies["ratelimited"]}';
        }}
        location /v2/hubok/ {{
            add_header ratelimit-limit "100;w=21600" always;
            add_header ratelimit-remaining "42;w=21600" always;
            rewrite ^/v2/hubok/app/(.*)$ /v2/app/$1 break;
            {proxy}
        }}
        location /v2/nodigest/ {{
            rewrite ^/v2/nodigest/app/(.*)$ /v2/app/$1 break;
            proxy_hide_header Docker-Content-Digest;
            {proxy}
        }}
        location /v2/unavailable/ {{
            default_type application/json;
            return 503 '{bodies["unavailable"]}';
        }}
        location /v2/internal/ {{
            default_type text/html;
            return 500 '<html><body>internal error</body></html>';
        }}
        location /v2/denied/ {{
            default_type application/json;
            return 403 '{bodies["denied"]}';
        }}
        location /v2/expired/ {{
            default_type application/json;
            return 403 '{bodies["expired"]}';
        }}
        location /v2/gar/ {{
            default_type application/json;
            return 403 '{bodies["gar"]}';
        }}
        location /v2/ecrmissing/ {{
            default_type application/json;
            return 404 '{bodies["ecrmissing"]}';
        }}
        location /v2/schema1/app/manifests/ {{
            default_type application/vnd.docker.distribution.manifest.v1+prettyjws;
            try_files /schema1.json =404;
        }}
        location /v2/huge/app/manifests/ {{
            default_type application/vnd.oci.image.manifest.v1+json;
            try_files /huge-manifest.json =404;
        }}
        location /v2/hugeerror/ {{
            error_page 404 /huge-error.txt;
            return 404;
        }}
        location = /huge-error.txt {{ internal; default_type text/html; }}
        location /v2/garbage/app/manifests/ {{
            default_type application/vnd.oci.image.manifest.v1+json;
            return 200 'this is not json';
        }}
        location /v2/tampered/app/manifests/ {{
            default_type application/vnd.oci.image.manifest.v1+json;
            add_header Docker-Content-Digest "{claimed}" always;
            try_files /tampered.json =404;
        }}
        {layer_fronts}
        {odd_fronts}
        location /v2/layerhuge/app/ {{
            # The layer (not the config): 200 with Content-Length 10 GiB and a body that keeps
            # coming (Endless).
            location = /v2/layerhuge/app/blobs/{layer_digest} {{
                proxy_pass http://{LOOPBACK}:{ports['endless']};
                proxy_buffering off;
            }}
            rewrite ^/v2/layerhuge/app/(.*)$ /v2/app/$1 break;
            {proxy}
        }}
        location /v2/ {{ {proxy} }}
    }}
    # Blob storage the layer fronts redirect to (S3/GCS/CDN): presigned blob URLs are served by
    # the plain registry; /denied/ is an expired presigned URL.
    server {{
        listen {LOOPBACK}:{ports['storage']};
        location /v2/ {{ {proxy} }}
        location /ünïcode/ {{
            rewrite ^/ünïcode/(.*)$ /$1 break;
            {proxy}
        }}
        location /denied/ {{
            default_type application/xml;
            add_header x-amz-request-id $request_id always;
            return 403 '{s3_expired}';
        }}
    }}
    # The same storage over TLS, with a certificate from the bed's CA (not trusted by nodes).
    server {{
        listen {LOOPBACK}:{ports['storage_tls']} ssl;
        {tls('server.crt', 'server.key')}
        location /v2/ {{ {proxy} }}
    }}
    # The Basic-auth registry behind a front that logs who asked (audited-access.log, a JSON object
    # a line: the user name each request's Basic credentials carry, the status, the user agent):
    # what the cluster tier's ECR-style registry is, so that the credentials a kubelet's pull
    # sent can be read back. docker-registry logs no user name on success.
    server {{
        listen {LOOPBACK}:{ports['audited']} ssl;
        {tls('server.crt', 'server.key')}
        access_log {d}/audited-access.log audited;
        location / {{
            proxy_pass https://{LOOPBACK}:{ports['tls']};
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""
    os.makedirs(os.path.join(d, "nginx-tmp"), exist_ok=True)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    return path, claimed


def up(d):
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    # nginx's workers run as nobody when the bed runs as root: they must be able to pass
    # through DIR to serve DIR/www (`mktemp -d` makes it 0700, and try_files then answers 404).
    # Passing through is all others may do: no listing, and the keys and bed.json stay private.
    os.chmod(d, 0o711)
    pki = os.path.join(d, "pki")
    os.makedirs(pki, mode=0o700, exist_ok=True)
    make_pki(pki)
    p = lambda n: os.path.join(pki, n)
    user, password = "pullcheck", secrets.token_hex(12)
    # Each listener binds a port of its own and the bed records it here (see listening_socket).
    ports = {"closed": closed_port()}
    ports["sink"] = serve(Sink, record=os.path.join(d, "sink.jsonl"))
    Broken.cfg = {"closed": ports["closed"], "sink": ports["sink"]}
    ports["broken"] = serve(Broken)
    ports["endless"] = serve(Endless)
    ports["slow"] = serve(Slow)
    silent = silent_listener()
    ports["hang"] = port_of(silent)

    # ECR-style and GKE-style users on the Basic-auth registry: ECR's user is AWS with the
    # password moto's GetAuthorizationToken gives (account 123456789012); GKE's is _token with
    # the node service account's access token from the fake metadata server.
    ecr_password = "123456789012-auth-token"
    gce_token = "ya29.pullcheck-" + secrets.token_hex(12)
    with open(os.path.join(d, "htpasswd"), "w") as f:
        f.write(f"{user}:{bcrypt_hash(password)}\n")
        f.write(f"AWS:{bcrypt_hash(ecr_password)}\n")
        f.write(f"_token:{bcrypt_hash(gce_token)}\n")

    TokenRealm.cfg = {"der": open(p("token.der"), "rb").read(), "key": p("token.key"), "user": user,
                      "password": password}
    ports["realm"] = serve(TokenRealm)
    regs = {
        "plain": registry_config(d, "plain", ""),
        "tls": registry_config(d, "tls", f"""  tls:
    certificate: {p('server.crt')}
    key: {p('server.key')}
auth:
  htpasswd:
    realm: pullcheck-basic
    path: {os.path.join(d, 'htpasswd')}
"""),
        "token": registry_config(d, "token", f"""auth:
  token:
    realm: http://{LOOPBACK}:{ports['realm']}/token
    service: pullcheck-testbed-registry
    issuer: pullcheck-testbed
    rootcertbundle: {p('token.crt')}
"""),
    }
    procs = {name: start(["docker-registry", "serve", cfg], os.path.join(d, f"registry-{name}.log"))
             for name, cfg in regs.items()}
    for name, proc in procs.items():
        ports[name] = reported_port(os.path.join(d, f"registry-{name}.log"), proc, f"docker-registry ({name})")

    imds_secret = secrets.token_hex(20)
    ports["imds"] = serve(Imds, role="pullcheck-node-role", omit_ttl=False, secret_key=imds_secret)
    ports["imds_nottl"] = serve(Imds, role="pullcheck-node-role", omit_ttl=True, secret_key=imds_secret)
    ports["imds_norole"] = serve(Imds, role="", omit_ttl=False, secret_key=imds_secret)
    sa = "pullcheck-node@pullcheck-testbed.iam.gserviceaccount.com"
    ports["gce"] = serve(Gce, token=gce_token, email=sa,
          scopes=["https://www.googleapis.com/auth/devstorage.read_only",
                  "https://www.googleapis.com/auth/logging.write"])
    ports["gce_noscope"] = serve(Gce, token=gce_token, email=sa,
          scopes=["https://www.googleapis.com/auth/logging.write"])
    # moto's server answers the ECR API (GetAuthorizationToken) when it is installed.
    try:
        import moto.server  # noqa: F401  (only to know it is there)
        moto = True
    except ImportError:
        moto = False
    if moto:
        # moto's own threaded server on a port it binds; the child writes that port to its log.
        moto_main = ("import sys, threading\n"
                     "from moto.server import ThreadedMotoServer\n"
                     f"s = ThreadedMotoServer(ip_address={LOOPBACK!r}, port=0, verbose=False)\n"
                     "s.start()\n"
                     "print('listening on %s:%d' % s.get_host_and_port(), flush=True)\n"
                     "threading.Event().wait()\n")
        log = os.path.join(d, "moto.log")
        proc = start([sys.executable, "-c", moto_main], log)
        ports["ecr"] = reported_port(log, proc, "moto server (ECR API)", timeout=60.0)

    layout = make_layout(d)
    plain = f"docker://{LOOPBACK}:{ports['plain']}"
    for tag in ("amd64", "arm64single", "both", "armonly"):
        push(layout, tag, f"{plain}/app:{tag}", "--dest-tls-verify=false")
    certdir = os.path.join(d, "skopeo-certs")
    os.makedirs(certdir, exist_ok=True)
    with open(os.path.join(certdir, "ca.crt"), "w") as f:
        f.write(open(p("ca.crt")).read())
    push(layout, "amd64", f"docker://localhost:{ports['tls']}/app:amd64", "--dest-cert-dir", certdir,
         "--dest-creds", f"{user}:{password}")
    for repo in ("private/app", "public/app"):
        push(layout, "both", f"docker://{LOOPBACK}:{ports['token']}/{repo}:both", "--dest-tls-verify=false",
             "--dest-creds", f"{user}:{password}")
    layer_digest = layout_manifest(layout, "amd64")["layers"][0]["digest"]
    # A registry that lost a layer: the manifest and config serve, the layer is 404 BLOB_UNKNOWN
    # (docker-registry stats the blob's data file; its repository link is still there).
    push(layout, "lost", f"{plain}/lost/app:v1", "--dest-tls-verify=false")
    lost_layer_digest = layout_manifest(layout, "lost")["layers"][0]["digest"]
    hexd = lost_layer_digest.split(":", 1)[1]
    os.remove(os.path.join(d, "storage-plain", "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd, "data"))
    for label in ODD_CASES:
        push(layout, label, f"{plain}/{label}/app:v1", "--dest-tls-verify=false")
    # An image too big for a nearly full disk: big_image_bytes is what a pull downloads.
    push(layout, "big", f"{plain}/big/app:v1", "--dest-tls-verify=false")
    big = layout_manifest(layout, "big")
    big_image_bytes = big["config"]["size"] + sum(layer["size"] for layer in big["layers"])

    # nginx's listeners are bound here and handed over as inherited sockets (nginx's NGINX
    # environment variable, "fd;fd;"): nginx matches them to its `listen` lines by address.
    fronts = {n: listening_socket() for n in ("expired", "wrongname", "selfsigned", "caleaf", "mtls", "fronts", "storage",
                                          "storage_tls", "audited")}
    for n, sock in fronts.items():
        ports[n] = port_of(sock)
        sock.set_inheritable(True)
    conf, claimed = nginx_conf(d, ports, ports["plain"], pki, layer_digest, odd_manifests(layout))
    fds = [sock.fileno() for sock in fronts.values()]
    nginx = start(["nginx", "-c", conf, "-e", os.path.join(d, "nginx-error.log")], os.path.join(d, "nginx.log"),
                  env=dict(os.environ, NGINX="".join(f"{fd};" for fd in fds)), pass_fds=fds)
    for sock in fronts.values():
        sock.close()
    wait_http(ports["fronts"], nginx, "nginx")

    bed = {
        "dir": d,
        "ports": ports,
        "user": user,
        "password": password,
        "ca": p("ca.crt"),
        "selfsigned_cert": p("selfsigned.crt"),
        "client_cert": p("client.crt"),
        "client_key": p("client.key"),
        "tampered_claimed_digest": claimed,
        "sink_record": os.path.join(d, "sink.jsonl"),
        "audited_log": os.path.join(d, "audited-access.log"),
        "ecr_password": ecr_password,
        "gce_token": gce_token,
        "imds_secret": imds_secret,
        "gce_email": sa,
        "moto": bool(moto),
        "layer_digest": layer_digest,
        "lost_layer_digest": lost_layer_digest,
        "big_image_bytes": big_image_bytes,
    }
    with open(os.open(os.path.join(d, "bed.json.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(bed, f, indent=2)
    os.rename(os.path.join(d, "bed.json.tmp"), os.path.join(d, "bed.json"))
    return silent


# The directory to remove once the servers are down (`up DIR --remove-on-exit`): the tests' beds
# live in a temporary directory their test process cannot clean up (it holds the bed for its
# whole life and exits without dropping it), so the bed removes it itself. About 70-100 MB each.
REMOVE_ON_EXIT = []


def stop(*_):
    for proc in CHILDREN:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
    for proc in CHILDREN:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    for d in REMOVE_ON_EXIT:
        shutil.rmtree(d, ignore_errors=True)
    os._exit(0)


def main():
    args = sys.argv[1:]
    if args[-1:] == ["--remove-on-exit"]:
        args = args[:-1]
        REMOVE_ON_EXIT.extend(args[1:2])
    if len(args) != 2 or args[0] != "up":
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        up(args[1])
    except BaseException:
        for proc in CHILDREN:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        raise
    print("ready", flush=True)
    # Stay up until whoever started us goes away (stdin closes) or signals us.
    try:
        while sys.stdin.read(4096):
            pass
    except (OSError, ValueError):
        while True:
            time.sleep(3600)
    stop()


if __name__ == "__main__":
    sys.exit(main())
