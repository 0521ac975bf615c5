//! The one redaction pass at the output boundary. Every credential the process sends (Basic
//! passwords, their header and body encodings, bearer tokens) is [`remember`]ed here; every
//! byte that leaves the process — CLI stdout, the agent's HTTP answers (reports, `/v1/node`,
//! `/v1/monitor`, `/metrics`), log lines, Kubernetes events — passes [`scrub`] last, so a
//! registry that echoes a credential into any field (a rate-limit header, a reason, a
//! remediation, a warning) cannot make it print, whichever field it lands in. The probe's
//! own per-evidence scrub ([`crate::probe::redact`]) still runs first; this is the net under
//! it, not field by field.
//!
//! The set is bounded in bytes ([`BUDGET`]); the least recently used value goes first, and
//! values are kept [`KEPT`] after their last use. Values shorter than [`MIN_LEN`] are not kept
//! (they would mangle ordinary words).

use crate::bounded::ByteMap;
use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";
/// Shortest value kept.
pub const MIN_LEN: usize = 4;
/// Bytes of secrets (in all their forms) kept.
pub const BUDGET: usize = 4 * 1024 * 1024;
/// How long a value is kept after its last use.
pub const KEPT: Duration = Duration::from_secs(24 * 3600);

struct Set {
    values: ByteMap<String, ()>,
    /// Longest first, so a value containing another is replaced whole; rebuilt on change.
    sorted: Vec<String>,
}

fn set() -> &'static Mutex<Set> {
    static SET: OnceLock<Mutex<Set>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(Set::new(BUDGET)))
}

/// The forms a value takes in output: itself, and as a JSON string body (quotes,
/// backslashes and control characters escaped), since answers are scrubbed as JSON text.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        let inner = &json[1..json.len() - 1];
        if inner != value {
            out.push(inner.to_string());
        }
    }
    out
}

impl Set {
    fn new(budget: usize) -> Self {
        Set {
            values: ByteMap::new(budget),
            sorted: Vec::new(),
        }
    }

    fn remember(&mut self, value: &str, now: Instant) {
        if value.len() < MIN_LEN {
            return;
        }
        let mut changed = false;
        for f in forms(value) {
            changed |= self.values.get(&f, now).is_none();
            let weight = f.len().saturating_mul(2);
            self.values.insert(f, (), weight, now + KEPT, now);
        }
        if changed || self.sorted.len() != self.values.len() {
            let mut all: Vec<String> = std::mem::take(&mut self.sorted);
            all.extend(forms(value));
            all.retain(|v| self.values.get(v, now).is_some());
            all.sort_by_key(|v| std::cmp::Reverse(v.len()));
            all.dedup();
            self.sorted = all;
        }
    }

    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.sorted.iter().any(|v| text.contains(v.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for v in &self.sorted {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }
}

/// Remembers a secret the process sent or holds.
pub fn remember(value: &str) {
    set()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remember(value, Instant::now());
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    set().lock().unwrap_or_else(|e| e.into_inner()).scrub(text)
}

/// Writes `text`, scrubbed, to standard output: the CLIs' one print point. A reader that went
/// away (`| head`, a closed pipe) ends the output quietly instead of panicking as `print!`
/// does; any other write error is said on stderr.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(scrub(text).as_bytes())
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing to standard output: {e}");
        }
    }
}

/// [`scrub`] for bytes (an HTTP body): UTF-8 text is scrubbed; other bytes pass unchanged
/// when no secret's bytes occur in them, else every occurrence is replaced.
pub fn scrub_bytes(bytes: bytes::Bytes) -> bytes::Bytes {
    match std::str::from_utf8(&bytes) {
        Ok(text) => match scrub(text) {
            Cow::Borrowed(_) => bytes,
            Cow::Owned(s) => bytes::Bytes::from(s),
        },
        Err(_) => {
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            match scrub(&lossy) {
                Cow::Borrowed(_) => bytes,
                Cow::Owned(s) => bytes::Bytes::from(s),
            }
        }
    }
}

/// A writer that scrubs what passes through it, line by line (for logs): complete lines are
/// scrubbed and written; a partial line waits for its end (or for [`std::io::Write::flush`]).
pub struct ScrubWriter<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> ScrubWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        ScrubWriter {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(scrub(&text).as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for ScrubWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let n = self.pending.len();
        if n > 0 {
            self.emit(n)?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for ScrubWriter<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn remembered_values_are_scrubbed_in_every_form() {
        remember("s3cr\"et-value-1");
        remember("abc"); // too short: kept out
        let text = r#"{"source":"user:s3cr\"et-value-1","retry":"s3cr"et-value-1 s"} abc"#;
        let out = scrub(text);
        assert!(!out.contains("et-value-1"), "{out}");
        assert!(out.contains("abc"));
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_scrubs_whole_lines_even_when_split() {
        remember("split-secret-42");
        let mut buf = Vec::new();
        {
            let mut w = ScrubWriter::new(&mut buf);
            w.write_all(b"one split-sec").unwrap();
            w.write_all(b"ret-42 two\nthree").unwrap();
        }
        let out = String::from_utf8(buf).unwrap();
        assert_eq!(out, "one <redacted> two\nthree");
    }

    #[test]
    fn many_large_values_stay_inside_the_budget() {
        let mut s = Set::new(1024 * 1024);
        let now = Instant::now();
        for i in 0..200 {
            s.remember(&format!("{i:04}{}", "x".repeat(16 * 1024)), now);
            assert!(s.values.bytes() <= 1024 * 1024);
            assert_eq!(s.sorted.len(), s.values.len());
        }
        let newest = format!("0199{}", "x".repeat(16 * 1024));
        assert_eq!(s.scrub(&newest), REDACTED);
    }
}
