//! The EKS node identity: the EC2 instance role through IMDSv2 — forced, never the SDK's default
//! chain, whose IRSA / Pod Identity variables would make pullcheck someone else — exchanged for an
//! ECR registry password with `GetAuthorizationToken` in the region the ECR host names.

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use base64::Engine;
use std::time::{Duration, SystemTime};

/// Why no ECR credential could be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The instance metadata service did not give the role (not on EC2, IMDS disabled, hop limit).
    #[error("failed to read the instance role from IMDS at {endpoint}: {reason}")]
    Imds {
        /// The IMDS endpoint tried.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// ECR's API refused or failed `GetAuthorizationToken`.
    #[error("ecr:GetAuthorizationToken in {region} as role {role} failed: {reason}")]
    Ecr {
        /// Region asked.
        region: String,
        /// The instance role.
        role: String,
        /// The API's error code and message.
        reason: String,
    },
    /// The token ECR returned is not `base64(AWS:<password>)`.
    #[error("ECR returned an authorization token pullcheck cannot read (expected base64 of user:password)")]
    BadToken,
}

/// An ECR registry host, from the ecr-credential-provider's host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// 12-digit account (empty for ECR Public).
    pub account: String,
    /// Region (ECR Public: us-east-1).
    pub region: String,
    /// Whether this is ECR Public (`public.ecr.aws`).
    pub public: bool,
}

/// Parses `<account>.dkr.ecr[-fips].<region>.<partition suffix>` (also `dkr-ecr`) or ECR Public.
pub fn parse_ecr_host(registry: &str) -> Option<EcrHost> {
    let host = registry
        .split(':')
        .next()
        .unwrap_or(registry)
        .to_ascii_lowercase();
    if host == "public.ecr.aws" || host == "ecr-public.aws.com" {
        return Some(EcrHost {
            account: String::new(),
            region: "us-east-1".into(),
            public: true,
        });
    }
    const SUFFIXES: &[&str] = &[
        "amazonaws.com",
        "amazonaws.com.cn",
        "amazonaws.eu",
        "on.aws",
        "on.amazonwebservices.com.cn",
        "sc2s.sgov.gov",
        "c2s.ic.gov",
        "cloud.adc-e.uk",
        "csp.hci.ic.gov",
    ];
    let (account, rest) = host.split_once('.')?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest
        .strip_prefix("dkr.ecr")
        .or_else(|| rest.strip_prefix("dkr-ecr"))?;
    let rest = rest.strip_prefix("-fips").unwrap_or(rest);
    let rest = rest.strip_prefix('.')?;
    let (region, suffix) = rest.split_once('.')?;
    let region_ok = region
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (region_ok && SUFFIXES.contains(&suffix)).then(|| EcrHost {
        account: account.to_string(),
        region: region.to_string(),
        public: false,
    })
}

/// A registry password from ECR, and whose it is.
#[derive(Clone)]
pub struct EcrToken {
    /// Always `AWS` for ECR.
    pub username: String,
    /// The registry password (secret).
    pub password: String,
    /// When ECR says it stops working.
    pub expires_at: Option<SystemTime>,
    /// The instance role's name (from IMDS).
    pub role: String,
    /// Region asked.
    pub region: String,
    /// The registry ECR says the token is for.
    pub proxy_endpoint: Option<String>,
}

impl std::fmt::Debug for EcrToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrToken")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("role", &self.role)
            .field("region", &self.region)
            .finish()
    }
}

/// The instance's role name from IMDSv2 (what `pullcheck node` reports).
pub async fn instance_role(
    imds_endpoint: Option<&str>,
    timeout: Duration,
) -> Result<String, Error> {
    Imds::new(imds_endpoint, None, timeout)?.role().await
}

/// An IMDSv2 client with the HTTP client and provider configuration built around it.
struct Imds {
    client: aws_config::imds::Client,
    http: aws_sdk_ecr::config::SharedHttpClient,
    provider_config: ProviderConfig,
    region: Region,
    endpoint: String,
}

