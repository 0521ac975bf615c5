//! The built-in node identities, consulted when no credential-provider plugin covers the
//! registry: EKS for ECR hosts (the instance role, see [`super::eks`]) and GKE for Google
//! registries (the node service account, see [`super::gke`]). Each is what the node's own
//! provider would use; a failure yields no credential and a reason in the report.

use super::{eks, gke, Credential, RegistryAuth, Source};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Where the cloud metadata services are, and whether to ask them.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// IMDS endpoint (`--imds-endpoint`; else `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the SDK's default).
    pub imds_endpoint: Option<String>,
    /// GCE metadata `host[:port]` (`--gce-metadata-host`; else `GCE_METADATA_HOST`, else
    /// `metadata.google.internal`).
    pub gce_metadata_host: Option<String>,
    /// Time limit per metadata request.
    pub timeout: Duration,
    /// The node's cloud (`--cloud`, or DMI): only its identity is asked.
    pub cloud: super::platform::Cloud,
}

impl Default for CloudSettings {
    fn default() -> Self {
        Self {
            imds_endpoint: None,
            gce_metadata_host: None,
            timeout: Duration::from_secs(2),
            cloud: super::platform::Cloud::Unknown {
                why: "not detected".into(),
            },
        }
    }
}

impl CloudSettings {
    /// Why the EKS identity is not asked on this node, if it is not.
    pub fn not_aws(&self) -> Option<String> {
        (!self.cloud.may_ask_aws()).then(|| {
            format!(
                "not an EC2 instance: this node is {}; IMDS was not asked (--cloud aws asks anyway)",
                self.cloud
            )
        })
    }

    /// Why the GKE identity is not asked on this node, if it is not.
    pub fn not_gcp(&self) -> Option<String> {
        (!self.cloud.may_ask_gcp()).then(|| {
            format!(
                "not a GCE instance: this node is {}; the metadata server was not asked (--cloud gcp asks anyway)",
                self.cloud
            )
        })
    }
}

/// What the cloud identity gave, for the report (no secrets).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CloudOutcome {
    /// EKS: instance role → ECR token.
    #[serde(rename_all = "camelCase")]
    Eks {
        /// Region asked.
        region: String,
        /// The instance role, when IMDS named it.
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        /// When ECR says the token expires (RFC 3339).
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
        /// Why there is no credential.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// GKE: node service account token.
    #[serde(rename_all = "camelCase")]
    Gke {
        /// The service account, when the server named it.
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        /// The VM's OAuth scopes.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
        /// Whether a `devstorage` or `cloud-platform` scope is present.
        #[serde(skip_serializing_if = "Option::is_none")]
        pull_scope: Option<bool>,
        /// When the access token expires (RFC 3339), from the server's `expires_in`.
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
        /// Why there is no credential.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl CloudOutcome {
    /// The failure, when the identity gave no credential.
    pub fn error(&self) -> Option<&str> {
        match self {
            CloudOutcome::Eks { error, .. } | CloudOutcome::Gke { error, .. } => error.as_deref(),
        }
    }

    /// Short name for reasons (`EKS node identity`).
    pub fn name(&self) -> &'static str {
        match self {
            CloudOutcome::Eks { .. } => "EKS node identity",
            CloudOutcome::Gke { .. } => "GKE node identity",
        }
    }
}

/// What a cloud identity contributes to one probe.
#[derive(Debug)]
pub struct CloudLookup {
    /// The credential, when one was had.
    pub credential: Option<Credential>,
    /// For the report.
    pub outcome: CloudOutcome,
    /// Warnings to show (expired token, missing scope).
    pub warnings: Vec<String>,
}

/// Asks the node's cloud identity for `registry`, when it is an ECR or Google registry.
pub async fn lookup(settings: &CloudSettings, registry: &str) -> Option<CloudLookup> {
    if let Some(host) = eks::parse_ecr_host(registry) {
        if let Some(why) = settings.not_aws() {
            return Some(CloudLookup {
                credential: None,
                outcome: CloudOutcome::Eks {
                    region: host.region.clone(),
                    role: None,
                    expires_at: None,
                    error: Some(why),
                },
                warnings: vec![],
            });
        }
        return Some(eks_lookup(settings, &host).await);
    }
    if gke::is_google_registry(registry) {
        if let Some(why) = settings.not_gcp() {
            return Some(CloudLookup {
                credential: None,
                outcome: CloudOutcome::Gke {
                    email: None,
                    scopes: vec![],
                    pull_scope: None,
                    expires_at: None,
                    error: Some(why),
                },
                warnings: vec![],
            });
        }
        return Some(gke_lookup(settings).await);
    }
    None
}

