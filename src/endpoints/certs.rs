//! Docker-style `certs.d/<host>/` directories, which containerd reads when a host directory
//! has no (or an empty) `hosts.toml`: `*.crt` are extra CAs, `*.cert` client certificates with
//! the `*.key` of the same name. See [`read_dir`].

use super::{Error, Result};
use crate::net::TlsSettings;
use std::path::{Path, PathBuf};

/// The TLS settings a docker-style directory gives, in file-name order.
pub fn read_dir(dir: &Path) -> Result<TlsSettings> {
    let read_err = |source| Error::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut tls = TlsSettings::default();
    for p in files {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => tls.ca.push(p),
            Some("cert") => {
                let key = p.with_extension("key");
                tls.client.push((p, key.is_file().then_some(key)));
            }
            _ => {}
        }
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crt_are_cas_and_cert_pairs_with_key() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        for f in [
            "b.crt",
            "a.crt",
            "client.cert",
            "client.key",
            "lone.cert",
            "x.pem",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        std::fs::create_dir(dir.join("sub.crt")).unwrap();
        let tls = read_dir(dir).unwrap();
        assert_eq!(tls.ca, [dir.join("a.crt"), dir.join("b.crt")]);
        assert_eq!(
            tls.client,
            [
                (dir.join("client.cert"), Some(dir.join("client.key"))),
                (dir.join("lone.cert"), None)
            ]
        );
        assert!(!tls.skip_verify);
    }

    #[test]
    fn unreadable_dir_is_named() {
        let err = read_dir(Path::new("/nonexistent/certs.d/x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/certs.d/x"), "{err}");
    }
}
