//! The watch list: images that must stay pullable from this node even when no pod here uses
//! them yet (the next deploy, a DaemonSet's next version, a critical base image). A YAML (or
//! JSON) file, usually a ConfigMap mounted into the agent; [`WatchFile::poll`] re-reads it when
//! its content changes (the kubelet swaps a mounted ConfigMap's files atomically), and a file
//! that does not parse keeps the previous list in force and reports why.
//!
//! ```yaml
//! images:
//!   - registry.example.com/team/app:1.4          # node credentials
//!   - image: ghcr.io/org/private:latest
//!     secrets: [team-a/ghcr-pull]                # these pull secrets, in order
//! ```

use super::targets::{Creds, TargetKey};
use crate::identity::kube_secrets::ObjectRef;
use crate::reference::ImageRef;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Most entries read from one file.
pub const MAX_ENTRIES: usize = 5000;

/// Largest file read.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Why a watch list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unreadable.
    #[error("cannot read the watch list {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Too big, not YAML, or not the expected shape.
    #[error("watch list {}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Image(String),
    Full {
        image: String,
        #[serde(default)]
        secrets: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    images: Vec<Entry>,
}

/// Parses a watch list's text into targets (duplicates dropped, order kept).
pub fn parse(path: &Path, text: &str) -> Result<Vec<TargetKey>, Error> {
    let invalid = |problem: String| Error::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let doc: Document = if text.trim().is_empty() {
        Document { images: Vec::new() }
    } else {
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            invalid(format!(
                "expected `images:` with a list of references or {{image, secrets}}: {e}"
            ))
        })?
    };
    if doc.images.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "{} entries; at most {MAX_ENTRIES}",
            doc.images.len()
        )));
    }
    let mut out: Vec<TargetKey> = Vec::new();
    for (i, entry) in doc.images.into_iter().enumerate() {
        let (image, secrets) = match entry {
            Entry::Image(image) => (image, Vec::new()),
            Entry::Full { image, secrets } => (image, secrets),
        };
        let image = image.trim().to_string();
        ImageRef::parse(&image).map_err(|e| {
            invalid(format!(
                "images[{i}]: {image:?} is not an image reference: {e}"
            ))
        })?;
        for s in &secrets {
            ObjectRef::parse("secret", s).map_err(|e| invalid(format!("images[{i}]: {e}")))?;
        }
        let creds = if secrets.is_empty() {
            Creds::Node
        } else {
            Creds::Listed(secrets)
        };
        let key = TargetKey { image, creds };
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(out)
}

/// A watch-list file, re-read when its content changes.
#[derive(Debug)]
pub struct WatchFile {
    path: PathBuf,
    digest: Option<[u8; 32]>,
    current: Vec<TargetKey>,
    error: Option<String>,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The same content as before.
    Unchanged,
    /// A new list is in force.
    Reloaded,
    /// The file changed but cannot be used; the previous list stays in force.
    Rejected,
}

impl WatchFile {
    /// A watch list at `path`, not read yet.
    pub fn new(path: PathBuf) -> Self {
        WatchFile {
            path,
            digest: None,
            current: Vec::new(),
            error: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The list in force.
    pub fn targets(&self) -> &[TargetKey] {
        &self.current
    }

    /// Why the latest content was rejected, while it is.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Re-reads the file when its content changed.
    pub fn poll(&mut self) -> Poll {
        let read = crate::nodefile::read(&self.path, MAX_BYTES).map_err(|source| Error::Read {
            path: self.path.clone(),
            source,
        });
        let bytes = match read {
            Ok(b) => b,
            Err(e) => return self.reject(e.to_string(), None),
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if self.digest == Some(digest) {
            return Poll::Unchanged;
        }
        let text = String::from_utf8_lossy(&bytes);
        match parse(&self.path, &text) {
            Ok(list) => {
                self.current = list;
                self.digest = Some(digest);
                self.error = None;
                Poll::Reloaded
            }
            Err(e) => self.reject(e.to_string(), Some(digest)),
        }
    }

    fn reject(&mut self, why: String, digest: Option<[u8; 32]>) -> Poll {
        let first = self.error.as_deref() != Some(why.as_str());
        if digest.is_some() {
            self.digest = digest;
        }
        if first {
            tracing::warn!(error = %why, "watch list rejected; the previous list stays in force");
            self.error = Some(why);
            Poll::Rejected
        } else {
            Poll::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_entry_forms() {
        let list = parse(
            Path::new("w.yaml"),
            "images:\n  - nginx:1.27\n  - image: ghcr.io/o/p:1\n    secrets: [team-a/pull, team-a/other]\n  - nginx:1.27\n",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].creds, Creds::Node);
        assert_eq!(
            list[1].creds,
            Creds::Listed(vec!["team-a/pull".into(), "team-a/other".into()])
        );
        assert!(parse(Path::new("w"), "").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_name_the_index() {
        let e = parse(Path::new("w"), "images:\n  - nginx\n  - 'UPPER/x'\n").unwrap_err();
        assert!(e.to_string().contains("images[1]"), "{e}");
        let e = parse(
            Path::new("w"),
            "images:\n  - image: a\n    secrets: [nope]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("images[0]"), "{e}");
        assert!(parse(Path::new("w"), "imagez: []").is_err());
        assert!(parse(Path::new("w"), "[[[").is_err());
    }

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.yaml");
        let mut w = WatchFile::new(path.clone());
        assert_eq!(w.poll(), Poll::Rejected, "a missing file is reported");
        assert!(w.error().unwrap().contains("cannot read"));
        std::fs::write(&path, "images: [a:1]\n").unwrap();
        assert_eq!(w.poll(), Poll::Reloaded);
        assert_eq!(w.poll(), Poll::Unchanged);
        std::fs::write(&path, "images: [a:1, 'B:x']\n").unwrap();
        assert_eq!(w.poll(), Poll::Rejected);
        assert_eq!(w.targets().len(), 1, "the previous list stays");
        assert_eq!(
            w.poll(),
            Poll::Unchanged,
            "the same bad content is reported once"
        );
        std::fs::write(&path, "images: [a:1, b:2]\n").unwrap();
        assert_eq!(w.poll(), Poll::Reloaded);
        assert_eq!(w.targets().len(), 2);
        assert!(w.error().is_none());
    }
}
