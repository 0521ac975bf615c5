//! Rules for failures below HTTP: the CRI socket, the reference itself, TLS (Go's `crypto/x509`
//! and `crypto/tls` texts), and the network (DNS, connect, proxy, route, time limits).

use super::{Facts, Finding};
use crate::classify::runtime_message::scan::{first_word, one_line};
use crate::classify::Verdict;

/// The CRI socket itself failed (the kubelet or pullcheck could not reach the runtime).
pub(super) fn runtime_socket(f: &Facts<'_>) -> Option<Finding> {
    const MARKERS: [&str; 5] = [
        "transport: error while dialing",
        "dial unix ",
        "connection error: desc",
        "error trying to connect",
        ".sock: connect",
    ];
    if !f.scan.has_any(&MARKERS) {
        return None;
    }
    let socket = f
        .scan
        .after("dial unix ")
        .map(first_word)
        .filter(|w| !w.is_empty())
        .map(|w| format!(" {w}"))
        .unwrap_or_default();
    Some(Finding::new(
        Verdict::RuntimeUnavailable,
        format!(
            "the container runtime's CRI socket{socket} did not answer: {}",
            one_line(f.env.detail, 240)
        ),
    ))
}

/// containers/image (CRI-O): `registry X is blocked in <registries.conf> or <drop-in dir>`.
pub(super) fn blocked(f: &Facts<'_>) -> Option<Finding> {
    let what = f.from("registry ")?;
    if !f.scan.has(" is blocked in ") {
        return None;
    }
    Some(Finding::new(
        Verdict::RegistryBlocked,
        format!("the node's registries.conf blocks the registry ({what}); CRI-O sent no request"),
    ))
}

/// containers/image (CRI-O): `Source image rejected: …` (policy.json refused it) and
/// `Error loading trust policy: invalid policy in …` (every pull fails).
pub(super) fn signature(f: &Facts<'_>) -> Option<Finding> {
    let why = if let Some(w) = f.from("source image rejected: ") {
        format!("the node's signature policy refuses the image ({w})")
    } else if let Some(w) = f.from("error loading trust policy: ") {
        format!("the node's signature policy cannot be read, so CRI-O refuses every pull ({w})")
    } else {
        return None;
    };
    Some(Finding::new(Verdict::SignatureRejected, why))
}

/// containers/image (CRI-O): `short-name "x:latest" did not resolve to an alias and no
/// unqualified-search registries are defined in "<file>"` (or `… and no
/// containers-registries.conf(5) was found`), and `short-name resolution enforced but cannot
/// prompt without a TTY` (short-name-mode enforcing, several candidates, nobody to ask).
pub(super) fn short_name(f: &Facts<'_>) -> Option<Finding> {
    if f.scan
        .has("short-name resolution enforced but cannot prompt without a tty")
    {
        return Some(
            Finding::new(
                Verdict::ShortNameUnresolved,
                "short-name-mode is enforcing and the name has no alias but more than one \
                 unqualified-search registry, so containers/image would have to ask which one — \
                 and there is no TTY to ask on; no request was sent",
            )
            .fix(
                "Write the image fully qualified in the pod spec (docker.io/library/nginx:1.27), \
                 or add an alias for the name in /etc/containers/registries.conf.d/ (a \
                 [aliases] table), or leave a single unqualified-search registry; \
                 short-name-mode = \"permissive\" in registries.conf (CRI-O: short_name_mode in \
                 crio.conf) tries them in order instead.",
            ),
        );
    }
    if !f.scan.has("did not resolve to an alias and no ") {
        return None;
    }
    let what = f.from("short-name ")?;
    Some(Finding::new(
        Verdict::ShortNameUnresolved,
        format!(
            "the node's registries.conf gives the short name no registry ({what}); CRI-O sent no request"
        ),
    ))
}

