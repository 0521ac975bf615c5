//! `validateCredentialProviderConfig`: every rule the kubelet checks before it starts, reported
//! together, kubelet style (`providers.name: Invalid value: …`). Env values and args are never
//! quoted. The `KubeletServiceAccountTokenForCredentialProviders` gate is assumed on (the
//! default since 1.34). See [`validate`].

use super::config::{match_image_error, ProviderConfig, PLUGIN_API_VERSIONS};

/// All validation errors, empty when the config is valid.
pub fn validate(config: &ProviderConfig) -> Vec<String> {
    let mut errs = Vec::new();
    if config.providers.is_empty() {
        errs.push("providers: Required value: at least 1 item in plugins is required".into());
    }
    let mut seen: Vec<&str> = Vec::new();
    for p in &config.providers {
        let name = p.name.as_str();
        for (bad, why) in [
            (name.contains('/'), "provider name cannot contain '/'"),
            (name.contains(' '), "provider name cannot contain spaces"),
            (name == ".", "provider name cannot be '.'"),
            (name == "..", "provider name cannot be '..'"),
        ] {
            if bad {
                errs.push(format!("providers.name: Invalid value: {name:?}: {why}"));
            }
        }
        if seen.contains(&name) {
            errs.push(format!("providers.name: Duplicate value: {name:?}"));
        }
        seen.push(name);
        if p.api_version.is_empty() {
            errs.push(format!("providers[{name}].apiVersion: Required value"));
        } else if !PLUGIN_API_VERSIONS.contains(&p.api_version.as_str()) {
            let mut supported = PLUGIN_API_VERSIONS.to_vec();
            supported.sort_unstable();
            errs.push(format!(
                "providers[{name}].apiVersion: Unsupported value: {:?}: supported values: {}",
                p.api_version,
                supported.join(", ")
            ));
        }
        if p.match_images.is_empty() {
            errs.push(format!(
                "providers[{name}].matchImages: Required value: at least 1 item in matchImages is required"
            ));
        }
        for m in &p.match_images {
            if let Some(e) = match_image_error(m) {
                errs.push(format!(
                    "providers[{name}].matchImages: Invalid value: {m:?}: match image is invalid: {e}"
                ));
            }
        }
        if p.negative_default_cache_duration() {
            errs.push(format!(
                "providers[{name}].defaultCacheDuration: Invalid value: must be greater than or equal to 0"
            ));
        } else if p.default_cache_duration.is_none() {
            errs.push(format!(
                "providers[{name}].defaultCacheDuration: Required value"
            ));
        }
        if let Some(t) = &p.token_attributes {
            let path = format!("providers[{name}].tokenAttributes");
            if t.service_account_token_audience.is_empty() {
                errs.push(format!(
                    "{path}.serviceAccountTokenAudience: Required value"
                ));
            }
            if t.require_service_account.is_none() {
                errs.push(format!("{path}.requireServiceAccount: Required value"));
            }
            if p.api_version != PLUGIN_API_VERSIONS[0] {
                errs.push(format!(
                    "{path}: Forbidden: tokenAttributes is only supported for {} API version",
                    PLUGIN_API_VERSIONS[0]
                ));
            }
            if t.require_service_account == Some(false)
                && !t.required_service_account_annotation_keys.is_empty()
            {
                errs.push(format!(
                    "{path}.requiredServiceAccountAnnotationKeys: Forbidden: requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set"
                ));
            }
            for (field, keys) in [
                (
                    "requiredServiceAccountAnnotationKeys",
                    &t.required_service_account_annotation_keys,
                ),
                (
                    "optionalServiceAccountAnnotationKeys",
                    &t.optional_service_account_annotation_keys,
                ),
            ] {
                let mut seen_keys: Vec<&str> = Vec::new();
                for k in keys {
                    if let Some(why) = qualified_name_error(&k.to_lowercase()) {
                        errs.push(format!("{path}.{field}: Invalid value: {k:?}: {why}"));
                    }
                    if seen_keys.contains(&k.as_str()) {
                        errs.push(format!("{path}.{field}: Duplicate value: {k:?}"));
                    }
                    seen_keys.push(k);
                }
            }
            let mut both: Vec<&String> = t
                .required_service_account_annotation_keys
                .iter()
                .filter(|k| t.optional_service_account_annotation_keys.contains(k))
                .collect();
            both.sort();
            both.dedup();
            if !both.is_empty() {
                errs.push(format!(
                    "{path}: Invalid value: {both:?}: annotation keys cannot be both required and optional"
                ));
            }
            match t.cache_type.as_str() {
                "" => errs.push(format!(
                    "{path}.cacheType: Required value: cacheType is required to be set when tokenAttributes is specified. Supported values are: ServiceAccount, Token"
                )),
                "ServiceAccount" | "Token" => {}
                other => errs.push(format!(
                    "{path}.cacheType: Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"Token\""
                )),
            }
        }
    }
    errs
}

/// apimachinery's `IsQualifiedName`: `[prefix/]name`, prefix a DNS-1123 subdomain (≤ 253),
/// name ≤ 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
pub fn qualified_name_error(value: &str) -> Option<String> {
    let (prefix, name) = match value.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    if name.contains('/') {
        return Some("a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'".into());
    }
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if p.len() > 253 || !p.split('.').all(label_ok) {
            return Some("prefix part must be a lowercase RFC 1123 subdomain".into());
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = name.as_bytes();
    if !bytes.iter().all(|b| ok_char(*b))
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return Some("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
    }
    None
}
