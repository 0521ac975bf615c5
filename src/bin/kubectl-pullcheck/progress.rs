//! Progress on stderr (`\r 37/120 nodes`), only when stderr is a terminal.

use std::io::{IsTerminal, Write};

/// Prints `done/total` in place; clears the line when done.
pub(crate) struct Progress {
    on: bool,
    what: &'static str,
}

impl Progress {
    /// Progress for `what` (e.g. `nodes`), shown only on a terminal.
    pub(crate) fn new(what: &'static str) -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
            what,
        }
    }

    /// One more done.
    pub(crate) fn update(&self, done: usize, total: usize) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        if done >= total {
            let _ = write!(err, "\r\x1b[2K");
        } else {
            let _ = write!(err, "\r {done}/{total} {}", self.what);
        }
        let _ = err.flush();
    }
}
