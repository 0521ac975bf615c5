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

/// CRI-O's auth file, read once per diagnosis.
#[derive(Debug)]
pub struct AuthFile {
    path: String,
    config: DockerConfig,
}

impl AuthFile {
    /// The node's: `flag` (`--crio-auth-file`), else what crio.conf and its drop-ins set; with
    /// notes on what could not be read. A missing file is no auth file.
    pub fn for_node(flag: Option<&Path>) -> (Option<AuthFile>, Vec<String>) {
        let (path, mut notes) = match flag {
            Some(p) => (Some(p.to_path_buf()), Vec::new()),
            None => global_auth_file(Path::new(CRIO_CONF), Path::new(CRIO_CONF_D)),
        };
        let file = path.and_then(|p| match Self::read(&p) {
            Ok(f) => f,
            Err(note) => {
                notes.push(note);
                None
            }
        });
        (file, notes)
    }

    /// Reads an auth file; `Ok(None)` when it does not exist, `Err` a note when it is broken.
    pub fn read(path: &Path) -> Result<Option<AuthFile>, String> {
        let display = path.display().to_string();
        let bytes = match docker_config::read_file(path) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(format!("CRI-O's global_auth_file: {e}")),
        };
        let config = docker_config::parse_sniffed(&display, &bytes)
            .map_err(|e| format!("CRI-O's global_auth_file: {e}"))?;
        Ok(Some(AuthFile {
            path: display,
            config,
        }))
    }

    /// The credential it gives `name`, most specific key first.
    pub fn lookup(&self, name: &str) -> Option<Credential> {
        let e = lookup_keys(name).iter().find_map(|key| {
            self.config
                .entries
                .iter()
                .find(|e| normalize(&e.key) == *key)
        })?;
        Some(Credential {
            auth: RegistryAuth::Basic {
                username: e.username.clone(),
                password: e.password.clone(),
            },
            source: Source::CrioAuthFile {
                path: self.path.clone(),
                key: e.key.clone(),
                username: e.username.clone(),
            },
        })
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
        let file = AuthFile::read(&f).unwrap().unwrap();
        let user = |name: &str| match file.lookup(name).map(|c| c.auth) {
            Some(RegistryAuth::Basic { username, .. }) => username,
            other => format!("{other:?}"),
        };
        assert_eq!(user("quay.io/org/app"), "org");
        assert_eq!(user("quay.io/organisation/app"), "registry");
        assert_eq!(user("docker.io/library/nginx"), "hub");
        assert_eq!(user("ghcr.io/x/y"), "None");
        assert!(AuthFile::read(&d.path().join("none.json"))
            .unwrap()
            .is_none());
        std::fs::write(&f, "{not json").unwrap();
        assert!(AuthFile::read(&f).unwrap_err().contains("global_auth_file"));
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
