//! The API is not reachable from a browser by accident. Through `kubectl port-forward` on a
//! workstation the agent listens on the workstation's loopback, where any web page can send it
//! requests: a DNS-rebinding page reads answers under its own name, a cross-site form,
//! `fetch` or `<img>` triggers work. So every request must name the agent, in `Host`, by an IP
//! address, `localhost` or a name given with `--allowed-host` (a rebinding page can only send
//! its own name), and whatever a browser says about the page that sent it must name the agent
//! or loopback: an `Origin` or a `Referer` on another host (an IP literal other than loopback
//! included: a page on `http://203.0.113.7` is someone else's) is refused, and so is
//! `Sec-Fetch-Site: cross-site` or `same-site` (a browser sends it even where it sends no
//! `Origin`, as for an `<img>`). Kubelet probes, Prometheus, the kubectl plugin and `curl`
//! send an IP or `localhost` and none of these headers. Side effects need a POST with a JSON
//! body (see [`super::routes`]), which a browser cannot send cross-site without a CORS
//! preflight that this API never grants.

use super::error::{ApiError, Code};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The names the API answers to besides IP literals and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(pub Arc<Vec<String>>);

impl AllowedHosts {
    /// Whether `host` (no port, any case, IPv6 in brackets or not) names this agent.
    pub fn allows(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = h.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok()
            || h == "localhost"
            || h.ends_with(".localhost")
            || self.0.contains(&h)
    }
}

/// The host part of a `Host` value (`name`, `name:port`, `[v6]:port`).
fn host_of(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match value.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => value,
    }
}

