//! The words registries and runtimes use for one cause, shared by the evidence classifier
//! ([`super::classify`]) and the runtime-message classifier ([`super::runtime_message`]) so the
//! two recognise a cause alike. All lower case: both match them against lower-cased text.

/// An expired registry token, in the registry's words (ECR's "Your authorization token has
/// expired", JWT-based registries' "token is expired").
pub const EXPIRED_TOKEN: [&str; 3] = [
    "authorization token has expired",
    "token has expired",
    "token is expired",
];

/// A 403 that does not say whether the repository exists (ECR, Artifact Registry).
pub const MAY_NOT_EXIST: &str = "or it may not exist";

/// A plain-HTTP request to an HTTPS port, as Go's TLS server and nginx answer it.
pub const PLAIN_HTTP_TO_HTTPS: [&str; 2] = [
    "http request to an https server",
    "plain http request was sent to https port",
];
