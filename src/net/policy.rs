//! An optional limit on the addresses a [`Prober`](crate::probe::Prober) connects to (the agent's
//! registry policy; the CLI sets none). It is enforced where connections are made, for every
//! request: address literals are checked before each request and redirect hop
//! ([`refusal`]), and names through a resolver that drops refused addresses
//! ([`PolicyResolver`]) — so a registry cannot send the probe to a refused address by a
//! redirect or a token realm. A request handed to a proxy is resolved here first
//! ([`proxy_refusal`]): a name that resolves to a refused address is not handed over. A name
//! the node cannot resolve at all is handed over (only the proxy knows it), so what such a
//! name means is the proxy's to police.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// Which addresses may be connected to.
pub trait AddressPolicy: Send + Sync + fmt::Debug {
    /// `Err(why)` for an address that must not be connected to.
    fn check(&self, ip: IpAddr) -> Result<(), String>;
}

/// Why `url` may not be requested: its host is an address literal the policy refuses.
pub fn refusal(policy: &dyn AddressPolicy, url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    policy
        .check(ip)
        .err()
        .map(|why| format!("not connected: {why}"))
}

/// Why `url` may not be handed to a proxy: its host is a name that resolves, on this node, to
/// an address the policy refuses (any one of them: the proxy may pick it). Literals are
/// [`refusal`]'s; a name that does not resolve within `timeout` is handed on.
pub async fn proxy_refusal(
    policy: &dyn AddressPolicy,
    url: &reqwest::Url,
    timeout: std::time::Duration,
) -> Option<String> {
    let host = url.host_str()?;
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
    {
        return None;
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((host, port));
    let Ok(Ok(addrs)) = tokio::time::timeout(timeout, lookup).await else {
        return None;
    };
    for a in addrs {
        if let Err(why) = policy.check(a.ip()) {
            return Some(format!(
                "not handed to the proxy: {host} resolves to {}: {why}",
                a.ip()
            ));
        }
    }
    None
}

/// The words of [`Refused`], by which the transport classifier recognises it.
pub const REFUSED_NAME: &str = "resolves only to refused addresses";

/// A name resolved to refused addresses only.
#[derive(Debug, thiserror::Error)]
#[error("{name} {}: {why}", REFUSED_NAME)]
pub struct Refused {
    name: String,
    why: String,
}

/// The system resolver, minus the addresses the policy refuses.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<dyn AddressPolicy>,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<dyn AddressPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut why = None;
            let allowed: Vec<_> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        why.get_or_insert(e);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), why) {
                (true, Some(why)) => Err(Box::new(Refused { name: host, why }).into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoLoopback;

    impl AddressPolicy for NoLoopback {
        fn check(&self, ip: IpAddr) -> Result<(), String> {
            if ip.is_loopback() {
                Err(format!("{ip} is loopback"))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn literals_are_checked() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(refusal(&NoLoopback, &u("http://127.0.0.2:5000/v2/")).is_some());
        assert!(refusal(&NoLoopback, &u("http://[::1]/v2/")).is_some());
        assert!(refusal(&NoLoopback, &u("http://10.0.0.1/v2/")).is_none());
        assert!(refusal(&NoLoopback, &u("http://registry.example/v2/")).is_none());
    }

    #[tokio::test]
    async fn names_for_a_proxy_are_resolved_and_checked_first() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let t = std::time::Duration::from_secs(2);
        let why = proxy_refusal(
            &NoLoopback,
            &u("http://localhost:8080/latest/meta-data/"),
            t,
        )
        .await
        .expect("refused");
        assert!(
            why.contains("not handed to the proxy") && why.contains("loopback"),
            "{why}"
        );
        assert!(
            proxy_refusal(&NoLoopback, &u("http://127.0.0.1/"), t)
                .await
                .is_none(),
            "literals are refusal()'s"
        );
        assert!(proxy_refusal(&NoLoopback, &u("http://nosuch.invalid/"), t)
            .await
            .is_none());
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_fail() {
        let r = PolicyResolver::new(Arc::new(NoLoopback));
        let name: Name = "localhost".parse().unwrap();
        let err = r.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
