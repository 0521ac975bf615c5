//! What people paste: lines a terminal or a chat hard-wrapped (joined again before scanning),
//! several kubelet events in one `kubectl describe` or `kubectl get events` table (each found
//! and deduplicated), a `kubectl describe pod` block whose events have expired (its containers'
//! waiting reasons), and a message cut off mid-way (what is visible, and that it is cut).

use super::scan::bounded;
use std::borrow::Cow;

/// The kubelet's message forms, each naming the image in quotes right after the marker.
pub(super) const KUBELET_MARKERS: [&str; 4] = [
    "Failed to pull image \"",
    "Back-off pulling image \"",
    "Failed to apply default image tag \"",
    "Container image \"",
];

/// What follows `Container image "X"` in the kubelet's ErrImageNeverPull message.
pub(super) const NEVER_PULL: &str = "is not present with pull policy of Never";

// === Hard-wrapped lines ===

/// `text` with hard-wrapped lines joined: a line is continued on the next when a terminal cut
/// it at its width (two or more lines of one length, 40 columns or more), or when it ends
/// inside a token — an open quote, a URL, a host name ending in `.` or `-`. Lines that start a
/// new line of their own (indented event rows and describe fields, `code: message` error
/// lists, a kubelet message) are never joined.
pub(super) fn join_wrapped(text: &str) -> Cow<'_, str> {
    if !text.contains('\n') {
        return Cow::Borrowed(text);
    }
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let width = terminal_width(&lines);
    let mut out = String::with_capacity(text.len());
    let mut quotes = 0usize; // in the current logical line
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        quotes += line.matches('"').count();
        let Some(next) = lines.get(i + 1) else {
            break;
        };
        if !continues(line, next, width, quotes % 2 == 1) {
            out.push('\n');
            quotes = 0;
        }
    }
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// The width a terminal wrapped at: the longest length (≥ 40 characters) that two or more
/// lines, each followed by another line, share exactly.
fn terminal_width(lines: &[&str]) -> Option<usize> {
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for line in lines.iter().take(lines.len().saturating_sub(1)) {
        let n = line.chars().count();
        if n < 40 {
            continue;
        }
        match counts.iter_mut().find(|(len, _)| *len == n) {
            Some((_, c)) => *c += 1,
            None => counts.push((n, 1)),
        }
    }
    counts
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .map(|(len, _)| len)
        .max()
}

/// Whether `line` goes on in `next`.
fn continues(line: &str, next: &str, width: Option<usize>, open_quote: bool) -> bool {
    if line.trim().is_empty() || next.trim().is_empty() {
        return false;
    }
    if width.is_some_and(|w| line.chars().count() == w) {
        // A terminal's cut, wherever it fell (a space at the cut column stays in `next`):
        // only an indented row or a describe field starts anew.
        return !(next.starts_with("  ") || next.starts_with('\t') || describe_field(next));
    }
    if starts_own_line(next) {
        return false;
    }
    open_quote || open_token(line, next)
}

/// A line that starts a line of its own, never the rest of the one before.
fn starts_own_line(line: &str) -> bool {
    if line.starts_with(char::is_whitespace) {
        return true;
    }
    if KUBELET_MARKERS.iter().any(|m| line.starts_with(m)) || event_row(line) {
        return true;
    }
    // `denied: …`, `unauthorized: …`, `Name:`, `Events:`: a word (or words) and a colon.
    let head = line.split(':').next().unwrap_or("");
    line.len() > head.len()
        && !head.is_empty()
        && head.len() <= 32
        && head
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ')
        && line[head.len() + 1..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
}

/// A `kubectl describe` field at the start of a line: `Name:`, then the end of the line or the
/// column of spaces describe aligns values with.
fn describe_field(line: &str) -> bool {
    let Some((head, rest)) = line.split_once(':') else {
        return false;
    };
    !head.is_empty()
        && head.len() <= 32
        && head.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && (rest.is_empty() || rest.starts_with("  ") || rest.starts_with('\t'))
}

/// Whether `line` ends inside a token `next` completes: a URL, or a host name cut after a `.`
/// or `-` (`ghcr.` / `io`).
fn open_token(line: &str, next: &str) -> bool {
    let Some(last) = line.split_whitespace().next_back() else {
        return false;
    };
    let last = last.trim_start_matches(['"', '\'', '(']);
    let lower = last.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return true;
    }
    let first = next.chars().next().unwrap_or(' ');
    let hostish = last.len() > 1
        && last
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-/:".contains(c));
    // Host names are lower case: `expired.` / `Reauthenticate` is two sentences.
    hostish
        && (last.ends_with('.') || last.ends_with('-'))
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
}

// === Events in a paste ===

/// One kubelet message found in a paste.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event<'a> {
    /// From the marker to the end of the message (the next event row or marker).
    pub text: &'a str,
    /// The image it names.
    pub image: &'a str,
    /// `Back-off pulling image "X"` with nothing after it: a cause is elsewhere.
    pub causeless: bool,
}

/// At most this many events are read from one paste.
const MAX_EVENTS: usize = 64;