/// ECR tokens already fetched, per (region, IMDS endpoint), with when to fetch again. Like the
/// ecr-credential-provider's answer (`cacheKeyType: Registry`, `cacheDuration` = half the
/// token's remaining life), so the agent does not load SDK configuration and ask IMDS and ECR
/// on every probe of an ECR image.
type EcrCache = Mutex<HashMap<(String, Option<String>), (eks::EcrToken, SystemTime)>>;

fn ecr_cache() -> &'static EcrCache {
    static CACHE: OnceLock<EcrCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// An ECR token from the cache while it is fresh, else from IMDS + ECR (and cached for half its
/// remaining life; a token already expired is not cached).
async fn cached_ecr_token(
    settings: &CloudSettings,
    host: &eks::EcrHost,
) -> Result<eks::EcrToken, eks::Error> {
    let key = (host.region.clone(), settings.imds_endpoint.clone());
    let now = SystemTime::now();
    {
        let cache = ecr_cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = cache.get(&key) {
            if now < *until {
                return Ok(token.clone());
            }
        }
    }
    let token = eks::ecr_token(host, settings.imds_endpoint.as_deref(), settings.timeout).await?;
    if let Some(left) = token.expires_at.and_then(|e| e.duration_since(now).ok()) {
        let mut cache = ecr_cache().lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(key, (token.clone(), now + left / 2));
    }
    Ok(token)
}

async fn eks_lookup(settings: &CloudSettings, host: &eks::EcrHost) -> CloudLookup {
    match cached_ecr_token(settings, host).await {
        Ok(t) => {
            let mut warnings = Vec::new();
            if let Some(exp) = t.expires_at {
                if exp <= SystemTime::now() {
                    warnings.push(format!(
                        "ECR says this token expired at {}: a registry that checks it answers 403 \"Your authorization token has expired\"",
                        humantime::format_rfc3339_seconds(exp)
                    ));
                }
            }
            let outcome = CloudOutcome::Eks {
                region: host.region.clone(),
                role: Some(t.role.clone()),
                expires_at: t
                    .expires_at
                    .map(|e| humantime::format_rfc3339_seconds(e).to_string()),
                error: None,
            };
            CloudLookup {
                credential: Some(Credential {
                    auth: RegistryAuth::Basic {
                        username: t.username.clone(),
                        password: t.password.clone(),
                    },
                    source: Source::Eks {
                        role: t.role,
                        region: t.region,
                    },
                }),
                outcome,
                warnings,
            }
        }
        Err(e) => {
            let role = match &e {
                eks::Error::Ecr { role, .. } => Some(role.clone()),
                _ => None,
            };
            CloudLookup {
                credential: None,
                outcome: CloudOutcome::Eks {
                    region: host.region.clone(),
                    role,
                    expires_at: None,
                    error: Some(e.to_string()),
                },
                warnings: Vec::new(),
            }
        }
    }
}

