//! The identity a registry's refusal names: the AWS principal of ECR's `User: arn:aws:sts::…:
//! assumed-role/<role>/<session> is not authorized to perform: ecr:BatchGetImage`, and the client
//! address of ACR's firewall (`client with IP '203.0.113.7' is not allowed access`). A message
//! says who was refused only this way; nothing is guessed.

use super::scan::{bounded, Scan};
use serde::Serialize;

/// Who the registry says it refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedIdentity {
    /// The principal as the registry wrote it (an ARN, an IP address).
    pub principal: String,
    /// The same in words: `the IAM role eks-node-role (session i-0abc) in account 123456789012`.
    pub description: String,
    /// Who to grant a permission to, for a remediation: `the IAM role eks-node-role`.
    #[serde(skip)]
    pub grantee: String,
    /// The AWS account of an ARN, for cross-account advice.
    #[serde(skip)]
    pub account: Option<String>,
}

/// The principal the message names, if it names one.
pub(super) fn named(scan: &Scan<'_>) -> Option<NamedIdentity> {
    aws(scan).or_else(|| acr_client(scan))
}

/// Characters of an ARN (IAM names allow `+=,.@_-`).
fn arn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-:/".contains(c)
}

/// `User: arn:<partition>:<service>::<account>:<resource> is not authorized …`.
fn aws(scan: &Scan<'_>) -> Option<NamedIdentity> {
    let rest = scan.after("user: arn:")?;
    let end = rest.find(|c: char| !arn_char(c)).unwrap_or(rest.len());
    let body = bounded(&rest[..end], 512).trim_end_matches([':', '.', ',']);
    let principal = format!("arn:{body}");
    // partition : service : region : account : resource
    let mut parts = body.splitn(5, ':');
    let (_partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let account = (!account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_string());
    let in_account = account
        .as_deref()
        .map(|a| format!(" in account {a}"))
        .unwrap_or_default();
    let mut path = resource.split('/');
    let (grantee, description) = match (service, path.next(), path.next(), path.next()) {
        ("sts", Some("assumed-role"), Some(role), session) => {
            let session = session
                .filter(|s| !s.is_empty())
                .map(|s| format!(" (session {s})"))
                .unwrap_or_default();
            (
                format!("the IAM role {role}"),
                format!("the IAM role {role}{session}{in_account}"),
            )
        }
        ("iam", Some("role"), Some(role), _) => (
            format!("the IAM role {role}"),
            format!("the IAM role {role}{in_account}"),
        ),
        ("iam", Some("user"), Some(user), _) => (
            format!("the IAM user {user}"),
            format!("the IAM user {user}{in_account}"),
        ),
        _ => (
            format!("the AWS principal {principal}"),
            format!("the AWS principal {principal}"),
        ),
    };
    Some(NamedIdentity {
        principal,
        description,
        grantee,
        account,
    })
}

/// ACR's firewall: `client with IP '203.0.113.7' is not allowed access`.
fn acr_client(scan: &Scan<'_>) -> Option<NamedIdentity> {
    let rest = scan.after("client with ip '")?;
    let ip = rest.split('\'').next()?;
    ip.parse::<std::net::IpAddr>().ok()?;
    Some(NamedIdentity {
        principal: ip.to_string(),
        description: format!(
            "the client address {ip} (the node's egress address, as the registry sees it)"
        ),
        grantee: format!("the address {ip}"),
        account: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Option<NamedIdentity> {
        named(&Scan::new(text))
    }

    #[test]
    fn aws_principals_in_words() {
        let cases = [
            (
                "denied: User: arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/app",
                "arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc",
                "the IAM role eks-node-role (session i-0abc) in account 123456789012",
                "the IAM role eks-node-role",
            ),
            (
                "User: arn:aws:iam::210987654321:user/ci-bot is not authorized to perform: ecr:GetDownloadUrlForLayer",
                "arn:aws:iam::210987654321:user/ci-bot",
                "the IAM user ci-bot in account 210987654321",
                "the IAM user ci-bot",
            ),
            (
                "User: arn:aws-cn:iam::123456789012:role/puller is not authorized",
                "arn:aws-cn:iam::123456789012:role/puller",
                "the IAM role puller in account 123456789012",
                "the IAM role puller",
            ),
        ];
        for (text, principal, description, grantee) in cases {
            let id = of(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(id.principal, principal);
            assert_eq!(id.description, description);
            assert_eq!(id.grantee, grantee);
        }
        // The resource's ARN is not the principal.
        assert_eq!(
            of("not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:1:repository/app"),
            None
        );
    }

    #[test]
    fn acr_firewall_names_the_client_address() {
        let id = of("denied: client with IP '203.0.113.7' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.").unwrap();
        assert_eq!(id.principal, "203.0.113.7");
        assert!(id.description.contains("egress"));
        assert_eq!(of("client with IP 'not-an-ip' is not allowed access"), None);
    }

    #[test]
    fn hostile_text_is_bounded() {
        let long = format!("User: arn:aws:iam::1:role/{} is not", "r".repeat(10_000));
        let id = of(&long).unwrap();
        assert!(id.principal.len() <= 520, "{}", id.principal.len());
        assert_eq!(of("User: arn:"), None);
        assert_eq!(of("User: arn:aws"), None);
    }
}
