//! A renderer for the subset of Helm's Go templates that deploy/helm/pullcheck uses, so that
//! the tests can render the chart where `helm` is not installed (CI) and compare the result
//! with the checked-in plain manifests.
//!
//! Supported, with Go text/template and Helm semantics: text with `{{- ` / ` -}}` whitespace
//! trimming, `{{/* comments */}}`, `if` / `else` / `end`, `range` over lists and maps (`.` is
//! the element, `$` the root), paths (`.Values.a.b`, `.Release.Name`, `.Chart.AppVersion`,
//! `.field`, `$.Values.x`), string, number and boolean literals, pipelines, and the functions
//! `quote`, `toYaml`, `nindent`, `indent`, `int64`, `not`, `and`, `or`. Anything else is an
//! error, and so is a missing value (Helm would print nothing): a typo in a template fails
//! here instead of rendering an empty field.
//!
//! Values are Helm's: values.yaml deep-merged with `-f` files in order; numbers behave as
//! Helm's float64 (printed with Go's `%v`, so 1000000 prints as `1e+06` unless piped through
//! `int64`, as in Helm). `toYaml` emits block YAML with sorted keys (like sigs.k8s.io/yaml);
//! its spelling may differ from Helm's where YAML allows two (quoting), not its meaning.
//!
//! Not verified here: how Helm itself renders the chart. tests/deploy_manifests.rs compares
//! the two when a `helm` binary is available (HELM=/path/to/helm or `helm` on PATH).

use serde_json::{Map, Value};
use std::path::Path;

/// One rendered template file.
#[derive(Debug)]
pub struct Rendered {
    /// `templates/<name>`.
    pub name: String,
    /// The output; empty when the whole file was switched off.
    pub text: String,
}

/// The chart's templates, in the order they are written out (install order: the Namespace
/// and PriorityClass before what uses them, the DaemonSet last).
pub const TEMPLATE_ORDER: &[&str] = &[
    "namespace.yaml",
    "priorityclass.yaml",
    "serviceaccount.yaml",
    "configmap-watch-list.yaml",
    "rbac.yaml",
    "service.yaml",
    "servicemonitor.yaml",
    "prometheusrule.yaml",
    "scc.yaml",
    "daemonset.yaml",
];

/// The notes `helm install` prints.
const NOTES: &str = "NOTES.txt";

/// Reads a YAML file into JSON values.
pub fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Helm's values merge: maps merge key by key, anything else replaces.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Renders every template of the chart in `chart` as release `release`, with values.yaml,
/// then each of `value_files`, then `set` merged on top.
pub fn render_chart(
    chart: &Path,
    release: &str,
    value_files: &[&Path],
    set: Option<&Value>,
) -> Result<Vec<Rendered>, String> {
    let root = root_of(chart, release, value_files, set)?;
    render_templates(chart, &root)
}

/// The notes `helm install` prints, rendered with the same values.
pub fn render_notes(
    chart: &Path,
    release: &str,
    value_files: &[&Path],
    set: Option<&Value>,
) -> Result<String, String> {
    let root = root_of(chart, release, value_files, set)?;
    let src =
        std::fs::read_to_string(chart.join("templates").join(NOTES)).map_err(|e| e.to_string())?;
    render(&src, &root).map_err(|e| format!("templates/{NOTES}: {e}"))
}

/// The template root (`.Values`, `.Release`, `.Chart`, `.Files`): values.yaml, then each of
/// `value_files`, then `set` merged on top.
fn root_of(
    chart: &Path,
    release: &str,
    value_files: &[&Path],
    set: Option<&Value>,
) -> Result<Value, String> {
    let meta = read_yaml(&chart.join("Chart.yaml"))?;
    let mut values = read_yaml(&chart.join("values.yaml"))?;
    for f in value_files {
        merge(&mut values, &read_yaml(f)?);
    }
    if let Some(s) = set {
        merge(&mut values, s);
    }
    let field = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let root = serde_json::json!({
        "Values": values,
        "Release": {"Name": release, "Namespace": "default", "Service": "Helm"},
        "Chart": {"Name": field("name"), "Version": field("version"), "AppVersion": field("appVersion")},
        "Files": {"Dir": chart.display().to_string()},
    });
    Ok(root)
}

