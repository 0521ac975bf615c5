//! CRI-O's own node credentials: the `global_auth_file` of `crio.conf` (`[crio.image]`, and
//! the drop-ins in `crio.conf.d/`), an auth.json that CRI-O uses when the kubelet sends no
//! credentials. containers/image looks a name up most specific first — `quay.io/org/repo`,
//! then `quay.io/org`, then `quay.io` — unlike the kubelet's keyring, which matches URL globs.

use super::docker_config::{self, DockerConfig};
use super::{Credential, RegistryAuth, Source};
use std::path::{Path, PathBuf};

/// CRI-O's configuration file and its drop-in directory.
pub const CRIO_CONF: &str = "/etc/crio/crio.conf";
/// The drop-ins of [`CRIO_CONF`], read in lexical order after it.
pub const CRIO_CONF_D: &str = "/etc/crio/crio.conf.d";

#[derive(serde::Deserialize, Default)]
struct Conf {
    crio: Option<Crio>,
}

#[derive(serde::Deserialize, Default)]
struct Crio {
    image: Option<Image>,
}

#[derive(serde::Deserialize, Default)]
struct Image {
    global_auth_file: Option<String>,
}

/// `global_auth_file` as CRI-O reads it (the last file that sets it wins), and notes on files
/// that could not be read.
pub fn global_auth_file(conf: &Path, drop_ins: &Path) -> (Option<PathBuf>, Vec<String>) {
    let mut files = vec![conf.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(drop_ins) {
        let mut d: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        d.sort();
        files.extend(d);
    }
    let mut found = None;
    let mut notes = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        match toml::from_str::<Conf>(&text) {
            Ok(c) => {
                if let Some(p) = c
                    .crio
                    .and_then(|c| c.image)
                    .and_then(|i| i.global_auth_file)
                {
                    found = (!p.trim().is_empty()).then(|| PathBuf::from(p.trim()));
                }
            }
            Err(e) => notes.push(format!(
                "{} is not valid TOML ({}): its global_auth_file is not read",
                f.display(),
                e.message()
            )),
        }
    }
    (found, notes)
}

/// The keys containers/image tries for `name` (`registry/repository`), most specific first.
pub fn lookup_keys(name: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cur = name;
    loop {
        keys.push(cur.to_string());
        match cur.rfind('/') {
            Some(i) => cur = &cur[..i],
            None => break,
        }
    }
    keys
}

/// An auth.json key as containers/image compares it: no scheme, no trailing `/` or `/v1/`,
/// Docker Hub's legacy names as `docker.io`.
fn normalize(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2");
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// The credential the auth file gives `name`, most specific key first.
pub fn lookup(config: &DockerConfig, path: &str, name: &str) -> Option<Credential> {
    for key in lookup_keys(name) {
        if let Some(e) = config.entries.iter().find(|e| normalize(&e.key) == key) {
            return Some(Credential {
                auth: RegistryAuth::Basic {
                    username: e.username.clone(),
                    password: e.password.clone(),
                },
                source: Source::CrioAuthFile {
                    path: path.to_string(),
                    key: e.key.clone(),
                    username: e.username.clone(),
                },
            });
        }
    }
    None
}

/// Reads the auth file and looks `name` up; a missing file is no credential, a broken one a note.
pub fn credential(path: &Path, name: &str) -> (Option<Credential>, Option<String>) {
    let display = path.display().to_string();
    let bytes = match docker_config::read_file(path) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return (None, None),
        Err(e) => return (None, Some(format!("CRI-O's global_auth_file: {e}"))),
    };
    match docker_config::parse_sniffed(&display, &bytes) {
        Ok(c) => (lookup(&c, &display, name), None),
        Err(e) => (None, Some(format!("CRI-O's global_auth_file: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_key_wins() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("auth.json");
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        std::fs::write(
            &f,
            format!(
                r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/org": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
                b64("registry:a"),
                b64("org:b"),
                b64("hub:c")
            ),
        )
        .unwrap();
        let user = |name: &str| match credential(&f, name).0.map(|c| c.auth) {
            Some(RegistryAuth::Basic { username, .. }) => username,
            other => format!("{other:?}"),
        };
        assert_eq!(user("quay.io/org/app"), "org");
        assert_eq!(user("quay.io/organisation/app"), "registry");
        assert_eq!(user("docker.io/library/nginx"), "hub");
        assert_eq!(user("ghcr.io/x/y"), "None");
        assert_eq!(credential(&d.path().join("none.json"), "quay.io/a").1, None);
        std::fs::write(&f, "{not json").unwrap();
        assert!(credential(&f, "quay.io/a")
            .1
            .unwrap()
            .contains("global_auth_file"));
    }

    #[test]
    fn the_last_crio_conf_that_sets_it_wins() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("crio.conf");
        std::fs::write(
            &conf,
            "[crio.image]\nglobal_auth_file = \"/etc/crio/a.json\"\n",
        )
        .unwrap();
        let dir = d.path().join("crio.conf.d");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("10-b.conf"),
            "[crio.image]\nglobal_auth_file = \"/etc/crio/b.json\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("20-other.conf"), "[crio.runtime]\nx = 1\n").unwrap();
        assert_eq!(
            global_auth_file(&conf, &dir).0,
            Some(PathBuf::from("/etc/crio/b.json"))
        );
        std::fs::write(dir.join("30-bad.conf"), "[crio").unwrap();
        assert_eq!(global_auth_file(&conf, &dir).1.len(), 1);
    }
}
