//! Plain string scanning for the runtime-message classifier: bounded input, case-insensitive
//! search, and the registry host, URL and HTTP status a message names. No regex: every helper
//! slices only at indices found by searching, so it never splits a character.

/// At most this many bytes of a message are looked at.
pub(super) const MAX_SCAN: usize = 64 * 1024;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(super) fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A text with an ASCII-lowercased twin: byte offsets found in one are valid in the other,
/// because ASCII lowercasing changes no byte length.
#[derive(Debug, Clone)]
pub(super) struct Scan<'a> {
    /// The text as given.
    pub text: &'a str,
    /// The same text, ASCII-lowercased.
    pub lower: String,
}

impl<'a> Scan<'a> {
    /// Wraps `text`.
    pub fn new(text: &'a str) -> Self {
        Scan {
            text,
            lower: text.to_ascii_lowercase(),
        }
    }

    /// Whether the text contains `needle` (given in lowercase), ignoring ASCII case.
    pub fn has(&self, needle: &str) -> bool {
        self.lower.contains(needle)
    }

    /// Whether the text contains any of `needles` (lowercase).
    pub fn has_any(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.lower.contains(n))
    }

    /// The original-case text following the first `needle` (lowercase), if present.
    pub fn after(&self, needle: &str) -> Option<&'a str> {
        let i = self.lower.find(needle)?;
        self.text.get(i + needle.len()..)
    }
}

/// Strips `prefix` (lowercase) from the start of `text`, ignoring ASCII case.
pub(super) fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// Splits `"quoted": rest` (the opening quote already consumed) into the quoted text and the rest
/// after the closing quote.
pub(super) fn split_quoted(text: &str) -> Option<(&str, &str)> {
    let end = text.find('"')?;
    Some((&text[..end], &text[end + 1..]))
}

/// The first word of `text` (up to whitespace), with trailing punctuation removed.
pub(super) fn first_word(text: &str) -> &str {
    let word = text.split_whitespace().next().unwrap_or("");
    word.trim_end_matches([':', ',', ';', '.', '"', '\''])
}

/// The `host[:port]` of the URL at the start of `text` (`http://` or `https://`).
pub(super) fn url_host(text: &str) -> Option<&str> {
    let rest = strip_prefix_ci(text, "https://").or_else(|| strip_prefix_ci(text, "http://"))?;
    let end = rest
        .find(|c: char| matches!(c, '/' | '"' | '?' | '#' | '\'' | ',' | ')') || c.is_whitespace())
        .unwrap_or(rest.len());
    let authority = rest[..end].trim_end_matches(':');
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// Words after which a runtime prints the URL it requested: containerd's `unexpected status
/// from HEAD request to URL` and `unexpected status code URL` (fetcher GET, 1.6–2.1),
/// `content at URL`, and Go's `*url.Error` (`Get "URL": …`, unquoted before Go 1.14).
const REQUEST_URL: [&str; 6] = [
    "request to ",
    "unexpected status code ",
    "content at ",
    "get ",
    "head ",
    "post ",
];

/// The part of a message the runtime wrote: up to `Server message: ` (containerd ≤ 2.1) or the
/// line after containerd ≥ 2.2's `unexpected status from GET request to URL: STATUS` — what
/// follows is the registry's body, whose links (`visit https://aka.ms/…`) name no request.
fn runtime_part<'a>(scan: &Scan<'a>) -> &'a str {
    let mut end = scan
        .lower
        .find("server message: ")
        .unwrap_or(scan.text.len());
    if let Some(i) = scan.lower.find("unexpected status from get request to ") {
        if let Some(nl) = scan.text[i..].find('\n') {
            end = end.min(i + nl);
        }
    }
    &scan.text[..end]
}

