//! TokenReview (`authentication.k8s.io/v1`) and SubjectAccessReview
//! (`authorization.k8s.io/v1`), answered as the real API server answers them: the review sent
//! back with its `status` filled, 201. A token is authenticated as the user
//! [`KubeFake::authenticate`](super::KubeFake::authenticate) gave it, any other is not; a user
//! is allowed what [`KubeFake::allow`](super::KubeFake::allow) named, anyone else nothing.
//! Every review is kept for assertions.

use serde_json::{json, Value};
use std::collections::HashMap;

pub const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
pub const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// Who is who, and what was asked.
#[derive(Default)]
pub struct Reviewer {
    /// Token → the `user` object a TokenReview answers.
    pub users: HashMap<String, Value>,
    /// User name → the reason an allowed SubjectAccessReview gives.
    pub allowed: HashMap<String, String>,
    /// Every review received, by kind (`TokenReview`, `SubjectAccessReview`).
    pub seen: Vec<(String, Value)>,
}

impl Reviewer {
    /// The answer to a review POSTed to `path`, or `None` for another path.
    pub fn answer(&mut self, path: &str, body: Value) -> Option<(u16, Value)> {
        let (kind, api_version) = match path {
            TOKEN_REVIEWS => ("TokenReview", "authentication.k8s.io/v1"),
            ACCESS_REVIEWS => ("SubjectAccessReview", "authorization.k8s.io/v1"),
            _ => return None,
        };
        if body["kind"] != kind || body["apiVersion"] != api_version {
            return Some((
                400,
                super::status(
                    400,
                    "BadRequest",
                    &format!("expected a {kind} of {api_version}"),
                    json!({}),
                ),
            ));
        }
        self.seen.push((kind.to_string(), body.clone()));
        let mut out = body.clone();
        if kind == "TokenReview" {
            let user = body["spec"]["token"]
                .as_str()
                .and_then(|t| self.users.get(t));
            out["status"] = match user {
                Some(u) => json!({"authenticated": true, "user": u}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            };
            out["metadata"] = json!({"creationTimestamp": null});
        } else {
            let user = body["spec"]["user"].as_str().unwrap_or("");
            out["status"] = match self.allowed.get(user) {
                Some(reason) => json!({"allowed": true, "reason": reason}),
                None => json!({"allowed": false, "reason": "no RBAC policy matched"}),
            };
        }
        Some((201, out))
    }
}
