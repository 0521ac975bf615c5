//! One HTTP exchange recorded as evidence: auth header, bounded bodies, selected headers,
//! `WWW-Authenticate`, OCI envelope, rate limits, and redirects followed by hand so that
//! credentials never travel to another host.

use super::challenge;
use super::evidence::{Exchange, Step};
use super::limit::{self, Limit};
use super::oci_error;
use crate::identity::RegistryAuth;
use crate::net::policy::{self, AddressPolicy};
use crate::net::transport::{self, TransportFailure, TransportKind};
use base64::Engine;
use std::time::Instant;

/// Error bodies are read up to this many bytes; the rest is dropped.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Go's `http.Client` (containerd's) stops after 10 redirects.
const MAX_REDIRECTS: usize = 10;
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "docker-content-digest",
    "docker-distribution-api-version",
    "www-authenticate",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "docker-ratelimit-source",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "location",
];

/// The Authorization to send.
#[derive(Clone)]
pub enum Auth {
    /// Nothing.
    None,
    /// Basic from a credential.
    Basic(RegistryAuth),
    /// A bearer token.
    Bearer(String),
}

impl Auth {
    fn label(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic(_) => "basic",
            Auth::Bearer(_) => "bearer",
        }
    }

    fn header(&self) -> Option<String> {
        match self {
            Auth::None | Auth::Basic(RegistryAuth::Anonymous) => None,
            Auth::Basic(RegistryAuth::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
        }
    }
}

/// A request description.
pub struct Request<'a> {
    /// Step for the evidence.
    pub step: Step,
    /// `GET`, `HEAD` or `POST`.
    pub method: reqwest::Method,
    /// Target.
    pub url: String,
    /// Authorization.
    pub auth: &'a Auth,
    /// Accept header.
    pub accept: Option<&'a str>,
    /// Extra headers (hosts.toml `[header]`).
    pub headers: &'a [(String, String)],
    /// A `Range` header (the blob checks ask for `bytes=0-0`).
    pub range: Option<&'a str>,
    /// Form body for POST.
    pub form: Option<Vec<(String, String)>>,
    /// Proxy in use, for the evidence and classification.
    pub proxy: Option<String>,
    /// The step's time limit and the probe's deadline (redirect hops share them).
    pub limit: Limit,
    /// Addresses that must not be connected to (checked for literals on every hop).
    pub policy: Option<&'a dyn AddressPolicy>,
}

/// Outcome of [`send`]: the exchanges made (redirect hops included) and the final response.
pub struct Sent {
    /// Recorded exchanges, last one is the final response (or failure).
    pub exchanges: Vec<Exchange>,
    /// The final response when one arrived.
    pub response: Option<reqwest::Response>,
}

fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Sends a request, following up to ten redirects for GET/HEAD (as Go's client does);
/// Authorization is dropped when a redirect leaves the origin.
pub async fn send(client: &reqwest::Client, req: Request<'_>) -> Sent {
    let mut exchanges = Vec::new();
    let Ok(mut url) = reqwest::Url::parse(&req.url) else {
        let mut ex = Exchange::new(req.step, req.method.as_str(), &req.url, "none");
        ex.transport = Some(TransportFailure {
            kind: TransportKind::Other,
            message: format!("invalid URL {:?}", req.url),
        });
        exchanges.push(ex);
        return Sent {
            exchanges,
            response: None,
        };
    };
    let origin = url.clone();
    let begun = Instant::now();
    for hop in 0..=MAX_REDIRECTS {
        let auth = if same_origin(&origin, &url) {
            req.auth.clone()
        } else {
            Auth::None
        };
        let mut ex = Exchange::new(req.step, req.method.as_str(), url.as_str(), auth.label());
        if hop > 0 && !same_origin(&origin, &url) {
            ex.note = Some("redirected to another host: sent without credentials".into());
        }
        let Some(timeout) = req.limit.for_hop(begun) else {
            let message = if req.limit.deadline_passed() {
                limit::DEADLINE_PASSED.to_string()
            } else {
                "timed out: the step's redirects took its whole time limit".to_string()
            };
            ex.transport = Some(TransportFailure {
                kind: TransportKind::Timeout,
                message,
            });
            exchanges.push(ex);
            return Sent {
                exchanges,
                response: None,
            };
        };
        let refused = match req.policy {
            None => None,
            Some(p) => match policy::refusal(p, &url) {
                Some(why) => Some(why),
                // A proxy resolves names itself: check them here before handing them over
                // (a redirect hop may go through the proxy even when the first did not).
                None if req.proxy.is_some() || hop > 0 => {
                    policy::proxy_refusal(p, &url, timeout).await
                }
                None => None,
            },
        };
        if let Some(why) = refused {
            ex.transport = Some(TransportFailure {
                kind: TransportKind::Policy,
                message: why,
            });
            exchanges.push(ex);
            return Sent {
                exchanges,
                response: None,
            };
        }
        let mut rb = client
            .request(req.method.clone(), url.clone())
            .timeout(timeout);
        if let Some(h) = auth.header() {
            rb = rb.header(reqwest::header::AUTHORIZATION, h);
        }
        if let Some(a) = req.accept {
            rb = rb.header(reqwest::header::ACCEPT, a);
        }
        for (k, v) in req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(r) = req.range {
            rb = rb.header(reqwest::header::RANGE, r);
        }
        if let Some(form) = &req.form {
            let body: String = form
                .iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            rb = rb
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        let proxy = req.proxy.clone();
        if let Some(p) = &proxy {
            ex.note = Some(match ex.note.take() {
                Some(n) => format!("{n}; via proxy {p}"),
                None => format!("via proxy {p}"),
            });
        }
        let started = Instant::now();
        let result = rb.send().await;
        ex.elapsed_ms = ms(started);
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                let mut failure = transport::classify(&e, proxy.as_deref());
                if failure.kind == TransportKind::Timeout && req.limit.deadline_passed() {
                    failure.message = limit::DEADLINE_CUT.to_string();
                }
                ex.transport = Some(failure);
                exchanges.push(ex);
                return Sent {
                    exchanges,
                    response: None,
                };
            }
        };
        record_headers(&mut ex, &resp);
        ex.status = Some(resp.status().as_u16());
        let redirect = resp.status().is_redirection() && req.method != reqwest::Method::POST;
        if redirect {
            if let Some(next) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| location(&url, l.as_bytes()))
            {
                exchanges.push(ex);
                if hop == MAX_REDIRECTS {
                    if let Some(last) = exchanges.last_mut() {
                        last.note = Some("too many redirects".into());
                    }
                    return Sent {
                        exchanges,
                        response: None,
                    };
                }
                url = next;
                continue;
            }
        }
        exchanges.push(ex);
        return Sent {
            exchanges,
            response: Some(resp),
        };
    }
    Sent {
        exchanges,
        response: None,
    }
}

/// Where a redirect points, as Go's client reads `Location`: its bytes as sent, raw UTF-8 (or
/// any byte past 0x7f, which `HeaderValue::to_str` refuses) included, each such byte
/// percent-encoded as Go's URL encodes a path when it sends it, resolved against `base`. (Go
/// sends a query's raw bytes as they are; a server decodes `%XX` in a query the same way.)
fn location(base: &reqwest::Url, value: &[u8]) -> Option<reqwest::Url> {
    use std::fmt::Write;
    let mut text = String::with_capacity(value.len());
    for &b in value {
        if b.is_ascii() {
            text.push(char::from(b));
        } else {
            let _ = write!(text, "%{b:02X}");
        }
    }
    base.join(&text).ok()
}

/// Kept on the blob path only: the storage host's answer (range served, the clock it signs with).
const BLOB_HEADERS: &[&str] = &["content-range", "date"];

fn record_headers(ex: &mut Exchange, resp: &reqwest::Response) {
    let blob = matches!(ex.step, Step::PlatformManifest | Step::Config | Step::Layer);
    let extra = if blob { BLOB_HEADERS } else { &[] };
    for name in KEPT_HEADERS.iter().chain(extra) {
        if let Some(v) = resp.headers().get(*name) {
            let text = String::from_utf8_lossy(v.as_bytes());
            ex.headers
                .insert((*name).to_string(), crate::bounded::clip(&text, 512));
        }
    }
    if let Some(v) = ex.headers.get("www-authenticate") {
        ex.challenge = challenge::parse(v);
    }
}

/// Milliseconds since `t`, rounded to 0.01.
pub fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 100_000.0).round() / 100.0
}

/// Why a body could not be read whole.
pub enum BodyError {
    /// Bigger than the limit.
    TooLarge,
    /// The transfer failed.
    Transport(TransportFailure),
}

/// Reads a body up to `limit` bytes.
pub async fn read_limited(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let expected = resp.content_length();
    if expected.is_some_and(|l| l > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                let failure = transport::classify(&e, None);
                return Err(BodyError::Transport(in_body(failure, buf.len(), expected)));
            }
        }
    }
}

