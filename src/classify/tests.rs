//! Rule table: one piece of evidence per rule, most specific first.

use super::*;
use crate::net::transport::TransportFailure;
use crate::platform::Platform;
use crate::probe::challenge;
use crate::probe::oci_error::OciError;
use crate::probe::ratelimit;

fn evidence(host: &str, authenticated: bool, exchanges: Vec<Exchange>) -> Evidence {
    let terminal = if exchanges.is_empty() {
        None
    } else {
        Some(exchanges.len() - 1)
    };
    Evidence {
        exchanges,
        terminal,
        ..Evidence::new(host, authenticated, Platform::parse("linux/amd64").unwrap())
    }
}

fn http(step: Step, status: u16, code: &str, message: &str, www: Option<&str>) -> Exchange {
    let mut ex = Exchange::new(step, "GET", "https://r.example/v2/app/manifests/v1", "none");
    ex.status = Some(status);
    if !code.is_empty() {
        ex.oci_errors.push(OciError {
            code: code.into(),
            message: message.into(),
        });
    }
    ex.challenge = www.and_then(challenge::parse);
    ex
}

fn net(kind: TransportKind) -> Exchange {
    let mut ex = Exchange::new(
        Step::Manifest,
        "GET",
        "https://r.example/v2/app/manifests/v1",
        "none",
    );
    ex.transport = Some(TransportFailure {
        kind,
        message: "x".into(),
    });
    ex
}

fn verdict(ev: &Evidence) -> Verdict {
    classify(ev).verdict
}

