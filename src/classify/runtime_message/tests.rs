//! One test per failure class, using the exact strings of research/registry-errors.md (table B,
//! the CRI-O list, section F). Each runtime text is checked bare, with the gRPC prefix, through
//! `explain_status`, and inside the kubelet's `Failed to pull image` event and ≥ 1.32 waiting
//! message (each with and without the gRPC prefix).

use super::*;

/// One runtime error and what every wrapping of it must classify as.
struct Case {
    runtime: String,
    code: &'static str,
    verdict: Verdict,
    pod_image: &'static str,
    runtime_image: Option<&'static str>,
    host: Option<&'static str>,
    status: Option<u16>,
    format: Option<&'static str>,
    reason: Option<&'static str>,
}

fn case(runtime: impl Into<String>, code: &'static str, verdict: Verdict) -> Case {
    Case {
        runtime: runtime.into(),
        code,
        verdict,
        pod_image: "app:v1",
        runtime_image: None,
        host: None,
        status: None,
        format: None,
        reason: None,
    }
}

impl Case {
    fn images(mut self, pod: &'static str, runtime: &'static str) -> Self {
        self.pod_image = pod;
        self.runtime_image = Some(runtime);
        self
    }
    fn pod(mut self, pod: &'static str) -> Self {
        self.pod_image = pod;
        self
    }
    fn host(mut self, host: &'static str) -> Self {
        self.host = Some(host);
        self
    }
    fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    fn format(mut self, f: &'static str) -> Self {
        self.format = Some(f);
        self
    }
    fn reason(mut self, r: &'static str) -> Self {
        self.reason = Some(r);
        self
    }

    /// Every wrapping: (label, diagnosis, expected image, expected gRPC code).
    fn variants(&self) -> Vec<(String, MessageDiagnosis, Option<String>, Option<String>)> {
        let prefixed = format!("rpc error: code = {} desc = {}", self.code, self.runtime);
        let code = Some(self.code.to_string());
        let own = self.runtime_image.map(str::to_string);
        let pod = Some(self.pod_image.to_string());
        let failed = |inner: &str| format!("Failed to pull image \"{}\": {inner}", self.pod_image);
        let waiting = |inner: &str| {
            format!(
                "Back-off pulling image \"{}\": ErrImagePull: {inner}",
                self.pod_image
            )
        };
        vec![
            ("bare".into(), explain(&self.runtime), own.clone(), None),
            ("rpc".into(), explain(&prefixed), own.clone(), code.clone()),
            (
                "status".into(),
                explain_status(self.code, &self.runtime),
                own,
                code.clone(),
            ),
            (
                "failed+rpc".into(),
                explain(&failed(&prefixed)),
                pod.clone(),
                code.clone(),
            ),
            (
                "failed".into(),
                explain(&failed(&self.runtime)),
                pod.clone(),
                None,
            ),
            (
                "waiting+rpc".into(),
                explain(&waiting(&prefixed)),
                pod.clone(),
                code,
            ),
            (
                "waiting".into(),
                explain(&waiting(&self.runtime)),
                pod,
                None,
            ),
        ]
    }

    fn check(&self) {
        for (label, d, image, code) in self.variants() {
            let ctx = format!("{label}: {:?}\n  got {d:#?}", self.runtime);
            assert_eq!(d.verdict, self.verdict, "verdict, {ctx}");
            assert_eq!(d.image, image, "image, {ctx}");
            assert_eq!(d.grpc_code, code, "gRPC code, {ctx}");
            assert_eq!(d.host.as_deref(), self.host, "host, {ctx}");
            assert_eq!(d.status, self.status, "status, {ctx}");
            assert!(
                !d.reason.is_empty() && !d.reason.contains('\n'),
                "reason, {ctx}"
            );
            assert!(!d.detail.is_empty(), "detail, {ctx}");
            if d.verdict != Verdict::Unknown {
                assert_ne!(d.reason, "unrecognised message", "{ctx}");
            }
            if let Some(f) = self.format {
                let got = d.format.as_deref().unwrap_or("");
                assert!(got.contains(f), "format {f:?}, {ctx}");
            }
            if let Some(r) = self.reason {
                assert!(d.reason.contains(r), "reason should contain {r:?}, {ctx}");
            }
        }
    }
}

// === Table B: tag and repository unknown ===

#[test]
fn tag_unknown_resolve_reference() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve reference \"docker.io/library/nginx:x\": docker.io/library/nginx:x: not found",
        "NotFound",
        Verdict::ManifestUnknown,
    )
    .images("nginx:x", "docker.io/library/nginx:x")
    .host("docker.io")
    .format("containerd (client pull")
    .reason("cannot tell them apart")
    .check();
}

#[test]
fn tag_unknown_transfer_service() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve image: docker.io/library/nginx:x: not found",
        "NotFound",
        Verdict::ManifestUnknown,
    )
    .images("nginx:x", "docker.io/library/nginx:x")
    .host("docker.io")
    .format("containerd >= 2.1 transfer service")
    .check();
}

#[test]
fn tag_unknown_detail_is_the_innermost_text() {
    let d = explain("Failed to pull image \"nginx:x\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve reference \"docker.io/library/nginx:x\": docker.io/library/nginx:x: not found");
    assert_eq!(d.detail, "docker.io/library/nginx:x: not found");
    assert_eq!(
        d.format.as_deref(),
        Some("kubelet Failed event; containerd (client pull: 1.6 to 2.0, or 2.1+ local pull)")
    );
}

#[test]
fn repository_unknown_ecr() {
    case(
        "name unknown: The repository with name 'x' does not exist in the registry with id '123456789012'",
        "Unknown",
        Verdict::RepositoryUnknown,
    )
    .pod("nginx:1")
    .reason("repository does not exist")
    .check();
}