/// The kubelet messages in `text`, in order, each once (a repeated event is counted once).
pub(super) fn events(text: &str) -> Vec<Event<'_>> {
    let mut starts: Vec<(usize, &str)> = KUBELET_MARKERS
        .iter()
        .flat_map(|m| text.match_indices(m).map(move |(i, _)| (i, *m)))
        .collect();
    starts.sort_by_key(|(i, _)| *i);
    let mut out: Vec<Event<'_>> = Vec::new();
    for (n, (at, marker)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(text.len(), |(next, _)| *next);
        let text = until_next_row(&text[*at..end]).trim_end();
        // `Container image "X" already present on machine` is the kubelet's success.
        if *marker == KUBELET_MARKERS[3] && !text.contains(NEVER_PULL) {
            continue;
        }
        let rest = &text[marker.len()..];
        let Some(close) = rest.find('"') else {
            // Cut off inside the image name: the message is still read (and said to be cut).
            push(
                &mut out,
                Event {
                    text,
                    image: "",
                    causeless: false,
                },
            );
            continue;
        };
        let image = &rest[..close];
        let after = rest[close + 1..].trim_start_matches(':').trim();
        let causeless = *marker == KUBELET_MARKERS[1] && after.is_empty();
        push(
            &mut out,
            Event {
                text,
                image,
                causeless,
            },
        );
        if out.len() >= MAX_EVENTS {
            break;
        }
    }
    out
}

fn push<'a>(out: &mut Vec<Event<'a>>, e: Event<'a>) {
    if !out.iter().any(|o| o.text == e.text) {
        out.push(e);
    }
}

/// A `kubectl describe` or `kubectl get events` table: a message ends where the next event row
/// starts.
pub(super) fn until_next_row(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && event_row(line) {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// An event row: `  Warning  Failed  27s (x3 over 69s)  kubelet  …` (describe) or
/// `5m  Warning  Failed  pod/x  …` (`kubectl get events`, with `-A` a namespace first).
fn event_row(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words
        .by_ref()
        .take(3)
        .any(|w| w == "Warning" || w == "Normal")
        && words.next().is_some()
}

// === A describe block whose events expired ===

/// A container `kubectl describe pod` shows waiting on its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Waiting {
    /// The container's name.
    pub container: String,
    /// Its image, as the pod spec has it.
    pub image: String,
    /// The waiting reason (`ImagePullBackOff`, `ErrImagePull`, `InvalidImageName`,
    /// `ErrImageNeverPull`).
    pub reason: String,
}

/// The pod a describe block is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Pod {
    /// `Name:`.
    pub name: Option<String>,
    /// `Namespace:`.
    pub namespace: Option<String>,
}

/// Waiting reasons that are about the image.
const IMAGE_REASONS: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// The containers a `kubectl describe pod` block shows waiting on their image, and the pod.
pub(super) fn waiting(text: &str) -> (Pod, Vec<Waiting>) {
    let mut pod = Pod::default();
    let mut found = Vec::new();
    let (mut container, mut image, mut in_waiting) = (None::<String>, None::<String>, false);
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match (indent, key) {
            (0, "Name") if pod.name.is_none() => pod.name = word(value),
            (0, "Namespace") if pod.namespace.is_none() => pod.namespace = word(value),
            (2, name) if value.is_empty() && !name.contains(' ') => {
                (container, image, in_waiting) = (Some(name.to_string()), None, false);
            }
            (_, "Image") if container.is_some() => image = word(value),
            (_, "State") => in_waiting = value == "Waiting",
            (_, "Reason") if in_waiting => {
                in_waiting = false;
                if let (Some(c), Some(i)) = (&container, &image) {
                    if let Some(r) = IMAGE_REASONS.iter().find(|r| **r == value) {
                        found.push(Waiting {
                            container: c.clone(),
                            image: i.clone(),
                            reason: (*r).to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
        if found.len() >= MAX_EVENTS {
            break;
        }
    }
    (pod, found)
}

/// A describe value, bounded: its first word, if it has one.
fn word(value: &str) -> Option<String> {
    let w = value.split_whitespace().next()?;
    Some(bounded(w, 512).to_string())
}

// === Messages cut off ===

/// Where a message shows it was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// It ends with `…`, `...` or `[truncated]`.
    Ellipsis,
    /// A quoted string (an image, a URL) is never closed.
    OpenQuote,
    /// It ends on a separator (`:`, `desc =`, `,`) that Go's errors never end with.
    Dangling,
}

impl Cut {
    /// How the cut shows, for a reason.
    pub fn words(self) -> &'static str {
        match self {
            Cut::Ellipsis => "it ends with an ellipsis",
            Cut::OpenQuote => "a quoted name in it is never closed",
            Cut::Dangling => "it ends mid-sentence",
        }
    }
}

/// Whether `text` (one message, trimmed) was cut off, and its visible part: without the
/// ellipsis, and without a last token that may be a fragment of a name, URL or digest (a
/// `registry.exa` that is really `registry.example.com`).
pub(super) fn cut(text: &str) -> Option<(Cut, &str)> {
    let t = text.trim_end();
    let mut visible = None;
    for tail in ["…", "...", "[truncated]", "(truncated)"] {
        if let Some(v) = t.strip_suffix(tail) {
            visible = Some((Cut::Ellipsis, v));
            break;
        }
    }
    let (how, visible) = match visible {
        Some(v) => v,
        None if t.matches('"').count() % 2 == 1 => (Cut::OpenQuote, t),
        None if [":", "desc =", "code =", ",", "(", "="]
            .iter()
            .any(|e| t.ends_with(e)) =>
        {
            (Cut::Dangling, t)
        }
        None => return None,
    };
    Some((how, without_fragment(visible)))
}

/// `text` without its last token when that token may be a fragment of a name.
fn without_fragment(text: &str) -> &str {
    if text.ends_with(char::is_whitespace) {
        return text.trim_end();
    }
    let start = text
        .char_indices()
        .rfind(|(_, c)| c.is_whitespace() || *c == '"')
        .map_or(0, |(i, c)| i + c.len_utf8());
    let last = &text[start..];
    if last.contains(['.', '/', ':', '@']) {
        text[..start].trim_end()
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