impl Imds {
    fn new(
        imds_endpoint: Option<&str>,
        region: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let endpoint = imds_endpoint
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT").ok())
            .unwrap_or_else(|| "http://169.254.169.254".into());
        // The SDK's client panics when it is told to use native roots and none load (a node
        // or chroot without a trust store): then it gets an empty store, and TLS to ECR fails
        // with the certificate named instead.
        let store = if crate::net::client::system_trust_store_is_empty() {
            TrustStore::empty()
        } else {
            TrustStore::default()
        };
        let tls = TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| Error::Imds {
                endpoint: endpoint.clone(),
                reason: format!("TLS setup: {e}"),
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls)
            .build_https();
        let region = Region::new(region.unwrap_or("us-east-1").to_string());
        let provider_config = ProviderConfig::without_region()
            .with_http_client(http.clone())
            .with_region(Some(region.clone()));
        let mut builder = aws_config::imds::Client::builder()
            .configure(&provider_config)
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .max_attempts(2);
        if let Some(e) = imds_endpoint {
            builder = builder.endpoint(e).map_err(|err| Error::Imds {
                endpoint: endpoint.clone(),
                reason: format!("invalid endpoint: {err}"),
            })?;
        }
        Ok(Self {
            client: builder.build(),
            http,
            provider_config,
            region,
            endpoint,
        })
    }

    /// The role name under `iam/security-credentials/`.
    async fn role(&self) -> Result<String, Error> {
        use aws_config::imds::client::error::ImdsError;
        let fail = |reason: String| Error::Imds {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let roles = self
            .client
            .get("/latest/meta-data/iam/security-credentials/")
            .await
            .map_err(|e| match &e {
                ImdsError::ErrorResponse(r) if r.response().status().as_u16() == 404 => fail(
                    "the instance has no IAM role (instance profile) attached: iam/security-credentials/ answered 404".into(),
                ),
                ImdsError::ErrorResponse(r) => fail(format!(
                    "iam/security-credentials/ answered HTTP {}",
                    r.response().status().as_u16()
                )),
                _ => fail(crate::error_text::error_chain(&e)),
            })?;
        let role = roles
            .as_ref()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if role.is_empty() {
            return Err(fail(
                "the instance has no IAM role (instance profile) attached".into(),
            ));
        }
        Ok(role)
    }
}

/// Gets an ECR password as the instance role. `imds_endpoint` overrides
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (the SDK reads that variable otherwise);
/// `AWS_ENDPOINT_URL_ECR` redirects the ECR API as in every AWS SDK.
pub async fn ecr_token(
    host: &EcrHost,
    imds_endpoint: Option<&str>,
    timeout: Duration,
) -> Result<EcrToken, Error> {
    let imds = Imds::new(imds_endpoint, Some(&host.region), timeout)?;
    let role = imds.role().await?;
    let (http, provider_config, region) = (imds.http, imds.provider_config, imds.region);
    let imds = imds.client;
    let credentials = ImdsCredentialsProvider::builder()
        .configure(&provider_config)
        .imds_client(imds)
        .build();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .credentials_provider(credentials)
        .region(region)
        .load()
        .await;
    let ecr_error = |reason: String| Error::Ecr {
        region: host.region.clone(),
        role: role.clone(),
        reason,
    };
    let reply = aws_sdk_ecr::Client::new(&sdk)
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| ecr_error(sdk_error(e)))?;
    let data = reply
        .authorization_data()
        .first()
        .ok_or_else(|| ecr_error("the reply had no authorizationData".into()))?;
    let decoded = data
        .authorization_token()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(Error::BadToken)?;
    let (username, password) = decoded.split_once(':').ok_or(Error::BadToken)?;
    Ok(EcrToken {
        username: username.to_string(),
        password: password.to_string(),
        expires_at: data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok()),
        role,
        region: host.region.clone(),
        proxy_endpoint: data.proxy_endpoint().map(str::to_string),
    })
}

/// An SDK error's code and message (`AccessDeniedException: User … is not authorized …`), else its chain.
fn sdk_error<E, R>(e: aws_sdk_ecr::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecr::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = e.as_service_error() {
        let code = service.code().unwrap_or("error");
        let message = service.message().unwrap_or_default();
        return format!("{code}: {message}");
    }
    crate::error_text::error_chain(&e)
}
