//! Where a configuration value comes from: flags or environment (clap already merged those),
//! else the `--config` file, else the default; and the value parsers shared by the keys. Every
//! failure names its key, the value and where it came from.

use super::Error;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The largest agent configuration file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// A flag or its environment variable.
    Args,
    /// The config file.
    File(PathBuf),
    /// The built-in default.
    Default,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::Args => f.write_str("flag or environment"),
            ConfigOrigin::File(p) => write!(f, "{}", p.display()),
            ConfigOrigin::Default => f.write_str("default"),
        }
    }
}

/// The config file, if any, read and checked for unknown keys.
#[derive(Debug, Default)]
pub struct Sources {
    file: Option<(PathBuf, toml::Table)>,
}

impl Sources {
    /// Reads `path` (TOML) if given; unknown keys and unusable value types are errors.
    pub fn read(path: Option<&Path>, keys: &[&str]) -> Result<Self, Error> {
        let Some(path) = path else {
            return Ok(Sources::default());
        };
        let file_error = |problem: String| Error::File {
            path: path.to_path_buf(),
            problem,
        };
        let text = crate::nodefile::read_string(path, MAX_FILE_BYTES)
            .map_err(|e| file_error(e.to_string()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.message().to_string()))?;
        for (k, v) in &table {
            if !keys.contains(&k.as_str()) {
                return Err(Error::Invalid {
                    key: k.clone(),
                    value: String::new(),
                    origin: ConfigOrigin::File(path.to_path_buf()),
                    problem: "unknown key".into(),
                });
            }
            let scalar = |v: &toml::Value| {
                matches!(
                    v,
                    toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Boolean(_)
                )
            };
            let ok = match v {
                toml::Value::Array(items) => items.iter().all(scalar),
                other => scalar(other),
            };
            if !ok {
                return Err(Error::Invalid {
                    key: k.clone(),
                    value: v.to_string(),
                    origin: ConfigOrigin::File(path.to_path_buf()),
                    problem: "expected a string, number, boolean or a list of them".into(),
                });
            }
        }
        Ok(Sources {
            file: Some((path.to_path_buf(), table)),
        })
    }

    fn file_value(&self, key: &str) -> Option<(&Path, &toml::Value)> {
        let (path, table) = self.file.as_ref()?;
        table.get(key).map(|v| (path.as_path(), v))
    }

    /// A single value: from the args, else the file.
    pub fn scalar(&self, key: &str, args: Option<&str>) -> Option<(String, ConfigOrigin)> {
        if let Some(v) = args {
            return Some((v.to_string(), ConfigOrigin::Args));
        }
        let (path, v) = self.file_value(key)?;
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
            other => text(other),
        };
        Some((text, ConfigOrigin::File(path.to_path_buf())))
    }

    /// A list: the args if any were given, else the file's (a list, or one value).
    pub fn list(&self, key: &str, args: &[String]) -> (Vec<String>, ConfigOrigin) {
        if !args.is_empty() {
            let items = args
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            return (items, ConfigOrigin::Args);
        }
        match self.file_value(key) {
            Some((path, toml::Value::Array(items))) => (
                items.iter().map(text).collect(),
                ConfigOrigin::File(path.to_path_buf()),
            ),
            Some((path, v)) => (vec![text(v)], ConfigOrigin::File(path.to_path_buf())),
            None => (Vec::new(), ConfigOrigin::Default),
        }
    }

    /// A value parsed with `parse`, falling back to `default` (which must parse).
    pub fn get<T>(
        &self,
        key: &'static str,
        args: Option<&str>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, Error> {
        let (value, origin) = self
            .scalar(key, args)
            .unwrap_or_else(|| (default.to_string(), ConfigOrigin::Default));
        parse(&value).map_err(|problem| Error::Invalid {
            key: key.to_string(),
            value,
            origin,
            problem,
        })
    }

    /// An optional value parsed with `parse`.
    pub fn opt<T>(
        &self,
        key: &'static str,
        args: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        match self.scalar(key, args) {
            None => Ok(None),
            Some((value, origin)) => parse(&value).map(Some).map_err(|problem| Error::Invalid {
                key: key.to_string(),
                value,
                origin,
                problem,
            }),
        }
    }

    /// An optional path.
    pub fn path(&self, key: &'static str, args: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = args {
            return Some(p.to_path_buf());
        }
        self.scalar(key, None).map(|(v, _)| PathBuf::from(v))
    }

    /// Every item of a list parsed with `parse`.
    pub fn parse_list<T>(
        &self,
        key: &'static str,
        args: &[String],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Error> {
        let (items, origin) = self.list(key, args);
        items
            .into_iter()
            .map(|v| {
                parse(&v).map_err(|problem| Error::Invalid {
                    key: key.to_string(),
                    value: v.clone(),
                    origin: origin.clone(),
                    problem,
                })
            })
            .collect()
    }
}

fn text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `host:port` with an IP address (`[::1]:8740` for IPv6).
pub fn addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        "expected IP:PORT, e.g. 127.0.0.1:8740 or [::1]:8740 (port 0 picks a free one)".to_string()
    })
}

/// An address, or `off`.
pub fn addr_or_off(s: &str) -> Result<Option<SocketAddr>, String> {
    match s.trim() {
        "off" | "" => Ok(None),
        other => addr(other).map(Some).map_err(|e| format!("{e}, or off")),
    }
}

/// An integer between `min` and `max`.
pub fn count(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |s| {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| "not a whole number".to_string())?;
        if n < min || n > max {
            return Err(format!("must be between {min} and {max}"));
        }
        Ok(n)
    }
}

/// A non-empty word of `[a-z0-9.-]` (DNS-1123 subdomain characters).
pub fn dns_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty()
        || s.len() > 253
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err("expected a lowercase DNS name ([a-z0-9.-], at most 253 characters)".into());
    }
    Ok(s.to_string())
}
