//! Decoding one `CredentialProviderConfig` document like apimachinery's strict universal
//! decoder: JSON when the text starts with `{`, else YAML converted to JSON (serde-saphyr, no
//! source snippets in errors); `apiVersion`/`kind` checked first; unknown and duplicate fields
//! are errors; Go's `null` is the zero value. Parser messages have quoted values redacted
//! ([`redact`]) so env values and args never reach an error.

use super::config::{EnvVar, Error, Provider, TokenAttributes, CONFIG_API_VERSIONS};
use crate::duration::go::parse_signed;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProvider {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    match_images: Vec<String>,
    #[serde(default)]
    default_cache_duration: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    env: Vec<EnvVar>,
    #[serde(default)]
    token_attributes: Option<TokenAttributes>,
}

/// JSON when the first non-space byte is `{` (apimachinery's `IsJSONBuffer`), else YAML.
pub fn to_json_value(bytes: &[u8]) -> Result<Value, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(|e| crate::error_text::json_error(&e));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8".to_string())?;
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<Value>(text, options)
        .map_err(|e| format!("invalid YAML: {}", redact(&e.to_string())))
}

pub(super) fn decode(label: &str, bytes: &[u8]) -> Result<Vec<Provider>, Error> {
    let err = |detail: String| Error::Decode {
        path: label.to_string(),
        detail,
    };
    let value = to_json_value(bytes).map_err(err)?;
    let top = match value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return Err(err("the document is not an object".into())),
    };
    let api_version = top.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = top.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version.is_empty() || kind.is_empty() {
        return Err(err(
            "apiVersion and kind are required (kind: CredentialProviderConfig, apiVersion: kubelet.config.k8s.io/v1)".into(),
        ));
    }
    if !CONFIG_API_VERSIONS.contains(&api_version) {
        return Err(err(format!(
            "apiVersion {api_version:?} is not one of {}",
            CONFIG_API_VERSIONS.join(", ")
        )));
    }
    if kind != "CredentialProviderConfig" {
        return Err(err(format!(
            "kind {kind:?} is not CredentialProviderConfig"
        )));
    }
    if let Some(unknown) = top
        .keys()
        .find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "providers"))
    {
        return Err(err(format!("unknown field {unknown:?}")));
    }
    let list = match top.get("providers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(err("providers is not a list".into())),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let raw: RawProvider = serde_json::from_value(v)
                .map_err(|e| err(format!("providers[{i}]: {}", redact(&e.to_string()))))?;
            let parsed = raw
                .default_cache_duration
                .as_deref()
                .map(parse_signed)
                .transpose()
                .map_err(|e| {
                    err(format!(
                        "providers[{i}].defaultCacheDuration: {}",
                        redact(&e)
                    ))
                })?;
            let (default_cache_duration, negative_default) = match parsed {
                Some((false, d)) => (Some(d), false),
                Some((true, _)) => (None, true),
                None => (None, false),
            };
            Ok(Provider {
                name: raw.name,
                match_images: raw.match_images,
                default_cache_duration,
                api_version: raw.api_version,
                args: raw.args,
                env: raw.env,
                token_attributes: raw.token_attributes,
                file: label.to_string(),
                negative_default,
            })
        })
        .collect()
}

/// Go's `null` for a value type: the zero value.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Replaces every double-quoted span of a parser message with `"…"`, so values (an env value,
/// an argument) never reach an error. Field names in backticks are kept.
pub fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    let mut escaped = false;
    for c in msg.chars() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
                out.push_str("…\"");
            }
            continue;
        }
        out.push(c);
        if c == '"' {
            in_quote = true;
        }
    }
    if in_quote {
        out.push_str("…\"");
    }
    out
}
