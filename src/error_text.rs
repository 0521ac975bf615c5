//! How errors become text for people, in reports, logs and messages: an error with its causes
//! ([`error_chain`]) and a serde_json error without the input it choked on ([`json_error`]: the
//! input may hold a credential).

/// An error and its causes, `outer: inner: …` (for reasons shown in reports).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// A serde_json error without the input: category, line and column.
pub fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected structure",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading /etc/x")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("reading /etc/x: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(error_chain(&Outer(io())), "reading /etc/x: no such file");
        assert_eq!(
            error_chain(&Repeats(io())),
            "reading /etc/x: no such file",
            "a cause the message already says is not said twice"
        );
    }

    #[test]
    fn json_errors_do_not_quote_the_input() {
        let e = serde_json::from_str::<serde_json::Value>(r#"{"auth": "c2VjcmV0"#).unwrap_err();
        let text = json_error(&e);
        assert!(text.starts_with("truncated JSON at line 1"), "{text}");
        assert!(!text.contains("c2VjcmV0"));
    }
}