#[test]
fn repository_unknown_ecr_through_crio() {
    case(
        "initializing source docker://123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest: reading manifest latest in 123456789012.dkr.ecr.us-east-1.amazonaws.com/x: name unknown: The repository with name 'x' does not exist in the registry with id '123456789012'",
        "Unknown",
        Verdict::RepositoryUnknown,
    )
    .images(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/x",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest",
    )
    .host("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    .format("CRI-O")
    .check();
}

#[test]
fn repository_unknown_distribution_get_form() {
    case(
        "failed to pull and unpack image \"registry.example/team/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example/v2/team/app/manifests/sha256:0123: 404 Not Found - Server message: unknown: repository name not known to registry",
        "Unknown",
        Verdict::RepositoryUnknown,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .status(404)
    .format("containerd 1.6 to 2.1 (fetcher GET)")
    .check();
}

// === Table B: unauthorized ===

#[test]
fn unauthorized_a_hub_anonymous_is_ambiguous() {
    case(
        "failed to pull and unpack image \"docker.io/library/privateapp:v1\": failed to resolve reference \"docker.io/library/privateapp:v1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("privateapp:v1", "docker.io/library/privateapp:v1")
    .host("docker.io")
    .reason("does not exist or is private")
    .check();
}

#[test]
fn unauthorized_b_no_basic_auth_credentials() {
    case(
        "failed to pull and unpack image \"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1\": failed to resolve reference \"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1\": pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
    )
    .host("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    .reason("offered no credentials")
    .check();
}

#[test]
fn unauthorized_c_oauth_token_rejected() {
    case(
        "failed to pull and unpack image \"docker.io/org/app:v1\": failed to resolve reference \"docker.io/org/app:v1\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://auth.docker.io/token?scope=repository%3Aorg%2Fapp%3Apull&service=registry.docker.io: 401 Unauthorized",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("org/app:v1", "docker.io/org/app:v1")
    .host("auth.docker.io")
    .status(401)
    .reason("rejected the node's credentials")
    .check();
}

#[test]
fn unauthorized_d_anonymous_token_ghcr_is_ambiguous() {
    case(
        "failed to pull and unpack image \"ghcr.io/org/private:v1\": failed to resolve reference \"ghcr.io/org/private:v1\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aorg%2Fprivate%3Apull&service=ghcr.io: 401 Unauthorized",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("ghcr.io/org/private:v1", "ghcr.io/org/private:v1")
    .host("ghcr.io")
    .status(401)
    .reason("anonymous token")
    .check();
}

#[test]
fn unauthorized_d_anonymous_token_private_registry() {
    case(
        "failed to pull and unpack image \"registry.example/team/app:v1\": failed to resolve reference \"registry.example/team/app:v1\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://auth.registry.example/token?scope=repository%3Ateam%2Fapp%3Apull: 401 Unauthorized",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("auth.registry.example")
    .status(401)
    .reason("none were offered")
    .check();
}

#[test]
fn unauthorized_e_bare_401_head_forms() {
    case(
        "failed to pull and unpack image \"registry.example/team/app:v1\": failed to resolve reference \"registry.example/team/app:v1\": unexpected status from HEAD request to https://registry.example/v2/team/app/manifests/v1: 401 Unauthorized",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .status(401)
    .format("containerd >= 1.6.25")
    .check();
    case(
        "failed to pull and unpack image \"registry.example:5000/team/app:v1\": failed to resolve reference \"registry.example:5000/team/app:v1\": pulling from host registry.example:5000 failed with status code [manifests v1]: 401 Unauthorized",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("registry.example:5000/team/app:v1", "registry.example:5000/team/app:v1")
    .host("registry.example:5000")
    .status(401)
    .format("containerd 1.6 (< 1.6.25)")
    .check();
}

#[test]
fn unauthorized_quay_uppercase_is_ambiguous() {
    case(
        "failed to pull and unpack image \"quay.io/org/app:v1\": failed to resolve reference \"quay.io/org/app:v1\": unexpected status from HEAD request to https://quay.io/v2/org/app/manifests/v1: 401 UNAUTHORIZED",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("quay.io/org/app:v1", "quay.io/org/app:v1")
    .host("quay.io")
    .status(401)
    .check();
}

#[test]
fn unauthorized_acr_get_form_2_2() {
    case(
        "failed to pull and unpack image \"myacr.azurecr.io/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status from GET request to https://myacr.azurecr.io/v2/app/manifests/sha256:0123: 401 Unauthorized\nunauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("myacr.azurecr.io/app:v1", "myacr.azurecr.io/app:v1")
    .host("myacr.azurecr.io")
    .status(401)
    .format("containerd >= 2.2")
    .reason("server message: unauthorized: authentication required")
    .check();
}

#[test]
fn unauthorized_from_a_mirror_is_not_hub_ambiguity() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to resolve reference \"docker.io/library/nginx:1\": unexpected status from HEAD request to https://mirror.internal:5000/v2/library/nginx/manifests/1?ns=docker.io: 401 Unauthorized",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("mirror.internal:5000")
    .status(401)
    .check();
}

#[test]
fn crio_hub_denied_body_is_ambiguous() {
    case(
        "initializing source docker://docker.io/library/privateapp:latest: reading manifest latest in docker.io/library/privateapp: errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("privateapp", "docker.io/library/privateapp:latest")
    .host("docker.io")
    .format("CRI-O")
    .check();
}

// === Table B: forbidden, expired ===

#[test]
fn forbidden_head_403() {
    case(
        "failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to resolve reference \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": unexpected status from HEAD request to https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/v1: 403 Forbidden",
        "Unknown",
        Verdict::Forbidden,
    )
    .images(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
    )
    .host("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    .status(403)
    .reason("HEAD 403")
    .check();
}

#[test]
fn forbidden_ecr_names_the_permission() {
    let runtime = "failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: User: arn:aws:sts::123456789012:assumed-role/node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/app because no identity-based policy allows the ecr:BatchGetImage action";
    case(runtime, "Unknown", Verdict::Forbidden)
        .images(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
        )
        .host("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        .status(403)
        .reason("lacks ecr:BatchGetImage")
        .check();
    assert!(explain(runtime)
        .remediation
        .starts_with("Grant ecr:BatchGetImage"));
}

#[test]
fn forbidden_token_endpoint_403() {
    case(
        "failed to pull and unpack image \"ghcr.io/org/app:v1\": failed to resolve reference \"ghcr.io/org/app:v1\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aorg%2Fapp%3Apull&service=ghcr.io: 403 Forbidden",
        "Unknown",
        Verdict::Forbidden,
    )
    .images("ghcr.io/org/app:v1", "ghcr.io/org/app:v1")
    .host("ghcr.io")
    .status(403)
    .reason("token service")
    .check();
}

#[test]
fn credentials_expired_ecr() {
    case(
        "failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: Your authorization token has expired. Reauthenticate and try again.",
        "Unknown",
        Verdict::CredentialsExpired,
    )
    .images(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
    )
    .host("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    .status(403)
    .check();
}

#[test]
fn gar_or_it_may_not_exist_is_ambiguous_and_names_the_permission() {
    case(
        "failed to pull and unpack image \"europe-docker.pkg.dev/p/r/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://europe-docker.pkg.dev/v2/p/r/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: Permission 'artifactregistry.repositories.downloadArtifacts' denied on resource '//artifactregistry.googleapis.com/projects/P/locations/L/repositories/R' (or it may not exist).",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("europe-docker.pkg.dev/p/r/app:v1", "europe-docker.pkg.dev/p/r/app:v1")
    .host("europe-docker.pkg.dev")
    .status(403)
    .reason("artifactregistry.repositories.downloadArtifacts")
    .check();
}

// === Table B: rate limited ===

#[test]
fn rate_limited_hub_get_by_digest() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1.27\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:0123: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        "Unknown",
        Verdict::RateLimited,
    )
    .images("nginx:1.27", "docker.io/library/nginx:1.27")
    .host("registry-1.docker.io")
    .status(429)
    .reason("You have reached your pull rate limit")
    .check();
}

#[test]
fn rate_limited_ecr_code_only() {
    case(
        "TOOMANYREQUESTS: Rate exceeded",
        "Unknown",
        Verdict::RateLimited,
    )
    .check();
}

// === Table B: TLS ===

#[test]
fn tls_unknown_authority() {
    case(
        "failed to pull and unpack image \"registry.example/team/app:v1\": failed to resolve reference \"registry.example/team/app:v1\": failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "Unknown",
        Verdict::TlsUnknownAuthority,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .check();
    let d = explain("failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": tls: failed to verify certificate: x509: certificate signed by unknown authority");
    assert_eq!(
        d.detail,
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    );
    assert!(d
        .remediation
        .contains("/etc/containerd/certs.d/registry.example/hosts.toml"));
}

#[test]
fn tls_expired() {
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-01-02T03:04:05Z is after 2024-12-31T00:00:00Z",
        "Unknown",
        Verdict::TlsCertificateExpired,
    )
    .host("registry.example")
    .check();
}

#[test]
fn tls_hostname_mismatch_forms() {
    for tail in [
        "x509: certificate is valid for other.example, not registry.example",
        "x509: certificate is not valid for any names, but wanted to match registry.example",
        "x509: cannot validate certificate for 10.0.0.5 because it doesn't contain any IP SANs",
    ] {
        let runtime = format!("failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": tls: failed to verify certificate: {tail}");
        case(runtime, "Unknown", Verdict::TlsHostnameMismatch)
            .host("registry.example")
            .check();
    }
}

#[test]
fn http_registry() {
    case(
        "failed to pull and unpack image \"registry.example:5000/team/app:v1\": failed to resolve reference \"registry.example:5000/team/app:v1\": failed to do request: Head \"https://registry.example:5000/v2/team/app/manifests/v1\": http: server gave HTTP response to HTTPS client",
        "Unknown",
        Verdict::HttpRegistry,
    )
    .images("registry.example:5000/team/app:v1", "registry.example:5000/team/app:v1")
    .host("registry.example:5000")
    .check();
}

#[test]
fn other_tls_errors() {
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": remote error: tls: handshake failure",
        "Unknown",
        Verdict::TlsError,
    )
    .host("registry.example")
    .check();
}

// === Table B: network ===

#[test]
fn dns_failures() {
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": dial tcp: lookup registry.example on 10.0.0.2:53: no such host",
        "Unknown",
        Verdict::DnsFailure,
    )
    .host("registry.example")
    .reason("registry.example does not resolve")
    .check();
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": dial tcp: lookup registry.example on 127.0.0.53:53: server misbehaving",
        "Unknown",
        Verdict::DnsFailure,
    )
    .host("registry.example")
    .check();
    case(
        "dial tcp: lookup registry.example: no such host",
        "Unknown",
        Verdict::DnsFailure,
    )
    .host("registry.example")
    .check();
}

#[test]
fn token_host_dns_failure_names_the_token_service() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to resolve reference \"docker.io/library/nginx:1\": failed to authorize: failed to fetch anonymous token: Get \"https://auth.docker.io/token?scope=repository%3Alibrary%2Fnginx%3Apull&service=registry.docker.io\": dial tcp: lookup auth.docker.io: no such host",
        "Unknown",
        Verdict::DnsFailure,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("auth.docker.io")
    .reason("token service")
    .check();
}

#[test]
fn connection_refused() {
    case(
        "failed to do request: Head \"https://10.0.0.5/v2/team/app/manifests/v1\": dial tcp 10.0.0.5:443: connect: connection refused",
        "Unknown",
        Verdict::ConnectionRefused,
    )
    .host("10.0.0.5")
    .check();
}

#[test]
fn timeouts() {
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": dial tcp 10.0.0.5:443: i/o timeout",
        "Unknown",
        Verdict::Timeout,
    )
    .host("registry.example")
    .check();
    // Section F: a TLS server that accepts and never answers.
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": net/http: TLS handshake timeout",
        "Unknown",
        Verdict::Timeout,
    )
    .host("registry.example")
    .reason("TLS handshake timed out")
    .check();
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": context deadline exceeded",
        "Unknown",
        Verdict::Timeout,
    )
    .host("registry.example")
    .check();
}

#[test]
fn proxy_and_route() {
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": proxyconnect tcp: dial tcp 10.0.0.9:3128: connect: connection refused",
        "Unknown",
        Verdict::ProxyError,
    )
    .host("registry.example")
    .reason("10.0.0.9:3128")
    .check();
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": dial tcp 203.0.113.7:443: connect: network is unreachable",
        "Unknown",
        Verdict::NetworkUnreachable,
    )
    .host("registry.example")
    .check();
    case(
        "failed to do request: Head \"https://registry.example/v2/team/app/manifests/v1\": dial tcp 203.0.113.7:443: connect: no route to host",
        "Unknown",
        Verdict::NetworkUnreachable,
    )
    .host("registry.example")
    .check();
}

// === Table B: 5xx, platform, schema 1, disk and unpack ===

#[test]
fn server_errors() {
    case(
        "failed to pull and unpack image \"registry.example/team/app:v1\": failed to resolve reference \"registry.example/team/app:v1\": unexpected status from HEAD request to https://registry.example/v2/team/app/manifests/v1: 503 Service Unavailable",
        "Unknown",
        Verdict::RegistryError,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .status(503)
    .check();
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to resolve reference \"docker.io/library/nginx:1\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://auth.docker.io/token?scope=repository%3Alibrary%2Fnginx%3Apull&service=registry.docker.io: 503 Service Unavailable",
        "Unknown",
        Verdict::RegistryError,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("auth.docker.io")
    .status(503)
    .reason("token service at auth.docker.io")
    .check();
    // A broken mirror's 400.
    case(
        "unexpected status from HEAD request to https://mirror.example/v2/team/app/manifests/v1?ns=registry.example: 400 Bad Request",
        "Unknown",
        Verdict::RegistryError,
    )
    .host("mirror.example")
    .status(400)
    .check();
}

#[test]
fn platform_mismatch() {
    case(
        "failed to pull and unpack image \"docker.io/org/app:v1\": no match for platform in manifest: not found",
        "NotFound",
        Verdict::PlatformMismatch,
    )
    .images("org/app:v1", "docker.io/org/app:v1")
    .host("docker.io")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/org/app:v1\": no match for platform in manifest sha256:0123456789abcdef: not found",
        "NotFound",
        Verdict::PlatformMismatch,
    )
    .images("org/app:v1", "docker.io/org/app:v1")
    .host("docker.io")
    .check();
}

#[test]
fn schema1_all_three_2x_variants() {
    case(
        "failed to pull and unpack image \"docker.io/org/old:v1\": Pulling Schema 1 images have been deprecated and disabled by default since containerd v2.0. As a workaround you may set an environment variable `CONTAINERD_ENABLE_DEPRECATED_PULL_SCHEMA_1_IMAGE=1`, but this will be completely removed in containerd v2.1.",
        "Unimplemented",
        Verdict::UnsupportedManifest,
    )
    .images("org/old:v1", "docker.io/org/old:v1")
    .host("docker.io")
    .format("containerd 2.0")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/org/old:v1\": media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\" is no longer supported since containerd v2.1, please rebuild the image as \"application/vnd.docker.distribution.manifest.v2+json\" or \"application/vnd.oci.image.manifest.v1+json\": not implemented",
        "Unimplemented",
        Verdict::UnsupportedManifest,
    )
    .images("org/old:v1", "docker.io/org/old:v1")
    .host("docker.io")
    .format("containerd >= 2.1")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/org/old:v1\": schema 1 image manifests are no longer supported: invalid argument",
        "InvalidArgument",
        Verdict::UnsupportedManifest,
    )
    .images("org/old:v1", "docker.io/org/old:v1")
    .host("docker.io")
    .format("transfer service")
    .check();
}

#[test]
fn disk_and_digest() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to extract layer sha256:0123456789abcdef: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs/usr/lib/x.so: no space left on device",
        "Unknown",
        Verdict::InsufficientDisk,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to copy: failed commit on ref \"layer-sha256:aaaa\": unexpected commit digest sha256:bbbb, expected sha256:aaaa: failed precondition",
        "FailedPrecondition",
        Verdict::DigestMismatch,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .check();
}

#[test]
fn unpack_failures() {
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to extract layer sha256:0123: archive/tar: invalid tar header",
        "Unknown",
        Verdict::RegistryError,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .reason("corrupt or truncated")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to unpack image on snapshotter overlayfs: failed to extract layer sha256:0123: mount callback failed on /var/lib/containerd/tmpmounts/containerd-mount1: operation not permitted",
        "Unknown",
        Verdict::UnpackFailed,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .reason("unpacking a layer on the node failed")
    .check();
    case(
        "failed to pull and unpack image \"docker.io/library/nginx:1\": content digest sha256:0123: not found",
        "NotFound",
        Verdict::RegistryError,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .check();
}

// === CRI-O ===

#[test]
fn crio_manifest_unknown() {
    case(
        "initializing source docker://quay.io/org/app:v9: reading manifest v9 in quay.io/org/app: manifest unknown",
        "Unknown",
        Verdict::ManifestUnknown,
    )
    .images("quay.io/org/app:v9", "quay.io/org/app:v9")
    .host("quay.io")
    .format("CRI-O")
    .reason("v9 does not exist in quay.io/org/app")
    .check();
}

#[test]
fn crio_pinging_registry() {
    case(
        "initializing source docker://registry.example/team/app:v1: pinging container registry registry.example: Get \"https://registry.example/v2/\": dial tcp: lookup registry.example on 10.0.0.2:53: no such host",
        "Unknown",
        Verdict::DnsFailure,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .format("CRI-O")
    .check();
}

#[test]
fn crio_auth_token() {
    case(
        "initializing source docker://registry.example/team/app:v1: unable to retrieve auth token: invalid username/password: unauthorized: authentication required",
        "Unknown",
        Verdict::Unauthorized,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .check();
}

#[test]
fn crio_rate_limited() {
    case(
        "initializing source docker://docker.io/library/nginx:1: reading manifest 1 in docker.io/library/nginx: toomanyrequests: too many requests to registry",
        "Unknown",
        Verdict::RateLimited,
    )
    .images("nginx:1", "docker.io/library/nginx:1")
    .host("docker.io")
    .check();
    case(
        "too many requests to registry",
        "Unknown",
        Verdict::RateLimited,
    )
    .check();
}

#[test]
fn crio_platform() {
    case(
        "choosing image instance: no image found in manifest list for architecture \"arm64\", variant \"v8\", OS \"linux\"",
        "Unknown",
        Verdict::PlatformMismatch,
    )
    .format("CRI-O")
    .reason("architecture \"arm64\", variant \"v8\", OS \"linux\"")
    .check();
}

#[test]
fn crio_registry_unavailable() {
    case(
        "image pull failed for registry.example/team/app:v1 because the registry is unavailable: pinging container registry registry.example: Get \"https://registry.example/v2/\": dial tcp 10.0.0.5:443: connect: connection refused",
        "Unknown",
        Verdict::ConnectionRefused,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .check();
    case(
        "image pull failed for registry.example/team/app:v1 because the registry is unavailable: something new",
        "Unknown",
        Verdict::NetworkUnreachable,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .reason("RegistryUnavailable")
    .check();
}

// === Section F ===

#[test]
fn invalid_reference() {
    case(
        "failed to parse image reference \"Registry.example/App:v1\": invalid reference format: repository name must be lowercase",
        "Unknown",
        Verdict::InvalidReference,
    )
    .images("Registry.example/App:v1", "Registry.example/App:v1")
    .host("Registry.example")
    .reason("repository name must be lowercase")
    .check();
    let d = explain("Failed to apply default image tag \"Nginx\": couldn't parse image reference \"Nginx\": invalid reference format: repository name must be lowercase");
    assert_eq!(d.verdict, Verdict::InvalidReference);
    assert_eq!(d.image.as_deref(), Some("Nginx"));
}

// === Kubelet forms ===

#[test]
fn backoff_without_cause_points_at_the_failed_event() {
    let d = explain("Back-off pulling image \"nginx:x\"");
    assert_eq!(d.verdict, Verdict::Unknown);
    assert_eq!(d.image.as_deref(), Some("nginx:x"));
    assert!(
        d.reason.contains("earlier \"Failed to pull image\" event"),
        "{d:?}"
    );
    assert_eq!(d.format.as_deref(), Some("kubelet BackOff event"));
}

#[test]
fn reason_only() {
    for m in [
        "Error: ErrImagePull",
        "Error: ImagePullBackOff",
        "ImagePullBackOff",
        "errimagepull",
    ] {
        let d = explain(m);
        assert_eq!(d.verdict, Verdict::Unknown, "{m}");
        assert!(d.reason.contains("carries no cause"), "{m}: {d:?}");
        assert_eq!(d.detail, m);
    }
}

#[test]
fn kubelet_qps_is_not_a_registry_429() {
    for m in [
        "pull QPS exceeded.",
        "Failed to pull image \"nginx:1\": pull QPS exceeded.",
        "Back-off pulling image \"nginx:1\": ErrImagePull: pull QPS exceeded.",
    ] {
        let d = explain(m);
        // A rate limit — the node's own, which the reason says.
        assert_eq!(d.verdict, Verdict::RateLimited, "{m}");
        assert!(d.reason.contains("not a registry 429"), "{m}: {d:?}");
        assert!(d.remediation.contains("registryPullQPS"), "{m}: {d:?}");
    }
}

#[test]
fn k8s_1_28_dropped_prefix_is_noted() {
    let d = explain("Failed to pull image \"nginx:x\": failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve image: docker.io/library/nginx:x: not found");
    assert_eq!(
        d.format.as_deref(),
        Some("kubelet Failed event (k8s >= 1.28: rpc prefix dropped); containerd >= 2.1 transfer service")
    );
}

#[test]
fn pasted_describe_line_and_json_escapes() {
    let d = explain("  Warning  Failed     27s (x3 over 69s)  kubelet            Failed to pull image \"agentx\": failed to pull and unpack image \"docker.io/library/agentx:latest\": failed to resolve reference \"docker.io/library/agentx:latest\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed");
    assert_eq!(d.verdict, Verdict::NotFoundOrUnauthorized);
    assert_eq!(d.image.as_deref(), Some("agentx"));
    let table = "  Warning  Failed     15s (x4 over 108s)  kubelet            Failed to pull image \"agentx\": failed to pull and unpack image \"docker.io/library/agentx:latest\": failed to resolve reference \"docker.io/library/agentx:latest\": docker.io/library/agentx:latest: not found\n  Warning  Failed     15s (x4 over 108s)  kubelet            Error: ErrImagePull\n  Normal   BackOff    1s (x6 over 107s)   kubelet            Back-off pulling image \"agentx\"\n";
    let d = explain(table);
    assert_eq!(d.verdict, Verdict::ManifestUnknown);
    assert_eq!(d.detail, "docker.io/library/agentx:latest: not found");
    let d = explain("Failed to pull image \\\"nginx:x\\\": rpc error: code = NotFound desc = failed to pull and unpack image \\\"docker.io/library/nginx:x\\\": failed to resolve image: docker.io/library/nginx:x: not found");
    assert_eq!(d.verdict, Verdict::ManifestUnknown);
    assert_eq!(d.image.as_deref(), Some("nginx:x"));
    assert_eq!(d.grpc_code.as_deref(), Some("NotFound"));
}

// === CRI socket and gRPC codes ===

#[test]
fn runtime_unavailable() {
    let m = "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused\"";
    let d = explain(m);
    assert_eq!(d.verdict, Verdict::RuntimeUnavailable, "{d:?}");
    assert_eq!(d.grpc_code.as_deref(), Some("Unavailable"));
    assert!(
        d.reason.contains("/run/containerd/containerd.sock"),
        "{d:?}"
    );
    let d = explain_status(
        "Unavailable",
        "error trying to connect: No such file or directory (os error 2)",
    );
    assert_eq!(d.verdict, Verdict::RuntimeUnavailable);
    let d = explain_status("UNAVAILABLE", "");
    assert_eq!(d.verdict, Verdict::RuntimeUnavailable);
    assert_eq!(d.grpc_code.as_deref(), Some("Unavailable"));
}

#[test]
fn codes_are_normalised() {
    assert_eq!(normalize_code("NOT_FOUND"), "NotFound");
    assert_eq!(normalize_code("5"), "NotFound");
    assert_eq!(normalize_code("Cancelled"), "Canceled");
    assert_eq!(normalize_code("ok"), "OK");
    assert_eq!(normalize_code("Weird"), "Weird");
    assert_eq!(explain_status("OK", "").verdict, Verdict::Ok);
    assert_eq!(
        explain_status("NotFound", "something new").verdict,
        Verdict::ManifestUnknown
    );
}

#[test]
fn cancelled_pull() {
    let d = explain("failed to pull and unpack image \"docker.io/library/big:1\": failed to copy: read tcp 10.0.0.1:5555->1.2.3.4:443: context canceled");
    assert_eq!(d.verdict, Verdict::Timeout);
    assert!(d.reason.contains("image_pull_progress_timeout"));
}

// === Robustness ===

#[test]
fn unrecognised_and_empty() {
    let d = explain("the flux capacitor is misaligned");
    assert_eq!(d.verdict, Verdict::Unknown);
    assert_eq!(d.reason, "unrecognised message");
    assert_eq!(d.detail, "the flux capacitor is misaligned");
    assert_eq!(explain("").reason, "empty message");
    assert_eq!(explain("   \n").verdict, Verdict::Unknown);
}

#[test]
fn never_panics_on_odd_input() {
    let huge = "é".repeat(70_000) + ": 401 Unauthorized";
    let inputs = [
        "\"".to_string(),
        "Failed to pull image \"".to_string(),
        "Back-off pulling image \"ü".to_string(),
        "rpc error: code = ".to_string(),
        "rpc error: code = Unknown desc = ".to_string(),
        "failed to pull and unpack image \"".to_string(),
        "Head \"https://".to_string(),
        "https://".to_string(),
        ": 4".to_string(),
        "unexpected status from GET request to ".to_string(),
        "image pull failed for ".to_string(),
        "初期化 failed: 日本語 x509: 証明書".to_string(),
        "\u{0}\u{1}\u{7f}".to_string(),
        huge.clone(),
        "x".repeat(200_000),
    ];
    for input in &inputs {
        let d = explain(input);
        let _ = render_text(&d);
        let _ = explain_status("Unknown", input);
    }
    // Only the first 64 KiB are read: the 401 after 140 KB of text is not seen.
    let d = explain(&huge);
    assert_eq!(d.status, None);
    assert!(d.detail.len() <= 64 * 1024);
}

#[test]
fn render_text_lines_up() {
    let d = explain("Failed to pull image \"nginx:x\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve reference \"docker.io/library/nginx:x\": docker.io/library/nginx:x: not found");
    let text = render_text(&d);
    assert!(
        text.starts_with("Verdict:      manifest_unknown\n"),
        "{text}"
    );
    assert!(text.contains("\nImage:        nginx:x\n"), "{text}");
    assert!(
        text.contains("\nFormat:       kubelet Failed event"),
        "{text}"
    );
    assert!(
        text.contains("\nDetail:       docker.io/library/nginx:x: not found\n"),
        "{text}"
    );
    assert!(text.contains("\nRemediation:  "), "{text}");
}

#[test]
fn serialises_camel_case_without_empty_options() {
    let d = explain("Error: ErrImagePull");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["verdict"], "unknown");
    assert!(v.get("grpcCode").is_none());
    let d = explain("rpc error: code = NotFound desc = x: not found");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["grpcCode"], "NotFound");
}

/// Messages a real containerd 1.6.20 returned from CRI `PullImage` against the test bed
/// (`verdict<TAB>gRPC code<TAB>message`, newlines escaped), recorded by the runtime tests'
/// scenarios and more (schema 1 without signatures, a 10 MB manifest, invalid JSON, a tampered
/// digest, 5xx, ECR/GAR-style denials, 429, TLS, DNS, refused).
const CONTAINERD_1_6_20: &str =
    include_str!("../../../tests/fixtures/containerd-1.6.20-messages.tsv");

/// The same, recorded from Debian's containerd 1.7.24 (trixie) and 2.1.9 (sid) by the runtime
/// tests' version matrix (`PULLCHECK_RECORD_MESSAGES=DIR` with `scripts/test`'s fetched
/// binaries): 2.x says `failed to resolve image`, 1.7 `pull access denied, …` for a 401.
const CONTAINERD_1_7_24: &str =
    include_str!("../../../tests/fixtures/containerd-1.7.24-messages.tsv");
const CONTAINERD_2_1_9: &str =
    include_str!("../../../tests/fixtures/containerd-2.1.9-messages.tsv");

/// Every message of one fixture: `explain_status` and `explain` of the kubelet's event text
/// give the recorded verdict. Returns how many there were.
fn check_fixture(name: &str, fixture: &str) -> usize {
    let mut seen = 0;
    for line in fixture.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (verdict, code, message) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap().replace("\\n", "\n"),
        );
        let d = explain_status(code, &message);
        assert_eq!(
            d.verdict.as_str(),
            verdict,
            "{name}: explain_status({code}, {message:?})"
        );
        // A whole message is never read as cut off.
        assert!(!d.truncated, "{name}: {message:?}");
        // The same text as the kubelet shows it: with the rpc prefix (codes other than
        // Unknown keep it) and wrapped in the Failed event.
        let event =
            format!("Failed to pull image \"x\": rpc error: code = {code} desc = {message}");
        assert_eq!(explain(&event).verdict.as_str(), verdict, "{name}: {event}");
        assert_eq!(explain(&event).grpc_code.as_deref(), Some(code));
        seen += 1;
    }
    seen
}

#[test]
fn real_containerd_messages_of_every_tested_version() {
    for (name, fixture) in [
        ("containerd 1.6.20", CONTAINERD_1_6_20),
        ("containerd 1.7.24", CONTAINERD_1_7_24),
        ("containerd 2.1.9", CONTAINERD_2_1_9),
    ] {
        let seen = check_fixture(name, fixture);
        assert!(seen >= 20, "{name}: fixture has {seen} messages");
    }
}

/// containers/image (CRI-O's pull library) as Debian's skopeo 1.9.3 printed its errors copying
/// every test bed scenario with the registries.conf and certs.d of `tests/bed/containers_image.rs`
/// (`skopeo copy docker://… dir:…`; recorded with `PULLCHECK_RECORD_MESSAGES`).
const CONTAINERS_IMAGE: &str =
    include_str!("../../../tests/fixtures/containers-image-skopeo-1.9.3-messages.tsv");

#[test]
fn real_containers_image_messages() {
    let seen = check_fixture("containers/image (skopeo 1.9.3)", CONTAINERS_IMAGE);
    assert!(seen >= 30, "fixture has {seen} messages");
}

/// containers/image's short-name resolution as Debian's podman 4.3.1 printed it
/// (`tests/bed/containers_image.rs`, short-name cases): the last candidate's error, which is what
/// CRI-O returns, and the refusal of a name nothing resolves.
const CONTAINERS_IMAGE_SHORT_NAMES: &str =
    include_str!("../../../tests/fixtures/containers-image-podman-4.3.1-messages.tsv");

#[test]
fn real_containers_image_short_name_messages() {
    let seen = check_fixture(
        "containers/image (podman 4.3.1)",
        CONTAINERS_IMAGE_SHORT_NAMES,
    );
    assert!(seen >= 4, "fixture has {seen} messages");
}

#[test]
fn remediation_follows_the_registry_in_the_message() {
    let ecr = "Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to resolve reference \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": unexpected status from HEAD request to https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/v1: 403 Forbidden";
    let d = explain(ecr);
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert!(d.reason.contains("forbidden or expired"), "{d:?}");
    assert!(
        d.remediation
            .contains("get-login-password --region eu-west-1"),
        "{d:?}"
    );
    let gar = "Failed to pull image \"europe-west4-docker.pkg.dev/p/r/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"europe-west4-docker.pkg.dev/p/r/app:v1\": failed to resolve reference \"europe-west4-docker.pkg.dev/p/r/app:v1\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://europe-west4-docker.pkg.dev/v2/token?scope=repository%3Ap%2Fr%2Fapp%3Apull&service=: 403 Forbidden";
    let d = explain(gar);
    assert!(
        d.remediation.starts_with("Artifact Registry: grant"),
        "{d:?}"
    );
    assert!(!d.remediation.contains("read:packages"), "{d:?}");
    assert!(!d.reason.contains("GHCR"), "{d:?}");
    let ghcr = gar
        .replace("europe-west4-docker.pkg.dev/p/r", "ghcr.io/o")
        .replace("europe-west4-docker.pkg.dev", "ghcr.io");
    let d = explain(&ghcr);
    assert!(d.reason.contains("read:packages"), "{d:?}");
    assert!(d.remediation.starts_with("GHCR:"), "{d:?}");
}

// === Storage hosts after a redirect (issue 29, item 1) ===

/// Messages of real runtimes for a layer the registry redirects (`307`) to a storage host that
/// does not resolve, refuses the connection, or presents a certificate from a CA the node does
/// not trust — on the layer path: the registry served the manifest and the config blob itself.
/// Recorded against the test bed's registry behind a front that redirects only the layer blob:
/// containerd 1.6.20 (Debian) through CRI `PullImage` (`pullcheck probe --runtime-pull`), and
/// skopeo 1.9.3 (Debian; containers/image, CRI-O's pull library) with `skopeo copy`, the front's
/// CA in `--src-cert-dir`.
const CONTAINERD_1_6_20_LAYER_PATH: &str =
    include_str!("../../../tests/fixtures/containerd-1.6.20-layer-path-messages.tsv");
const CONTAINERS_IMAGE_LAYER_PATH: &str =
    include_str!("../../../tests/fixtures/containers-image-skopeo-1.9.3-layer-path-messages.tsv");

#[test]
fn storage_host_failures_name_the_storage_host_never_the_registry() {
    for (name, fixture) in [
        ("containerd 1.6.20", CONTAINERD_1_6_20_LAYER_PATH),
        (
            "containers/image (skopeo 1.9.3)",
            CONTAINERS_IMAGE_LAYER_PATH,
        ),
    ] {
        assert_eq!(check_fixture(name, fixture), 3, "{name}");
        for line in fixture.lines() {
            let message = line.splitn(3, '\t').nth(2).unwrap();
            let storage = url_host_of(message);
            for d in [
                explain(message),
                explain(&format!("Failed to pull image \"127.0.0.1:5000/x/app:amd64\": rpc error: code = Unknown desc = {message}")),
            ] {
                assert_ne!(d.verdict, Verdict::RegistryError, "{name}: {d:#?}");
                assert_ne!(d.verdict, Verdict::BlobDenied, "{name}: {d:#?}");
                assert!(d.reason.contains(&storage), "{name}: {storage}: {d:#?}");
                assert_eq!(d.host.as_deref(), Some(storage.as_str()), "{name}: {d:#?}");
            }
        }
    }
}

/// The host of the first `Get "URL"` in a message.
fn url_host_of(message: &str) -> String {
    let url = message.split("Get \"").nth(1).unwrap();
    scan::url_host(url).unwrap().to_string()
}

#[test]
fn storage_host_with_an_unknown_ca_is_tls_at_the_storage_host() {
    let digest = "sha256:83d963971fb71bd756c4a083d02f499fe7177ab2f7ba63478feb174725969b26";
    let s3 = format!("https://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com/0d8f-123456789012-c2a7/{digest}?X-Amz-Security-Token=IQoJb3&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261201T101010Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Credential=ASIA%2F20261201%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=403");
    let storage = "prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com";
    for x509 in [
        "x509: certificate signed by unknown authority",
        // Go ≥ 1.20 says which step failed.
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
    ] {
        for (runtime, message) in [
            // containers/image (CRI-O, podman, skopeo).
            ("CRI-O", format!("reading blob {digest}: Get \"{s3}\": {x509}")),
            (
                "CRI-O",
                format!("copying system image from manifest list: reading blob {digest}: Get \"{s3}\": {x509}"),
            ),
            // containerd.
            (
                "containerd",
                format!("failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to copy: httpReadSeeker: failed open: failed to do request: Get \"{s3}\": {x509}"),
            ),
        ] {
            let event = format!("Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": rpc error: code = Unknown desc = {message}");
            let d = explain(&event);
            assert_eq!(d.verdict, Verdict::TlsUnknownAuthority, "{d:#?}");
            assert_eq!(d.host.as_deref(), Some(storage), "{d:#?}");
            assert!(d.reason.contains(storage), "{d:#?}");
            // The CA goes beside the registry's: the runtime follows the redirect with the
            // registry's TLS settings, not with a configuration for the storage host.
            let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
            if runtime == "CRI-O" {
                assert!(
                    d.remediation
                        .contains(&format!("/etc/containers/certs.d/{registry}/")),
                    "{d:#?}"
                );
                assert!(!d.remediation.contains("hosts.toml"), "{d:#?}");
            } else {
                assert!(
                    d.remediation
                        .contains(&format!("/etc/containerd/certs.d/{registry}/hosts.toml")),
                    "{d:#?}"
                );
            }
            assert!(
                !d.remediation.contains(&format!("certs.d/{storage}")),
                "{d:#?}"
            );
        }
    }
}

// === The host is the request's, never a link in the registry's words (item 3) ===

#[test]
fn links_in_the_registrys_message_are_not_the_host() {
    let cases: &[(&str, Verdict, Option<&str>)] = &[
        // ACR through CRI-O.
        (
            "Failed to pull image \"myacr.azurecr.io/app:v1\": rpc error: code = Unknown desc = initializing source docker://myacr.azurecr.io/app:v1: reading manifest v1 in myacr.azurecr.io/app: unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.",
            Verdict::Unauthorized,
            Some("myacr.azurecr.io"),
        ),
        // ACR's body after containerd's GET (1.6–2.1).
        (
            "failed to pull and unpack image \"myacr.azurecr.io/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://myacr.azurecr.io/v2/app/manifests/sha256:0123: 401 Unauthorized - Server message: unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.",
            Verdict::Unauthorized,
            Some("myacr.azurecr.io"),
        ),
        // ACR's message alone: no host rather than the link's.
        (
            "unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.",
            Verdict::Unauthorized,
            None,
        ),
        // Docker Hub's 429 through CRI-O.
        (
            "Failed to pull image \"nginx:latest\": rpc error: code = Unknown desc = initializing source docker://docker.io/library/nginx:latest: reading manifest latest in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
            Verdict::RateLimited,
            Some("docker.io"),
        ),
        (
            "reading manifest latest in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
            Verdict::RateLimited,
            Some("docker.io"),
        ),
        // Red Hat's registry through CRI-O.
        (
            "Failed to pull image \"registry.redhat.io/rhel9/httpd-24:latest\": rpc error: code = Unknown desc = initializing source docker://registry.redhat.io/rhel9/httpd-24:latest: unable to retrieve auth token: invalid username/password: unauthorized: Please login to the Red Hat Registry using your Customer Portal credentials. Further instructions can be found here: https://access.redhat.com/RegistryAuthentication",
            Verdict::Unauthorized,
            Some("registry.redhat.io"),
        ),
        // The same through containerd: the token request's URL.
        (
            "failed to pull and unpack image \"registry.redhat.io/rhel9/httpd-24:latest\": failed to resolve reference \"registry.redhat.io/rhel9/httpd-24:latest\": failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth: 401 Unauthorized",
            Verdict::Unauthorized,
            Some("registry.redhat.io"),
        ),
    ];
    for (message, verdict, host) in cases {
        let d = explain(message);
        assert_eq!(d.verdict, *verdict, "{message}\n{d:#?}");
        assert_eq!(d.host.as_deref(), *host, "{message}\n{d:#?}");
        for link in ["aka.ms", "www.docker.com", "access.redhat.com"] {
            assert!(!d.reason.contains(&format!("{link}:")), "{d:#?}");
        }
    }
}

#[test]
fn no_fixture_message_takes_its_host_from_a_link() {
    for fixture in [
        CONTAINERD_1_6_20,
        CONTAINERD_1_7_24,
        CONTAINERD_2_1_9,
        CONTAINERS_IMAGE,
        CONTAINERS_IMAGE_SHORT_NAMES,
    ] {
        for line in fixture.lines() {
            let message = line.splitn(3, '\t').nth(2).unwrap().replace("\\n", "\n");
            let d = explain(&message);
            if let Some(h) = &d.host {
                assert!(
                    !["www.docker.com", "aka.ms", "access.redhat.com"].contains(&h.as_str()),
                    "{message}: {h}"
                );
            }
        }
    }
}

// === Messages that were missed (item 4) ===

/// containers/image's refusal of a short name it would have to ask about, as Debian's podman
/// 4.3.1 printed it (`podman pull pullcheck-ambiguous:v1` with no TTY, a private registries.conf
/// through CONTAINERS_REGISTRIES_CONF with `short-name-mode = "enforcing"` and two
/// unqualified-search registries).
const CONTAINERS_IMAGE_ENFORCING: &str =
    include_str!("../../../tests/fixtures/containers-image-podman-4.3.1-enforcing-messages.tsv");

#[test]
fn short_name_that_cannot_be_asked_about() {
    assert_eq!(
        check_fixture(
            "containers/image (podman 4.3.1)",
            CONTAINERS_IMAGE_ENFORCING
        ),
        1
    );
    case(
        "short-name resolution enforced but cannot prompt without a TTY",
        "Unknown",
        Verdict::ShortNameUnresolved,
    )
    .format("CRI-O")
    .reason("no TTY")
    .check();
    let d = explain("Error: short-name resolution enforced but cannot prompt without a TTY");
    assert_eq!(d.verdict, Verdict::ShortNameUnresolved);
    assert!(d.remediation.contains("fully qualified"), "{d:#?}");
}

#[test]
fn requested_access_denied_alone() {
    case(
        "initializing source docker://docker.io/acme/private:latest: reading manifest latest in docker.io/acme/private: requested access to the resource is denied",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("acme/private:latest", "docker.io/acme/private:latest")
    .host("docker.io")
    .reason("Docker Hub answers both alike")
    .check();
    case(
        "initializing source docker://registry.example/team/app:v1: reading manifest v1 in registry.example/team/app: requested access to the resource is denied",
        "Unknown",
        Verdict::NotFoundOrUnauthorized,
    )
    .images("registry.example/team/app:v1", "registry.example/team/app:v1")
    .host("registry.example")
    .reason("does not say which")
    .check();
    let d = explain("requested access to the resource is denied");
    assert_eq!(d.verdict, Verdict::NotFoundOrUnauthorized, "{d:#?}");
    // With the status a 403 stays a 403.
    let d = explain("failed to pull and unpack image \"registry.example/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: requested access to the resource is denied");
    assert_eq!(d.verdict, Verdict::Forbidden, "{d:#?}");
}

#[test]
fn bare_waiting_reasons_that_say_what_is_wrong() {
    for m in [
        "InvalidImageName",
        "Error: InvalidImageName",
        "invalidimagename",
    ] {
        let d = explain(m);
        assert_eq!(d.verdict, Verdict::InvalidReference, "{m}: {d:#?}");
        assert!(d.remediation.contains("waiting message"), "{d:#?}");
    }
    for m in ["ErrImageNeverPull", "Error: ErrImageNeverPull"] {
        let d = explain(m);
        assert_eq!(d.verdict, Verdict::PullPolicyNever, "{m}: {d:#?}");
        assert!(d.reason.contains("imagePullPolicy is Never"), "{d:#?}");
    }
    let d = explain(
        "Container image \"registry.example/app:v1\" is not present with pull policy of Never",
    );
    assert_eq!(d.verdict, Verdict::PullPolicyNever);
    assert_eq!(d.image.as_deref(), Some("registry.example/app:v1"));
    assert!(d.remediation.contains("IfNotPresent"), "{d:#?}");
    assert_eq!(Verdict::PullPolicyNever.exit_code(), 11);
    // The kubelet's success with the same words is not it.
    let d = explain("Container image \"registry.example/app:v1\" already present on machine");
    assert_ne!(d.verdict, Verdict::PullPolicyNever);
}

#[test]
fn unpack_failures_get_a_verdict() {
    let cases: &[(&str, Verdict, &str)] = &[
        (
            "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to extract layer sha256:682fbb19de80799fed8b83bd8172050774c83294f952bdd8013d9cce2ab2f2a6: failed to convert whiteout file \"usr/lib/x86_64-linux-gnu/xtables/.wh..wh..opq\": operation not supported: unknown",
            Verdict::UnpackFailed,
            "lacks a feature",
        ),
        (
            "failed to pull and unpack image \"docker.io/library/nginx:1\": apply layer error for \"docker.io/library/nginx:1\": failed to extract layer sha256:0123: mount callback failed: permission denied",
            Verdict::UnpackFailed,
            "unpacking a layer",
        ),
        (
            "writing blob: adding layer with blob \"sha256:0123\": processing tar file(potentially insufficient UIDs or GIDs available in user namespace (requested 0:42 for /etc/shadow): Check /etc/subuid and /etc/subgid if configured locally and run \"podman system migrate\": lchown /etc/shadow: invalid argument): exit status 1",
            Verdict::UnpackFailed,
            "user-namespace",
        ),
        (
            "copying system image from manifest list: writing blob: adding layer with blob \"sha256:0123\": ApplyLayer exit status 1 stdout:  stderr: mkdir /usr/share/x: read-only file system",
            Verdict::UnpackFailed,
            "unpacking a layer",
        ),
        (
            "failed to pull and unpack image \"docker.io/library/nginx:1\": failed to extract layer sha256:0123: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs/x: no space left on device: unknown",
            Verdict::InsufficientDisk,
            "full",
        ),
        (
            "writing blob: storing blob to file \"/var/tmp/container_images_storage1375/1\": write /var/tmp/container_images_storage1375/1: no space left on device",
            Verdict::InsufficientDisk,
            "full",
        ),
        (
            "writing blob: storing blob to file \"/var/tmp/container_images_storage1375/1\": happened during read: unexpected EOF",
            Verdict::RegistryError,
            "cut short",
        ),
        (
            "copying system image from manifest list: writing blob: storing blob to file \"/var/tmp/container_images_storage1375/1\": happened during read: read tcp 10.0.0.5:45678->52.1.2.3:443: read: connection reset by peer",
            Verdict::RegistryError,
            "network problem",
        ),
        (
            "writing blob: adding layer with blob \"sha256:0123\": processing tar file(archive/tar: invalid tar header): exit status 1",
            Verdict::RegistryError,
            "not a valid",
        ),
    ];
    for (message, verdict, says) in cases {
        for text in [
            message.to_string(),
            format!("Failed to pull image \"nginx:1\": rpc error: code = Unknown desc = {message}"),
        ] {
            let d = explain(&text);
            assert_eq!(d.verdict, *verdict, "{text}\n{d:#?}");
            assert!(d.reason.contains(says), "{says}: {d:#?}");
        }
    }
    // The runtime's own name in the advice.
    let d = explain(cases[2].0);
    assert!(d.remediation.contains("/etc/subuid"), "{d:#?}");
    let d = explain(cases[1].0);
    assert!(d.remediation.contains("containerd's log"), "{d:#?}");
    let d = explain(cases[3].0);
    assert!(d.remediation.contains("crio's log"), "{d:#?}");
}

#[test]
fn recognised_messages_are_never_unknown() {
    for m in [
        "requested access to the resource is denied",
        "short-name resolution enforced but cannot prompt without a TTY",
        "InvalidImageName",
        "ErrImageNeverPull",
        "pull QPS exceeded.",
        "failed to extract layer sha256:0123: mount callback failed: operation not permitted",
        "failed to unpack image on snapshotter overlayfs: something new",
        "apply layer error for \"x\": something new",
        "writing blob: adding layer with blob \"sha256:0123\": something new",
        "writing blob: storing blob to file \"/var/tmp/x/1\": happened during read: unexpected EOF",
    ] {
        let d = explain(m);
        assert_ne!(d.verdict, Verdict::Unknown, "{m}: {d:#?}");
    }
}

// === Pastes (item 5) ===

const TWO_EVENTS: &str = "\
Events:
  Type     Reason     Age                 From               Message
  ----     ------     ----                ----               -------
  Normal   Scheduled  3m                  default-scheduler  Successfully assigned shop/web-5d4f7 to node-1
  Normal   Pulling    2m (x4 over 3m)     kubelet            Pulling image \"ghcr.io/acme/api:v2\"
  Warning  Failed     2m (x4 over 3m)     kubelet            Failed to pull image \"ghcr.io/acme/api:v2\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/api:v2\": no match for platform in manifest: not found
  Warning  Failed     2m (x4 over 3m)     kubelet            Error: ErrImagePull
  Normal   Pulling    2m (x4 over 3m)     kubelet            Pulling image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:v7\"
  Warning  Failed     2m (x4 over 3m)     kubelet            Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:v7\": rpc error: code = Unknown desc = failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:v7\": failed to resolve reference \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:v7\": unexpected status from HEAD request to https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/db/manifests/v7: 403 Forbidden
  Warning  Failed     2m (x4 over 3m)     kubelet            Failed to pull image \"ghcr.io/acme/api:v2\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/api:v2\": no match for platform in manifest: not found
  Normal   BackOff    1m (x6 over 3m)     kubelet            Back-off pulling image \"ghcr.io/acme/api:v2\"
  Warning  Failed     1m (x6 over 3m)     kubelet            Error: ImagePullBackOff
";

#[test]
fn each_failed_event_of_a_paste_is_explained() {
    let e = explain_all(TWO_EVENTS);
    assert_eq!(e.first.verdict, Verdict::PlatformMismatch, "{e:#?}");
    assert_eq!(e.first.image.as_deref(), Some("ghcr.io/acme/api:v2"));
    assert_eq!(
        e.first.detail,
        "no match for platform in manifest: not found"
    );
    assert_eq!(e.others.len(), 1, "{e:#?}");
    assert_eq!(e.others[0].verdict, Verdict::Forbidden);
    assert_eq!(
        e.others[0].image.as_deref(),
        Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:v7")
    );
    assert_eq!(e.not_shown, 0);
    // explain() is the first of them, as before.
    assert_eq!(explain(TWO_EVENTS), e.first);
    let text = render_all(&e);
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{text}");
    assert!(
        blocks[0].starts_with("Verdict:      platform_mismatch\n"),
        "{text}"
    );
    assert!(blocks[1].starts_with("Verdict:      forbidden\n"), "{text}");
    assert!(!text.contains("more not shown"), "{text}");
}

#[test]
fn many_events_say_how_many_more() {
    let rows: String = (0..7)
        .map(|i| format!("  Warning  Failed  1m  kubelet  Failed to pull image \"r.example/app{i}:v1\": rpc error: code = NotFound desc = r.example/app{i}:v1: not found\n"))
        .collect();
    let e = explain_all(&rows);
    assert_eq!(e.others.len(), MAX_OTHERS);
    assert_eq!(e.not_shown, 7 - 1 - MAX_OTHERS);
    let text = render_all(&e);
    assert!(
        text.ends_with(&format!(
            "\n{} more not shown (explain them one at a time to read them)\n",
            7 - 1 - MAX_OTHERS
        )),
        "{text}"
    );
}

const DESCRIBE_EXPIRED: &str = "\
Name:             web-5d4f7
Namespace:        shop
Priority:         0
Service Account:  default
Node:             node-1/10.0.0.4
Start Time:       Mon, 07 Dec 2026 10:00:00 +0000
Status:           Pending
IP:               10.244.1.7
Containers:
  api:
    Container ID:
    Image:          ghcr.io/acme/api:v2
    Image ID:
    Port:           8080/TCP
    Host Port:      0/TCP
    State:          Waiting
      Reason:       ImagePullBackOff
    Ready:          False
    Restart Count:  0
    Environment:    <none>
  sidecar:
    Container ID:
    Image:          Busybox:1
    Image ID:
    State:          Waiting
      Reason:       InvalidImageName
    Ready:          False
Conditions:
  Type              Status
  Initialized       True
  Ready             False
QoS Class:          BestEffort
Events:             <none>
";

#[test]
fn a_describe_block_with_expired_events_says_so() {
    let e = explain_all(DESCRIBE_EXPIRED);
    let d = &e.first;
    assert_eq!(d.verdict, Verdict::Unknown, "{d:#?}");
    assert!(
        d.reason.starts_with("events expired: run `kubectl pullcheck pod web-5d4f7 -n shop` or `pullcheck probe ghcr.io/acme/api:v2`"),
        "{d:#?}"
    );
    assert_eq!(d.image.as_deref(), Some("ghcr.io/acme/api:v2"));
    assert_eq!(d.host.as_deref(), Some("ghcr.io"));
    assert_ne!(d.reason, "unrecognised message");
    // Not the whole block echoed back.
    assert!(d.detail.len() < 100, "{d:#?}");
    assert!(!d.detail.contains("QoS Class"), "{d:#?}");
    assert_eq!(e.others.len(), 1);
    assert_eq!(e.others[0].verdict, Verdict::InvalidReference);
    assert_eq!(e.others[0].image.as_deref(), Some("Busybox:1"));
    assert!(e.others[0].reason.contains("container sidecar"), "{e:#?}");
}

#[test]
fn a_describe_block_with_its_event_is_read_from_the_event() {
    let block = DESCRIBE_EXPIRED.replace(
        "Events:             <none>\n",
        "Events:\n  Type     Reason   Age   From     Message\n  ----     ------   ----  ----     -------\n  Warning  Failed   1m    kubelet  Failed to pull image \"ghcr.io/acme/api:v2\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/api:v2\": no match for platform in manifest: not found\n  Normal   BackOff  1m    kubelet  Back-off pulling image \"ghcr.io/acme/api:v2\"\n",
    );
    let e = explain_all(&block);
    assert_eq!(e.first.verdict, Verdict::PlatformMismatch, "{e:#?}");
    // The container the event explains is not listed again; the other one is.
    assert_eq!(e.others.len(), 1, "{e:#?}");
    assert_eq!(e.others[0].verdict, Verdict::InvalidReference);
}

#[test]
fn a_message_cut_off_claims_only_what_it_shows() {
    // The cause is cut off: NotFound alone is a missing tag or a platform mismatch.
    let d = explain("Failed to pull image \"ghcr.io/acme/api:v2\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/api:v2\": no ma…");
    assert_eq!(d.verdict, Verdict::Unknown, "{d:#?}");
    assert!(d.truncated);
    assert!(d.reason.contains("cut off"), "{d:#?}");
    assert!(d.reason.contains("NotFound"), "{d:#?}");
    assert!(d.reason.contains("ghcr.io/acme/api:v2"), "{d:#?}");
    assert!(d.remediation.contains("jsonpath"), "{d:#?}");
    // Cut inside a URL: the fragment is no host, and the cause is not visible.
    let d = explain("Failed to pull image \"r.example/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": failed to do request: Head \"https://r.exa…");
    assert_eq!(d.verdict, Verdict::Unknown, "{d:#?}");
    assert_eq!(d.host.as_deref(), Some("r.example"), "{d:#?}");
    assert!(d.reason.contains("while resolving"), "{d:#?}");
    // Cut inside the image name: nothing is claimed about it.
    let d = explain("Failed to pull image \"ghcr.io/acme/ap");
    assert_eq!(d.verdict, Verdict::Unknown, "{d:#?}");
    assert_eq!(d.image, None);
    assert!(d.reason.contains("inside the image name"), "{d:#?}");
    // What is visible still counts, and the reason says the rest is missing.
    let d = explain("Failed to pull image \"r.example/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": failed to do request: Head \"https://r.example/v2/app/manifests/v1\": dial tcp: lookup r.example on 10.0.0.2:53: no such host...");
    assert_eq!(d.verdict, Verdict::DnsFailure, "{d:#?}");
    assert!(d.truncated);
    assert!(d.reason.contains("cut off"), "{d:#?}");
    // A 403 whose reason is cut off may be an expired token.
    let d = explain("Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: Your authoriz…");
    assert_eq!(d.verdict, Verdict::Forbidden, "{d:#?}");
    assert!(d.reason.contains("expired token"), "{d:#?}");
    // A whole message is not called cut.
    let d = explain("Failed to pull image \"nginx:x\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:x\": failed to resolve reference \"docker.io/library/nginx:x\": docker.io/library/nginx:x: not found");
    assert!(!d.truncated);
    let v = serde_json::to_value(&d).unwrap();
    assert!(v.get("truncated").is_none());
}

#[test]
fn hard_wrapped_pastes_are_joined() {
    let wrapped = "Failed to pull image \"ghcr.io/acme/api:v2\": rpc error: code = Unknown desc = failed to pull and unpack image \"ghcr.\nio/acme/api:v2\": failed to resolve reference \"ghcr.io/acme/api:v2\": unexpected status from HEAD request to https://ghcr.io/v2/acme/api/manif\nests/v2: 401 Unauthorized";
    let d = explain(wrapped);
    assert_eq!(d.verdict, Verdict::NotFoundOrUnauthorized, "{d:#?}");
    assert_eq!(d.host.as_deref(), Some("ghcr.io"));
    assert_eq!(d.status, Some(401));
    assert!(!d.detail.contains('\n'), "{d:#?}");
    // A host name wrapped after its dot.
    let d = explain("failed to do request: Head \"https://registry.\nexample.com/v2/app/manifests/v1\": dial tcp: lookup registry.example.com: no such host");
    assert_eq!(d.host.as_deref(), Some("registry.example.com"), "{d:#?}");
}

// === Remediations that fit the case (item 6) ===

const ECR_DENIED: &str = "Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: User: arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/app because no identity-based policy allows the ecr:BatchGetImage action";

#[test]
fn an_ecr_refusal_gets_ecr_advice_only_and_names_the_principal() {
    let d = explain(ECR_DENIED);
    assert_eq!(d.verdict, Verdict::Forbidden);
    for other in [
        "GAR",
        "Artifact Registry",
        "artifactregistry",
        "ACR",
        "AcrPull",
    ] {
        assert!(!d.remediation.contains(other), "{other}: {d:#?}");
    }
    assert!(
        d.remediation
            .starts_with("Grant ecr:BatchGetImage to the IAM role eks-node-role."),
        "{d:#?}"
    );
    assert!(
        d.remediation.contains("AmazonEC2ContainerRegistryReadOnly"),
        "{d:#?}"
    );
    assert!(
        d.reason
            .contains("the IAM role eks-node-role lacks ecr:BatchGetImage"),
        "{d:#?}"
    );
    let id = d.identity.as_ref().unwrap();
    assert_eq!(
        id.principal,
        "arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc"
    );
    assert_eq!(
        id.description,
        "the IAM role eks-node-role (session i-0abc) in account 123456789012"
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v["identity"]["principal"],
        "arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc"
    );
    assert!(v["identity"].get("grantee").is_none());
    let text = render_text(&d);
    assert!(
        text.contains("\nIdentity:     the IAM role eks-node-role (session i-0abc) in account 123456789012 (arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc)\n"),
        "{text}"
    );
    // From a registry whose name does not say ECR (a mirror, the test bed): the permission does.
    let d = explain("initializing source docker://127.0.0.1:40383/denied/app:v1: reading manifest v1 in 127.0.0.1:40383/denied/app: denied: User: arn:aws:sts::210987654321:assumed-role/ng-2-node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/denied/app because no identity-based policy allows the ecr:BatchGetImage action");
    assert!(
        d.remediation.contains("AmazonEC2ContainerRegistryReadOnly"),
        "{d:#?}"
    );
    assert!(!d.remediation.contains("AcrPull"), "{d:#?}");
    // Cross-account, when both accounts are known.
    let d = explain(&ECR_DENIED.replace(
        "arn:aws:sts::123456789012:assumed-role",
        "arn:aws:sts::210987654321:assumed-role",
    ));
    assert!(
        d.remediation
            .contains("in account 210987654321 and the registry in 123456789012"),
        "{d:#?}"
    );
}

#[test]
fn acr_firewall_names_the_address_and_the_network_rule() {
    let d = explain("failed to pull and unpack image \"myacr.azurecr.io/app:v1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://myacr.azurecr.io/v2/app/manifests/sha256:0123: 403 Forbidden - Server message: denied: client with IP '203.0.113.7' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.");
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert_eq!(d.host.as_deref(), Some("myacr.azurecr.io"));
    assert_eq!(d.identity.as_ref().unwrap().principal, "203.0.113.7");
    assert!(
        d.remediation
            .contains("az acr network-rule add --name myacr --ip-address 203.0.113.7"),
        "{d:#?}"
    );
    assert!(!d.remediation.contains("AcrPull"), "{d:#?}");
}

#[test]
fn a_cut_connection_is_a_network_problem_not_a_failing_registry() {
    for m in [
        "failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": failed to do request: Head \"https://r.example/v2/app/manifests/v1\": read tcp 10.0.0.1:5555->1.2.3.4:443: read: connection reset by peer",
        "failed to pull and unpack image \"r.example/app:v1\": failed to copy: short read: expected 25173685 bytes but got 1048576: unexpected EOF",
        "failed to pull and unpack image \"r.example/app:v1\": failed to resolve reference \"r.example/app:v1\": failed to do request: Head \"https://r.example/v2/app/manifests/v1\": EOF",
        "writing blob: storing blob to file \"/var/tmp/container_images_storage1375/1\": happened during read: unexpected EOF",
    ] {
        let d = explain(m);
        assert!(!d.remediation.contains("5xx"), "{m}: {d:#?}");
        assert!(!d.remediation.contains("registry failed"), "{m}: {d:#?}");
        assert!(d.remediation.contains("network path"), "{m}: {d:#?}");
        assert!(d.reason.contains("network problem"), "{m}: {d:#?}");
    }
}

#[test]
fn a_crio_message_gets_crio_paths() {
    let cases: &[(&str, Verdict, &str)] = &[
        (
            "initializing source docker://registry.example/app:v1: pinging container registry registry.example: Get \"https://registry.example/v2/\": x509: certificate signed by unknown authority",
            Verdict::TlsUnknownAuthority,
            "/etc/containers/certs.d/registry.example/",
        ),
        (
            "initializing source docker://registry.example:5000/app:v1: pinging container registry registry.example:5000: Get \"https://registry.example:5000/v2/\": http: server gave HTTP response to HTTPS client",
            Verdict::HttpRegistry,
            "/etc/containers/registries.conf",
        ),
        (
            "initializing source docker://registry.example/app:v1: pinging container registry registry.example: Get \"https://registry.example/v2/\": remote error: tls: certificate required",
            Verdict::TlsError,
            "/etc/containers/certs.d/registry.example/",
        ),
        (
            "initializing source docker://registry.example/app:v1: reading manifest v1 in registry.example/app: unauthorized: authentication required",
            Verdict::Unauthorized,
            "auth.json",
        ),
        (
            "initializing source docker://registry.example/app:v1: pinging container registry registry.example: Get \"https://registry.example/v2/\": x509: certificate has expired or is not yet valid: current time 2026-12-01T17:49:52Z is after 2021-01-01T00:00:00Z",
            Verdict::TlsCertificateExpired,
            "renew",
        ),
    ];
    for (message, verdict, path) in cases {
        let d = explain(message);
        assert_eq!(d.verdict, *verdict, "{message}\n{d:#?}");
        assert!(d.remediation.contains(path), "{path}: {d:#?}");
        assert!(!d.remediation.contains("hosts.toml"), "{d:#?}");
        assert!(!d.remediation.contains("containerd"), "{d:#?}");
    }
    // The same failure through containerd keeps containerd's file.
    let d = explain("failed to pull and unpack image \"registry.example/app:v1\": failed to resolve reference \"registry.example/app:v1\": failed to do request: Head \"https://registry.example/v2/app/manifests/v1\": x509: certificate signed by unknown authority");
    assert!(
        d.remediation
            .contains("/etc/containerd/certs.d/registry.example/hosts.toml"),
        "{d:#?}"
    );
}

#[test]
fn a_no_progress_cancel_is_not_a_registry_that_did_not_answer() {
    for m in [
        "failed to pull and unpack image \"docker.io/library/big:1\": failed to copy: read tcp 10.0.0.1:5555->1.2.3.4:443: context canceled",
        "Failed to pull image \"big:1\": rpc error: code = Canceled desc = failed to pull and unpack image \"docker.io/library/big:1\": failed to copy: httpReadSeeker: failed read: context canceled",
    ] {
        let d = explain(m);
        assert_eq!(d.verdict, Verdict::Timeout, "{d:#?}");
        assert!(!d.remediation.contains("did not answer in time"), "{d:#?}");
        assert!(!d.reason.contains("did not answer in time"), "{d:#?}");
        assert!(d.remediation.contains("image_pull_progress_timeout"), "{d:#?}");
        assert!(d.remediation.contains("no progress"), "{d:#?}");
        assert!(d.remediation.contains("pullcheck probe"), "{d:#?}");
    }
}