/// The reference could not be parsed (by the kubelet or the runtime).
pub(super) fn invalid_reference(f: &Facts<'_>) -> Option<Finding> {
    const MARKERS: [&str; 4] = [
        "invalid reference format",
        "failed to parse image reference",
        "couldn't parse image reference",
        "couldn't parse image name",
    ];
    if !f.scan.has_any(&MARKERS) {
        return None;
    }
    let why = f
        .from("invalid reference format")
        .unwrap_or_else(|| one_line(f.env.detail, 240));
    Some(Finding::new(
        Verdict::InvalidReference,
        format!("the image reference is malformed: {why}"),
    ))
}

/// TLS and scheme failures, most specific first.
pub(super) fn tls(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let at = f.at();
    let host = f.host.unwrap_or("<host>");
    if s.has("server gave http response to https client") {
        return Some(
            Finding::new(
                Verdict::HttpRegistry,
                format!("{at} speaks plain HTTP and was spoken to over HTTPS (http: server gave HTTP response to HTTPS client)"),
            )
            .fix(f.runtime.plain_http(host)),
        );
    }
    if s.has("tls handshake timeout") {
        return Some(Finding::new(
            Verdict::Timeout,
            format!("{at}: the TLS handshake timed out (net/http: TLS handshake timeout): the port accepts connections but does not finish TLS — a stalled server, proxy or middlebox"),
        ));
    }
    let text = f
        .from("x509: ")
        .or_else(|| f.from("tls: "))
        .unwrap_or_default();
    if s.has_any(&[
        "certificate signed by unknown authority",
        "x509: certificate is not trusted",
    ]) {
        return Some(
            Finding::new(
                Verdict::TlsUnknownAuthority,
                format!("{at}: the certificate is not signed by a CA the node trusts ({text})"),
            )
            .fix(f.runtime.trust_ca(host)),
        );
    }
    if s.has("certificate has expired or is not yet valid") {
        return Some(Finding::new(
            Verdict::TlsCertificateExpired,
            format!("{at}: the certificate has expired or is not valid yet ({text})"),
        ));
    }
    const NAME: [&str; 4] = [
        "x509: certificate is valid for",
        "not valid for any names",
        "doesn't contain any ip sans",
        "certificate relies on legacy common name field",
    ];
    if s.has_any(&NAME) {
        return Some(Finding::new(
            Verdict::TlsHostnameMismatch,
            format!("{at}: the certificate does not name this host ({text})"),
        ));
    }
    if s.has_any(&["no required ssl certificate", "tls: certificate required"]) {
        return Some(
            Finding::new(
                Verdict::TlsError,
                format!(
                    "{at} requires a TLS client certificate and none was sent{}",
                    f.server()
                ),
            )
            .fix(f.runtime.client_cert(host)),
        );
    }
    if s.has_any(&[
        "x509: ",
        "tls: ",
        "first record does not look like a tls handshake",
    ]) {
        let text = if text.is_empty() {
            one_line(f.env.detail, 240)
        } else {
            text
        };
        return Some(Finding::new(
            Verdict::TlsError,
            format!("{at}: the TLS handshake failed ({text})"),
        ));
    }
    None
}

