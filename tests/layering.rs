//! The library's top-level modules form one stack, and imports only go down it: a module may
//! use the modules of lower layers, never its own layer's or a higher one's. So there is no
//! import cycle between top-level modules, and a newcomer reads the crate bottom-up. A new
//! top-level module must be given its layer here. Hermetic: it reads `src/`, nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. The data flow of one probe reads upward through the middle layers:
/// reference → identity → endpoints → probe → classify → report, with `diagnose` the one
/// orchestrator, the probe `service` under the agent's two faces (`monitor`, `agent`).
const STACK: &[&[&str]] = &[
    &[
        "bounded",
        "duration",
        "error_text",
        "human",
        "platform",
        "procfs",
        "term",
    ],
    &["net", "nodefile", "reference", "secrets"],
    &["identity"],
    &["endpoints"],
    &["probe"],
    &["classify"],
    &["runtime"],
    &["report"],
    &["diagnose", "node_facts", "node_setup", "plugin"],
    &["service"],
    &["monitor"],
    &["agent"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: `src/X.rs` and `src/X/` (the binaries are not the library).
fn top_level() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            if e.path().is_dir() {
                (name != "bin").then_some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|n| *n != "lib")
                    .map(str::to_string)
            }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text without comments (line comments, doc comments, block comments), strings kept.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        if in_str {
            if b[i] == b'\\' && i + 1 < b.len() {
                out.push_str(&text[i..i + 2]);
                i += 2;
                continue;
            }
            in_str = b[i] != b'"';
        } else if text[i..].starts_with("//") {
            i += text[i..].find('\n').unwrap_or(text.len() - i);
            continue;
        } else if text[i..].starts_with("/*") {
            i += text[i..].find("*/").map_or(text.len() - i, |e| e + 2);
            continue;
        } else if b[i] == b'"' && !text[..i].ends_with('\'') {
            in_str = true;
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The top-level modules `code` names through `crate::X` or `crate::{X, Y::…}`.
fn named(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `pullcheck_crate::`, `$crate::`
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The names at the group's first level.
            let mut depth = 0usize;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        found.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// Who imports whom, with one file that does it for each edge.
fn imports() -> BTreeMap<(String, String), PathBuf> {
    let tops = top_level();
    let mut edges = BTreeMap::new();
    for top in &tops {
        let mut files = Vec::new();
        let dir = src().join(top);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src().join(format!("{top}.rs"));
        if file.is_file() {
            files.push(file);
        }
        for f in files {
            let code = strip_comments(&std::fs::read_to_string(&f).unwrap());
            for used in named(&code) {
                if tops.contains(&used) && &used != top {
                    edges
                        .entry((top.clone(), used))
                        .or_insert_with(|| f.strip_prefix(src()).unwrap().to_path_buf());
                }
            }
        }
    }
    edges
}

#[test]
fn every_top_level_module_has_a_layer() {
    let stacked: BTreeSet<String> = STACK
        .iter()
        .flat_map(|l| l.iter().map(|m| m.to_string()))
        .collect();
    let tops = top_level();
    let unplaced: Vec<_> = tops.difference(&stacked).collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a layer in STACK: {unplaced:?}"
    );
    let gone: Vec<_> = stacked.difference(&tops).collect();
    assert!(
        gone.is_empty(),
        "STACK names modules that are gone: {gone:?}"
    );
}

#[test]
fn imports_only_go_down_the_stack() {
    let layer: BTreeMap<&str, usize> = STACK
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect();
    let edges = imports();
    assert!(
        edges.len() > 40,
        "the scan finds the crate's imports ({} found)",
        edges.len()
    );
    let upward: Vec<String> = edges
        .iter()
        .filter(
            |((from, to), _)| match (layer.get(from.as_str()), layer.get(to.as_str())) {
                (Some(f), Some(t)) => t >= f,
                _ => false,
            },
        )
        .map(|((from, to), file)| format!("{from} → {to} (src/{})", file.display()))
        .collect();
    assert!(
        upward.is_empty(),
        "imports that do not go down the stack:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_and_groups_not_comments() {
    let code = strip_comments(
        "use crate::probe::Evidence;\n\
         // crate::agent in a comment\n\
         /// [`crate::monitor`] in a doc comment\n\
         /* crate::plugin */ let s = \"// not a comment\"; use crate::{\n    identity::{a, b},\n    net,\n};\n\
         let c = '\"'; fn f() -> crate::report::Report {}\n",
    );
    let found = named(&code);
    let want: BTreeSet<String> = ["identity", "net", "probe", "report"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