async fn gke_lookup(settings: &CloudSettings) -> CloudLookup {
    let host = gke::metadata_host(settings.gce_metadata_host.as_deref());
    match gke::node_token(&host, settings.timeout).await {
        Ok(t) => {
            let pull_scope = t.has_pull_scope();
            let expires_at = t.expires_in.map(|s| {
                humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(s))
                    .to_string()
            });
            let mut warnings = Vec::new();
            if !pull_scope {
                warnings.push(format!(
                    "the node's VM scopes ({}) include neither devstorage nor cloud-platform: registries answer 403 even when IAM allows the pull; recreate the node pool with the storage-ro or cloud-platform scope",
                    t.scopes.join(", ")
                ));
            }
            CloudLookup {
                credential: Some(Credential {
                    auth: RegistryAuth::Basic {
                        username: "_token".into(),
                        password: t.access_token.clone(),
                    },
                    source: Source::Gke {
                        email: t.email.clone(),
                    },
                }),
                outcome: CloudOutcome::Gke {
                    email: Some(t.email),
                    scopes: t.scopes,
                    pull_scope: Some(pull_scope),
                    expires_at,
                    error: None,
                },
                warnings,
            }
        }
        Err(e) => CloudLookup {
            credential: None,
            outcome: CloudOutcome::Gke {
                email: None,
                scopes: Vec::new(),
                pull_scope: None,
                expires_at: None,
                error: Some(e.to_string()),
            },
            warnings: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_nodes_own_cloud_is_asked() {
        use crate::identity::platform::Cloud;
        // Metadata endpoints nothing listens on: asked, they would fail differently.
        let on = |cloud: Cloud| CloudSettings {
            imds_endpoint: Some("http://127.0.0.1:9".into()),
            gce_metadata_host: Some("127.0.0.1:9".into()),
            timeout: Duration::from_millis(200),
            cloud,
        };
        let gcp = on(Cloud::Gcp {
            from: "test".into(),
        });
        let ecr = lookup(&gcp, "123456789012.dkr.ecr.eu-west-1.amazonaws.com")
            .await
            .unwrap();
        let why = ecr.outcome.error().unwrap();
        assert!(
            why.starts_with("not an EC2 instance: this node is Google Compute Engine"),
            "{why}"
        );
        assert!(ecr.credential.is_none());
        let aws = on(Cloud::Aws {
            from: "test".into(),
        });
        let gar = lookup(&aws, "europe-docker.pkg.dev").await.unwrap();
        assert!(gar
            .outcome
            .error()
            .unwrap()
            .starts_with("not a GCE instance"));
        // Unknown (no DMI): asked, and the failure is the metadata service's.
        let unknown = on(Cloud::Unknown {
            why: "no DMI".into(),
        });
        let ecr = lookup(&unknown, "123456789012.dkr.ecr.eu-west-1.amazonaws.com")
            .await
            .unwrap();
        assert!(!ecr.outcome.error().unwrap().contains("not an EC2 instance"));
    }

    #[tokio::test]
    async fn other_registries_have_no_cloud_identity() {
        assert!(lookup(&CloudSettings::default(), "docker.io")
            .await
            .is_none());
        assert!(lookup(&CloudSettings::default(), "ghcr.io").await.is_none());
    }

    #[tokio::test]
    async fn a_fresh_ecr_token_is_served_from_the_cache_and_a_stale_one_is_not() {
        let host = eks::parse_ecr_host("123456789012.dkr.ecr.ap-south-2.amazonaws.com").unwrap();
        // Nothing listens here: a lookup that reaches IMDS fails.
        let settings = CloudSettings {
            imds_endpoint: Some("http://127.0.0.1:9".into()),
            timeout: Duration::from_millis(200),
            ..CloudSettings::default()
        };
        let token = eks::EcrToken {
            username: "AWS".into(),
            password: "cached-secret".into(),
            expires_at: None,
            role: "node-role".into(),
            region: host.region.clone(),
            proxy_endpoint: None,
        };
        let key = (host.region.clone(), settings.imds_endpoint.clone());
        let fresh = SystemTime::now() + Duration::from_secs(600);
        ecr_cache()
            .lock()
            .unwrap()
            .insert(key.clone(), (token.clone(), fresh));
        assert_eq!(
            cached_ecr_token(&settings, &host).await.unwrap().role,
            "node-role"
        );
        let stale = SystemTime::now() - Duration::from_secs(1);
        ecr_cache().lock().unwrap().insert(key, (token, stale));
        assert!(matches!(
            cached_ecr_token(&settings, &host).await,
            Err(eks::Error::Imds { .. })
        ));
    }

    #[test]
    fn ecr_hosts() {
        let h = eks::parse_ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            (h.account.as_str(), h.region.as_str(), h.public),
            ("123456789012", "eu-west-1", false)
        );
        assert_eq!(
            eks::parse_ecr_host("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws")
                .unwrap()
                .region,
            "us-gov-west-1"
        );
        assert_eq!(
            eks::parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
                .unwrap()
                .region,
            "cn-north-1"
        );
        assert!(eks::parse_ecr_host("public.ecr.aws").unwrap().public);
        for bad in [
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.example.com",
            "docker.io",
            "123456789012.ecr.us-east-1.amazonaws.com",
        ] {
            assert!(eks::parse_ecr_host(bad).is_none(), "{bad}");
        }
    }
}
