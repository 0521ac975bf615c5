//! The node's content-addressed store of manifest and config bodies (`--state-dir`): what a
//! probe read from a registry, kept by digest so that a restarted agent or a later CLI run
//! needs no manifest `GET` for a digest the node has already seen (a `GET` counts as a pull on
//! Docker Hub; a `HEAD` does not).
//!
//! The store keeps bodies, not conclusions: what a body means for this node (its platform, its
//! layers) is worked out again from the body on every use, so a store copied from another node
//! is as good as this node's own. A body is trusted only when it hashes to the name it is stored
//! under; anything else (a corrupt file, a foreign file, a collision attempt) is dropped with a
//! note. Files are written to a temporary name and renamed into place, the total is bounded in
//! bytes (oldest used first out), and a store that cannot be written (read-only, full) keeps
//! answering reads and says why it stopped writing.
//!
//! Layout: `<dir>/content/sha256/<hex>`, each file `pullcheck-content 1\n<media type>\n<body>`.
//! File I/O is synchronous: bodies are a few KiB (at most the 8 MiB config limit), and a probe
//! touches at most three.

use super::manifest;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// The first line of every stored file.
const MAGIC: &str = "pullcheck-content 1";
/// Longest media type kept.
const MAX_MEDIA_TYPE: usize = 255;
/// Default bound of the whole store, bytes.
pub const DEFAULT_LIMIT: u64 = 64 * 1024 * 1024;
/// Largest body kept (the config limit, the larger of the two).
const MAX_BODY: usize = manifest::CONFIG_LIMIT;

/// A store that cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be created or read.
    #[error("state directory {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A body could not be written (read-only, full, …).
    #[error("writing {path} into the state directory: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A body larger than the whole store's bound.
    #[error("a {size}-byte body does not fit the state directory's {limit}-byte bound")]
    TooLarge {
        /// Body size.
        size: usize,
        /// The bound.
        limit: u64,
    },
}

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A body that hashes to its name.
    Found {
        /// Its media type as the registry gave it.
        media_type: String,
        /// The body.
        body: Vec<u8>,
    },
    /// Nothing stored under this digest.
    Missing,
    /// Something was stored, and it is not trusted (removed); the note says why.
    Dropped(String),
}

/// What the store holds and whether it writes, for `/v1/node` and `pullcheck node`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The directory.
    pub dir: String,
    /// Bodies held.
    pub entries: u64,
    /// Bytes held (files, headers included).
    pub bytes: u64,
    /// The bound.
    pub limit_bytes: u64,
    /// Bodies served from the store since start.
    pub hits: u64,
    /// Files dropped as untrusted since start.
    pub dropped: u64,
    /// The last write failure, when writes fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_error: Option<String>,
}

#[derive(Debug, Default)]
struct Tally {
    entries: u64,
    bytes: u64,
    write_error: Option<String>,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    content: PathBuf,
    limit: u64,
    tally: Mutex<Tally>,
    hits: AtomicU64,
    dropped: AtomicU64,
    serial: AtomicU64,
}

impl Store {
    /// Opens (creating it when missing) the store under `dir`, bounded to `limit` bytes. A
    /// directory that exists but cannot be written opens read-only: reads work, writes say why.
    pub fn open(dir: &Path, limit: u64) -> Result<Store, Error> {
        let content = dir.join("content").join("sha256");
        let open = |source| Error::Open {
            path: dir.to_path_buf(),
            source,
        };
        let mut write_error = None;
        if let Err(e) = fs::create_dir_all(&content) {
            if !content.is_dir() {
                fs::read_dir(dir).map_err(open)?;
            }
            write_error = Some(format!("cannot create {}: {e}", content.display()));
        }
        let store = Store {
            dir: dir.to_path_buf(),
            content,
            limit,
            tally: Mutex::new(Tally::default()),
            hits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            serial: AtomicU64::new(0),
        };
        let (entries, bytes) = store.usage();
        *store.lock() = Tally {
            entries,
            bytes,
            write_error,
        };
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        manifest::is_sha256_digest(digest).then(|| self.content.join(&digest["sha256:".len()..]))
    }

    /// The body stored under `digest`, when it hashes to it. An untrusted file is removed.
    pub fn get(&self, digest: &str) -> Lookup {
        let Some(path) = self.path(digest) else {
            return Lookup::Missing;
        };
        let raw = match read_bounded(&path) {
            Ok(Some(r)) => r,
            Ok(None) => return Lookup::Missing,
            Err(why) => return self.drop_file(&path, digest, &why),
        };
        match decode(&raw) {
            Ok((media_type, body)) => {
                let actual = manifest::sha256(body);
                if actual != digest {
                    return self.drop_file(&path, digest, &format!("its body hashes to {actual}"));
                }
                self.hits.fetch_add(1, Ordering::Relaxed);
                // Used now: the last to be evicted.
                if let Ok(f) = fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Lookup::Found {
                    media_type: media_type.to_string(),
                    body: body.to_vec(),
                }
            }
            Err(why) => self.drop_file(&path, digest, why),
        }
    }

