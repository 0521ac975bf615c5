//! Files of the node and of the operator, read with bounds: containerd's config.toml and
//! hosts.toml, docker config files, the kubelet's credential-provider configuration, the
//! agent's configuration file and watch list. Only regular files are read — a FIFO would block
//! the probe forever and `/dev/zero` would fill memory — and at most a stated number of bytes,
//! with an error that names the file and the limit. The file is opened without blocking and
//! checked on the open descriptor, so a path swapped for a FIFO between a check and the read
//! cannot hang the reader.
//!
//! [`Cached`] keeps what was read by the file's identity (device, inode, size, modification
//! time), so a file read on every probe (hosts.toml) is read again only when it changed.

use crate::bounded::ByteMap;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Bytes of file contents [`Cached`] keeps.
pub const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// How long an unchanged file's contents are served from the cache before a fresh read (a
/// guard against file systems with coarse modification times).
pub const RECHECK: Duration = Duration::from_secs(60);

fn kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking and checks, on the open file, that it is a
/// regular file of at most `limit` bytes.
fn open(path: &Path, limit: u64) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", kind(meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    Ok((file, meta))
}

fn too_large(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("is {len} bytes or more; at most {limit} are read"),
    )
}

/// The contents of the regular file `path`, at most `limit` bytes (a file that grows past the
/// limit while it is read is refused too). Errors say what is wrong, not which file: callers
/// name the file in their own error.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, _) = open(path, limit)?;
    read_open(file, limit)
}

fn read_open(file: std::fs::File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// A file's identity: when any part changes, the contents are read again.
#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// Text of files by path, read again only when the file changed (or after [`RECHECK`]);
/// bounded in bytes.
pub struct Cached {
    map: Mutex<ByteMap<PathBuf, (Stamp, Arc<str>)>>,
}

impl Default for Cached {
    fn default() -> Self {
        Cached {
            map: Mutex::new(ByteMap::new(CACHE_BYTES)),
        }
    }
}

impl Cached {
    /// [`read_string`] of `path`, from the cache while the file is unchanged.
    pub fn read_string(&self, path: &Path, limit: u64) -> io::Result<Arc<str>> {
        let (file, meta) = open(path, limit)?;
        let stamp = Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        let now = Instant::now();
        if let Some((s, text)) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path.to_path_buf(), now)
        {
            if *s == stamp {
                return Ok(text.clone());
            }
        }
        let text: Arc<str> = String::from_utf8(read_open(file, limit)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))?
            .into();
        let weight = text.len() + path.as_os_str().len();
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(
            path.to_path_buf(),
            (stamp, text.clone()),
            weight,
            now + RECHECK,
            now,
        );
        Ok(text)
    }
}

/// The process's cache of node files (hosts.toml, config.toml).
pub fn cache() -> &'static Cached {
    static CACHE: std::sync::OnceLock<Cached> = std::sync::OnceLock::new();
    CACHE.get_or_init(Cached::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let started = Instant::now();
        let err = read(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let err = read(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let err = read(dir.path(), 1024).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn files_past_the_limit_are_refused_with_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.toml");
        std::fs::write(&f, vec![b'#'; 2048]).unwrap();
        let err = read(&f, 1024).unwrap_err();
        assert!(err.to_string().contains("at most 1024"), "{err}");
        assert_eq!(read(&f, 4096).unwrap().len(), 2048);
    }

    #[test]
    fn the_cache_reads_again_only_when_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.toml");
        std::fs::write(&f, "server = \"https://a\"\n").unwrap();
        let c = Cached::default();
        let first = c.read_string(&f, 1024).unwrap();
        let again = c.read_string(&f, 1024).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "served from the cache");
        std::fs::write(&f, "server = \"https://bb\"\n").unwrap();
        assert_eq!(
            &*c.read_string(&f, 1024).unwrap(),
            "server = \"https://bb\"\n"
        );
    }
}
