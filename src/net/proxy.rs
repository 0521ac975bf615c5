//! The proxy settings registry requests go through ([`ProxyEnv`]): `HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`, either case, read the way Go reads them, from a runtime's process environment
//! (read by [`crate::endpoints::runtime_proxy`]) or pullcheck's own, with where they came from
//! ([`ProxySource`]) and a note saying why. Reports name the source; proxy URLs are shown
//! without credentials ([`ProxySummary`]).

use super::no_proxy::NoProxy;
use serde::Serialize;

/// Where the proxy settings came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ProxySource {
    /// The containerd process's environment.
    Containerd {
        /// Its pid.
        pid: u32,
    },
    /// The CRI-O process's environment (`crio`).
    Crio {
        /// Its pid.
        pid: u32,
    },
    /// pullcheck's own environment.
    #[default]
    Pullcheck,
}

/// Proxy settings: one proxy for `https` URLs, one for `http`, and the `NO_PROXY` list.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    https: Option<String>,
    http: Option<String>,
    no_proxy: NoProxy,
    source: ProxySource,
    note: Option<String>,
}

/// A report-safe view of [`ProxyEnv`] (no credentials).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxySummary {
    /// Where the settings came from.
    #[serde(flatten)]
    pub source: ProxySource,
    /// Whether any proxy is set.
    pub set: bool,
    /// The proxy for `https` URLs, without userinfo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// The proxy for `http` URLs, without userinfo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// `NO_PROXY` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
    /// Why the settings come from where they do (e.g. containerd not visible).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// One line for humans.
    pub description: String,
}

impl ProxyEnv {
    /// pullcheck's own environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, either
    /// case).
    pub fn from_env() -> Self {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        ProxyEnv {
            https: get(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]).map(normalise),
            http: get(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]).map(normalise),
            no_proxy: NoProxy::parse(&get(&["NO_PROXY", "no_proxy"]).unwrap_or_default()),
            source: ProxySource::Pullcheck,
            note: None,
        }
    }

    /// Settings from a list of variables, read as Go's `http.ProxyFromEnvironment` reads them
    /// (upper case first; no `ALL_PROXY`).
    pub fn from_vars<K: AsRef<str>, V: AsRef<str>>(vars: &[(K, V)], source: ProxySource) -> Self {
        let get = |names: &[&str]| {
            names.iter().find_map(|n| {
                vars.iter()
                    .find(|(k, v)| k.as_ref() == *n && !v.as_ref().is_empty())
                    .map(|(_, v)| v.as_ref().to_string())
            })
        };
        ProxyEnv {
            https: get(&["HTTPS_PROXY", "https_proxy"]).map(normalise),
            http: get(&["HTTP_PROXY", "http_proxy"]).map(normalise),
            no_proxy: NoProxy::parse(&get(&["NO_PROXY", "no_proxy"]).unwrap_or_default()),
            source,
            note: None,
        }
    }

    /// The same settings with a note on where they come from.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Where the settings came from.
    pub fn source(&self) -> &ProxySource {
        &self.source
    }

    /// Whether any proxy is set.
    pub fn is_set(&self) -> bool {
        self.https.is_some() || self.http.is_some()
    }

    /// The proxy a request to `url` goes through (with its credentials), if any.
    pub fn proxy_url_for(&self, url: &reqwest::Url) -> Option<reqwest::Url> {
        reqwest::Url::parse(self.raw_for(url)?).ok()
    }

    /// The proxy a request to `url` goes through, if any (display form, without credentials).
    pub fn for_url(&self, url: &reqwest::Url) -> Option<String> {
        self.raw_for(url).map(strip_userinfo)
    }

    /// Go's rule: `https` URLs use the HTTPS proxy only, `http` URLs the HTTP proxy only.
    fn raw_for(&self, url: &reqwest::Url) -> Option<&str> {
        let host = url.host_str()?;
        let port = url.port_or_known_default().unwrap_or(0);
        if self.no_proxy.bypasses(host, port) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_deref(),
            _ => self.http.as_deref(),
        }
    }

    /// A report-safe summary.
    pub fn summary(&self) -> ProxySummary {
        ProxySummary {
            source: self.source.clone(),
            set: self.is_set(),
            https_proxy: self.https.as_deref().map(strip_userinfo),
            http_proxy: self.http.as_deref().map(strip_userinfo),
            no_proxy: self.no_proxy.entries().to_vec(),
            note: self.note.clone(),
            description: self.describe(),
        }
    }

    /// One line: "proxy from containerd (pid N): …", "no proxy: none set in …".
    pub fn describe(&self) -> String {
        if !self.is_set() {
            return match &self.source {
                ProxySource::Containerd { pid } => {
                    format!("no proxy: none set in containerd's environment (pid {pid})")
                }
                ProxySource::Crio { pid } => {
                    format!("no proxy: none set in CRI-O's environment (pid {pid})")
                }
                ProxySource::Pullcheck => "no proxy: none set in pullcheck's environment".into(),
            };
        }
        let from = match &self.source {
            ProxySource::Containerd { pid } => format!("containerd (pid {pid})"),
            ProxySource::Crio { pid } => format!("CRI-O (pid {pid})"),
            ProxySource::Pullcheck => "pullcheck's environment".to_string(),
        };
        let mut parts = Vec::new();
        if let Some(p) = &self.https {
            parts.push(format!("HTTPS_PROXY={}", strip_userinfo(p)));
        }
        if let Some(p) = &self.http {
            parts.push(format!("HTTP_PROXY={}", strip_userinfo(p)));
        }
        if !self.no_proxy.entries().is_empty() {
            parts.push(format!("NO_PROXY={}", self.no_proxy.entries().join(",")));
        }
        format!("proxy from {from}: {}", parts.join(" "))
    }
}

/// Go's `parseProxy`: a value without a scheme is an `http://` proxy.
fn normalise(value: String) -> String {
    let value = value.trim().to_string();
    match reqwest::Url::parse(&value) {
        Ok(u) if u.has_host() && value.contains("://") => value,
        _ => format!("http://{value}"),
    }
}

/// A proxy URL without user name and password.
pub fn strip_userinfo(proxy: &str) -> String {
    match reqwest::Url::parse(proxy) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "(unparseable proxy URL)".into(),
    }
}

#[cfg(test)]
mod tests;
