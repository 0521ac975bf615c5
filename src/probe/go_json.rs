//! Go's encoding/json, as containerd decodes manifests, indexes and image configs into its
//! structs, for the fields the probe reads (checked against Go's `json.Unmarshal`):
//! - a key names a field case-insensitively, with Unicode simple folding: `MediaType`,
//!   `LAYERS`, and `ſize` (U+017F) all name their field (U+212A KELVIN SIGN folds to `k`;
//!   no other non-ASCII letter folds to an ASCII one: `dıgest` names nothing);
//! - keys are read in order, duplicates included: the last one wins; an object decoded into a
//!   struct already read merges into it, and an array into a slice decodes element by element
//!   into the elements already there, then cuts the slice to its new length;
//! - `null` leaves a string, an integer or a struct as it is, and empties a slice or a pointer;
//! - an integer is its literal read by `strconv.ParseInt`: `-0` is 0; `1.0`, `1e3` and values
//!   past 64 bits are errors;
//! - any other type in a field is an error (Go goes on, then fails the whole document).
//!
//! Unknown keys are skipped (their values must still be JSON). Everything is read as it
//! streams by: no tree of the document is built.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Whether a JSON key names the field tagged `name`, as Go matches them (ASCII case-insensitive,
/// and `ſ`/`K` as `s`/`k`).
pub fn key_is(key: &str, name: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{017F}' => 'S',
            '\u{212A}' => 'K',
            c => c.to_ascii_uppercase(),
        }
    }
    key.chars().map(fold).eq(name.chars().map(fold))
}

/// A Go struct: [`field`](GoStruct::field) reads the value of `key` from `map` into the field
/// the key names, and says whether there was one (else the caller skips the value).
pub trait GoStruct: Default {
    /// Reads `key`'s value when it names a field.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

/// Decodes a JSON object into a struct already holding values (Go's decoding into a struct
/// field or a slice element): its keys in order; `null` changes nothing.
pub struct Merge<'a, T>(pub &'a mut T);

impl<'de, T: GoStruct> DeserializeSeed<'de> for Merge<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: GoStruct> Visitor<'de> for Merge<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !self.0.field(&key, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An object's key, borrowed from the document when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Decodes into a pointer to a struct (`*Platform`): `null` empties it, an object merges into
/// the struct it points to (a new one when it is empty).
pub struct Pointer<'a, T>(pub &'a mut Option<T>);

impl<'de, T: GoStruct> DeserializeSeed<'de> for Pointer<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: GoStruct> Visitor<'de> for Pointer<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Merge(self.0.get_or_insert_with(T::default)).visit_map(map)
    }
}

/// Decodes into a slice of structs (`None` is Go's nil slice): `null` empties it; an array
/// decodes its elements into the ones already there (new ones start empty) and cuts the rest.
pub struct Slice<'a, T>(pub &'a mut Option<Vec<T>>);

impl<'de, T: GoStruct> DeserializeSeed<'de> for Slice<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: GoStruct> Visitor<'de> for Slice<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut old = self.0.take().unwrap_or_default().into_iter();
        let mut new = Vec::new();
        loop {
            let mut item = old.next().unwrap_or_default();
            if seq.next_element_seed(Merge(&mut item))?.is_none() {
                break;
            }
            new.push(item);
        }
        *self.0 = Some(new);
        Ok(())
    }
}

/// Decodes into a string: a JSON string sets it, `null` leaves it.
pub struct Str<'a>(pub &'a mut String);

impl<'de> DeserializeSeed<'de> for Str<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Str<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        v.clone_into(self.0);
        Ok(())
    }
}

/// Decodes into an integer (Go's `int`/`int64`): the number's literal as `strconv.ParseInt`
/// reads it, or `null`, which leaves it. `None` is a field not read yet.
pub struct Int<'a>(pub &'a mut Option<i64>);