    fn drop_file(&self, path: &Path, digest: &str, why: &str) -> Lookup {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Ok(meta) = fs::metadata(path) {
            if fs::remove_file(path).is_ok() {
                let mut t = self.lock();
                t.entries = t.entries.saturating_sub(1);
                t.bytes = t.bytes.saturating_sub(meta.len());
            }
        }
        Lookup::Dropped(format!(
            "the state directory's copy of {digest} was not used: {why}"
        ))
    }

    /// Stores `body` under its own digest (computed here, so a caller cannot file a body under
    /// another name). Evicts the least recently used bodies past the bound.
    pub fn put(&self, media_type: &str, body: &[u8]) -> Result<(), Error> {
        let digest = manifest::sha256(body);
        let Some(path) = self.path(&digest) else {
            return Ok(());
        };
        let media_type = clean_media_type(media_type);
        let size = MAGIC.len() + media_type.len() + 2 + body.len();
        if body.len() > MAX_BODY || size as u64 > self.limit {
            return Err(Error::TooLarge {
                size,
                limit: self.limit,
            });
        }
        if path.is_file() {
            return Ok(());
        }
        let tmp = self.content.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            self.serial.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_new(&tmp, &media_type, body).and_then(|()| fs::rename(&tmp, &path));
        if let Err(source) = written {
            let _ = fs::remove_file(&tmp);
            let e = Error::Write { path, source };
            self.lock().write_error = Some(e.to_string());
            return Err(e);
        }
        let over = {
            let mut t = self.lock();
            t.write_error = None;
            t.entries = t.entries.saturating_add(1);
            t.bytes = t.bytes.saturating_add(size as u64);
            t.bytes > self.limit
        };
        if over {
            self.evict(&path);
        }
        Ok(())
    }

    /// Removes the least recently used files until the store fits its bound (never `keep`,
    /// the file just written). Counts the directory again, so other writers are seen.
    fn evict(&self, keep: &Path) {
        let mut files: Vec<(SystemTime, u64, PathBuf)> = match fs::read_dir(&self.content) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    meta.is_file().then(|| {
                        (
                            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                            meta.len(),
                            e.path(),
                        )
                    })
                })
                .collect(),
            Err(_) => return,
        };
        files.sort();
        let mut bytes: u64 = files.iter().map(|f| f.1).fold(0, u64::saturating_add);
        let mut entries = files.len() as u64;
        for (_, len, path) in &files {
            if bytes <= self.limit {
                break;
            }
            if path != keep && fs::remove_file(path).is_ok() {
                bytes = bytes.saturating_sub(*len);
                entries = entries.saturating_sub(1);
            }
        }
        let mut t = self.lock();
        t.bytes = bytes;
        t.entries = entries;
    }

    /// Entries and bytes on disk now.
    fn usage(&self) -> (u64, u64) {
        fs::read_dir(&self.content).map_or((0, 0), |rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok().filter(|m| m.is_file()))
                .fold((0u64, 0u64), |(n, b), m| {
                    (n.saturating_add(1), b.saturating_add(m.len()))
                })
        })
    }

    /// What the store holds now.
    pub fn stats(&self) -> Stats {
        let t = self.lock();
        Stats {
            dir: self.dir.display().to_string(),
            entries: t.entries,
            bytes: t.bytes,
            limit_bytes: self.limit,
            hits: self.hits.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            write_error: t.write_error.clone(),
        }
    }
}

/// Printable ASCII only, bounded (a registry's Content-Type is hostile too).
fn clean_media_type(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_MEDIA_TYPE)
        .collect()
}

fn write_new(tmp: &Path, media_type: &str, body: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::options().write(true).create_new(true).open(tmp)?;
    f.write_all(MAGIC.as_bytes())?;
    f.write_all(b"\n")?;
    f.write_all(media_type.as_bytes())?;
    f.write_all(b"\n")?;
    f.write_all(body)?;
    f.sync_data()
}

/// The file, unless it is missing; `Err` for a file that cannot be read or is too large to be
/// one of ours.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let most = (MAX_BODY + MAX_MEDIA_TYPE + MAGIC.len() + 2) as u64;
    if meta.len() > most {
        return Err(format!(
            "it is {} bytes, more than any body kept",
            meta.len()
        ));
    }
    fs::read(path)
        .map(Some)
        .map_err(|e| format!("cannot read it: {e}"))
}

