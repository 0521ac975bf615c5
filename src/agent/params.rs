//! The probe request on the wire: `GET /v1/probe` query ([`ProbeQuery`], parsed by
//! [`from_query`]) or `POST /v1/probe` JSON ([`ProbeBody`], parsed by [`from_json`]), with the
//! same fields, validated into the probe service's [`ProbeRequest`]. Every mistake is a 4xx
//! [`ApiError`] naming the parameter.

use super::error::{ApiError, Code};
use crate::identity::kube_secrets::ObjectRef;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::service::ProbeRequest;
use serde::Deserialize;

/// Longest image reference accepted (a full reference with registry, 255-byte name, tag and
/// digest fits with room to spare).
pub const MAX_IMAGE_BYTES: usize = 1024;

/// Most `secret` references in one request.
pub const MAX_SECRETS: usize = 16;

/// `GET /v1/probe` parameters (documentation of the query; it is parsed by [`from_query`]).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ProbeQuery {
    /// Image reference as the pod spec has it (`nginx`, `ghcr.io/org/app:v1`, `…@sha256:…`).
    #[param(min_length = 1, max_length = 1024, example = "ghcr.io/org/app:v1")]
    pub image: String,
    /// `NAMESPACE/NAME` of a pod whose `imagePullSecrets` the kubelet would use.
    #[param(max_length = 507, example = "team-a/web-0")]
    pub pod: Option<String>,
    /// `NAMESPACE/NAME` of a pull secret, after the pod's; repeat for several.
    #[param(max_items = 16, explode = true)]
    pub secret: Option<Vec<String>>,
    /// Platform to check for, `os/arch[/variant]` (default: the node's).
    #[param(example = "linux/arm64")]
    pub platform: Option<String>,
    /// Also pull through the container runtime (CRI PullImage) and report its verdict.
    pub runtime_pull: Option<bool>,
    /// Skip the answer cache (an identical probe already in flight is still joined).
    pub fresh: Option<bool>,
}

/// `POST /v1/probe` body: the same fields as the query.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeBody {
    /// Image reference as the pod spec has it.
    #[schema(min_length = 1, max_length = 1024, example = "ghcr.io/org/app:v1")]
    pub image: String,
    /// `NAMESPACE/NAME` of a pod whose `imagePullSecrets` the kubelet would use.
    #[serde(default)]
    pub pod: Option<String>,
    /// `NAMESPACE/NAME` of pull secrets, after the pod's, in order.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub secret: Vec<String>,
    /// Platform to check for, `os/arch[/variant]` (default: the node's).
    #[serde(default)]
    pub platform: Option<String>,
    /// Also pull through the container runtime.
    #[serde(default)]
    pub runtime_pull: bool,
    /// Skip the answer cache.
    #[serde(default)]
    pub fresh: bool,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(Code::InvalidParameter, message)
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(invalid(format!(
            "{name}: expected true or false, got {:?}",
            truncate(other)
        ))),
    }
}

/// At most 64 characters of caller input, for messages.
fn truncate(s: &str) -> String {
    crate::bounded::clip(s, 64)
}

/// Parses `image=…&pod=…&secret=…&platform=…&runtimePull=…&fresh=…` (percent-decoded;
/// unknown or repeated single-valued parameters are refused).
pub fn from_query(query: &str) -> Result<ProbeRequest, ApiError> {
    let mut image = None;
    let mut pod = None;
    let mut secrets = Vec::new();
    let mut platform = None;
    let mut runtime_pull = false;
    let mut fresh = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let once = |slot: &Option<String>| {
            if slot.is_some() {
                Err(invalid(format!("{k}: given more than once")))
            } else {
                Ok(())
            }
        };
        match k.as_ref() {
                "image" => {
                    once(&image)?;
                    image = Some(v.into_owned());
                }
                "pod" => {
                    once(&pod)?;
                    pod = Some(v.into_owned());
                }
                "secret" => secrets.push(v.into_owned()),
                "platform" => {
                    once(&platform)?;
                    platform = Some(v.into_owned());
                }
                "runtimePull" => runtime_pull = parse_bool("runtimePull", &v)?,
                "fresh" => fresh = parse_bool("fresh", &v)?,
                other => {
                    return Err(ApiError::new(
                        Code::UnknownParameter,
                        format!(
                            "unknown parameter {:?} (known: image, pod, secret, platform, runtimePull, fresh)",
                            truncate(other)
                        ),
                    ))
                }
            }
    }
    validate(ProbeBody {
        image: image.ok_or_else(|| {
            ApiError::new(
                Code::MissingParameter,
                "image: required (e.g. ?image=nginx)",
            )
        })?,
        pod,
        secret: secrets,
        platform,
        runtime_pull,
        fresh,
    })
}

