//! The documentation cannot go stale: every `<!-- usage: PROGRAM ARGS -->` block in README.md
//! and docs/ is what the binary prints for ARGS, every `<!-- sample: explain -->` block is
//! `pullcheck explain`'s output for the command it shows, and every relative link (and its
//! `#anchor`) points at something that exists. `PULLCHECK_BLESS=1 cargo test --test docs`
//! rewrites the blocks. (The probe samples, which need the test bed, are checked by
//! tests/bed/probe_bed.rs.)

use pullcheck::classify::Verdict;
use pullcheck::plugin::exit;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md"), repo().join("deploy/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn bless() -> bool {
    std::env::var_os("PULLCHECK_BLESS").is_some()
}

/// Runs `pullcheck …` or `kubectl pullcheck …` as the docs write it.
fn run(words: &[String]) -> String {
    let (bin, args) = match words {
        [p, rest @ ..] if p == "pullcheck" => (env!("CARGO_BIN_EXE_pullcheck"), rest),
        [k, p, rest @ ..] if k == "kubectl" && p == "pullcheck" => {
            (env!("CARGO_BIN_EXE_kubectl-pullcheck"), rest)
        }
        other => panic!("a usage block for an unknown program: {other:?}"),
    };
    let out = Command::new(bin)
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("PULLCHECK_LOG")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The shell words of a `$ pullcheck explain '…'` line (single quotes only).
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Replaces each `<!-- KIND: … -->` … `<!-- /KIND -->` block with `render(spec, old body)`;
/// the differences found, by file and block.
fn blocks(kind: &str, render: impl Fn(&str, &str) -> String) -> Vec<String> {
    let open = format!("<!-- {kind}: ");
    let close = format!("<!-- /{kind} -->");
    let mut problems = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(&open) {
            let head_end = rest[i..].find("-->").map(|e| i + e + 3).unwrap();
            let spec = rest[i + open.len()..head_end - 3].trim().to_string();
            let end = rest[head_end..]
                .find(&close)
                .map(|e| head_end + e)
                .unwrap_or_else(|| panic!("{}: {kind} block {spec} is not closed", file.display()));
            let body = &rest[head_end..end];
            let want = render(&spec, body);
            if body != want {
                problems.push(format!("{}: {kind} {spec}", file.display()));
            }
            out.push_str(&rest[..head_end]);
            out.push_str(&want);
            rest = &rest[end..];
        }
        out.push_str(rest);
        if bless() && out != text {
            std::fs::write(&file, out).unwrap();
        }
    }
    problems
}

#[test]
fn usage_blocks_are_what_the_binaries_print() {
    let problems = blocks("usage", |spec, _| {
        let words: Vec<String> = spec.split_whitespace().map(str::to_string).collect();
        format!("\n```text\n$ {spec}\n{}```\n", run(&words))
    });
    assert!(
        problems.is_empty() || bless(),
        "stale usage blocks (PULLCHECK_BLESS=1 cargo test --test docs): {problems:?}"
    );
}

#[test]
fn explain_samples_are_what_explain_prints() {
    let problems = blocks("sample", |spec, body| {
        assert_eq!(spec, "explain", "only explain samples are hermetic");
        let line = body
            .lines()
            .find(|l| l.starts_with("$ pullcheck explain "))
            .expect("the sample shows its command");
        let words = shell_words(&line[2..]);
        format!("\n```console\n{line}\n{}```\n", run(&words))
    });
    assert!(
        problems.is_empty() || bless(),
        "stale samples (PULLCHECK_BLESS=1 cargo test --test docs): {problems:?}"
    );
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut fence = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with("```") {
            fence = !fence;
        }
        if !fence && l.starts_with('#') {
            out.push(slug(l.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn relative_links_and_anchors_resolve() {
    let mut broken = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let Some(end) = target.find(')') else {
                continue;
            };
            let target = &target[..end];
            if target.starts_with("http") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            if !anchor.is_empty() && !anchors(&resolved).iter().any(|a| a == anchor) {
                broken.push(format!("{}: {target} (no such heading)", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// The README's exit-code table is the code: each verdict under its family's code, and the
/// kubectl plugin's own codes (12 mixed, 13 not asked, 14 cluster).
#[test]
fn the_readme_exit_code_table_is_the_code() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("### Exit codes, both programs")
        .nth(1)
        .expect("README has the exit-code table");
    let mut named = std::collections::BTreeSet::new();
    for row in section.lines().take_while(|l| !l.starts_with('#')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(code) = cells.get(1).and_then(|c| c.parse::<i32>().ok()) else {
            continue;
        };
        match code {
            12 => assert_eq!(u8::try_from(code), Ok(exit::MIXED)),
            13 => assert_eq!(u8::try_from(code), Ok(exit::NOT_ASKED)),
            14 => assert_eq!(u8::try_from(code), Ok(exit::CLUSTER)),
            _ => {}
        }
        for name in cells[2].split('`').skip(1).step_by(2) {
            let matching: Vec<Verdict> = Verdict::ALL
                .iter()
                .copied()
                .filter(|v| match name.strip_suffix('*') {
                    Some(prefix) => v.as_str().starts_with(prefix),
                    None => v.as_str() == name,
                })
                .collect();
            if name.starts_with("--") || name.ends_with(".toml") || name.starts_with("pullcheck") {
                continue;
            }
            assert!(!matching.is_empty(), "README names {name:?}, not a verdict");
            for v in matching {
                assert_eq!(v.exit_code(), code, "README: {name} under exit {code}");
                named.insert(v.as_str());
            }
        }
    }
    for v in Verdict::ALL.iter().filter(|v| **v != Verdict::Ok) {
        assert!(named.contains(v.as_str()), "README's exit table lacks {v}");
    }
}

/// The README's Install section says plainly that nothing is published yet and gives the
/// build-it-yourself path first — binaries, the image from the Dockerfile, the chart from the
/// repository — with the artifacts releases will publish after it, marked as such.
#[test]
fn the_readme_install_section_builds_first_until_a_release_exists() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Install\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has an Install section");
    let at = |needle: &str| {
        section
            .find(needle)
            .unwrap_or_else(|| panic!("Install section lacks {needle:?}:\n{section}"))
    };
    let no_release = at("No release is published yet");
    let binaries = at("cargo build --release");
    let image = at("docker build -t REGISTRY/pullcheck");
    let chart = at("helm install pullcheck deploy/helm/pullcheck");
    let published = at("What releases will publish");
    let first_artifact = at("ghcr.io/pullcheck/pullcheck:X.Y.Z");
    assert!(no_release < binaries, "the notice comes first");
    assert!(binaries < image && image < chart, "binary, image, chart");
    assert!(chart < published && published < first_artifact);
    assert!(
        section[..published]
            .lines()
            .all(|l| !l.starts_with("helm install pullcheck oci://")
                && !l.starts_with("kubectl apply -f deploy/pullcheck")),
        "no command that needs a release before the release table"
    );
    // What the build path names exists here.
    for path in [
        "Dockerfile",
        "deploy/helm/pullcheck/Chart.yaml",
        "deploy/kustomization.yaml",
    ] {
        assert!(repo().join(path).exists(), "{path}");
    }
    assert!(include_str!("../Cargo.toml").contains("name = \"kubectl-pullcheck\""));
}