/// What a request says about where it comes from: the header values as sent (a value that is
/// not visible ASCII is given as U+FFFD, which no check accepts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sender<'a> {
    /// `Host` (or the request line's authority).
    pub host: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Referer`.
    pub referer: Option<&'a str>,
    /// `Sec-Fetch-Site`.
    pub fetch_site: Option<&'a str>,
}

fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Whether a page at `url` is the agent itself or on loopback: a loopback address,
/// `localhost`, an `--allowed-host` name, or the very host and port the request names in
/// `Host` (a page there is the agent's own: same scheme, host and port).
fn own_or_loopback(allowed: &AllowedHosts, url: &reqwest::Url, host: &str) -> bool {
    let Some(page) = url.host_str() else {
        return false;
    };
    let page = page.trim_end_matches('.').to_ascii_lowercase();
    let bare = page.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if ip.to_canonical().is_loopback() {
            return true;
        }
    } else if page == "localhost" || page.ends_with(".localhost") || allowed.0.contains(&page) {
        return true;
    }
    // The agent serves plain HTTP: its own pages would be on http://<Host>.
    reqwest::Url::parse(&format!("http://{host}/")).is_ok_and(|own| own.origin() == url.origin())
}

/// Why the request may not be served, if it may not.
pub fn refusal(allowed: &AllowedHosts, sender: Sender<'_>) -> Option<String> {
    let host = sender.host.map(str::trim).unwrap_or("");
    if host.is_empty() {
        return Some("no Host header: name the agent by its address".into());
    }
    if !allowed.allows(host_of(host)) {
        return Some(format!(
            "Host {:?} is not this agent's address: use an IP address or localhost, or start \
             the agent with --allowed-host",
            clip(host)
        ));
    }
    if let Some(site) = present(sender.fetch_site) {
        let site = site.to_ascii_lowercase();
        if site != "same-origin" && site != "none" {
            return Some(format!(
                "requests from web pages are refused (Sec-Fetch-Site: {})",
                clip(&site)
            ));
        }
    }
    if let Some(o) = present(sender.origin) {
        match reqwest::Url::parse(o) {
            Ok(u) if own_or_loopback(allowed, &u, host) => {}
            _ => {
                return Some(format!(
                    "requests from web pages are refused (Origin {:?})",
                    clip(o)
                ))
            }
        }
    }
    if let Some(r) = present(sender.referer) {
        match reqwest::Url::parse(r) {
            Ok(u) if own_or_loopback(allowed, &u, host) => {}
            // Only the page's origin is said: a Referer's path and query are the page's own.
            Ok(u) => {
                return Some(format!(
                    "requests from web pages are refused (Referer from {:?})",
                    clip(&u.origin().ascii_serialization())
                ))
            }
            Err(_) => {
                return Some(
                    "requests from web pages are refused (a Referer that is not a URL)".into(),
                )
            }
        }
    }
    None
}

/// The middleware: 403 `forbidden` for a foreign `Host`, `Origin` or `Referer`, or a
/// cross-site or same-site `Sec-Fetch-Site`.
pub async fn guard(State(allowed): State<AllowedHosts>, req: Request, next: Next) -> Response {
    let why = {
        let header = |name| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        };
        // HTTP/1.1 puts the authority in Host; an absolute-form request line carries it too.
        let host = header(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
        refusal(
            &allowed,
            Sender {
                host,
                origin: header(header::ORIGIN),
                referer: header(header::REFERER),
                fetch_site: header(HeaderName::from_static("sec-fetch-site")),
            },
        )
    };
    match why {
        Some(why) => ApiError::new(Code::Forbidden, why).into_response(),
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Sender<'_> {
        Sender {
            host: Some(h),
            ..Sender::default()
        }
    }

    #[test]
    fn addresses_and_localhost_pass_names_do_not() {
        let a = AllowedHosts(Arc::new(vec!["pullcheck.internal".into()]));
        for ok in [
            "127.0.0.1:8080",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:8080",
            "10.2.3.4:9090",
            "pullcheck.internal:80",
            "Pullcheck.Internal.",
        ] {
            assert_eq!(refusal(&a, host(ok)), None, "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "rebind.127.0.0.1.nip.io",
            "localhost.evil.example",
        ] {
            assert!(refusal(&a, host(bad)).is_some(), "{bad}");
        }
        assert!(refusal(&a, Sender::default()).is_some());
    }

    #[test]
    fn a_foreign_origin_is_refused_ip_literals_included() {
        let a = AllowedHosts(Arc::new(vec!["pullcheck.internal".into()]));
        let from = |h: &'static str, o: &'static str| Sender {
            origin: Some(o),
            ..host(h)
        };
        for (h, o) in [
            ("127.0.0.1:1", "https://evil.example"),
            ("127.0.0.1:1", "null"),
            ("127.0.0.1:1", "http://203.0.113.7"),
            ("127.0.0.1:1", "http://[2001:db8::1]:8080"),
            ("127.0.0.1:1", "http://10.2.3.4:9090"),
            // The agent's own address, another port or scheme: another origin.
            ("10.2.3.4:9090", "http://10.2.3.4"),
            ("10.2.3.4:9090", "https://10.2.3.4:9090"),
            ("127.0.0.1:1", "http://localhost.evil.example"),
            ("127.0.0.1:1", "\u{fffd}"),
        ] {
            let why = refusal(&a, from(h, o)).unwrap_or_else(|| panic!("{h} {o}"));
            assert!(why.contains("Origin"), "{why}");
        }
        for (h, o) in [
            ("127.0.0.1:1", "http://localhost:8001"),
            ("127.0.0.1:1", "http://127.0.0.2:3000"),
            ("127.0.0.1:1", "http://[::1]:3000"),
            ("127.0.0.1:1", "http://[::ffff:127.0.0.1]:3000"),
            ("127.0.0.1:1", "https://pullcheck.internal"),
            ("10.2.3.4:9090", "http://10.2.3.4:9090"),
            ("10.2.3.4", "http://10.2.3.4:80"),
            ("[2001:db8::1]:8080", "http://[2001:DB8:0::1]:8080"),
        ] {
            assert_eq!(refusal(&a, from(h, o)), None, "{h} {o}");
        }
    }

    #[test]
    fn cross_site_requests_without_an_origin_are_refused() {
        let a = AllowedHosts::default();
        // What an <img src="http://127.0.0.1:8080/v1/probe?image=…"> on another site sends.
        for site in ["cross-site", "same-site", "Cross-Site", "something-new"] {
            let why = refusal(
                &a,
                Sender {
                    fetch_site: Some(site),
                    ..host("127.0.0.1:8080")
                },
            )
            .unwrap_or_else(|| panic!("{site}"));
            assert!(why.contains("Sec-Fetch-Site"), "{why}");
        }
        for site in ["same-origin", "none", ""] {
            let s = Sender {
                fetch_site: Some(site),
                ..host("127.0.0.1:8080")
            };
            assert_eq!(refusal(&a, s), None, "{site}");
        }
        for referer in [
            "https://evil.example/page?token=abc",
            "http://203.0.113.7/",
            "http://127.0.0.1.evil.example/",
            "not a url",
        ] {
            let why = refusal(
                &a,
                Sender {
                    referer: Some(referer),
                    ..host("127.0.0.1:8080")
                },
            )
            .unwrap_or_else(|| panic!("{referer}"));
            assert!(why.contains("Referer"), "{why}");
            assert!(
                !why.contains("token=abc"),
                "the page's query is its own: {why}"
            );
        }
        for referer in [
            "http://127.0.0.1:8080/docs",
            "http://localhost:3000/",
            "http://[::1]/x",
        ] {
            let s = Sender {
                referer: Some(referer),
                ..host("127.0.0.1:8080")
            };
            assert_eq!(refusal(&a, s), None, "{referer}");
        }
    }
}