/// Parses a JSON body (unknown fields refused).
pub fn from_json(body: &[u8]) -> Result<ProbeRequest, ApiError> {
    let parsed: ProbeBody = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "does not match the request schema"
        } else {
            "is not valid JSON"
        };
        ApiError::new(Code::InvalidJson, format!("the body {what}: {e}"))
    })?;
    validate(parsed)
}

fn validate(b: ProbeBody) -> Result<ProbeRequest, ApiError> {
    let image = b.image.trim().to_string();
    if image.is_empty() {
        return Err(ApiError::new(Code::MissingParameter, "image: empty"));
    }
    if image.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::new(
            Code::InvalidImage,
            format!("image: longer than {MAX_IMAGE_BYTES} bytes"),
        ));
    }
    let parsed = ImageRef::parse(&image)
        .map_err(|e| ApiError::new(Code::InvalidImage, format!("image: {e}")))?;
    let object =
        |what: &'static str, s: &str| ObjectRef::parse(what, s).map_err(|e| invalid(e.to_string()));
    let pod = b.pod.as_deref().map(|p| object("pod", p)).transpose()?;
    if b.secret.len() > MAX_SECRETS {
        return Err(invalid(format!("secret: at most {MAX_SECRETS} references")));
    }
    let secrets = b
        .secret
        .iter()
        .map(|s| object("secret", s))
        .collect::<Result<Vec<_>, _>>()?;
    let platform = b
        .platform
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| Platform::parse(p).map_err(|e| invalid(format!("platform: {e}"))))
        .transpose()?;
    Ok(ProbeRequest {
        image,
        parsed,
        pod,
        secrets,
        platform,
        runtime_pull: b.runtime_pull,
        fresh: b.fresh,
        background: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parses_every_field() {
        let p = from_query(
            "image=ghcr.io%2Forg%2Fapp%3Av1&pod=ns%2Fweb-0&secret=ns/a&secret=ns/b&platform=linux/arm64&runtimePull=true&fresh=1",
        )
        .unwrap();
        assert_eq!(p.image, "ghcr.io/org/app:v1");
        assert_eq!(p.pod.unwrap().to_string(), "ns/web-0");
        assert_eq!(p.secrets.len(), 2);
        assert_eq!(p.platform.unwrap().to_string(), "linux/arm64");
        assert!(p.runtime_pull && p.fresh);
    }

    #[test]
    fn bad_queries_are_client_errors() {
        for (q, code) in [
            ("", Code::MissingParameter),
            ("image=", Code::MissingParameter),
            ("image=UPPER/Case", Code::InvalidImage),
            ("image=nginx&image=redis", Code::InvalidParameter),
            ("image=nginx&color=red", Code::UnknownParameter),
            ("image=nginx&pod=nope", Code::InvalidParameter),
            ("image=nginx&secret=a/b/c", Code::InvalidParameter),
            ("image=nginx&platform=%2F%2F", Code::InvalidParameter),
            ("image=nginx&fresh=maybe", Code::InvalidParameter),
        ] {
            let e = from_query(q).unwrap_err();
            assert_eq!(e.code, code, "{q}: {e}");
            assert!(e.code.status().is_client_error());
        }
    }

    #[test]
    fn json_refuses_unknown_fields_and_bad_types() {
        let p = from_json(br#"{"image":"nginx","secret":["a/b"],"fresh":true}"#).unwrap();
        assert_eq!(p.secrets[0].to_string(), "a/b");
        for body in [
            &br#"{"image":"nginx","colour":1}"#[..],
            br#"{"image":5}"#,
            br#"{"#,
            br#"[]"#,
            br#"{}"#,
        ] {
            assert_eq!(from_json(body).unwrap_err().code, Code::InvalidJson);
        }
    }

    #[test]
    fn query_and_body_name_the_same_probe() {
        let a = from_query("image=nginx&secret=ns/a").unwrap();
        let b = from_json(br#"{"image":"nginx","secret":["ns/a"]}"#).unwrap();
        assert_eq!(a.key(), b.key());
        let c = from_query("image=nginx&secret=ns/b").unwrap();
        assert_ne!(a.key(), c.key());
        let d = from_query("image=nginx&secret=ns/a&fresh=true").unwrap();
        assert_eq!(a.key(), d.key(), "fresh does not change what is probed");
        assert!(!a.background, "a request is never background work");
    }
}