impl<'de> DeserializeSeed<'de> for Int<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let text = raw.get();
        if text == "null" {
            return Ok(());
        }
        match text.parse::<i64>() {
            Ok(n) => {
                *self.0 = Some(n);
                Ok(())
            }
            Err(_) => Err(de::Error::invalid_value(
                de::Unexpected::Other(&crate::bounded::clip(text, 40)),
                &"an integer of at most 64 bits",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Inner {
        name: String,
        n: Option<i64>,
    }

    impl GoStruct for Inner {
        fn field<'de, A: MapAccess<'de>>(
            &mut self,
            key: &str,
            map: &mut A,
        ) -> Result<bool, A::Error> {
            if key_is(key, "name") {
                map.next_value_seed(Str(&mut self.name))?;
            } else if key_is(key, "size") {
                map.next_value_seed(Int(&mut self.n))?;
            } else {
                return Ok(false);
            }
            Ok(true)
        }
    }

    #[derive(Default, Debug, PartialEq)]
    struct Outer {
        one: Inner,
        ptr: Option<Inner>,
        list: Option<Vec<Inner>>,
    }

    impl GoStruct for Outer {
        fn field<'de, A: MapAccess<'de>>(
            &mut self,
            key: &str,
            map: &mut A,
        ) -> Result<bool, A::Error> {
            if key_is(key, "one") {
                map.next_value_seed(Merge(&mut self.one))?;
            } else if key_is(key, "ptr") {
                map.next_value_seed(Pointer(&mut self.ptr))?;
            } else if key_is(key, "list") {
                map.next_value_seed(Slice(&mut self.list))?;
            } else {
                return Ok(false);
            }
            Ok(true)
        }
    }

    fn read(json: &str) -> Result<Outer, serde_json::Error> {
        let mut o = Outer::default();
        let mut d = serde_json::Deserializer::from_str(json);
        Merge(&mut o).deserialize(&mut d)?;
        d.end()?;
        Ok(o)
    }

    fn inner(name: &str, n: Option<i64>) -> Inner {
        Inner {
            name: name.into(),
            n,
        }
    }

    #[test]
    fn keys_fold_as_go_folds_them() {
        for key in ["size", "SIZE", "Size", "ſize", "ſIZE"] {
            assert!(key_is(key, "size"), "{key}");
        }
        assert!(key_is("\u{212A}ind", "kind"));
        for key in ["siz", "sizes", "sıze", "s\u{0130}ze", "size\u{0}", "ѕize"] {
            assert!(!key_is(key, "size"), "{key}");
        }
    }

    /// The cases below were run through Go's `json.Unmarshal` (Go 1.26) into the same shapes;
    /// each expectation is what Go decoded.
    #[test]
    fn documents_decode_as_go_decodes_them() {
        let ok = |json: &str, want: Outer| assert_eq!(read(json).unwrap(), want, "{json}");
        ok(
            r#"{"one":{"name":"a","size":1},"one":{"name":"b"}}"#,
            Outer {
                one: inner("b", Some(1)),
                ..Outer::default()
            },
        );
        ok(
            r#"{"one":{"name":"a","size":1},"one":null,"ONE":{"size":null}}"#,
            Outer {
                one: inner("a", Some(1)),
                ..Outer::default()
            },
        );
        ok(
            r#"{"list":[{"name":"a","size":1}],"list":[{"name":"b"}]}"#,
            Outer {
                list: Some(vec![inner("b", Some(1))]),
                ..Outer::default()
            },
        );
        ok(
            r#"{"list":[{"name":"a"},{"name":"x","size":3}],"LIST":[{"size":1},null,{}]}"#,
            Outer {
                list: Some(vec![
                    inner("a", Some(1)),
                    inner("x", Some(3)),
                    inner("", None),
                ]),
                ..Outer::default()
            },
        );
        ok(
            r#"{"list":[{"name":"a"}],"list":[]}"#,
            Outer {
                list: Some(vec![]),
                ..Outer::default()
            },
        );
        ok(r#"{"list":[{"name":"a"}],"list":null}"#, Outer::default());
        ok(
            r#"{"ptr":{"name":"l"},"ptr":{"size":2}}"#,
            Outer {
                ptr: Some(inner("l", Some(2))),
                ..Outer::default()
            },
        );
        ok(
            r#"{"ptr":{"name":"l"},"ptr":null,"ptr":{"size":2}}"#,
            Outer {
                ptr: Some(inner("", Some(2))),
                ..Outer::default()
            },
        );
        ok(
            r#"{"one":{"ſize":-0,"NAME":"z","other":[1,{"x":null}]},"unknown":{"one":5}}"#,
            Outer {
                one: inner("z", Some(0)),
                ..Outer::default()
            },
        );
        ok(
            r#"{"one":{"size":-9223372036854775808}}"#,
            Outer {
                one: inner("", Some(i64::MIN)),
                ..Outer::default()
            },
        );
        ok("null", Outer::default());
        for bad in [
            r#"{"one":{"size":-0.0}}"#,
            r#"{"one":{"size":1e3}}"#,
            r#"{"one":{"size":1.0}}"#,
            r#"{"one":{"size":"5"}}"#,
            r#"{"one":{"size":true}}"#,
            r#"{"one":{"size":9223372036854775808}}"#,
            r#"{"one":{"name":5}}"#,
            r#"{"one":5}"#,
            r#"{"list":{"name":"a"}}"#,
            r#"{"list":[5]}"#,
            r#"{"ptr":[]}"#,
            "[]",
            r#"{"one":{"name":"a"},"one":}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
