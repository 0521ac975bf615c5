//! The verdict taxonomy: stable snake_case names (API, metrics labels and exit codes depend on
//! them), their failure families, exit codes and remediation text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What pulling the image would come to, named by the layer that broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The node can pull the image.
    Ok,
    /// The image reference itself is malformed.
    InvalidReference,
    /// The repository is readable but the tag or digest does not exist.
    ManifestUnknown,
    /// The registry says the repository does not exist (404 NAME_UNKNOWN).
    RepositoryUnknown,
    /// The registry will not say whether the repository is missing or private (Docker Hub, Quay,
    /// GHCR 401; GAR "or it may not exist" 403).
    NotFoundOrUnauthorized,
    /// No credentials were offered, or the ones offered were rejected.
    Unauthorized,
    /// The credentials were valid once and have expired (e.g. a 12 h ECR token).
    CredentialsExpired,
    /// The identity is valid but lacks a permission.
    Forbidden,
    /// The registry refused with 429 / TOOMANYREQUESTS.
    RateLimited,
    /// The registry's certificate chain does not lead to a trusted CA.
    TlsUnknownAuthority,
    /// The registry's certificate has expired or is not valid yet.
    TlsCertificateExpired,
    /// The registry's certificate does not name the host that was dialled.
    TlsHostnameMismatch,
    /// Any other TLS failure (handshake refused, client certificate required, protocol error).
    TlsError,
    /// The registry speaks plain HTTP and was spoken to over HTTPS.
    HttpRegistry,
    /// The registry's name does not resolve.
    DnsFailure,
    /// Nothing listens on the registry's port.
    ConnectionRefused,
    /// A step did not finish within its time limit.
    Timeout,
    /// The configured HTTP(S) proxy failed or refused the connection.
    ProxyError,
    /// There is no route to the registry.
    NetworkUnreachable,
    /// The registry answered 5xx or a malformed reply.
    RegistryError,
    /// The image index offers no manifest for the node's platform.
    PlatformMismatch,
    /// A manifest type the runtime cannot pull (schema1 on containerd ≥ 2.0, unknown media types).
    UnsupportedManifest,
    /// The content's digest differs from the digest asked for or announced.
    DigestMismatch,
    /// A blob the manifest names (config, layer, platform manifest) is missing: a broken push,
    /// a garbage-collected registry, an incomplete pull-through cache.
    BlobUnknown,
    /// 401/403 on a blob at the registry or at the storage host it redirects to, after the
    /// manifest was readable: an expired or clock-skewed signed URL, a storage or VPC-endpoint
    /// policy, a missing layer-download permission.
    BlobDenied,
    /// The node identity (IMDS, metadata server, credential plugin) could not be obtained.
    IdentityUnavailable,
    /// The container runtime could not be reached.
    RuntimeUnavailable,
    /// The image filesystem has no room for the image.
    InsufficientDisk,
    /// The node's runtime refuses the registry by configuration (CRI-O: `blocked = true` in
    /// registries.conf): no request is sent.
    RegistryBlocked,
    /// The node's signature policy refuses the image (CRI-O: policy.json `reject`, or a
    /// required signature that containers/image would not find).
    SignatureRejected,
    /// CRI-O cannot resolve a short name (no registry in the reference): no alias and no
    /// unqualified-search registries in registries.conf, or several candidates and
    /// short-name-mode enforcing with no TTY to ask on.
    ShortNameUnresolved,
    /// The image is not on the node and the pod's imagePullPolicy is Never, so the kubelet
    /// does not pull it (ErrImageNeverPull): no registry is asked.
    PullPolicyNever,
    /// The layers downloaded but the runtime could not unpack or store them on the node
    /// (snapshotter or storage driver, mount, filesystem features, user-namespace ID mappings).
    UnpackFailed,
    /// Nothing more specific fits; the evidence says what was seen.
    Unknown,
}

