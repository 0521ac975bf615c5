//! Terminal-safe text. Registries, runtimes and references put arbitrary characters into
//! reasons, OCI error messages, media types, platform names and runtime messages; printed raw
//! they can clear an SRE's screen, retitle the window, plant an OSC 8 hyperlink, overwrite a
//! line with a carriage return, reorder text with bidirectional controls, hide text behind
//! invisible characters or forge a `Verdict:` line with a newline. Every text view escapes
//! each value with [`escape`] and the whole rendered view with [`escape_view`] on its way to
//! the terminal. JSON output keeps every value exact but writes the same characters as
//! `\uXXXX` escapes ([`json`]): serde_json escapes only C0 controls, and a `jq -r`-less look at
//! the JSON in a terminal is a text view too.

pub mod json;

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that must not reach a terminal as they are: C0 and C1 controls (ESC, CR, BEL,
/// backspace, …), DEL, the line and paragraph separators, every Unicode Bidi_Control
/// character, and every Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties: the
/// invisible format characters, fillers, variation selectors and tags, which render as
/// nothing and so can hide or disguise text).
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // Line and paragraph separators.
            '\u{2028}' | '\u{2029}'
            // Bidi_Control: ALM; LRM, RLM; LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI.
            | '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // Default_Ignorable_Code_Point.
            | '\u{00AD}' | '\u{034F}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
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

/// Writes `error: MESSAGE` to standard error, the message escaped as a view ([`escape_view`]):
/// the CLIs' and the agent's one way to say why they stop. Their errors quote node files, the
/// Kubernetes API's messages and the agent's answers, which are no safer than a registry's.
pub fn eprint_error(message: impl std::fmt::Display) {
    let text = message.to_string();
    eprintln!("error: {}", escape_view(&text));
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

    /// Every Bidi_Control and Default_Ignorable_Code_Point, one by one, with its neighbours
    /// just outside each range left alone.
    #[test]
    fn bidi_controls_and_default_ignorables_are_escaped() {
        let ranges: [(u32, u32); 17] = [
            (0x061C, 0x061C),
            (0x00AD, 0x00AD),
            (0x034F, 0x034F),
            (0x115F, 0x1160),
            (0x17B4, 0x17B5),
            (0x180B, 0x180F),
            (0x200B, 0x200F),
            (0x202A, 0x202E),
            (0x2060, 0x206F),
            (0x3164, 0x3164),
            (0xFE00, 0xFE0F),
            (0xFEFF, 0xFEFF),
            (0xFFA0, 0xFFA0),
            (0xFFF0, 0xFFF8),
            (0x1BCA0, 0x1BCA3),
            (0x1D173, 0x1D17A),
            (0xE0000, 0xE0FFF),
        ];
        for (lo, hi) in ranges {
            for cp in lo..=hi {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                let s = format!("a{c}b");
                assert_eq!(escape(&s), format!("a\\u{{{cp:x}}}b"), "U+{cp:04X}");
                assert_eq!(escape_view(&s), format!("a\\u{{{cp:x}}}b"), "U+{cp:04X}");
            }
            for cp in [lo - 1, hi + 1] {
                let c = char::from_u32(cp).unwrap();
                let listed = ranges.iter().any(|(l, h)| (*l..=*h).contains(&cp))
                    || c.is_control()
                    || c == '\u{2028}'
                    || c == '\u{2029}';
                assert_eq!(
                    unsafe_char(c),
                    listed,
                    "U+{cp:04X}, next to U+{lo:04X}..U+{hi:04X}"
                );
            }
        }
        for keep in [
            '\u{061B}',
            '\u{061D}',
            'ä',
            '日',
            '\u{1F600}',
            '\u{2010}',
            '\u{FE10}',
        ] {
            assert!(!unsafe_char(keep), "{keep}");
        }
        assert_eq!(escape("مرحبا\u{61c}1"), "مرحبا\\u{61c}1");
    }

    #[test]
    fn plain_text_is_borrowed_and_views_keep_their_lines() {
        assert!(matches!(escape("linux/amd64 — ok"), Cow::Borrowed(_)));
        assert_eq!(escape_view("a\tb\nc\u{1b}d\r\n"), "a\tb\nc\\ed\\r\n");
    }
}
