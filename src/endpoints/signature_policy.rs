//! CRI-O's signature policy, as containers/image applies it: `/etc/containers/policy.json` (the
//! requirements for the image's scope) and `/etc/containers/registries.d/*.yaml` (where
//! signatures are looked for). [`Policy::decide`] says whether a pull would be refused for want
//! of a signature before any signature is verified: `reject`; `signedBy` with no lookaside
//! configured, or whose `file://` lookaside has no signature for the digest; `sigstoreSigned`
//! when sigstore attachments are off for the scope. Signatures that exist are not verified
//! here (no keys are read): the report says so.
//!
//! Scopes are matched as containers/image does for `docker://`: `name:tag` (or `name@digest`),
//! then `name`, then each parent namespace, the host, `*.` wildcards of the host's parent
//! domains, the transport's `""` entry, and last `default`.

use super::{Error, Result};
use crate::reference::ImageRef;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// CRI-O's default policy file.
pub const DEFAULT_POLICY: &str = "/etc/containers/policy.json";
/// containers/image's default registries.d.
pub const DEFAULT_REGISTRIES_D: &str = "/etc/containers/registries.d";

#[derive(Deserialize)]
struct RawPolicy {
    default: Vec<serde_json::Value>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<serde_json::Value>>>,
}

/// One requirement, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `insecureAcceptAnything`.
    Accept,
    /// `reject`.
    Reject,
    /// `signedBy` (simple signing), with the key it names.
    SignedBy(String),
    /// `sigstoreSigned`, with the key it names.
    SigstoreSigned(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawLookaside {
    lookaside: Option<String>,
    /// The older name of `lookaside`.
    sigstore: Option<String>,
    use_sigstore_attachments: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawRegistriesD {
    default_docker: Option<RawLookaside>,
    #[serde(default)]
    docker: BTreeMap<String, RawLookaside>,
}

/// What CRI-O would do about signatures for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No requirement refuses it (`insecureAcceptAnything`, or signatures that exist).
    Accept {
        /// A signature is required and one exists; it is not verified here.
        unverified: Option<String>,
    },
    /// The pull is refused.
    Rejected {
        /// The scope whose requirements apply (`default` for the default).
        scope: String,
        /// Why, naming the requirement.
        why: String,
    },
}

/// policy.json and registries.d, read.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The policy file read (`None`: none, accept anything — CRI-O refuses to pull then, but
    /// that is a start-up failure, said in the note).
    pub file: Option<String>,
    default: Vec<Requirement>,
    docker: BTreeMap<String, Vec<Requirement>>,
    lookaside_default: Option<(String, Option<bool>)>,
    lookaside: BTreeMap<String, (Option<String>, Option<bool>)>,
}

fn invalid(path: &Path, detail: String) -> Error {
    Error::Invalid {
        path: path.display().to_string(),
        detail,
    }
}

fn requirement(path: &Path, scope: &str, v: &serde_json::Value) -> Result<Requirement> {
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let key = || {
        ["keyPath", "keyPaths", "keyData", "fulcio"]
            .iter()
            .find_map(|k| v.get(*k).map(|x| format!("{k} {x}")))
            .unwrap_or_else(|| "no key".into())
    };
    Ok(match kind {
        "insecureAcceptAnything" => Requirement::Accept,
        "reject" => Requirement::Reject,
        "signedBy" => Requirement::SignedBy(key()),
        "sigstoreSigned" => Requirement::SigstoreSigned(key()),
        other => {
            return Err(invalid(
                path,
                format!(
                    "scope {scope:?}: unknown policy requirement type {:?}: containers/image refuses the whole policy, so CRI-O fails every pull",
                    crate::bounded::clip(other, 64)
                ),
            ))
        }
    })
}

fn requirements(path: &Path, scope: &str, list: &[serde_json::Value]) -> Result<Vec<Requirement>> {
    if list.is_empty() {
        return Err(invalid(
            path,
            format!("scope {scope:?} has no requirements: containers/image refuses the policy"),
        ));
    }
    list.iter().map(|v| requirement(path, scope, v)).collect()
}