/// Groups of verdicts that share a CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Pullable.
    Ok,
    /// The reference is malformed.
    Reference,
    /// Tag, digest or repository missing (or indistinguishable from private).
    NotFound,
    /// Credentials missing, rejected, expired, short of permissions, or unobtainable.
    Auth,
    /// Quota exhausted.
    RateLimit,
    /// TLS and scheme problems.
    Tls,
    /// DNS, connect, route, proxy and timeout problems.
    Network,
    /// The registry misbehaved.
    Registry,
    /// The image content cannot run or be pulled here.
    Content,
    /// The node itself (runtime, disk).
    Node,
    /// Unclassified.
    Unknown,
}

impl Family {
    /// The CLI exit code for this family (2 is reserved for usage errors).
    pub fn exit_code(self) -> i32 {
        match self {
            Family::Ok => 0,
            Family::Unknown => 1,
            Family::Reference => 3,
            Family::NotFound => 4,
            Family::Auth => 5,
            Family::RateLimit => 6,
            Family::Tls => 7,
            Family::Network => 8,
            Family::Registry => 9,
            Family::Content => 10,
            Family::Node => 11,
        }
    }
}

impl Verdict {
    /// Every verdict, in the order the documentation lists them.
    pub const ALL: [Verdict; 34] = [
        Verdict::Ok,
        Verdict::InvalidReference,
        Verdict::ManifestUnknown,
        Verdict::RepositoryUnknown,
        Verdict::NotFoundOrUnauthorized,
        Verdict::Unauthorized,
        Verdict::CredentialsExpired,
        Verdict::Forbidden,
        Verdict::RateLimited,
        Verdict::TlsUnknownAuthority,
        Verdict::TlsCertificateExpired,
        Verdict::TlsHostnameMismatch,
        Verdict::TlsError,
        Verdict::HttpRegistry,
        Verdict::DnsFailure,
        Verdict::ConnectionRefused,
        Verdict::Timeout,
        Verdict::ProxyError,
        Verdict::NetworkUnreachable,
        Verdict::RegistryError,
        Verdict::PlatformMismatch,
        Verdict::UnsupportedManifest,
        Verdict::DigestMismatch,
        Verdict::BlobUnknown,
        Verdict::BlobDenied,
        Verdict::IdentityUnavailable,
        Verdict::RuntimeUnavailable,
        Verdict::InsufficientDisk,
        Verdict::RegistryBlocked,
        Verdict::SignatureRejected,
        Verdict::ShortNameUnresolved,
        Verdict::PullPolicyNever,
        Verdict::UnpackFailed,
        Verdict::Unknown,
    ];

