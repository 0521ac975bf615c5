//! `WWW-Authenticate` parsing (RFC 7235 auth-params): Bearer realm/service/scope/error, Basic.

use serde::Serialize;

/// A parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Scheme, lower-cased (`bearer`, `basic`, …).
    pub scheme: String,
    /// `realm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// `service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `error` (e.g. `insufficient_scope`, `invalid_token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Challenge {
    /// Whether this is a Bearer (token) challenge.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }
}

/// Parses the first challenge of a header value; `None` when there is no scheme at all.
pub fn parse(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = match value.find(|c: char| c.is_whitespace()) {
        Some(i) => (&value[..i], value[i..].trim_start()),
        None => (value, ""),
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return None;
    }
    let mut ch = Challenge {
        scheme: scheme.to_ascii_lowercase(),
        realm: None,
        service: None,
        scope: None,
        error: None,
    };
    for (k, v) in params(rest) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => ch.realm = Some(v),
            "service" => ch.service = Some(v),
            "scope" => ch.scope = Some(v),
            "error" => ch.error = Some(v),
            _ => {}
        }
    }
    Some(ch)
}

/// `key=value` or `key="quoted \" value"` pairs separated by commas.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i] == ',' || chars[i].is_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ',' {
            i += 1;
        }
        let key: String = chars[start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        if i >= chars.len() || chars[i] != '=' {
            continue;
        }
        i += 1;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut val = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                val.push(chars[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && chars[i] != ',' {
                val.push(chars[i]);
                i += 1;
            }
            val = val.trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer_with_error() {
        let c = parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull",error="insufficient_scope""#).unwrap();
        assert!(c.is_bearer());
        assert_eq!(c.realm.as_deref(), Some("https://auth.docker.io/token"));
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:library/x:pull"));
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn basic_unquoted_and_odd_spacing() {
        let c = parse("Basic realm=registry").unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.realm.as_deref(), Some("registry"));
        let c = parse(r#"bearer  realm = "a\"b" , scope="x,y""#).unwrap();
        assert_eq!(c.realm.as_deref(), Some("a\"b"));
        assert_eq!(c.scope.as_deref(), Some("x,y"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "",
            "   ",
            "=",
            "Bearer",
            "Bearer realm=\"unterminated",
            "Bearer ,,,==,\"",
            "\u{7f}\u{0}x y",
            "Bearer a=\"\\",
        ] {
            let _ = parse(s);
        }
        assert!(parse("").is_none());
        assert!(parse("Bearer").unwrap().realm.is_none());
    }
}
