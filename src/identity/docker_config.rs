//! Docker config files as the kubelet decodes them (`pkg/credentialprovider/config.go`):
//! `config.json` / `.dockerconfigjson` (`{"auths": {…}}`) and the legacy `.dockercfg` (the bare
//! map). Go's `encoding/json` rules are kept: field names match case-insensitively, `null` is
//! "absent", an `auth` field (base64 of `user:password`, padded or not) replaces
//! username/password and a bad one fails the whole file. `credHelpers`, `credsStore`,
//! `identitytoken` and `registrytoken` are ignored, as the kubelet ignores them; they are named
//! in [`DockerConfig::ignored`], never their values. Keys are matched by [`super::keyring`].

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// Largest docker config read (the kubelet's own bound for fetched configs).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Why a docker config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("failed to read docker config {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("docker config {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The file is not a docker config.
    #[error("failed to parse docker config {path}: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong (never contains the file's values).
        detail: String,
    },
}

impl Error {
    /// Whether the file does not exist (the kubelet skips such files silently).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Which of the two shapes a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Format {
    /// `config.json` / `.dockerconfigjson`: `{"auths": {KEY: ENTRY}}`.
    ConfigJson,
    /// Legacy `.dockercfg`: `{KEY: ENTRY}`.
    Dockercfg,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::ConfigJson => "config.json format",
            Format::Dockercfg => "legacy .dockercfg format",
        })
    }
}

/// One `auths` entry, after `auth` decoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written in the file.
    pub key: String,
    /// The user name (empty when absent: containerd then sends no credentials).
    pub username: String,
    /// The password (secret).
    pub password: String,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A decoded docker config: entries in key order, plus what was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// The shape it was read as.
    pub format: Format,
    /// The credential entries.
    pub entries: Vec<Entry>,
    /// Fields present but ignored by the kubelet (names only, e.g. `credsStore`).
    pub ignored: Vec<String>,
}

/// Reads a file (at most [`MAX_FILE_BYTES`]).
pub fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let display = path.display().to_string();
    let read_err = |source| Error::Read {
        path: display.clone(),
        source,
    };
    match crate::nodefile::read(path, MAX_FILE_BYTES) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(Error::TooLarge { path: display })
        }
        other => other.map_err(read_err),
    }
}

/// Decodes `bytes` in the given shape; `path` only labels errors.
pub fn parse(path: &str, bytes: &[u8], format: Format) -> Result<DockerConfig, Error> {
    let err = |detail: String| Error::Parse {
        path: path.to_string(),
        detail,
    };
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| err(crate::error_text::json_error(&e)))?;
    let top = match value {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => return Err(err("the top level is not a JSON object".into())),
    };
    let mut ignored = Vec::new();
    let auths = match format {
        Format::ConfigJson => {
            for (name, label) in [("credHelpers", "credHelpers"), ("credsStore", "credsStore")] {
                if field(&top, name).is_some() {
                    ignored.push(format!(
                        "{label} (the kubelet does not run docker credential helpers)"
                    ));
                }
            }
            if let Some(h) = field(&top, "HttpHeaders") {
                check_string_map(h)
                    .map_err(|()| err("HttpHeaders is not a map of strings".into()))?;
            }
            match field(&top, "auths") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(err("auths is not a JSON object".into())),
            }
        }
        Format::Dockercfg => top,
    };
    let mut entries = Vec::new();
    for (raw_key, v) in &auths {
        // Only for messages: a key may carry `user:password@`.
        let key = &super::url_match::display_key(raw_key);
        let e = match v {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            _ => return Err(err(format!("auths[{key:?}] is not a JSON object"))),
        };
        let text = |name: &str| -> Result<String, Error> {
            match field(&e, name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(err(format!("auths[{key:?}].{name} is not a string"))),
            }
        };
        let (mut username, mut password) = (text("username")?, text("password")?);
        text("email")?;
        let auth = text("auth")?;
        if !auth.is_empty() {
            (username, password) = decode_auth(&auth).ok_or_else(|| {
                err(format!(
                    "auths[{key:?}].auth is not base64 of \"username:password\""
                ))
            })?;
        }
        for (name, why) in [
            ("identitytoken", "identitytoken"),
            ("registrytoken", "registrytoken"),
        ] {
            if field(&e, name).is_some() {
                ignored.push(format!(
                    "auths[{key:?}].{why} (the kubelet passes only username and password)"
                ));
            }
        }
        entries.push(Entry {
            key: raw_key.clone(),
            username,
            password,
        });
    }
    Ok(DockerConfig {
        format,
        entries,
        ignored,
    })
}

/// Decodes a file whose shape is not known (a `--docker-config` file): `config.json` when the
/// top level has an `auths` field, else legacy `.dockercfg`.
pub fn parse_sniffed(path: &str, bytes: &[u8]) -> Result<DockerConfig, Error> {
    let format = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) if field(&m, "auths").is_some() => Format::ConfigJson,
        Ok(_) => Format::Dockercfg,
        Err(_) => Format::ConfigJson,
    };
    parse(path, bytes, format)
}

/// Go's `encoding/json` field lookup: an exact match, else a case-insensitive one.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn check_string_map(v: &Value) -> Result<(), ()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) if m.values().all(|x| x.is_string() || x.is_null()) => Ok(()),
        _ => Err(()),
    }
}

/// The kubelet's `decodeDockerConfigFieldAuth`: padded base64 when the trimmed value ends in
/// `=`, unpadded otherwise (Go ignores `\r` and `\n`, and tolerates non-zero trailing bits);
/// then split at the first `:`.
pub fn decode_auth(field: &str) -> Option<(String, String)> {
    let padded = field.trim().ends_with('=');
    let config = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(if padded {
            DecodePaddingMode::RequireCanonical
        } else {
            DecodePaddingMode::RequireNone
        });
    let engine = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let cleaned: String = field.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let decoded = engine.decode(cleaned).ok()?;
    let text = String::from_utf8_lossy(&decoded);
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

#[cfg(test)]
mod tests;
