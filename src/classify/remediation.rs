//! Remediation for the registry and identity at hand. A verdict's own remediation is generic
//! ("check the pull secret"); when the host that answered is a registry whose fix is known
//! (ECR, Artifact Registry and GCR, ACR, GHCR, Docker Hub, Quay, Harbor) and the identity that
//! was sent is known (the EKS role, the GKE service account), [`for_registry`] says what to
//! change, by name. Only generic advice is replaced: a fix a rule already sharpened (a
//! permission named in the registry's message) stays. [`RuntimeKind`] names the files of the
//! runtime at hand (containerd's `hosts.toml`, CRI-O's `/etc/containers/certs.d` and
//! `registries.conf`).

mod runtime;

pub use runtime::RuntimeKind;

use super::Verdict;
use crate::identity::Source;

/// A registry service whose remediation is known, read from its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// Amazon ECR (`<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`).
    Ecr {
        /// The registry's AWS account.
        account: String,
        /// Its region.
        region: String,
    },
    /// Google Artifact Registry (`<location>-docker.pkg.dev`).
    ArtifactRegistry,
    /// Google Container Registry (`gcr.io`, `<region>.gcr.io`).
    Gcr,
    /// Azure Container Registry (`<name>.azurecr.io`, sovereign clouds too).
    Acr {
        /// The registry's name.
        name: String,
    },
    /// GitHub Container Registry.
    Ghcr,
    /// Docker Hub.
    DockerHub,
    /// Quay.io.
    Quay,
    /// A Harbor (recognised by its token service path, `/service/token`).
    Harbor,
}

/// The registry service behind `host` (`https://host:port`, `host:port` or `host`); `realm`
/// is the token service a challenge named, when one did.
pub fn registry_of(host: &str, realm: Option<&str>) -> Option<Registry> {
    let h = host
        .split_once("://")
        .map_or(host, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    let h = crate::reference::host_without_port(h).to_ascii_lowercase();
    let labels: Vec<&str> = h.split('.').collect();
    if let [account, "dkr", ecr, region, "amazonaws", "com", ..] = labels.as_slice() {
        if ecr.starts_with("ecr") && account.chars().all(|c| c.is_ascii_digit()) {
            return Some(Registry::Ecr {
                account: account.to_string(),
                region: region.to_string(),
            });
        }
    }
    if h.ends_with("-docker.pkg.dev") {
        return Some(Registry::ArtifactRegistry);
    }
    if h == "gcr.io" || h.ends_with(".gcr.io") {
        return Some(Registry::Gcr);
    }
    for suffix in [".azurecr.io", ".azurecr.cn", ".azurecr.us"] {
        if let Some(name) = h.strip_suffix(suffix).filter(|n| !n.contains('.')) {
            return Some(Registry::Acr {
                name: name.to_string(),
            });
        }
    }
    match h.as_str() {
        "ghcr.io" => return Some(Registry::Ghcr),
        "docker.io" | "registry-1.docker.io" | "index.docker.io" | "auth.docker.io" => {
            return Some(Registry::DockerHub)
        }
        "quay.io" => return Some(Registry::Quay),
        _ => {}
    }
    realm
        .filter(|r| r.trim_end_matches('/').ends_with("/service/token"))
        .map(|_| Registry::Harbor)
}

/// Verdicts where the identity is refused or missing.
fn auth(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Unauthorized | Verdict::NotFoundOrUnauthorized | Verdict::Forbidden
    )
}

/// Verdicts where the registry could not be reached at all.
fn unreachable(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Timeout
            | Verdict::DnsFailure
            | Verdict::ConnectionRefused
            | Verdict::NetworkUnreachable
    )
}

/// What to change for `verdict` at `registry` when `identity` was sent (`None`: unknown, as in
/// `explain`); `None` when the verdict's generic remediation is all there is to say.
pub fn for_registry(
    verdict: Verdict,
    registry: &Registry,
    identity: Option<&Source>,
) -> Option<String> {
    match registry {
        Registry::Ecr { account, region } => ecr(verdict, account, region, identity),
        Registry::ArtifactRegistry | Registry::Gcr => google(verdict, registry, identity),
        Registry::Acr { name } => acr(verdict, name),
        Registry::Ghcr if auth(verdict) => Some(
            "GHCR: pull with a personal access token (classic) that has read:packages, or a fine-grained token with package read access, in an imagePullSecret for ghcr.io; a private package must also grant that user (or the repository the token belongs to) access in its package settings. A workflow's GITHUB_TOKEN expires when the job ends and does not belong on nodes.".into(),
        ),
        Registry::DockerHub => match verdict {
            Verdict::RateLimited => Some(
                "Docker Hub limits anonymous pulls per source IP (every node behind one NAT shares the count) and authenticated pulls per account: add an imagePullSecret (or a node credential) for docker.io with a Docker account, or pull through a registry mirror or pull-through cache (containerd hosts.toml `[host.\"https://mirror\"]`, CRI-O registries.conf `[[registry.mirror]]`).".into(),
            ),
            Verdict::NotFoundOrUnauthorized => Some(
                "Docker Hub answers alike for a repository that does not exist and one that is private: check the name (official images are library/NAME; `docker.io/NAME` means `docker.io/library/NAME`), and for a private repository an imagePullSecret for docker.io with an access token that can read it.".into(),
            ),
            v if auth(v) => Some(
                "Docker Hub: the pull secret for docker.io must hold a Docker account name and a personal access token with read access to this repository (an organisation's private repository also needs the account in a team with access).".into(),
            ),
            _ => None,
        },
        Registry::Quay if auth(verdict) => Some(
            "Quay: create a robot account with read permission on this repository (the organisation's Robot Accounts tab), and use its Kubernetes secret as the pod's imagePullSecret; a private repository refuses anonymous pulls.".into(),
        ),
        Registry::Harbor if auth(verdict) => Some(
            "Harbor: a private project refuses anonymous pulls: create a robot account with the pull permission on the project (Project → Robot Accounts) and use it in the imagePullSecret; a public project needs no credentials.".into(),
        ),
        _ => None,
    }
}

