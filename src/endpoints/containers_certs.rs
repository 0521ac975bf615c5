//! The TLS files containers/image (CRI-O's pull library) reads for a registry host:
//! `/etc/containers/certs.d/<host[:port]>/`, else `/etc/docker/certs.d/<host[:port]>/` (the
//! first that exists), or only the directory `--containers-certs-dir` names. `*.crt` are extra
//! CAs; `*.cert` and `*.key` must come in pairs: containers/image fails the pull on a lone one,
//! and so does this.

use super::{certs, Error, Result};
use crate::net::TlsSettings;
use std::path::{Path, PathBuf};

/// Where CRI-O looks by default, in order.
pub const DEFAULT_ROOTS: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// The TLS settings for `host` (`host[:port]` as in the reference): the first root with a
/// directory for it; none is no extra settings.
pub fn for_host(roots: &[PathBuf], host: &str) -> Result<TlsSettings> {
    let Some(dir) = roots.iter().map(|r| r.join(host)).find(|d| d.is_dir()) else {
        return Ok(TlsSettings::default());
    };
    let tls = certs::read_dir(&dir)?;
    check_pairs(&dir)?;
    Ok(tls)
}

/// containers/image's `SetupCertificates`: a `.cert` without its `.key`, or a `.key` without
/// its `.cert`, is an error naming both files.
fn check_pairs(dir: &Path) -> Result<()> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Read {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut files = files;
    files.sort();
    for f in &files {
        let (ext, other) = match f.extension().and_then(|e| e.to_str()) {
            Some("cert") => ("cert", "key"),
            Some("key") => ("key", "cert"),
            _ => continue,
        };
        let pair = f.with_extension(other);
        if !pair.is_file() {
            let detail = if ext == "cert" {
                format!(
                    "missing key {} for client certificate {}",
                    pair.display(),
                    f.display()
                )
            } else {
                format!(
                    "missing client certificate {} for key {} (CA certificates need the .crt extension)",
                    pair.display(),
                    f.display()
                )
            };
            return Err(Error::Invalid {
                path: dir.display().to_string(),
                detail: format!("{detail}; containers/image fails every pull from this host"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_root_with_the_host_wins_and_pairs_are_required() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let roots = [a.path().to_path_buf(), b.path().to_path_buf()];
        std::fs::create_dir_all(b.path().join("r.example:5000")).unwrap();
        std::fs::write(b.path().join("r.example:5000/ca.crt"), "x").unwrap();
        let tls = for_host(&roots, "r.example:5000").unwrap();
        assert_eq!(tls.ca, [b.path().join("r.example:5000/ca.crt")]);
        assert_eq!(for_host(&roots, "other").unwrap(), TlsSettings::default());

        let dir = a.path().join("r.example:5000");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("client.key"), "x").unwrap();
        let e = for_host(&roots, "r.example:5000").unwrap_err().to_string();
        assert!(e.contains("missing client certificate"), "{e}");
        assert!(e.contains("client.cert"), "{e}");
        std::fs::write(dir.join("client.cert"), "x").unwrap();
        let tls = for_host(&roots, "r.example:5000").unwrap();
        assert_eq!(tls.client.len(), 1);
        assert!(
            tls.ca.is_empty(),
            "the first root with the host is the only one read"
        );
    }
}