    /// The verdict with this snake_case name.
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.iter().copied().find(|v| v.as_str() == name)
    }

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::InvalidReference => "invalid_reference",
            Verdict::ManifestUnknown => "manifest_unknown",
            Verdict::RepositoryUnknown => "repository_unknown",
            Verdict::NotFoundOrUnauthorized => "not_found_or_unauthorized",
            Verdict::Unauthorized => "unauthorized",
            Verdict::CredentialsExpired => "credentials_expired",
            Verdict::Forbidden => "forbidden",
            Verdict::RateLimited => "rate_limited",
            Verdict::TlsUnknownAuthority => "tls_unknown_authority",
            Verdict::TlsCertificateExpired => "tls_certificate_expired",
            Verdict::TlsHostnameMismatch => "tls_hostname_mismatch",
            Verdict::TlsError => "tls_error",
            Verdict::HttpRegistry => "http_registry",
            Verdict::DnsFailure => "dns_failure",
            Verdict::ConnectionRefused => "connection_refused",
            Verdict::Timeout => "timeout",
            Verdict::ProxyError => "proxy_error",
            Verdict::NetworkUnreachable => "network_unreachable",
            Verdict::RegistryError => "registry_error",
            Verdict::PlatformMismatch => "platform_mismatch",
            Verdict::UnsupportedManifest => "unsupported_manifest",
            Verdict::DigestMismatch => "digest_mismatch",
            Verdict::BlobUnknown => "blob_unknown",
            Verdict::BlobDenied => "blob_denied",
            Verdict::IdentityUnavailable => "identity_unavailable",
            Verdict::RuntimeUnavailable => "runtime_unavailable",
            Verdict::InsufficientDisk => "insufficient_disk",
            Verdict::RegistryBlocked => "registry_blocked",
            Verdict::SignatureRejected => "signature_rejected",
            Verdict::ShortNameUnresolved => "short_name_unresolved",
            Verdict::PullPolicyNever => "pull_policy_never",
            Verdict::UnpackFailed => "unpack_failed",
            Verdict::Unknown => "unknown",
        }
    }

    /// The failure family (and so the exit code).
    pub fn family(self) -> Family {
        use Verdict::*;
        match self {
            Ok => Family::Ok,
            InvalidReference => Family::Reference,
            ManifestUnknown | RepositoryUnknown | NotFoundOrUnauthorized => Family::NotFound,
            Unauthorized | CredentialsExpired | Forbidden | BlobDenied | IdentityUnavailable => {
                Family::Auth
            }
            RateLimited => Family::RateLimit,
            TlsUnknownAuthority
            | TlsCertificateExpired
            | TlsHostnameMismatch
            | TlsError
            | HttpRegistry => Family::Tls,
            DnsFailure | ConnectionRefused | Timeout | ProxyError | NetworkUnreachable => {
                Family::Network
            }
            RegistryError => Family::Registry,
            PlatformMismatch | UnsupportedManifest | DigestMismatch | BlobUnknown => {
                Family::Content
            }
            RuntimeUnavailable | InsufficientDisk | RegistryBlocked | SignatureRejected
            | ShortNameUnresolved | PullPolicyNever | UnpackFailed => Family::Node,
            Unknown => Family::Unknown,
        }
    }

    /// The CLI exit code.
    pub fn exit_code(self) -> i32 {
        self.family().exit_code()
    }

    /// What fixes it, in one or two sentences an SRE can act on.
    pub fn remediation(self) -> &'static str {
        use Verdict::*;
        match self {
            Ok => "Nothing to fix: the node can pull this image.",
            InvalidReference => "Fix the image reference in the pod spec: lowercase repository, valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}), digest as sha256:<64 hex>.",
            ManifestUnknown => "The repository exists but this tag or digest does not: fix the tag, or push it. Retrying will not help.",
            RepositoryUnknown => "The registry has no repository by this name: check the registry host and the repository path (and the account or project in it).",
            NotFoundOrUnauthorized => "The registry answers the same for a missing and a private repository: check the name is right, then give the node credentials that can read it (imagePullSecrets or a credential provider).",
            Unauthorized => "Give the node valid credentials for this registry: add or fix the imagePullSecret (kubernetes.io/dockerconfigjson) or the kubelet credential provider, or rotate the token.",
            CredentialsExpired => "The credentials have expired: refresh them (ECR tokens last 12 h — check the credential provider runs; rotate static tokens in the pull secret).",
            Forbidden => "The identity is known but lacks permission: grant it read access (ECR: ecr:BatchGetImage and ecr:GetDownloadUrlForLayer; GAR: roles/artifactregistry.reader; ACR: AcrPull).",
            RateLimited => "The registry's pull quota is used up: authenticate (higher quota), use a mirror or pull-through cache, and wait for Retry-After before retrying.",
            TlsUnknownAuthority => "The registry's certificate is not signed by a CA the node trusts: add the CA to the node's trust store or as `ca = \"…\"` in /etc/containerd/certs.d/<host>/hosts.toml.",
            TlsCertificateExpired => "The registry's certificate has expired (or is not valid yet): renew it, and check the node's clock.",
            TlsHostnameMismatch => "The registry's certificate does not name this host: reissue it with the host in subjectAltName, or pull through the name the certificate carries.",
            TlsError => "The TLS handshake failed: check the registry's TLS setup (client certificate required? protocol/cipher mismatch?) and `client = […]` in hosts.toml.",
            HttpRegistry => "The registry speaks plain HTTP: set `server = \"http://<host>\"` in /etc/containerd/certs.d/<host>/hosts.toml (or serve it over HTTPS).",
            DnsFailure => "The registry's name does not resolve from the node: check the name, the node's DNS (/etc/resolv.conf, CoreDNS is not used by the kubelet) and private DNS zones.",
            ConnectionRefused => "Nothing listens on the registry's address: check the port, that the registry runs, and any firewall that sends resets.",
            Timeout => "The registry did not answer in time: check egress firewalls, security groups, NAT and proxy settings (NO_PROXY) on the node; retry.",
            ProxyError => "The HTTP(S) proxy in containerd's environment failed: check HTTPS_PROXY/NO_PROXY for containerd (systemd drop-in) and the proxy itself.",
            NetworkUnreachable => "The node has no route to the registry: check routes, VPC endpoints / NAT gateway and egress rules.",
            RegistryError => "The registry failed (5xx or a malformed reply): retry with backoff, check its status page, or fall back to a mirror.",
            PlatformMismatch => "The image has no variant for this node's platform: build a multi-arch image, or schedule the pod on matching nodes (nodeSelector kubernetes.io/arch).",
            UnsupportedManifest => "The runtime cannot pull this manifest type (schema1 is disabled since containerd 2.0): rebuild or re-push the image as Docker v2 schema 2 or OCI.",
            DigestMismatch => "The content does not match its digest: the registry or a proxy in between serves corrupt or altered content; re-push the image and check caches.",
            BlobUnknown => "The registry lists a blob it does not have (broken push, garbage collection, an incomplete pull-through cache): re-push the image (or re-pull it through the cache); retrying will not help.",
            BlobDenied => "The manifest is readable but a layer is refused: check the permission to download layers (ECR: ecr:GetDownloadUrlForLayer), the storage host's policy (S3 bucket or VPC endpoint policy, Cloud Storage), and the node's clock (signed layer URLs expire).",
            IdentityUnavailable => "The node identity could not be obtained: check IMDS/metadata reachability (hop limit on EKS), the instance role or service account, and the credential provider plugin.",
            RuntimeUnavailable => "The container runtime did not answer: check containerd/CRI-O is running and its socket path.",
            InsufficientDisk => "The image filesystem is full: free space, tune kubelet image GC thresholds, or enlarge the disk.",
            SignatureRejected => "The node's signature policy (CRI-O: /etc/containers/policy.json) refuses this image: sign it with the key the policy names and publish the signature where registries.d points (lookaside or sigstore attachments), or change the policy's requirement for this scope.",
            RegistryBlocked => "The node's registries.conf blocks this registry (blocked = true): pull from an allowed registry or mirror, or change the [[registry]] entry (on OpenShift: image.config.openshift.io registrySources.blockedRegistries).",
            ShortNameUnresolved => "CRI-O pulls a reference without a registry only through an alias or unqualified-search-registries: write the image fully qualified in the pod spec (docker.io/library/nginx:1.27), or add an alias in /etc/containers/registries.conf.d/ (on OpenShift a MachineConfig writes it).",
            PullPolicyNever => "The image is not on the node and imagePullPolicy is Never: pre-load it on every node the pod may run on (or pin the pod to nodes that have it), or set imagePullPolicy to IfNotPresent or Always.",
            UnpackFailed => "The layers downloaded but unpacking them on the node failed: read the runtime's log for the layer, and check the snapshotter or storage driver (overlayfs support, mount options), the image filesystem, and user-namespace ID mappings (/etc/subuid, /etc/subgid); then retry.",
            Unknown => "Unclassified failure: read the evidence below; please report it so a rule can be added.",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for v in Verdict::ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert!(seen.insert(v.as_str()));
            assert!(!v.remediation().is_empty());
        }
    }

    #[test]
    fn exit_codes_separate_ok_usage_and_families() {
        assert_eq!(Verdict::Ok.exit_code(), 0);
        for v in Verdict::ALL {
            assert_ne!(v.exit_code(), 2, "2 is for usage errors");
        }
        assert_ne!(
            Verdict::Unauthorized.exit_code(),
            Verdict::ManifestUnknown.exit_code()
        );
        assert_eq!(
            Verdict::TlsError.exit_code(),
            Verdict::HttpRegistry.exit_code()
        );
    }
}
