//! What a probe asks ([`ProbeRequest`]), whoever asks it: the API's `/v1/probe` (parsed and
//! validated by the agent's parameters) or the drift monitor's background re-probes. Its
//! [`ProbeKey`] (image × identity set × platform × runtime pull) names identical probes for
//! coalescing and caching; the identity set is the pod and secret *references*, never secret
//! values.

use crate::identity::kube_secrets::ObjectRef;
use crate::platform::Platform;
use crate::reference::ImageRef;

/// A validated probe request.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// The reference as given (trimmed).
    pub image: String,
    /// It, parsed.
    pub parsed: ImageRef,
    /// The pod whose `imagePullSecrets` the kubelet would use.
    pub pod: Option<ObjectRef>,
    /// More pull secrets, after the pod's.
    pub secrets: Vec<ObjectRef>,
    /// A platform other than the node's.
    pub platform: Option<Platform>,
    /// Also pull through the runtime.
    pub runtime_pull: bool,
    /// Skip the answer cache (an identical probe in flight is still joined).
    pub fresh: bool,
    /// A background re-probe (the drift monitor's): it may use only part of the registry's
    /// budget ([`BACKGROUND_KEEPS`](super::BACKGROUND_KEEPS) is left to callers), so that
    /// callers of the API are never starved by it. Never set by an API request.
    pub background: bool,
}

/// What makes two probes identical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeKey {
    image: String,
    identities: Vec<String>,
    platform: Option<String>,
    runtime_pull: bool,
}

impl ProbeRequest {
    /// A probe of `image` as the node's own identity would pull it.
    pub fn new(image: String, parsed: ImageRef) -> Self {
        ProbeRequest {
            image,
            parsed,
            pod: None,
            secrets: Vec::new(),
            platform: None,
            runtime_pull: false,
            fresh: false,
            background: false,
        }
    }

    /// Whether the request needs the Kubernetes API (a pod or secrets to read).
    pub fn needs_kube(&self) -> bool {
        self.pod.is_some() || !self.secrets.is_empty()
    }

    /// The coalescing and cache key.
    pub fn key(&self) -> ProbeKey {
        let mut identities = Vec::with_capacity(self.secrets.len() + 1);
        if let Some(p) = &self.pod {
            identities.push(format!("pod:{p}"));
        }
        identities.extend(self.secrets.iter().map(|s| format!("secret:{s}")));
        ProbeKey {
            image: self.image.clone(),
            identities,
            platform: self.platform.as_ref().map(ToString::to_string),
            runtime_pull: self.runtime_pull,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(image: &str) -> ProbeRequest {
        ProbeRequest::new(image.into(), ImageRef::parse(image).unwrap())
    }

    #[test]
    fn keys_name_identities_by_reference() {
        let secret = |s: &str| ObjectRef::parse("secret", s).unwrap();
        let mut a = request("nginx");
        a.secrets = vec![secret("ns/a")];
        let mut b = a.clone();
        b.fresh = true;
        b.background = true;
        assert_eq!(
            a.key(),
            b.key(),
            "fresh and background do not change what is probed"
        );
        let mut c = a.clone();
        c.secrets = vec![secret("ns/b")];
        assert_ne!(a.key(), c.key());
        let mut d = a.clone();
        d.pod = Some(ObjectRef::parse("pod", "ns/a").unwrap());
        d.secrets.clear();
        assert_ne!(a.key(), d.key(), "a pod and a secret of one name differ");
        let mut e = a.clone();
        e.runtime_pull = true;
        assert_ne!(a.key(), e.key());
        let mut f = a.clone();
        f.platform = Some(Platform::parse("linux/arm64").unwrap());
        assert_ne!(a.key(), f.key());
    }
}
