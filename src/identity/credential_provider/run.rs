//! One exec of a credential-provider plugin, as the kubelet's `execPlugin` does it:
//! `<bin-dir>/<name> args…` with the kubelet's environment plus the configured `env` (which
//! wins), a `CredentialProviderRequest` for the tagless image on stdin, a time limit (60 s by
//! default) after which the plugin's whole process group is killed, stdout and stderr bounded.
//! The response must be JSON with the configured `apiVersion`, kind
//! `CredentialProviderResponse`, no unknown fields, a valid `cacheKeyType` and a Go
//! `cacheDuration`. Errors are structural: stdout is never quoted (it may hold secrets); a
//! bounded tail of stderr is. See [`exec`].

use super::config::{redact, Provider};
use super::process::{check_binary, describe, kill_group, read_bounded, spawn, stderr_excerpt};
use crate::duration::go::parse_signed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The kubelet's fixed plugin time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest stdout accepted.
pub const STDOUT_LIMIT: usize = 1024 * 1024;
/// Largest stderr kept (the tail is quoted in errors).
pub const STDERR_LIMIT: usize = 64 * 1024;
/// Characters of stderr quoted in an error.
pub(super) const STDERR_QUOTED: usize = 400;

/// How one plugin run failed (the kubelet then uses no credentials from it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `<bin-dir>/<name>` is missing or not an executable file.
    #[error("plugin binary {path} {why}")]
    Binary {
        /// The expected path.
        path: String,
        /// `does not exist`, `is not executable`, …
        why: String,
    },
    /// It could not be started.
    #[error("failed to exec plugin binary {path}")]
    Spawn {
        /// The binary.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than the limit and was killed.
    #[error("timed out after {after:?} and was killed{stderr}")]
    Timeout {
        /// The limit.
        after: Duration,
        /// `: stderr: …` or empty.
        stderr: String,
    },
    /// It exited unsuccessfully.
    #[error("exited with {status}{stderr}")]
    Exit {
        /// `status 3` or `signal 9`.
        status: String,
        /// `: stderr: …` or empty.
        stderr: String,
    },
    /// Its stdout was larger than [`STDOUT_LIMIT`].
    #[error("wrote more than {STDOUT_LIMIT} bytes to stdout")]
    TooLarge,
    /// Stdout is not a JSON object with `apiVersion` and `kind`.
    #[error("error reading apiVersion/kind from its stdout: {detail}")]
    NotJson {
        /// Structural detail (position, never content).
        detail: String,
    },
    /// The response's apiVersion is not the configured one.
    #[error("apiVersion of its response {actual:?} does not match the configured {expected:?}")]
    ApiVersion {
        /// The configured version.
        expected: String,
        /// What it answered (truncated).
        actual: String,
    },
    /// The response does not decode (unknown field, wrong kind or type, bad duration).
    #[error("error decoding its response: {detail}")]
    Decode {
        /// Structural detail (quoted values redacted).
        detail: String,
    },
}

/// Which cache key the response applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum CacheKeyType {
    /// The image (`registry/repository`).
    Image,
    /// The registry host (with port).
    Registry,
    /// Every image.
    Global,
}

/// One `auth` entry of a response (secret redacted in `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthEntry {
    /// The key (a `matchImages`-style pattern).
    pub key: String,
    /// The user name.
    pub username: String,
    /// The password or token (secret).
    pub password: String,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("key", &self.key)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A validated response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `Image`, `Registry` or `Global`.
    pub cache_key_type: CacheKeyType,
    /// `cacheDuration` as (negative, magnitude); `None` means the provider's default.
    pub cache_duration: Option<(bool, Duration)>,
    /// The credentials, in key order.
    pub auth: Vec<AuthEntry>,
}

/// Where and how plugins run.
#[derive(Debug, Clone)]
pub struct ExecEnv<'a> {
    /// `--image-credential-provider-bin-dir`.
    pub bin_dir: &'a Path,
    /// The environment inherited (the kubelet's, else pullcheck's).
    pub base_env: &'a [(String, String)],
    /// Time limit.
    pub timeout: Duration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    kind: &'static str,
    api_version: &'a str,
    image: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawResponse {
    #[allow(dead_code)]
    api_version: String,
    kind: String,
    #[serde(default)]
    cache_key_type: Option<String>,
    #[serde(default)]
    cache_duration: Option<String>,
    #[serde(default)]
    auth: Option<BTreeMap<String, Option<RawAuth>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The request the kubelet writes on the plugin's stdin for `repo` (tagless).
pub fn request_json(api_version: &str, repo: &str) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Request {
        kind: "CredentialProviderRequest",
        api_version,
        image: repo,
    })
    .unwrap_or_default();
    out.push(b'\n');
    out
}

