//! Auth rules: expired tokens, 403 / DENIED (naming the permission), and 401 — telling
//! missing credentials from rejected ones, and both from the registries that answer 401 or 403
//! for a repository that does not exist.

use super::{Facts, Finding};
use crate::classify::phrases::{EXPIRED_TOKEN, MAY_NOT_EXIST};
use crate::classify::runtime_message::envelope::Wrapper;
use crate::classify::runtime_message::scan::one_line;
use crate::classify::{named_permission, Verdict};

/// An expired registry token (ECR answers it with 403 DENIED).
pub(super) fn expired(f: &Facts<'_>) -> Option<Finding> {
    f.scan.has_any(&EXPIRED_TOKEN).then(|| {
        Finding::new(
            Verdict::CredentialsExpired,
            format!("{}: the registry token has expired{}", f.at(), f.server()),
        )
    })
}

/// `denied: ` as containerd renders the DENIED code, not `pull access denied` or a local
/// `permission denied`.
fn registry_denied(f: &Facts<'_>) -> bool {
    let lower = f.scan.lower.as_str();
    lower.match_indices("denied: ").any(|(i, _)| {
        let before = &lower[..i];
        !before.ends_with("permission ") && !before.ends_with("access ")
    })
}

/// DENIED beside UNAUTHORIZED, as containers/image (CRI-O) relays Docker Distribution's 401
/// body (`errors:\ndenied: requested access to the resource is denied\nunauthorized:
/// authentication required`): the token did not grant pull — a 401, not a 403.
fn denied_beside_unauthorized(f: &Facts<'_>) -> bool {
    f.scan.has("requested access to the resource is denied")
        && f.scan.has("authentication required")
}

/// 403 Forbidden, DENIED, "not authorized to perform".
pub(super) fn forbidden(f: &Facts<'_>) -> Option<Finding> {
    if denied_beside_unauthorized(f) {
        return None; // a 401: `unauthorized` reads it
    }
    let denied = f.status == Some(403)
        || f.scan.has("403 forbidden")
        || f.scan.has("not authorized to perform")
        || registry_denied(f);
    if !denied {
        return None;
    }
    let at = f.at();
    let server = f.server();
    let permission = named_permission(f.scan.text);
    let perm_text = permission
        .as_deref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    // Docker Hub's body for a missing or private repository, relayed by CRI-O with its 401.
    let hub_ambiguous = f.status != Some(403)
        && f.scan.has("requested access to the resource is denied")
        && f.ambiguous_registry();
    if hub_ambiguous {
        return Some(Finding::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: access denied: the repository is private or does not exist (Docker Hub answers both alike){server}"),
        ));
    }
    if f.scan.has(MAY_NOT_EXIST) {
        return Some(Finding::new(
            Verdict::NotFoundOrUnauthorized,
            format!("{at}: 403: permission denied{perm_text}, or the repository does not exist (the registry does not say which){server}"),
        ));
    }
    if f.token_step() {
        let known = [f.host, f.registry.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|h| crate::classify::remediation::registry_of(h, None));
        let ghcr = known == Some(crate::classify::remediation::Registry::Ghcr);
        let hint = if ghcr {
            " (on GHCR usually a stale token, or one without read:packages)"
        } else {
            ""
        };
        let finding = Finding::new(
            Verdict::Forbidden,
            format!(
                "the token service at {at} refused the node's credentials with 403{hint}{server}"
            ),
        );
        // A known registry gets its own advice (explain's caller fills it in).
        return Some(match known {
            Some(_) => finding,
            None => finding.fix(format!(
                "Refresh the token in the pull secret, or grant it read access. {}",
                Verdict::Forbidden.remediation()
            )),
        });
    }
    if let Some(id) = f.identity.filter(|_| f.scan.has("is not allowed access")) {
        // ACR's firewall (network rules): the address, not the credential, is refused.
        let name = [f.host, f.registry.as_deref()]
            .into_iter()
            .flatten()
            .find_map(
                |h| match crate::classify::remediation::registry_of(h, None) {
                    Some(crate::classify::remediation::Registry::Acr { name }) => Some(name),
                    _ => None,
                },
            )
            .unwrap_or_else(|| "REGISTRY".into());
        return Some(
            Finding::new(
                Verdict::Forbidden,
                format!("{at}: the registry's firewall refuses the node's address {}, whatever the credentials{server}", id.principal),
            )
            .fix(format!(
                "Allow the nodes' egress address in the registry's network rules (`az acr network-rule add --name {name} --ip-address {}`; every node behind one NAT shares it), or reach the registry through a private endpoint in the nodes' VNet.",
                id.principal
            )),
        );
    }
    let Some(p) = permission else {
        let bodiless = server.is_empty() && f.scan.has("from head request");
        let ecr = [f.host, f.registry.as_deref()]
            .into_iter()
            .flatten()
            .find_map(
                |h| match crate::classify::remediation::registry_of(h, None) {
                    Some(crate::classify::remediation::Registry::Ecr { region, .. }) => {
                        Some(region)
                    }
                    _ => None,
                },
            );
        if let (true, Some(region)) = (bodiless, &ecr) {
            // ECR answers a HEAD with an expired token and one without permission alike.
            return Some(
                Finding::new(
                    Verdict::Forbidden,
                    format!("{at}: HEAD 403 Forbidden with no body (containerd < 2.3.4 reads none after a HEAD): ECR answers both a missing permission and an expired token (older than 12 hours) this way, so this is forbidden or expired"),
                )
                .fix(format!(
                    "Tell the two apart with a GET: `pullcheck probe` on the node reads the registry's message (\"Your authorization token has expired\" is credentials_expired; a named ecr: action is a missing permission), or `aws ecr get-login-password --region {region}` as the node role, then retry the pull with a fresh password. An expired token means the credential provider or the job that refreshes the pull secret stopped; a permission needs AmazonEC2ContainerRegistryReadOnly on the node role."
                )),
            );
        }
        let head = if bodiless {
            " (containerd < 2.3.4 reads no body after a HEAD 403, so the registry's reason is not in the message)"
        } else {
            ""
        };
        return Some(Finding::new(
            Verdict::Forbidden,
            format!("{at}: 403 Forbidden: the identity is not allowed to pull this repository{head}{server}"),
        ));
    };
    let who = f
        .identity
        .map_or("the identity that pulls", |i| i.grantee.as_str());
    let lacks = f
        .identity
        .map_or_else(|| "the identity".to_string(), |i| i.grantee.clone());
    Some(
        Finding::new(
            Verdict::Forbidden,
            format!("{at}: 403: {lacks} lacks {p}{server}"),
        )
        .fix(format!("Grant {p} to {who}. {}", grant_advice(f, &p))),
    )
}

