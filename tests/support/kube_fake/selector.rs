//! Label and field selectors as the API server parses and applies them (the subset kubectl
//! users write): [`parse_selector`], [`parse_field_selector`].

use serde_json::Value;

/// One label requirement.
#[derive(Debug, PartialEq)]
pub enum LabelReq {
    /// `k=v`, `k==v`, `k in (…)`.
    In(String, Vec<String>),
    /// `k!=v`, `k notin (…)` (true when the label is absent).
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    Absent(String),
}

impl LabelReq {
    /// Whether an object with these `metadata.labels` meets the requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            LabelReq::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::Absent(k) => get(k).is_none(),
        }
    }
}

/// Parses a label selector as the API server does (the subset kubectl users write).
pub fn parse_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    let valid = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    let mut out = Vec::new();
    for term in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("{term:?}: expected a set in parentheses"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some((k, v)) = term.split_once("!=") {
            LabelReq::NotIn(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            LabelReq::In(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            LabelReq::NotIn(k.trim().into(), set(rest)?)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            LabelReq::In(k.trim().into(), set(rest)?)
        } else if let Some(k) = term.strip_prefix('!') {
            LabelReq::Absent(k.trim().into())
        } else {
            LabelReq::Exists(term.into())
        };
        let key = match &req {
            LabelReq::In(k, _)
            | LabelReq::NotIn(k, _)
            | LabelReq::Exists(k)
            | LabelReq::Absent(k) => k,
        };
        if !valid(key) {
            return Err(format!("invalid label key {key:?}"));
        }
        out.push(req);
    }
    Ok(out)
}

/// One field requirement: dotted path, wanted value, equal or not.
#[derive(Debug, PartialEq)]
pub struct FieldReq {
    path: String,
    value: String,
    equal: bool,
}

impl FieldReq {
    /// Whether `obj` meets the requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let mut v = obj;
        for part in self.path.split('.') {
            v = &v[part];
        }
        let actual = v.as_str().unwrap_or("");
        (actual == self.value) == self.equal
    }
}

/// Parses a field selector (`spec.nodeName=n1,status.phase!=Failed`).
pub fn parse_field_selector(s: &str) -> Result<Vec<FieldReq>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|term| {
            let (path, value, equal) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, false)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, true)
            } else {
                return Err(format!("{term:?}: expected field=value or field!=value"));
            };
            Ok(FieldReq {
                path: path.trim().to_string(),
                value: value.trim().to_string(),
                equal,
            })
        })
        .collect()
}