/// Runs `provider` for `repo` and validates its response.
pub async fn exec(provider: &Provider, repo: &str, env: &ExecEnv<'_>) -> Result<Response, Error> {
    let bin = env.bin_dir.join(&provider.name);
    check_binary(&bin)?;
    let mut vars: Vec<(String, String)> = env.base_env.to_vec();
    vars.extend(
        provider
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone())),
    );
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(&provider.args)
        .env_clear()
        .envs(vars)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = spawn(&mut cmd).await.map_err(|source| Error::Spawn {
        path: bin.display().to_string(),
        source,
    })?;
    let pid = child.id();
    let request = request_json(&provider.api_version, repo);
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stderr_buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let outcome = {
        let write = async move {
            if let Some(mut s) = stdin {
                // A plugin that exits without reading stdin is fine (Go ignores EPIPE too).
                let _ = s.write_all(&request).await;
                let _ = s.shutdown().await;
            }
        };
        let err_sink = stderr_buf.clone();
        let work = async {
            let (_, out, _, status) = tokio::join!(
                write,
                read_bounded(stdout, STDOUT_LIMIT, None),
                read_bounded(stderr, STDERR_LIMIT, Some(err_sink)),
                child.wait()
            );
            (out, status)
        };
        tokio::time::timeout(env.timeout, work).await
    };
    // Whatever happened, nothing of the plugin may outlive this call.
    kill_group(pid);
    let stderr_tail = || stderr_excerpt(&stderr_buf.lock().map(|b| b.clone()).unwrap_or_default());
    let (out, status) = match outcome {
        Err(_) => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            return Err(Error::Timeout {
                after: env.timeout,
                stderr: stderr_tail(),
            });
        }
        Ok(v) => v,
    };
    let status = status.map_err(|source| Error::Spawn {
        path: bin.display().to_string(),
        source,
    })?;
    if !status.success() {
        return Err(Error::Exit {
            status: describe(status),
            stderr: stderr_tail(),
        });
    }
    let (stdout, overflow) = out;
    if overflow {
        return Err(Error::TooLarge);
    }
    parse_response(&stdout, &provider.api_version)
}

/// Validates a response body like the kubelet: apiVersion/kind read first, the apiVersion
/// compared with the configured one, then a strict decode.
pub fn parse_response(stdout: &[u8], api_version: &str) -> Result<Response, Error> {
    let value: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| Error::NotJson {
        detail: crate::error_text::json_error(&e),
    })?;
    let Some(obj) = value.as_object() else {
        return Err(Error::NotJson {
            detail: "not a JSON object".into(),
        });
    };
    let actual = obj
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if actual != api_version {
        return Err(Error::ApiVersion {
            expected: api_version.to_string(),
            actual: actual.chars().take(80).collect(),
        });
    }
    let raw: RawResponse = serde_json::from_value(value).map_err(|e| Error::Decode {
        detail: redact(&e.to_string()),
    })?;
    if raw.kind != "CredentialProviderResponse" {
        return Err(Error::Decode {
            detail: format!(
                "kind {:?} is not CredentialProviderResponse",
                raw.kind.chars().take(80).collect::<String>()
            ),
        });
    }
    let cache_key_type = match raw.cache_key_type.as_deref().unwrap_or("") {
        "Image" => CacheKeyType::Image,
        "Registry" => CacheKeyType::Registry,
        "Global" => CacheKeyType::Global,
        other => {
            return Err(Error::Decode {
                detail: format!(
                    "cacheKeyType {:?} is not Image, Registry or Global",
                    other.chars().take(40).collect::<String>()
                ),
            })
        }
    };
    let cache_duration = raw
        .cache_duration
        .as_deref()
        .map(parse_signed)
        .transpose()
        .map_err(|e| Error::Decode {
            detail: format!("cacheDuration: {}", redact(&e)),
        })?;
    let auth = raw
        .auth
        .unwrap_or_default()
        .into_iter()
        .map(|(key, a)| {
            let a = a.unwrap_or_default();
            AuthEntry {
                key,
                username: a.username.unwrap_or_default(),
                password: a.password.unwrap_or_default(),
            }
        })
        .collect();
    Ok(Response {
        cache_key_type,
        cache_duration,
        auth,
    })
}

#[cfg(test)]
mod tests;
