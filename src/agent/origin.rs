//! The API is not reachable from a browser by accident. Through `kubectl port-forward` on a
//! workstation the agent listens on the workstation's loopback, where any web page can send it
//! requests: a DNS-rebinding page reads answers under its own name, a cross-site form or
//! `fetch` triggers work. So every request must name the agent, in `Host`, by an IP address,
//! `localhost` or a name given with `--allowed-host` (a rebinding page can only send its own
//! name), and a request carrying an `Origin` must come from such a host too (a page on another
//! site sends its own). Kubelet probes, the kubectl plugin and `curl` send an IP or
//! `localhost` and no `Origin`. Side effects need a POST with a JSON body (see
//! [`super::routes`]), which a browser cannot send cross-site without a CORS preflight that
//! this API never grants.

use super::error::{ApiError, Code};
use axum::extract::{Request, State};
use axum::http::header;
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

/// Why the request may not be served, if it may not.
pub fn refusal(allowed: &AllowedHosts, host: Option<&str>, origin: Option<&str>) -> Option<String> {
    let host = host.map(str::trim).unwrap_or("");
    if host.is_empty() {
        return Some("no Host header: name the agent by its address".into());
    }
    if !allowed.allows(host_of(host)) {
        return Some(format!(
            "Host {:?} is not this agent's address: use an IP address or localhost, or start \
             the agent with --allowed-host",
            host.chars().take(64).collect::<String>()
        ));
    }
    if let Some(o) = origin.map(str::trim).filter(|o| !o.is_empty()) {
        let origin_host = reqwest::Url::parse(o)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        match origin_host {
            Some(h) if allowed.allows(&h) => {}
            _ => {
                return Some(format!(
                    "requests from web pages are refused (Origin {:?})",
                    o.chars().take(64).collect::<String>()
                ))
            }
        }
    }
    None
}

/// The middleware: 403 `forbidden` for a foreign `Host` or `Origin`.
pub async fn guard(State(allowed): State<AllowedHosts>, req: Request, next: Next) -> Response {
    let why = {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        // HTTP/1.1 puts the authority in Host; an absolute-form request line carries it too.
        let host = header(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
        refusal(&allowed, host, header(header::ORIGIN))
    };
    match why {
        Some(why) => ApiError::new(Code::Forbidden, why).into_response(),
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(refusal(&a, Some(ok), None), None, "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "rebind.127.0.0.1.nip.io",
            "localhost.evil.example",
        ] {
            assert!(refusal(&a, Some(bad), None).is_some(), "{bad}");
        }
        assert!(refusal(&a, None, None).is_some());
    }

    #[test]
    fn a_foreign_origin_is_refused() {
        let a = AllowedHosts::default();
        assert!(refusal(&a, Some("127.0.0.1:1"), Some("https://evil.example")).is_some());
        assert!(refusal(&a, Some("127.0.0.1:1"), Some("null")).is_some());
        assert_eq!(
            refusal(&a, Some("127.0.0.1:1"), Some("http://localhost:8001")),
            None
        );
    }
}
