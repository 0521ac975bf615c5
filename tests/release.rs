//! The release path that can run here: `scripts/release` (the steps of
//! .github/workflows/release.yml that are not a tool's own command) on stand-in binaries —
//! reproducible archives with the binary at their root, SHA256SUMS as `sha256sum -c` reads
//! it, the krew manifest filled with those archives' hashes, the version check — and the
//! workflow's shape: the image it pushes is the one the chart and manifests default to, and
//! every `scripts/release` step it calls exists. `scripts/release dry-run` builds the real
//! static binaries for this machine (not run here: it is a release build).

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn release(args: &[&str], cwd: &Path) -> Out {
    let o = Command::new("python3")
        .arg(repo().join("scripts/release"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("python3 runs scripts/release");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn version() -> String {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let line = cargo
        .lines()
        .find(|l| l.starts_with("version"))
        .expect("a version");
    line.split('"').nth(1).unwrap().to_string()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stand-ins for the two programs, as the build leaves them.
fn binaries(dir: &Path, flavour: &str) -> PathBuf {
    let bin = dir.join(format!("bin-{flavour}"));
    std::fs::create_dir_all(&bin).unwrap();
    for p in ["pullcheck", "kubectl-pullcheck"] {
        std::fs::write(bin.join(p), format!("#!/bin/sh\necho {p} {flavour}\n")).unwrap();
    }
    bin
}

/// `scripts/release package` of stand-ins for one platform into `dist`.
fn package_stand_ins(dir: &Path, os: &str, arch: &str, tag: &str, dist: &str) -> Out {
    let bin = binaries(dir, &format!("{os}-{arch}"));
    release(
        &[
            "package",
            "--os",
            os,
            "--arch",
            arch,
            "--bin-dir",
            bin.to_str().unwrap(),
            "--version",
            tag,
            "--out",
            dist,
        ],
        dir,
    )
}

#[test]
fn archives_are_reproducible_hold_the_binary_at_their_root_and_are_summed() {
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("v{}", version());
    let bin = binaries(tmp.path(), "linux-amd64");
    let dist = tmp.path().join("dist");
    let dist_s = dist.to_str().unwrap();
    let bin_s = bin.to_str().unwrap();
    let args = [
        "package",
        "--os",
        "linux",
        "--arch",
        "amd64",
        "--bin-dir",
        bin_s,
        "--version",
        &tag,
        "--out",
        dist_s,
    ];
    let r = release(&args, tmp.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let name = format!("kubectl-pullcheck_{tag}_linux_amd64.tar.gz");
    let first = std::fs::read(dist.join(&name)).unwrap();
    // Packaged again a second later: the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(release(&args, tmp.path()).code, 0);
    assert_eq!(
        std::fs::read(dist.join(&name)).unwrap(),
        first,
        "reproducible"
    );
    // `tar` sees one executable entry named as the program, owned by root.
    let list = Command::new("tar")
        .args(["-tzvf", dist.join(&name).to_str().unwrap()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 1, "{listing}");
    assert!(lines[0].starts_with("-rwxr-xr-x root/root"), "{listing}");
    assert!(lines[0].ends_with(" kubectl-pullcheck"), "{listing}");
    // SHA256SUMS is what sha256sum -c reads.
    let r = release(&["checksums", dist_s], tmp.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{}  {name}\n", hex(&first))),
        "{sums}"
    );
    assert_eq!(sums.lines().count(), 2, "both programs: {sums}");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // A missing binary is named.
    std::fs::remove_file(bin.join("pullcheck")).unwrap();
    let r = release(&args, tmp.path());
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("pullcheck is missing"), "{}", r.stderr);
}

#[test]
fn the_krew_manifest_carries_each_archive_s_url_and_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("v{}", version());
    let dist = tmp.path().join("dist");
    let dist_s = dist.to_str().unwrap().to_string();
    let url = format!("https://github.com/pullcheck/pullcheck/releases/download/{tag}");
    let krew_args = |d: &str| {
        vec![
            "krew".to_string(),
            "--version".into(),
            tag.clone(),
            "--url".into(),
            url.clone(),
            "--homepage".into(),
            "https://github.com/pullcheck/pullcheck".into(),
            "--dist".into(),
            d.to_string(),
        ]
    };
    for (os, arch) in [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64")] {
        let r = package_stand_ins(tmp.path(), os, arch, &tag, &dist_s);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // darwin/arm64 is missing: refused, naming it.
    let args = krew_args(&dist_s);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = release(&refs, tmp.path());
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("darwin_arm64.tar.gz is missing"),
        "{}",
        r.stderr
    );
    let r = package_stand_ins(tmp.path(), "darwin", "arm64", &tag, &dist_s);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = release(&refs, tmp.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("${"),
        "every placeholder filled: {}",
        r.stdout
    );
    let doc: Value = serde_saphyr::from_str(&r.stdout).expect("the krew manifest parses");
    assert_eq!(doc["kind"], "Plugin");
    assert_eq!(doc["spec"]["version"], tag.as_str());
    let platforms = doc["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 4);
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        let file = format!("kubectl-pullcheck_{tag}_{os}_{arch}.tar.gz");
        assert_eq!(p["uri"], format!("{url}/{file}"));
        let bytes = std::fs::read(dist.join(&file)).unwrap();
        assert_eq!(p["sha256"], hex(&bytes), "{file}");
    }
}

#[test]
fn the_version_check_holds_every_file_to_the_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let v = version();
    let r = release(&["check-version", &format!("v{v}")], tmp.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = release(&["check-version", "v99.0.0"], tmp.path());
    assert_ne!(r.code, 0);
    for part in [
        format!("Cargo.toml version is {v}"),
        format!("Chart.yaml appVersion is {v}"),
        format!("deploy/kustomization.yaml newTag is {v}"),
    ] {
        assert!(r.stderr.contains(&part), "{part} in {}", r.stderr);
    }
    let r = release(&["check-version", "0.1.0"], tmp.path());
    assert!(r.stderr.contains("is not a release tag"), "{}", r.stderr);
}

#[test]
fn the_workflow_publishes_what_the_manifests_install() {
    let wf: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap(),
    )
    .expect("the workflow parses");
    let jobs = wf["jobs"].as_object().unwrap();
    for j in [
        "check",
        "linux",
        "darwin",
        "image",
        "image-manifest",
        "chart",
        "publish",
    ] {
        assert!(jobs.contains_key(j), "job {j}");
    }
    assert_eq!(wf["on"]["push"]["tags"][0], "v*");
    // The image it pushes is the chart's and the manifests' default.
    let image = wf["env"]["IMAGE"].as_str().unwrap();
    let values = std::fs::read_to_string(repo().join("deploy/helm/pullcheck/values.yaml")).unwrap();
    assert!(
        values.contains(&format!("  repository: {image}\n")),
        "values.yaml defaults to {image}"
    );
    let manifest = std::fs::read_to_string(repo().join("deploy/pullcheck.yaml")).unwrap();
    assert!(manifest.contains(&format!("image: \"{image}:{}\"", version())));
    // Both architectures, natively.
    let arches: Vec<&str> = wf["jobs"]["linux"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["arch"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    // Every scripts/release step it runs exists in the script.
    let text: String = std::fs::read_to_string(repo().join(".github/workflows/release.yml"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let script = std::fs::read_to_string(repo().join("scripts/release")).unwrap();
    let mut steps = 0;
    for (i, _) in text.match_indices("scripts/release ") {
        let step = text[i + "scripts/release ".len()..]
            .split_whitespace()
            .next()
            .unwrap();
        assert!(
            script.contains(&format!("add_parser(\"{step}\")")),
            "scripts/release has no {step}"
        );
        steps += 1;
    }
    assert!(steps >= 4, "{steps} steps");
}