/// A failure while the body was arriving says so, with how much of it came: the status line
/// and headers had been read, so "waiting for the response" or a bare "connection broken"
/// would hide that the registry cut (or trickled) the body.
fn in_body(mut f: TransportFailure, got: usize, expected: Option<u64>) -> TransportFailure {
    let of = expected.map_or_else(String::new, |n| format!(" of {n}"));
    f.message = match f.kind {
        TransportKind::Timeout => {
            format!("timed out reading the body ({got}{of} bytes had arrived)")
        }
        TransportKind::Broken => format!(
            "body truncated: the connection broke after {got}{of} bytes ({})",
            f.message
        ),
        _ => return f,
    };
    f
}

/// Reads an error body (bounded, truncated rather than refused) into the exchange: the OCI
/// envelope when there is one, an excerpt otherwise.
pub async fn read_error_body(resp: &mut reqwest::Response, ex: &mut Exchange) {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = ERROR_BODY_LIMIT - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= ERROR_BODY_LIMIT {
            ex.note
                .get_or_insert_with(|| format!("error body truncated at {ERROR_BODY_LIMIT} bytes"));
            break;
        }
    }
    match oci_error::parse(&buf) {
        Some(errs) if !errs.is_empty() => ex.oci_errors = errs,
        _ if !buf.is_empty() => {
            let text = String::from_utf8_lossy(&buf[..buf.len().min(2048)]);
            ex.body_excerpt = Some(transport::sanitize(&text));
        }
        _ => {}
    }
}

/// Percent-encodes everything but unreserved characters (Go's `url.QueryEscape` for our inputs).
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_failures_say_how_much_arrived() {
        let f = |kind, message: &str| TransportFailure {
            kind,
            message: message.into(),
        };
        let cut = in_body(
            f(TransportKind::Broken, "connection broken: end of file"),
            40,
            Some(246),
        );
        assert_eq!(cut.kind, TransportKind::Broken);
        assert_eq!(
            cut.message,
            "body truncated: the connection broke after 40 of 246 bytes (connection broken: end of file)"
        );
        let slow = in_body(
            f(TransportKind::Timeout, "timed out waiting for the response"),
            9,
            None,
        );
        assert_eq!(
            slow.message,
            "timed out reading the body (9 bytes had arrived)"
        );
        let other = in_body(f(TransportKind::Other, "x"), 1, None);
        assert_eq!(other.message, "x");
    }

    #[test]
    fn form_encoding_and_origins() {
        assert_eq!(
            urlencode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(same_origin(&u("https://a.io/x"), &u("https://a.io:443/y")));
        assert!(!same_origin(&u("https://a.io/x"), &u("https://b.io/x")));
        assert!(!same_origin(&u("http://a.io/x"), &u("https://a.io/x")));
    }

    #[test]
    fn auth_headers_never_leak_in_labels() {
        let a = Auth::Basic(RegistryAuth::Basic {
            username: "u".into(),
            password: "pw".into(),
        });
        assert_eq!(a.label(), "basic");
        assert_eq!(a.header().unwrap(), "Basic dTpwdw==");
        assert!(Auth::Basic(RegistryAuth::Anonymous).header().is_none());
    }

    /// Go follows a Location with raw UTF-8 (it percent-encodes the path when it sends it);
    /// `to_str` refused it, so the probe stopped at the 307.
    #[test]
    fn a_location_with_raw_utf8_is_followed_as_go_follows_it() {
        let base = reqwest::Url::parse("http://reg.test:5000/v2/app/blobs/sha256:a").unwrap();
        let to = |raw: &[u8]| location(&base, raw).map(|u| u.to_string());
        assert_eq!(
            to("http://storage.test/ünïcode/b?sig=ä€".as_bytes()).as_deref(),
            Some("http://storage.test/%C3%BCn%C3%AFcode/b?sig=%C3%A4%E2%82%AC")
        );
        assert_eq!(
            to("/other/ä".as_bytes()).as_deref(),
            Some("http://reg.test:5000/other/%C3%A4")
        );
        // Bytes that are not UTF-8 at all go as they are too, encoded.
        assert_eq!(
            to(b"/x\xff\xfe").as_deref(),
            Some("http://reg.test:5000/x%FF%FE")
        );
        assert_eq!(
            to(b"https://plain.test/a?b=c").as_deref(),
            Some("https://plain.test/a?b=c")
        );
    }
}