/// Who holds the permission, by the credential that was sent: the node identity by name, the
/// principal behind a pull secret or plugin, or `node` when unknown (`explain`).
fn principal(identity: Option<&Source>, node: &str) -> String {
    match identity {
        None => node.to_string(),
        Some(Source::Eks { role, .. }) => format!("the node role {role}"),
        Some(Source::Gke { email }) => format!("the node service account {email}"),
        Some(s) => format!("the identity behind the {} ({})", s.kind_words(), s.label()),
    }
}

fn ecr(verdict: Verdict, account: &str, region: &str, identity: Option<&Source>) -> Option<String> {
    if auth(verdict) && matches!(identity, Some(Source::Anonymous)) {
        return Some(format!(
            "ECR refuses anonymous pulls, and no credential was sent: the kubelet needs its ecr-credential-provider (--image-credential-provider-config listing *.dkr.ecr.*.amazonaws.com in matchImages) or, on EKS, the node role that pullcheck asks IMDS for when no plugin covers the registry; that role then needs AmazonEC2ContainerRegistryReadOnly (check with `aws ecr get-login-password --region {region}` on the node)."
        ));
    }
    let who = principal(
        identity,
        "the node's instance role (or the principal of the pull secret)",
    );
    match verdict {
        v if auth(v) => Some(format!(
            "ECR: attach the managed policy AmazonEC2ContainerRegistryReadOnly (or ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer) to {who}. If {who} is in another account than the registry ({account}), the repository policy must also allow the role's ARN. A repository created by a pull-through cache rule needs the rule's prefix and ecr:BatchImportUpstreamImage. Check with `aws ecr get-login-password --region {region}` run as the role."
        )),
        Verdict::CredentialsExpired => Some(format!(
            "ECR passwords last 12 hours: the kubelet's ecr-credential-provider fetches new ones (check its binary in --image-credential-provider-bin-dir, its matchImages for *.dkr.ecr.*.amazonaws.com and its defaultCacheDuration below 12h); a pull secret holding an ECR password must be refreshed by a job. {who} must be allowed ecr:GetAuthorizationToken."
        )),
        Verdict::BlobDenied => Some(format!(
            "ECR serves layers from S3 (prod-{region}-starport-layer-bucket): from private subnets the S3 gateway endpoint must be in the node subnets' route tables and its endpoint policy must allow s3:GetObject on that bucket; also check ecr:GetDownloadUrlForLayer for {who} and the node's clock (the layer URLs are signed)."
        )),
        v if unreachable(v) => Some(format!(
            "ECR from private subnets needs the interface endpoints com.amazonaws.{region}.ecr.dkr and com.amazonaws.{region}.ecr.api (with private DNS, and security groups allowing 443 from the nodes) plus the S3 gateway endpoint for layers, or a NAT gateway."
        )),
        _ => None,
    }
}

fn google(verdict: Verdict, registry: &Registry, identity: Option<&Source>) -> Option<String> {
    if auth(verdict) && matches!(identity, Some(Source::Anonymous)) {
        return Some(
            "No credential was sent, and a private Artifact Registry or GCR repository refuses anonymous pulls: on GKE the node service account's token (the metadata server, which pullcheck asks when no plugin covers the registry) needs the cloud-platform or devstorage.read_only scope; elsewhere a pull secret with a service-account key (`_json_key`) or token (`oauth2accesstoken`).".into(),
        );
    }
    let who = principal(
        identity,
        "the node pool's service account (or the one whose key the pull secret holds)",
    );
    match verdict {
        v if auth(v) => Some(match registry {
            Registry::Gcr => format!(
                "GCR: grant {who} roles/storage.objectViewer on the artifacts bucket (or roles/artifactregistry.reader where gcr.io is served by Artifact Registry); the node pool needs the devstorage.read_only or cloud-platform access scope."
            ),
            _ => format!(
                "Artifact Registry: grant {who} roles/artifactregistry.reader on the repository or its project (`gcloud artifacts repositories add-iam-policy-binding REPO --location=LOCATION --member=serviceAccount:EMAIL --role=roles/artifactregistry.reader`); the node pool needs the cloud-platform or devstorage.read_only access scope."
            ),
        }),
        v if unreachable(v) => Some(
            "Private nodes reach *.pkg.dev and gcr.io through Private Google Access on the nodes' subnet (or Cloud NAT); with VPC Service Controls the perimeter must include the registry's project.".into(),
        ),
        _ => None,
    }
}

fn acr(verdict: Verdict, name: &str) -> Option<String> {
    match verdict {
        v if auth(v) => Some(format!(
            "ACR: give the cluster's kubelet identity the AcrPull role on {name} (`az aks update -n CLUSTER -g GROUP --attach-acr {name}`), then test from a node with `az aks check-acr -n CLUSTER -g GROUP --acr {name}.azurecr.io`; with a pull secret, use a token or service principal that has AcrPull."
        )),
        v if unreachable(v) => Some(format!(
            "ACR with a private endpoint: the nodes' VNet must resolve {name}.azurecr.io and {name}.<region>.data.azurecr.io through the privatelink.azurecr.io private DNS zone; with the public endpoint, its firewall rules must allow the nodes' egress IP."
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