#[test]
fn status_rules() {
    let one = |ex: Exchange, auth: bool| verdict(&evidence("https://r.example", auth, vec![ex]));
    let m = Step::Manifest;
    assert_eq!(
        one(http(m, 429, "TOOMANYREQUESTS", "slow down", None), false),
        Verdict::RateLimited
    );
    assert_eq!(
        one(
            http(
                m,
                403,
                "DENIED",
                "Your authorization token has expired. Reauthenticate and try again.",
                None
            ),
            true
        ),
        Verdict::CredentialsExpired
    );
    assert_eq!(one(http(m, 403, "DENIED", "Permission 'artifactregistry.repositories.downloadArtifacts' denied on resource '//x' (or it may not exist)", None), true), Verdict::NotFoundOrUnauthorized);
    assert_eq!(
        one(
            http(
                m,
                403,
                "DENIED",
                "User: arn:x is not authorized to perform: ecr:BatchGetImage on resource: y",
                None
            ),
            true
        ),
        Verdict::Forbidden
    );
    assert_eq!(
        one(
            http(
                m,
                401,
                "UNAUTHORIZED",
                "",
                Some(r#"Bearer realm="x",error="insufficient_scope""#)
            ),
            false
        ),
        Verdict::NotFoundOrUnauthorized
    );
    assert_eq!(
        one(
            http(m, 401, "UNAUTHORIZED", "", Some(r#"Basic realm="x""#)),
            false
        ),
        Verdict::Unauthorized
    );
    assert_eq!(
        one(
            http(m, 401, "UNAUTHORIZED", "", Some(r#"Basic realm="x""#)),
            true
        ),
        Verdict::Unauthorized
    );
    assert_eq!(
        one(http(m, 404, "NAME_UNKNOWN", "", None), false),
        Verdict::RepositoryUnknown
    );
    assert_eq!(
        one(http(m, 404, "MANIFEST_UNKNOWN", "", None), false),
        Verdict::ManifestUnknown
    );
    assert_eq!(
        one(http(m, 503, "", "", None), false),
        Verdict::RegistryError
    );
    assert_eq!(
        one(http(m, 418, "", "", None), false),
        Verdict::RegistryError
    );
    assert_eq!(
        one(http(Step::Token, 401, "", "", None), true),
        Verdict::Unauthorized
    );
    assert_eq!(
        one(http(Step::Token, 500, "", "", None), false),
        Verdict::RegistryError
    );
    assert_eq!(
        one(http(Step::Config, 404, "BLOB_UNKNOWN", "", None), false),
        Verdict::BlobUnknown
    );
}

#[test]
fn docker_hub_anonymous_401_is_ambiguous() {
    let ex = http(
        Step::Manifest,
        401,
        "UNAUTHORIZED",
        "authentication required",
        Some(r#"Bearer realm="https://auth.docker.io/token""#),
    );
    assert_eq!(
        verdict(&evidence(
            "https://registry-1.docker.io",
            false,
            vec![ex.clone()]
        )),
        Verdict::NotFoundOrUnauthorized
    );
    assert_eq!(
        verdict(&evidence("https://private.example", false, vec![ex])),
        Verdict::Unauthorized
    );
    let tok = http(Step::Token, 401, "", "", None);
    assert_eq!(
        verdict(&evidence("https://ghcr.io", false, vec![tok])),
        Verdict::NotFoundOrUnauthorized
    );
}

#[test]
fn rate_limit_reason_carries_the_quota() {
    let mut ev = evidence(
        "https://registry-1.docker.io",
        false,
        vec![http(Step::Manifest, 429, "TOOMANYREQUESTS", "limit", None)],
    );
    ev.rate_limit = ratelimit::from_headers([
        ("ratelimit-limit", "100;w=21600"),
        ("ratelimit-remaining", "0;w=21600"),
        ("retry-after", "60"),
    ]);
    let d = classify(&ev);
    assert!(
        d.reason.contains("0 of 100")
            && d.reason.contains("6 h")
            && d.reason.contains("retry after 60"),
        "{}",
        d.reason
    );
}

#[test]
fn transport_rules() {
    let cases = [
        (TransportKind::Dns, Verdict::DnsFailure),
        (TransportKind::Refused, Verdict::ConnectionRefused),
        (TransportKind::Timeout, Verdict::Timeout),
        (TransportKind::Unreachable, Verdict::NetworkUnreachable),
        (TransportKind::Proxy, Verdict::ProxyError),
        (TransportKind::Policy, Verdict::Unknown),
        (
            TransportKind::TlsUnknownAuthority,
            Verdict::TlsUnknownAuthority,
        ),
        (TransportKind::TlsExpired, Verdict::TlsCertificateExpired),
        (TransportKind::TlsHostname, Verdict::TlsHostnameMismatch),
        (TransportKind::TlsOther, Verdict::TlsError),
        (TransportKind::TlsNotTls, Verdict::TlsError),
        (TransportKind::Broken, Verdict::RegistryError),
        (TransportKind::Other, Verdict::Unknown),
    ];
    for (kind, want) in cases {
        assert_eq!(
            verdict(&evidence("https://r.example", false, vec![net(kind)])),
            want,
            "{kind:?}"
        );
    }
    let mut ev = evidence(
        "https://r.example",
        false,
        vec![net(TransportKind::TlsNotTls)],
    );
    ev.plain_http_confirmed = true;
    assert_eq!(verdict(&ev), Verdict::HttpRegistry);
}

#[test]
fn content_rules_win_over_status() {
    let ok = http(Step::Manifest, 200, "", "", None);
    let with = |p: ContentProblem| {
        let mut ev = evidence("https://r.example", false, vec![ok.clone()]);
        ev.content_problem = Some(p);
        verdict(&ev)
    };
    assert_eq!(
        with(ContentProblem::PlatformMissing {
            wanted: Platform::parse("linux/amd64").unwrap()
        }),
        Verdict::PlatformMismatch
    );
    assert_eq!(
        with(ContentProblem::Schema1 {
            media_type: "x".into()
        }),
        Verdict::UnsupportedManifest
    );
    assert_eq!(
        with(ContentProblem::DigestMismatch {
            expected: "a".into(),
            actual: "b".into()
        }),
        Verdict::DigestMismatch
    );
    assert_eq!(
        with(ContentProblem::TooLarge { limit: 1 }),
        Verdict::RegistryError
    );
    let mut fine = evidence("https://r.example", false, vec![ok]);
    fine.terminal = None;
    assert_eq!(verdict(&fine), Verdict::Ok);
}

#[test]
fn permissions_are_named() {
    assert_eq!(
        named_permission("User: arn:x is not authorized to perform: ecr:BatchGetImage on resource")
            .as_deref(),
        Some("ecr:BatchGetImage")
    );
    assert_eq!(
        named_permission("Permission 'artifactregistry.repositories.downloadArtifacts' denied")
            .as_deref(),
        Some("artifactregistry.repositories.downloadArtifacts")
    );
    assert_eq!(named_permission("access denied"), None);
}