impl Policy {
    /// Reads the policy (`None`: CRI-O's default path; a missing default is no policy) and
    /// registries.d (`None`: the default directory; missing is none).
    pub fn read(policy: Option<&Path>, registries_d: Option<&Path>) -> Result<Self> {
        let path = policy.map_or_else(|| PathBuf::from(DEFAULT_POLICY), Path::to_path_buf);
        let mut out = Policy::default();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let raw: RawPolicy = serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(
                        &path,
                        format!(
                            "{} at line {}: CRI-O fails every pull with an unreadable policy",
                            crate::error_text::json_error(&e),
                            e.line()
                        ),
                    )
                })?;
                out.file = Some(path.display().to_string());
                out.default = requirements(&path, "default", &raw.default)?;
                if let Some(docker) = raw.transports.get("docker") {
                    for (scope, list) in docker {
                        out.docker
                            .insert(scope.clone(), requirements(&path, scope, list)?);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && policy.is_none() => {}
            Err(source) => {
                return Err(Error::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
        let dir =
            registries_d.map_or_else(|| PathBuf::from(DEFAULT_REGISTRIES_D), Path::to_path_buf);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| Error::Read {
                path: f.display().to_string(),
                source,
            })?;
            let raw: RawRegistriesD = serde_saphyr::from_str(&text)
                .map_err(|e| invalid(&f, format!("not a registries.d file: {e}")))?;
            if let Some(d) = raw.default_docker {
                if out.lookaside_default.is_some() {
                    return Err(invalid(
                        &f,
                        "default-docker is defined in more than one registries.d file".into(),
                    ));
                }
                out.lookaside_default = d
                    .lookaside
                    .or(d.sigstore)
                    .map(|l| (l, d.use_sigstore_attachments))
                    .or(Some((String::new(), d.use_sigstore_attachments)));
            }
            for (scope, l) in raw.docker {
                out.lookaside.insert(
                    scope,
                    (l.lookaside.or(l.sigstore), l.use_sigstore_attachments),
                );
            }
        }
        Ok(out)
    }

    /// The scopes tried for an image, most specific first (without `""` and `default`).
    pub fn scopes(image: &ImageRef) -> Vec<String> {
        let name = image.name();
        let mut out = vec![match &image.digest {
            Some(d) => format!("{name}@{d}"),
            None => format!("{name}:{}", image.tag.as_deref().unwrap_or("latest")),
        }];
        let mut cur = name.as_str();
        loop {
            out.push(cur.to_string());
            match cur.rfind('/') {
                Some(i) => cur = &cur[..i],
                None => break,
            }
        }
        let host = crate::reference::host_without_port(&image.registry);
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            out.push(format!("*.{parent}"));
            rest = parent;
        }
        out
    }

    /// What CRI-O's policy does for `image` at `digest` (the manifest digest the probe read).
    pub fn decide(&self, image: &ImageRef, digest: Option<&str>) -> Decision {
        let Some(at) = self.file.as_deref() else {
            return Decision::Accept { unverified: None };
        };
        let scopes = Self::scopes(image);
        let (scope, reqs) = scopes
            .iter()
            .find_map(|s| self.docker.get(s).map(|r| (s.clone(), r)))
            .or_else(|| self.docker.get("").map(|r| ("docker \"\"".to_string(), r)))
            .unwrap_or(("default".to_string(), &self.default));
        let mut unverified = Vec::new();
        for r in reqs {
            let refused = |why: String| Decision::Rejected {
                scope: scope.clone(),
                why: format!("{at}, scope {scope:?}: {why}"),
            };
            match r {
                Requirement::Accept => {}
                Requirement::Reject => return refused("the requirement is reject".into()),
                Requirement::SignedBy(key) => match self.lookaside_for(&scopes) {
                    (None, _) => {
                        return refused(format!(
                            "signedBy ({key}) requires a signature, and registries.d configures no lookaside for this image, so containers/image finds none"
                        ))
                    }
                    (Some(l), _) => match file_signature(&l, image, digest) {
                        Some(false) => {
                            return refused(format!(
                                "signedBy ({key}) requires a signature, and the lookaside {l} has none for this digest"
                            ))
                        }
                        _ => unverified.push(format!(
                            "signedBy ({key}): signatures are looked up at {l}; pullcheck does not verify them"
                        )),
                    },
                },
                Requirement::SigstoreSigned(key) => {
                    if self.lookaside_for(&scopes).1 != Some(true) {
                        return refused(format!(
                            "sigstoreSigned ({key}) requires a sigstore signature, and use-sigstore-attachments is not on for this image in registries.d, so containers/image looks for none"
                        ));
                    }
                    unverified.push(format!(
                        "sigstoreSigned ({key}): the registry's sigstore attachments are read; pullcheck does not verify them"
                    ));
                }
            }
        }
        Decision::Accept {
            unverified: (!unverified.is_empty()).then(|| unverified.join("; ")),
        }
    }

    /// The lookaside URL and `use-sigstore-attachments` of the most specific registries.d
    /// entry, else `default-docker`.
    fn lookaside_for(&self, scopes: &[String]) -> (Option<String>, Option<bool>) {
        match scopes.iter().find_map(|s| self.lookaside.get(s)) {
            Some((l, a)) => (l.clone(), *a),
            None => match &self.lookaside_default {
                Some((l, a)) => ((!l.is_empty()).then(|| l.clone()), *a),
                None => (None, None),
            },
        }
    }

    /// One line for `pullcheck node`.
    pub fn summary(&self) -> String {
        let Some(f) = &self.file else {
            return format!("no {DEFAULT_POLICY} (CRI-O needs one to pull)");
        };
        let name = |r: &Requirement| match r {
            Requirement::Accept => "insecureAcceptAnything".to_string(),
            Requirement::Reject => "reject".to_string(),
            Requirement::SignedBy(_) => "signedBy".to_string(),
            Requirement::SigstoreSigned(_) => "sigstoreSigned".to_string(),
        };
        let list = |rs: &[Requirement]| rs.iter().map(name).collect::<Vec<_>>().join("+");
        let mut parts = vec![format!("default {}", list(&self.default))];
        parts.extend(
            self.docker
                .iter()
                .map(|(s, r)| format!("{s:?} {}", list(r))),
        );
        format!("{f}: {}", parts.join(", "))
    }
}

/// For a `file://` lookaside: whether `signature-1` exists for the digest (containers/image's
/// layout `<base>/<repository>@<algo>=<hex>/signature-1`); `None` for other schemes or without
/// a digest (not checked).
fn file_signature(lookaside: &str, image: &ImageRef, digest: Option<&str>) -> Option<bool> {
    let base = lookaside.strip_prefix("file://")?;
    let (algo, hex) = digest?.split_once(':')?;
    let path = Path::new(base)
        .join(format!("{}@{algo}={hex}", image.repository))
        .join("signature-1");
    Some(path.is_file())
}

#[cfg(test)]
mod tests;