/// What grants a named permission, for the registry at hand only (an ECR refusal gets no
/// Artifact Registry or ACR advice).
fn grant_advice(f: &Facts<'_>, permission: &str) -> String {
    use crate::classify::remediation::{registry_of, Registry};
    let known = [f.host, f.registry.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|h| registry_of(h, None));
    let p = permission.to_ascii_lowercase();
    if p.starts_with("ecr:") || matches!(known, Some(Registry::Ecr { .. })) {
        let cross = match (f.identity.and_then(|i| i.account.as_deref()), &known) {
            (Some(mine), Some(Registry::Ecr { account, .. })) if mine != account => format!(
                " The principal is in account {mine} and the registry in {account}: the repository policy must also allow the principal's ARN."
            ),
            (Some(_), Some(Registry::Ecr { .. })) => String::new(),
            _ => " If the registry is in another account than the principal, the repository policy must also allow the principal's ARN.".to_string(),
        };
        return format!(
            "ECR: the managed policy AmazonEC2ContainerRegistryReadOnly grants what a pull needs (ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer).{cross}"
        );
    }
    if p.starts_with("artifactregistry.")
        || matches!(known, Some(Registry::ArtifactRegistry | Registry::Gcr))
    {
        return "Artifact Registry: roles/artifactregistry.reader on the repository or its project grants it; the node pool also needs the cloud-platform or devstorage.read_only access scope.".into();
    }
    "Grant it read access to the repository (the message names the principal and the resource)."
        .into()
}

/// 401s: missing credentials, rejected credentials, and the registries that answer 401 for a
/// missing repository too.
pub(super) fn unauthorized(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let at = f.at();
    let server = f.server();
    let unauthorized = |why: String| Some(Finding::new(Verdict::Unauthorized, why));
    let ambiguous = |why: String| Some(Finding::new(Verdict::NotFoundOrUnauthorized, why));
    if s.has("no basic auth credentials") {
        return unauthorized(format!("{at} asks for basic auth and the node offered no credentials (no imagePullSecret or credential provider matched this registry)"));
    }
    if s.has("unable to retrieve auth token") {
        return unauthorized(format!(
            "the token service for {at} rejected the credentials ({})",
            one_line(f.env.detail, 240)
        ));
    }
    // Like containerd's `pull access denied` for the same answer.
    if denied_beside_unauthorized(f) {
        return ambiguous(format!("{at}: 401: access denied: the repository is private or does not exist, or the credentials do not grant pull{server}"));
    }
    // The DENIED message without its code (newer containers/image prints only the message):
    // Docker Hub's 401 for a missing or private repository, or another registry's refusal,
    // which does not say either whether the repository exists.
    if s.has("requested access to the resource is denied") && f.status != Some(403) {
        if f.ambiguous_registry() {
            return ambiguous(format!("{at}: access denied: the repository is private or does not exist (Docker Hub answers both alike){server}"));
        }
        return ambiguous(format!("{at}: access denied: the repository does not exist, or these credentials may not pull it (the registry's DENIED does not say which){server}"));
    }
    if s.has("pull access denied") {
        return ambiguous(format!("{at}: pull access denied: the repository does not exist or is private (Docker Hub answers both alike){server}"));
    }
    if s.has("insufficient_scope") {
        return ambiguous(format!(
            "{at}: 401 insufficient_scope: the repository is private or does not exist{server}"
        ));
    }
    let is_401 = f.status == Some(401)
        || s.has_any(&[
            "401 unauthorized",
            "unauthorized: ",
            "authentication required",
        ]);
    if !is_401 {
        return None;
    }
    if f.env.has(Wrapper::OauthToken) {
        return unauthorized(format!(
            "the token service at {at} rejected the node's credentials (401){server}"
        ));
    }
    if f.env.has(Wrapper::AnonymousToken) {
        if f.ambiguous_registry() {
            return ambiguous(format!("the token service at {at} refused an anonymous token: the repository is private or does not exist{server}"));
        }
        return unauthorized(format!(
            "the token service at {at} requires credentials and none were offered (401){server}"
        ));
    }
    if f.ambiguous_registry() {
        return ambiguous(format!("{at}: 401: the repository is private or does not exist (Docker Hub, Quay and GHCR answer both alike; if credentials were configured they may also be rejected){server}"));
    }
    unauthorized(format!("{at}: 401 Unauthorized: no credentials were offered, or they were rejected (the message does not say which){server}"))
}