/// DNS, proxy, connect, route and time-limit failures.
pub(super) fn network(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let via = if f.token_step() {
        " (the registry's token service)"
    } else {
        ""
    };
    let at = format!("{}{via}", f.at());
    if s.has("proxyconnect tcp") {
        let proxy = s
            .after("proxyconnect tcp: dial tcp ")
            .map(first_word)
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        let why = f.from("proxyconnect tcp").unwrap_or_default();
        return Some(Finding::new(
            Verdict::ProxyError,
            format!("the HTTP(S) proxy{proxy} failed while reaching {at} ({why})"),
        ));
    }
    const DNS: [&str; 4] = [
        "no such host",
        "server misbehaving",
        "temporary failure in name resolution",
        "name or service not known",
    ];
    let lookup_timeout = s.has("lookup ") && s.has("i/o timeout");
    if s.has_any(&DNS) || lookup_timeout {
        let name = s
            .after("lookup ")
            .map(first_word)
            .filter(|w| !w.is_empty())
            .map_or_else(|| at.clone(), |n| format!("{n}{via}"));
        let why = f
            .from("lookup ")
            .unwrap_or_else(|| one_line(f.env.detail, 240));
        return Some(Finding::new(
            Verdict::DnsFailure,
            format!("{name} does not resolve from the node ({why})"),
        ));
    }
    if s.has("connection refused") {
        let why = f
            .from("dial tcp")
            .unwrap_or_else(|| one_line(f.env.detail, 240));
        return Some(Finding::new(
            Verdict::ConnectionRefused,
            format!("{at}: connection refused ({why})"),
        ));
    }
    const TIMEOUT: [&str; 6] = [
        "i/o timeout",
        "deadline exceeded",
        "timeout awaiting response headers",
        "client.timeout exceeded",
        "connection timed out",
        "operation timed out",
    ];
    if s.has_any(&TIMEOUT) {
        return Some(Finding::new(
            Verdict::Timeout,
            format!(
                "{at} did not answer in time ({})",
                one_line(f.env.detail, 240)
            ),
        ));
    }
    if s.has_any(&["network is unreachable", "no route to host"]) {
        return Some(Finding::new(
            Verdict::NetworkUnreachable,
            format!(
                "the node has no route to {at} ({})",
                one_line(f.env.detail, 240)
            ),
        ));
    }
    let closed = s.lower.trim_end().ends_with(": eof") || s.lower.trim() == "eof";
    if closed || s.has_any(&["connection reset by peer", "broken pipe"]) {
        return Some(
            Finding::new(
                Verdict::RegistryError,
                format!(
                    "the connection to {at} was reset or closed mid-request: a network problem on the way (a proxy, firewall, NAT or load balancer dropped it) or the registry closed it ({})",
                    one_line(f.env.detail, 240)
                ),
            )
            .fix(cut_connection(f.runtime.service())),
        );
    }
    None
}

/// What to check when a connection was reset or cut short mid-transfer; `service` is the
/// runtime whose proxy environment matters.
pub(super) fn cut_connection(service: &str) -> String {
    format!(
        "The connection was cut, which is usually the network path rather than the registry: \
         check the proxy in {service}'s environment and any TLS-inspecting middlebox, firewall or \
         NAT idle timeouts, the MTU on the path (large transfers stall or reset when it is \
         wrong), and the registry's load balancer; then retry — if every node fails alike, ask \
         the registry's status page."
    )
}

/// `context canceled`: containerd ≥ 1.7 cancels a pull that reads no bytes for
/// `image_pull_progress_timeout` (the CRI plugin's setting, 5 m by default); deleting the pod
/// cancels it too. Not a registry that did not answer: the connection was open and stalled.
pub(super) fn cancelled(f: &Facts<'_>) -> Option<Finding> {
    f.scan.has_any(&["context canceled", "because of no progress"]).then(|| {
        Finding::new(
            Verdict::Timeout,
            "the pull was cancelled: containerd ≥ 1.7 cancels a pull that makes no progress (reads \
             no bytes) for image_pull_progress_timeout (5 m by default); deleting the pod cancels \
             it too",
        )
        .fix(
            "The pull made no progress within containerd's image_pull_progress_timeout \
             ([plugins.\"io.containerd.grpc.v1.cri\"] in 1.7, [plugins.\"io.containerd.cri.v1.images\"] \
             in 2.x; dockershim-era kubelets had --image-pull-progress-deadline): a connection to \
             the registry or its layer storage host opened and then stalled. Check what sits on \
             that path (a proxy that buffers whole layers before passing them on, a throttled or \
             saturated link, a CDN edge that hangs) with `pullcheck probe <image>` from the node; \
             raise the timeout only for links that are slow but moving.",
        )
    })
}