/// The host of the first URL the runtime says it requested (see [`REQUEST_URL`]); a URL that
/// ends the text may be cut and is not taken.
fn request_host(scan: &Scan<'_>) -> Option<String> {
    let part = runtime_part(scan);
    let lower = &scan.lower[..part.len()];
    REQUEST_URL
        .iter()
        .flat_map(|m| {
            lower
                .match_indices(m)
                // A word of its own: `get ` is not the end of `target `.
                .filter(|(i, _)| {
                    !lower[..*i]
                        .bytes()
                        .next_back()
                        .is_some_and(|b| b.is_ascii_alphanumeric())
                })
                .map(move |(i, _)| i + m.len())
        })
        .filter_map(|at| {
            let rest = part[at..].strip_prefix('"').unwrap_or(&part[at..]);
            let host = url_host(rest)?;
            let whole = rest.find(|c: char| c == '"' || c.is_whitespace()).is_some();
            whole.then_some((at, host))
        })
        .min_by_key(|(at, _)| *at)
        .map(|(_, h)| h.to_string())
}

/// The registry of CRI-O's (containers/image) `reading manifest T in REPO`.
fn manifest_repository_host(scan: &Scan<'_>) -> Option<String> {
    let rest = scan.after("reading manifest ")?;
    let (_, repo) = rest.split_once(" in ")?;
    let repo = first_word(repo);
    crate::reference::split_domain(repo)
        .filter(|(_, path)| !path.is_empty())
        .map(|(domain, _)| domain.to_string())
}

/// The registry host a message names: an explicit `pulling from host`, CRI-O's registry, the
/// URL the runtime requested, CRI-O's manifest repository, a DNS lookup, a dialled address — in
/// that order. Links in the registry's own message (`visit https://aka.ms/acr/authorization`,
/// `https://www.docker.com/increase-rate-limit`) are never taken.
pub(super) fn host(scan: &Scan<'_>) -> Option<String> {
    let word = |needle: &str| scan.after(needle).map(first_word).filter(|w| !w.is_empty());
    if let Some(h) = word("pulling from host ") {
        return Some(h.to_string());
    }
    if let Some(h) = word("pinging container registry ") {
        return Some(h.to_string());
    }
    if let Some(h) = request_host(scan) {
        return Some(h);
    }
    if let Some(h) = manifest_repository_host(scan) {
        return Some(h);
    }
    if let Some(h) = word("lookup ") {
        return Some(h.to_string());
    }
    if let Some(h) = word("dial tcp ") {
        return Some(h.to_string());
    }
    None
}

/// The first HTTP status a message reports: `: DDD` followed by the end, a newline, or a
/// reason phrase starting in upper case (`401 Unauthorized`, `429 Too Many Requests`); else
/// containers/image's `invalid status code from registry DDD (Reason)`.
pub(super) fn status(text: &str) -> Option<u16> {
    colon_status(text).or_else(|| {
        let (_, rest) = text.split_once("invalid status code from registry ")?;
        let code: u16 = rest.get(..3)?.parse().ok()?;
        (300..=599).contains(&code).then_some(code)
    })
}

fn colon_status(text: &str) -> Option<u16> {
    text.match_indices(": ").find_map(|(i, _)| {
        let rest = &text[i + 2..];
        let digits = rest.get(..3)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code: u16 = digits.parse().ok()?;
        let tail = &rest[3..];
        let followed_ok = tail.is_empty()
            || tail.starts_with('\n')
            || tail.starts_with("\r\n")
            || tail
                .strip_prefix(' ')
                .and_then(|t| t.chars().next())
                .is_some_and(|c| c.is_ascii_uppercase());
        ((300..=599).contains(&code) && followed_ok).then_some(code)
    })
}

/// What the registry itself said: the text after `Server message: ` (containerd ≤ 2.1) or the
/// line after the status line (containerd ≥ 2.2), bounded for use in a one-line reason.
pub(super) fn server_message(scan: &Scan<'_>) -> Option<String> {
    let raw = match scan.after("server message: ") {
        Some(m) => m,
        None => {
            let i = scan.lower.find("unexpected status from get request to ")?;
            let nl = scan.text[i..].find('\n')?;
            &scan.text[i + nl + 1..]
        }
    };
    let one_line = raw.split(['\n', '\r']).next().unwrap_or("").trim();
    (!one_line.is_empty()).then(|| bounded(one_line, 300).to_string())
}

/// Text made safe for a one-line reason: newlines folded, length bounded.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let folded: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let cut = bounded(&folded, max);
    if cut.len() < folded.len() {
        format!("{cut}…")
    } else {
        cut.to_string()
    }
}
