//! Terminal-safe text. Registries, runtimes and references put arbitrary characters into
//! reasons, OCI error messages, media types, platform names and runtime messages; printed raw
//! they can clear an SRE's screen, retitle the window, plant an OSC 8 hyperlink, overwrite a
//! line with a carriage return, reorder text with bidirectional overrides or forge a
//! `Verdict:` line with a newline. Every text view escapes each value with [`escape`] and the
//! whole rendered view with [`escape_view`] on its way to the terminal; JSON output stays exact
//! (serde_json escapes control characters itself).

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that must not reach a terminal as they are: C0 and C1 controls (ESC, CR, BEL,
/// backspace, …), DEL, and the Unicode bidirectional and invisible format controls.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) || keep(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// One value for a text line: every unsafe character, newlines and tabs included, written as
/// a visible escape (`\e`, `\r`, `\n`, `\u{9b}`, …).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// A rendered text view: line breaks and tabs stay, every other unsafe character is escaped
/// as in [`escape`]. The last guard before stdout.
pub fn escape_view(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        let hostile = "a\u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]8;;http://x\u{1b}\\link\rok\u{9b}31m\u{202e}b\nVerdict: ok";
        let out = escape(hostile);
        assert!(!out.chars().any(unsafe_char), "{out}");
        assert_eq!(
            out,
            "a\\e[2J\\e]0;title\\u{7}\\e]8;;http://x\\e\\link\\rok\\u{9b}31m\\u{202e}b\\nVerdict: ok"
        );
    }

    #[test]
    fn plain_text_is_borrowed_and_views_keep_their_lines() {
        assert!(matches!(escape("linux/amd64 — ok"), Cow::Borrowed(_)));
        assert_eq!(escape_view("a\tb\nc\u{1b}d\r\n"), "a\tb\nc\\ed\\r\n");
    }
}