fn render_templates(chart: &Path, root: &Value) -> Result<Vec<Rendered>, String> {
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(chart.join("templates"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in &names {
        if n == NOTES {
            // Printed by `helm install`, not part of the manifests: rendered to catch errors.
            let src = std::fs::read_to_string(chart.join("templates").join(n))
                .map_err(|e| e.to_string())?;
            render(&src, root).map_err(|e| format!("templates/{n}: {e}"))?;
        } else if !TEMPLATE_ORDER.contains(&n.as_str()) {
            return Err(format!("templates/{n} is not in render::TEMPLATE_ORDER"));
        }
    }
    for n in TEMPLATE_ORDER {
        let path = chart.join("templates").join(n);
        let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = render(&src, root).map_err(|e| format!("templates/{n}: {e}"))?;
        out.push(Rendered {
            name: n.to_string(),
            text,
        });
    }
    Ok(out)
}

/// The files as `helm template` prints them: `---` and a `# Source:` line before each
/// non-empty one.
pub fn as_stream(chart_name: &str, files: &[Rendered]) -> String {
    let mut s = String::new();
    for f in files {
        if f.text.trim().is_empty() {
            continue;
        }
        s.push_str(&format!(
            "---\n# Source: {chart_name}/templates/{}\n{}\n",
            f.name,
            f.text.trim_end_matches('\n').trim_start_matches('\n')
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Vec<Cmd>),
    If(Vec<Cmd>, Vec<Node>, Vec<Node>),
    Range(Vec<Cmd>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Arg {
    Dot(Vec<String>),
    Root(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Func(String),
}

/// One command of a pipeline: an operand, or a function and its arguments.
#[derive(Debug, Clone)]
struct Cmd(Vec<Arg>);

enum Token {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let (text, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        let mut text = text.to_string();
        if trim_next {
            text = text.trim_start_matches(is_space).to_string();
        }
        let Some(after) = after else {
            tokens.push(Token::Text(text));
            break;
        };
        let (body, trim_left) = match after.strip_prefix('-') {
            Some(b) if b.starts_with(is_space) => (b, true),
            _ => (after, false),
        };
        if trim_left {
            text = text.trim_end_matches(is_space).to_string();
        }
        tokens.push(Token::Text(text));
        let end = body
            .find("}}")
            .ok_or_else(|| "unclosed action".to_string())?;
        let mut inner = &body[..end];
        trim_next = false;
        if let Some(b) = inner.strip_suffix('-') {
            if b.ends_with(is_space) {
                inner = b;
                trim_next = true;
            }
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            tokens.push(Token::Action(inner.to_string()));
        }
        rest = &body[end + 2..];
    }
    Ok(tokens)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn parse(src: &str) -> Result<Vec<Node>, String> {
    let tokens = lex(src)?;
    let mut pos = 0;
    let (nodes, stop) = parse_list(&tokens, &mut pos)?;
    match stop {
        None => Ok(nodes),
        Some(s) => Err(format!("unexpected {{{{{s}}}}}")),
    }
}

/// Parses until `end`/`else` (returned) or the end of input (`None`).
fn parse_list(tokens: &[Token], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < tokens.len() {
        let t = &tokens[*pos];
        *pos += 1;
        match t {
            Token::Text(s) => nodes.push(Node::Text(s.clone())),
            Token::Action(a) => {
                let (word, rest) = match a.split_once(char::is_whitespace) {
                    Some((w, r)) => (w, r.trim()),
                    None => (a.as_str(), ""),
                };
                match word {
                    "end" | "else" => return Ok((nodes, Some(word.to_string()))),
                    "if" => {
                        let cond = pipeline(rest)?;
                        let (then, stop) = parse_list(tokens, pos)?;
                        let otherwise = match stop.as_deref() {
                            Some("else") => match parse_list(tokens, pos)? {
                                (n, Some(s)) if s == "end" => n,
                                _ => return Err("if … else without end".into()),
                            },
                            Some("end") => Vec::new(),
                            _ => return Err("if without end".into()),
                        };
                        nodes.push(Node::If(cond, then, otherwise));
                    }
                    "range" => {
                        if rest.contains(":=") {
                            return Err("range with variables is not supported".into());
                        }
                        let over = pipeline(rest)?;
                        match parse_list(tokens, pos)? {
                            (body, Some(s)) if s == "end" => nodes.push(Node::Range(over, body)),
                            _ => return Err("range without end (or with else)".into()),
                        }
                    }
                    "with" | "define" | "template" | "include" | "block" => {
                        return Err(format!("{word} is not supported by this renderer"))
                    }
                    _ => nodes.push(Node::Action(pipeline(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn pipeline(src: &str) -> Result<Vec<Cmd>, String> {
    let words = split_words(src)?;
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    for w in words {
        if w == "|" {
            if cur.is_empty() {
                return Err(format!("empty command in {src:?}"));
            }
            cmds.push(Cmd(std::mem::take(&mut cur)));
            continue;
        }
        cur.push(arg(&w)?);
    }
    if cur.is_empty() {
        return Err(format!("empty pipeline {src:?}"));
    }
    cmds.push(Cmd(cur));
    Ok(cmds)
}

fn split_words(src: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            words.push("|".into());
        } else if c == '"' {
            let mut w = String::from('"');
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => {
                        w.push('\\');
                        w.push(chars.next().ok_or("unterminated string")?);
                    }
                    Some('"') => {
                        w.push('"');
                        break;
                    }
                    Some(c) => w.push(c),
                    None => return Err(format!("unterminated string in {src:?}")),
                }
            }
            words.push(w);
        } else if c == '(' || c == ')' {
            return Err(format!("parentheses are not supported: {src:?}"));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            words.push(w);
        }
    }
    Ok(words)
}

fn arg(w: &str) -> Result<Arg, String> {
    let path = |s: &str| -> Vec<String> {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(if w == "." || w.starts_with('.') {
        Arg::Dot(path(w))
    } else if w == "$" || w.starts_with("$.") {
        Arg::Root(path(&w[1..]))
    } else if w.starts_with('"') {
        Arg::Str(serde_json::from_str(w).map_err(|e| format!("string {w}: {e}"))?)
    } else if w == "true" || w == "false" {
        Arg::Bool(w == "true")
    } else if let Ok(n) = w.parse::<f64>() {
        Arg::Num(n)
    } else if w.chars().all(|c| c.is_ascii_alphanumeric()) {
        Arg::Func(w.to_string())
    } else {
        return Err(format!("unsupported word {w:?}"));
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Renders one template against the root context (`.Values`, `.Release`, `.Chart`).
pub fn render(src: &str, root: &Value) -> Result<String, String> {
    let nodes = parse(src)?;
    let mut out = String::new();
    exec(&nodes, root, root, &mut out)?;
    Ok(out)
}

fn exec(nodes: &[Node], dot: &Value, root: &Value, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&print(&eval(p, dot, root)?)?),
            Node::If(cond, then, otherwise) => {
                if truthy(&eval(cond, dot, root)?) {
                    exec(then, dot, root, out)?;
                } else {
                    exec(otherwise, dot, root, out)?;
                }
            }
            Node::Range(over, body) => match eval(over, dot, root)? {
                Value::Array(items) => {
                    for item in &items {
                        exec(body, item, root, out)?;
                    }
                }
                // Go ranges over a map in key order; serde_json's Map is sorted.
                Value::Object(m) => {
                    for v in m.values() {
                        exec(body, v, root, out)?;
                    }
                }
                Value::Null => {}
                other => return Err(format!("range over {other}")),
            },
        }
    }
    Ok(())
}

fn lookup(base: &Value, path: &[String], shown: &str) -> Result<Value, String> {
    let mut v = base;
    for (i, k) in path.iter().enumerate() {
        v = match v {
            Value::Object(m) => m.get(k).ok_or_else(|| {
                format!(
                    "missing value {shown}{} (Helm would print nothing)",
                    path[..=i]
                        .iter()
                        .map(|p| format!(".{p}"))
                        .collect::<String>()
                )
            })?,
            other => return Err(format!("{shown}.{k}: not a map: {other}")),
        };
    }
    Ok(v.clone())
}

fn eval(p: &[Cmd], dot: &Value, root: &Value) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for Cmd(words) in p {
        let operand = |a: &Arg| -> Result<Value, String> {
            Ok(match a {
                Arg::Dot(path) => lookup(dot, path, "")?,
                Arg::Root(path) => lookup(root, path, "$")?,
                Arg::Str(s) => Value::String(s.clone()),
                Arg::Num(n) => num(*n),
                Arg::Bool(b) => Value::Bool(*b),
                Arg::Func(f) => return Err(format!("{f} used as a value")),
            })
        };
        let value = match &words[0] {
            // Helm's `.Files.Get "path"`: a chart file's text, not rendered.
            Arg::Dot(path) if path == &["Files", "Get"] => {
                let [Arg::Str(file)] = &words[1..] else {
                    return Err(".Files.Get takes one string".into());
                };
                let dir = root["Files"]["Dir"].as_str().ok_or("no chart directory")?;
                let text = std::fs::read_to_string(Path::new(dir).join(file))
                    .map_err(|e| format!(".Files.Get {file:?}: {e}"))?;
                Value::String(text)
            }
            Arg::Func(f) => {
                let mut args = words[1..]
                    .iter()
                    .map(operand)
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped.take());
                call(f, &args)?
            }
            first => {
                if words.len() > 1 || piped.is_some() {
                    return Err("arguments after a value".into());
                }
                operand(first)?
            }
        };
        piped = Some(value);
    }
    piped.ok_or_else(|| "empty pipeline".into())
}

fn num(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// A value printed by `int64`: an integer, not a Go float.
const INT_MARK: &str = "\u{0}int64:";

fn call(f: &str, args: &[Value]) -> Result<Value, String> {
    let one = || -> Result<&Value, String> {
        match args {
            [v] => Ok(v),
            _ => Err(format!("{f} takes one argument, got {}", args.len())),
        }
    };
    Ok(match f {
        "quote" => Value::String(
            args.iter()
                .map(|a| {
                    let s = strval(a)?;
                    serde_json::to_string(&s).map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(" "),
        ),
        "toYaml" => Value::String(to_yaml(one()?).trim_end_matches('\n').to_string()),
        "indent" | "nindent" => {
            let [n, s] = args else {
                return Err(format!("{f} takes two arguments"));
            };
            let n = n.as_f64().ok_or("indent width must be a number")? as usize;
            let pad = " ".repeat(n);
            let body = format!("{pad}{}", strval(s)?.replace('\n', &format!("\n{pad}")));
            Value::String(if f == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "int64" | "int" => {
            let n = match one()? {
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                Value::String(s) => s.trim().parse::<f64>().unwrap_or(0.0),
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => 0.0,
            };
            Value::String(format!("{INT_MARK}{}", n.trunc() as i64))
        }
        "not" => Value::Bool(!truthy(one()?)),
        // Helm's `fail MSG`: the install fails with MSG.
        "fail" => return Err(format!("execution error: {}", strval(one()?)?)),
        // Helm's `required MSG VALUE`: the value, or the install fails with MSG.
        "required" => {
            let [msg, v] = args else {
                return Err("required takes two arguments".into());
            };
            if !truthy(v) {
                return Err(format!("execution error: {}", strval(msg)?));
            }
            v.clone()
        }
        // Sprig's `default DEFAULT VALUE`: VALUE unless it is empty.
        "default" => {
            let [d, v] = args else {
                return Err("default takes two arguments".into());
            };
            if truthy(v) {
                v.clone()
            } else {
                d.clone()
            }
        }
        "eq" => {
            let [a, b] = args else {
                return Err("eq takes two arguments".into());
            };
            Value::Bool(a == b)
        }
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        other => {
            return Err(format!(
                "function {other} is not supported by this renderer"
            ))
        }
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `fmt.Sprint` of a Helm value.
fn strval(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::String(s) => match s.strip_prefix(INT_MARK) {
            Some(i) => i.to_string(),
            None => s.clone(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0))?,
        Value::Null => return Err("printing a null value (Helm prints nothing)".into()),
        Value::Array(_) | Value::Object(_) => {
            return Err("printing a list or map directly (use toYaml)".into())
        }
    })
}

fn print(v: &Value) -> Result<String, String> {
    strval(v)
}

/// Go's `%v` of a float64 (Helm's numbers): shortest digits, exponent form from 1e6 or
/// below 1e-4 — the reason the chart pipes large integers through `int64`.
fn go_float(f: f64) -> Result<String, String> {
    if f.fract() != 0.0 || f.abs() >= 1e21 {
        return Err(format!("non-integer number {f} (not used by the chart)"));
    }
    let int = f as i64;
    if int == 0 {
        return Ok("0".into());
    }
    let sign = if int < 0 { "-" } else { "" };
    let digits = int.unsigned_abs().to_string();
    let exp = digits.len() - 1;
    if exp < 6 {
        return Ok(format!("{sign}{digits}"));
    }
    let significant = digits.trim_end_matches('0');
    let mantissa = if significant.len() > 1 {
        format!("{}.{}", &significant[..1], &significant[1..])
    } else {
        significant.to_string()
    };
    Ok(format!("{sign}{mantissa}e+{exp:02}"))
}

// ---------------------------------------------------------------------------------------------
// toYaml

/// Block YAML with sorted keys and sequences at their key's indentation (go-yaml v2's
/// layout, as Helm's toYaml prints).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(m: &Map<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (k, v) in m {
        out.push_str(&format!("{pad}{}:", scalar(&Value::String(k.clone()))));
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_map(inner, indent + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                yaml_seq(items, indent, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut inner = String::new();
                yaml_map(m, indent + 2, &mut inner);
                // The first key goes on the dash's line.
                out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
            }
            Value::Array(a) if !a.is_empty() => {
                let mut inner = String::new();
                yaml_seq(a, indent + 2, &mut inner);
                out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
            }
            other => out.push_str(&format!("{pad}- {}\n", scalar(other))),
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Whether `s` reads back as the same string when written as a plain YAML scalar (in YAML 1.1
/// and 1.2 alike, so that Kubernetes' parser agrees).
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let special = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan",
    ];
    !(special.contains(&s.to_ascii_lowercase().as_str())
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_whitespace()
        || s.ends_with(char::is_whitespace)
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(char::is_control)
        || looks_numeric(s))
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    t.parse::<f64>().is_ok()
        || t.starts_with("0x")
        || t.starts_with("0o")
        || (t.starts_with('0') && t.len() > 1 && t.chars().all(|c| c.is_ascii_digit() || c == '_'))
        || (t
            .chars()
            .all(|c| c.is_ascii_digit() || c == '_' || c == ':' || c == '.')
            && t.chars().any(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_matches_fmt_v() {
        assert_eq!(go_float(8741.0).unwrap(), "8741");
        assert_eq!(go_float(100000.0).unwrap(), "100000");
        assert_eq!(go_float(1000000.0).unwrap(), "1e+06");
        assert_eq!(go_float(1234567.0).unwrap(), "1.234567e+06");
    }
}
