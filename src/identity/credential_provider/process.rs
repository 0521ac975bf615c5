//! The plugin process's plumbing: the executable check the kubelet does at registration,
//! spawning (in its own process group), bounded reading of stdout/stderr, killing the whole
//! group, and the one-line stderr excerpt quoted in errors. See [`super::run::exec`].

use super::run::{Error, STDERR_QUOTED};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Spawns, retrying briefly on `ETXTBSY` (a binary being written or just replaced).
pub(super) async fn spawn(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 5 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// The kubelet's registration check (`exec.LookPath`): a regular file with an execute bit.
pub(super) fn check_binary(bin: &Path) -> Result<(), Error> {
    let path = bin.display().to_string();
    let meta = std::fs::metadata(bin).map_err(|e| Error::Binary {
        path: path.clone(),
        why: if e.kind() == std::io::ErrorKind::NotFound {
            "does not exist".into()
        } else {
            format!("cannot be inspected: {e}")
        },
    })?;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err(Error::Binary {
            path,
            why: "is not an executable file".into(),
        });
    }
    Ok(())
}

/// Reads everything, keeping at most `limit` bytes (the rest is drained so the plugin never
/// blocks on a full pipe). Returns the bytes and whether there was more. With `sink`, the kept
/// bytes are also mirrored there as they arrive (so a timeout can still quote stderr).
pub(super) async fn read_bounded<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
    sink: Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>,
) -> (Vec<u8>, bool) {
    let Some(mut r) = reader else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut overflow = false;
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = limit.saturating_sub(kept.len());
        if n > room {
            overflow = true;
        }
        let take = n.min(room);
        kept.extend_from_slice(&buf[..take]);
        if let Some(s) = &sink {
            if let Ok(mut s) = s.lock() {
                s.extend_from_slice(&buf[..take]);
            }
        }
    }
    (kept, overflow)
}

pub(super) fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The group may already be gone: nothing to do then.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

pub(super) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("status {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "an unknown status".into(),
    }
}

/// `: stderr: <last line(s)>`, single-line, bounded, or empty.
pub(super) fn stderr_excerpt(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let one_line: String = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_empty() {
        return String::new();
    }
    let n = one_line.chars().count();
    let tail: String = if n > STDERR_QUOTED {
        let skip = n - STDERR_QUOTED;
        format!("…{}", one_line.chars().skip(skip).collect::<String>())
    } else {
        one_line
    };
    format!(": stderr: {tail}")
}
