//! Credentials scrubbed from what registries send back: a hostile or careless registry (or
//! token realm) may echo the Authorization header, the password or the bearer token it was
//! given in an error body, a header or a redirect's Location. Everything a probe records is
//! read from such replies, so before the [`Evidence`] leaves the prober every form of the
//! credentials it sent ([`Secrets`]) is replaced by `<redacted>`.

use super::evidence::Evidence;
use crate::identity::RegistryAuth;
use base64::Engine;

/// What replaces a credential.
pub const REDACTED: &str = "<redacted>";

/// Shorter values are not scrubbed: they would mangle ordinary words and cannot be told from
/// them anyway.
const MIN_LEN: usize = 4;

/// The forms of the credentials one probe sent.
#[derive(Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The forms of a Basic credential: the password, `base64(user:password)` (the header
    /// value), `base64(password)` and the password percent-encoded (a token POST body).
    pub fn of(auth: &RegistryAuth) -> Self {
        let mut s = Secrets::default();
        if let RegistryAuth::Basic { username, password } = auth {
            let b64 = base64::engine::general_purpose::STANDARD;
            s.add(password);
            s.add(&b64.encode(format!("{username}:{password}")));
            s.add(&b64.encode(password));
            s.add(&super::http::urlencode(password));
        }
        s
    }

    /// Adds one value (a bearer token the probe obtained).
    pub fn add(&mut self, value: &str) {
        // Every output of the process is scrubbed of it too (crate::secrets).
        crate::secrets::remember(value);
        if value.len() >= MIN_LEN && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_string());
            // Longest first, so a value containing another is replaced whole.
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// `text` with every credential replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.0 {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }

    fn scrub_in_place(&self, text: &mut String) {
        if self.0.iter().any(|v| text.contains(v.as_str())) {
            *text = self.scrub(text);
        }
    }

    /// Scrubs everything in `ev` that came from the registry: URLs (redirect targets),
    /// headers and the challenge parsed from them, OCI error messages, body excerpts,
    /// transport messages, notes, tags, warnings and the storage hosts of the blob path.
    pub fn scrub_evidence(&self, ev: &mut Evidence) {
        if self.0.is_empty() {
            return;
        }
        for ex in &mut ev.exchanges {
            self.scrub_in_place(&mut ex.url);
            for v in ex.headers.values_mut() {
                self.scrub_in_place(v);
            }
            if let Some(ch) = &mut ex.challenge {
                for f in [&mut ch.realm, &mut ch.service, &mut ch.scope, &mut ch.error]
                    .into_iter()
                    .flatten()
                {
                    self.scrub_in_place(f);
                }
            }
            for e in &mut ex.oci_errors {
                self.scrub_in_place(&mut e.code);
                self.scrub_in_place(&mut e.message);
            }
            for t in [&mut ex.body_excerpt, &mut ex.note].into_iter().flatten() {
                self.scrub_in_place(t);
            }
            if let Some(t) = &mut ex.transport {
                self.scrub_in_place(&mut t.message);
            }
        }
        for t in ev.tags_sample.iter_mut().chain(ev.warnings.iter_mut()) {
            self.scrub_in_place(t);
        }
        if let Some(b) = &mut ev.blobs {
            for h in &mut b.storage_hosts {
                self.scrub_in_place(h);
            }
            if let Some(s) = &mut b.clock_skew {
                self.scrub_in_place(&mut s.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::evidence::{Exchange, Step};
    use crate::probe::oci_error::OciError;

    fn basic(user: &str, password: &str) -> RegistryAuth {
        RegistryAuth::Basic {
            username: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn every_form_of_the_credential_is_replaced() {
        let mut s = Secrets::of(&basic("u", "hunter2-secret"));
        s.add("bearer-token-123");
        let header = base64::engine::general_purpose::STANDARD.encode("u:hunter2-secret");
        let text = format!("got Basic {header}, hunter2-secret, hunter2%2Dx, bearer-token-123");
        let out = s.scrub(&text);
        assert_eq!(
            out,
            "got Basic <redacted>, <redacted>, hunter2%2Dx, <redacted>"
        );
    }

    #[test]
    fn evidence_echoing_the_credential_is_scrubbed() {
        let s = Secrets::of(&basic("u", "hunter2-secret"));
        let mut ex = Exchange::new(
            Step::Manifest,
            "GET",
            "http://r/v2/a/manifests/hunter2-secret",
            "basic",
        );
        ex.headers
            .insert("x-echo".into(), "Basic dTpodW50ZXIyLXNlY3JldA==".into());
        ex.oci_errors.push(OciError {
            code: "UNAUTHORIZED".into(),
            message: "bad password hunter2-secret".into(),
        });
        ex.body_excerpt = Some("hunter2-secret".into());
        let mut ev = Evidence {
            exchanges: vec![ex],
            terminal: Some(0),
            tags_sample: vec!["hunter2-secret".into()],
            ..Evidence::new("http://r", true, crate::platform::Platform::host())
        };
        s.scrub_evidence(&mut ev);
        let text = serde_json::to_string(&ev).unwrap();
        assert!(
            !text.contains("hunter2-secret") && !text.contains("dTpodW50ZXIy"),
            "{text}"
        );
        assert!(text.contains("bad password <redacted>"), "{text}");
    }

    #[test]
    fn anonymous_and_short_values_scrub_nothing() {
        let s = Secrets::of(&RegistryAuth::Anonymous);
        assert_eq!(s.scrub("anything"), "anything");
        let s = Secrets::of(&basic("u", "ab"));
        assert_eq!(s.scrub("abc ab"), "abc ab");
    }
}