/// Splits a stored file into its media type and body.
fn decode(raw: &[u8]) -> Result<(&str, &[u8]), &'static str> {
    let rest = raw
        .strip_prefix(MAGIC.as_bytes())
        .and_then(|r| r.strip_prefix(b"\n"))
        .ok_or("it is not a pullcheck state file")?;
    let nl = rest
        .iter()
        .take(MAX_MEDIA_TYPE + 1)
        .position(|&b| b == b'\n')
        .ok_or("its header is cut short")?;
    let media_type = std::str::from_utf8(&rest[..nl]).map_err(|_| "its media type is not text")?;
    Ok((media_type, &rest[nl + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(limit: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), limit).unwrap();
        (dir, s)
    }

    #[test]
    fn a_body_comes_back_by_its_digest_after_a_reopen() {
        let (dir, s) = store(DEFAULT_LIMIT);
        let body = br#"{"schemaVersion":2}"#;
        s.put(manifest::OCI_MANIFEST, body).unwrap();
        let again = Store::open(dir.path(), DEFAULT_LIMIT).unwrap();
        assert_eq!(again.stats().entries, 1);
        assert_eq!(
            again.get(&manifest::sha256(body)),
            Lookup::Found {
                media_type: manifest::OCI_MANIFEST.into(),
                body: body.to_vec()
            }
        );
        assert_eq!(again.stats().hits, 1);
        assert_eq!(s.get(&manifest::sha256(b"other")), Lookup::Missing);
        assert_eq!(s.get("sha256:../../etc/passwd"), Lookup::Missing);
    }

    #[test]
    fn a_body_that_does_not_hash_to_its_name_is_dropped() {
        let (_dir, s) = store(DEFAULT_LIMIT);
        let wanted = manifest::sha256(b"the real manifest");
        let path = s.path(&wanted).unwrap();
        // A collision attempt: a well-formed file under another body's name.
        fs::write(
            &path,
            format!("{MAGIC}\n{}\nforged", manifest::OCI_MANIFEST),
        )
        .unwrap();
        match s.get(&wanted) {
            Lookup::Dropped(note) => assert!(note.contains("hashes to sha256:"), "{note}"),
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
        assert_eq!(s.stats().dropped, 1);
    }

    #[test]
    fn foreign_and_garbage_files_are_dropped_with_a_note() {
        let (_dir, s) = store(DEFAULT_LIMIT);
        for (content, says) in [
            (b"\x00\xffgarbage".to_vec(), "not a pullcheck state file"),
            (
                format!("{MAGIC}\nno-newline-after-type").into_bytes(),
                "cut short",
            ),
            ([MAGIC.as_bytes(), b"\n\xff\n"].concat(), "not text"),
        ] {
            let d = manifest::sha256(&content);
            fs::write(s.path(&d).unwrap(), &content).unwrap();
            match s.get(&d) {
                Lookup::Dropped(note) => assert!(note.contains(says), "{note}"),
                other => panic!("{other:?}"),
            }
        }
        let d = manifest::sha256(b"dir");
        fs::create_dir(s.path(&d).unwrap()).unwrap();
        assert!(matches!(s.get(&d), Lookup::Dropped(n) if n.contains("not a regular file")));
    }

    #[test]
    fn the_store_stays_within_its_bound_dropping_the_least_recently_used() {
        let (_dir, s) = store(3 * 1100);
        let bodies: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 1000]).collect();
        for b in &bodies {
            s.put("t", b).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        let st = s.stats();
        assert!(st.bytes <= 3 * 1100, "{st:?}");
        assert_eq!(st.entries, 3, "{st:?}");
        assert_eq!(s.get(&manifest::sha256(&bodies[0])), Lookup::Missing);
        assert!(matches!(
            s.get(&manifest::sha256(&bodies[5])),
            Lookup::Found { .. }
        ));
        assert!(matches!(
            s.put("t", &vec![0u8; 4000]),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn a_media_type_from_the_registry_is_cleaned_before_it_is_written() {
        let (_dir, s) = store(DEFAULT_LIMIT);
        s.put("evil\ntype\x1b[31m", b"x").unwrap();
        match s.get(&manifest::sha256(b"x")) {
            Lookup::Found { media_type, .. } => assert_eq!(media_type, "eviltype[31m"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_store_that_cannot_write_still_reads_and_says_why() {
        let (_dir, s) = store(DEFAULT_LIMIT);
        s.put("t", b"kept").unwrap();
        // The next temporary name is taken by a directory: the write fails as it would on a
        // read-only or full disk (and does so even for root, who ignores permissions).
        let serial = s.serial.load(Ordering::Relaxed);
        fs::create_dir(
            s.content
                .join(format!(".tmp-{}-{serial}", std::process::id())),
        )
        .unwrap();
        let e = s.put("t", b"new").unwrap_err();
        assert!(e.to_string().contains("writing"), "{e}");
        assert!(s.stats().write_error.is_some());
        assert!(matches!(
            s.get(&manifest::sha256(b"kept")),
            Lookup::Found { .. }
        ));
        s.put("t", b"later").unwrap();
        assert_eq!(s.stats().write_error, None);
    }

    #[test]
    fn a_state_dir_that_is_a_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        let e = Store::open(&file, DEFAULT_LIMIT).unwrap_err();
        assert!(e.to_string().contains("state directory"), "{e}");
    }
}
