//! JSON text for output: every value exact, and every character [`super::escape`] would
//! escape in a text view (C1 controls, DEL, bidirectional controls, default-ignorable
//! characters, line separators) written as a `\uXXXX` escape, so the JSON itself carries none
//! of them raw. serde_json escapes only `"`, `\` and C0 controls; this is its serializer with
//! one formatter that escapes the rest (`Safe`). Every JSON the project prints or answers
//! with (the CLI's `-o json`, the agent's answers and errors, the plugin's `-o json`) is
//! written by these functions.

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};
use std::io::{self, Write};

/// A serde_json formatter (compact or pretty) whose strings escape [`super::unsafe_char`]s.
struct Safe<F>(F);

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut plain = 0;
        for (i, c) in fragment.char_indices() {
            if !super::unsafe_char(c) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            plain = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn write<T: ?Sized + Serialize, F: Formatter>(value: &T, f: F) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut Serializer::with_formatter(&mut out, Safe(f)))?;
    Ok(out)
}

fn text(bytes: Vec<u8>) -> serde_json::Result<String> {
    String::from_utf8(bytes).map_err(serde::ser::Error::custom)
}

/// Compact JSON bytes (the agent's answers).
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    write(value, CompactFormatter)
}

/// Compact JSON text.
pub fn to_string<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    text(to_vec(value)?)
}

/// Indented JSON text (the CLIs' `-o json`).
pub fn to_string_pretty<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    text(write(value, PrettyFormatter::new())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn unsafe_characters_become_escapes_and_values_stay_exact() {
        let hostile = "a\u{61c}b\u{85}c\u{202e}d\u{e0041}e\u{7f}f\u{1b}g\u{ad}h\u{2028}i";
        let v = json!({ "reason": hostile, hostile: [hostile, 1, null] });
        let compact = to_string(&v).unwrap();
        assert!(
            compact
                .contains(r#""a\u061cb\u0085c\u202ed\udb40\udc41e\u007ff\u001bg\u00adh\u2028i""#),
            "{compact}"
        );
        assert!(
            !compact.chars().any(crate::term::unsafe_char),
            "{compact:?}"
        );
        let pretty = to_string_pretty(&v).unwrap();
        // Only the layout's own line breaks.
        assert!(
            !pretty
                .chars()
                .any(|c| c != '\n' && crate::term::unsafe_char(c)),
            "{pretty:?}"
        );
        for out in [&compact, &pretty] {
            let back: Value = serde_json::from_str(out).unwrap();
            assert_eq!(back, v, "round trip");
        }
        assert_eq!(to_vec(&v).unwrap(), compact.as_bytes());
    }

    #[test]
    fn plain_values_are_what_serde_json_writes() {
        let v =
            json!({"a": [1, 2.5, "x", {"b": null, "c": []}], "d": {}, "e": "日本 ä \"q\" \\ \n"});
        assert_eq!(to_string(&v).unwrap(), serde_json::to_string(&v).unwrap());
        assert_eq!(
            to_string_pretty(&v).unwrap(),
            serde_json::to_string_pretty(&v).unwrap()
        );
    }
}
