use super::*;
use crate::identity::{RegistryAuth, Source};
use std::os::unix::fs::PermissionsExt;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let s = Setup {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(s.dir.path().join("bin")).unwrap();
        s
    }
    /// A plugin answering `key → user` with the given cache settings, counting its runs.
    fn plugin(&self, name: &str, key: &str, user: &str, cache: &str) {
        let count = self.dir.path().join(format!("{name}.runs"));
        let body = format!(
            "#!/bin/sh\necho run >> {}\ncat > /dev/null\necho '{{\"apiVersion\":\"{V1}\",\"kind\":\"CredentialProviderResponse\",{cache}\"auth\":{{\"{key}\":{{\"username\":\"{user}\",\"password\":\"pw-{user}\"}}}}}}'\n",
            count.display()
        );
        let p = self.dir.path().join("bin").join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    fn runs(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.runs")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
    fn plugins(&self, providers_yaml: &str) -> Plugins {
        let cfg = self.dir.path().join("config.yaml");
        std::fs::write(
            &cfg,
            format!("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{providers_yaml}"),
        )
        .unwrap();
        let config = ProviderConfig::read(&cfg).unwrap();
        Plugins::new(
            config,
            &self.dir.path().join("bin"),
            vec![("PATH".into(), "/usr/bin:/bin".into())],
            crate::identity::kubelet::EnvSource::Pullcheck,
            Duration::from_secs(10),
        )
    }
}

fn provider(name: &str, match_images: &str, cache: &str) -> String {
    format!("- name: {name}\n  matchImages: [{match_images}]\n  defaultCacheDuration: {cache}\n  apiVersion: {V1}\n")
}

fn users(run: &PluginRun, repo: &str) -> Vec<String> {
    run.keyring
        .lookup(repo)
        .iter()
        .map(|c| match &c.auth {
            RegistryAuth::Basic { username, .. } => username.clone(),
            RegistryAuth::Anonymous => "-".into(),
        })
        .collect()
}

#[tokio::test]
async fn only_matching_plugins_run_and_share_one_keyring() {
    let s = Setup::new();
    s.plugin(
        "ecr",
        "*.dkr.ecr.*.amazonaws.com",
        "AWS",
        "\"cacheKeyType\":\"Registry\",",
    );
    s.plugin("team", "r.io/team", "team", "\"cacheKeyType\":\"Image\",");
    s.plugin("host", "r.io", "host", "\"cacheKeyType\":\"Image\",");
    let p = s.plugins(&format!(
        "{}{}{}",
        provider("ecr", "\"*.dkr.ecr.*.amazonaws.com\"", "12h"),
        provider("host", "r.io", "0s"),
        provider("team", "\"r.io/team\"", "0s"),
    ));
    let run = p.provide("r.io/team/app").await;
    assert_eq!(run.outcomes[0].status, PluginStatus::NotMatched);
    assert_eq!(s.runs("ecr"), 0);
    assert_eq!(run.outcomes[1].status, PluginStatus::Provided);
    assert_eq!(run.outcomes[2].keys, ["r.io/team"]);
    // One reverse-sorted keyring over every response: the more specific key first.
    assert_eq!(users(&run, "r.io/team/app"), ["team", "host"]);
    let c = &run.keyring.lookup("r.io/team/app")[0];
    assert!(matches!(&c.source, Source::Plugin { name, .. } if name == "team"));
    let run = p
        .provide("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app")
        .await;
    assert_eq!(
        users(&run, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"),
        ["AWS"]
    );
    assert_eq!(run.outcomes[0].cached_for.as_deref(), Some("12h"));
}

#[tokio::test]
async fn cache_key_types_and_durations_are_honoured() {
    let s = Setup::new();
    s.plugin("reg", "r.io", "u", "\"cacheKeyType\":\"Registry\",");
    s.plugin(
        "nocache",
        "q.io",
        "q",
        "\"cacheKeyType\":\"Global\",\"cacheDuration\":\"0s\",",
    );
    let p = s.plugins(&format!(
        "{}{}",
        provider("reg", "r.io", "1h"),
        provider("nocache", "q.io", "1h")
    ));
    p.provide("r.io/a").await;
    let second = p.provide("r.io/b").await;
    assert_eq!(
        s.runs("reg"),
        1,
        "registry-keyed response reused for another image"
    );
    assert_eq!(second.outcomes[0].status, PluginStatus::Cached);
    assert_eq!(users(&second, "r.io/b"), ["u"]);
    p.provide("q.io/a").await;
    p.provide("q.io/a").await;
    assert_eq!(s.runs("nocache"), 2, "cacheDuration 0 is never cached");
}

#[tokio::test]
async fn a_failing_plugin_gives_nothing_and_others_still_count() {
    let s = Setup::new();
    let bad = s.dir.path().join("bin/bad");
    std::fs::write(&bad, "#!/bin/sh\necho 'no creds for you' >&2\nexit 2\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.plugin("good", "r.io", "good", "\"cacheKeyType\":\"Image\",");
    let p = s.plugins(&format!(
        "{}{}",
        provider("bad", "r.io", "1h"),
        provider("good", "r.io", "1h")
    ));
    let run = p.provide("r.io/x").await;
    assert_eq!(run.outcomes[0].status, PluginStatus::Failed);
    let why = run.outcomes[0].reason.as_deref().unwrap();
    assert!(
        why.contains("plugin bad") && why.contains("status 2") && why.contains("no creds for you"),
        "{why}"
    );
    assert_eq!(users(&run, "r.io/x"), ["good"]);
    // Failures are not cached.
    p.provide("r.io/x").await;
    assert_eq!(
        p.provide("r.io/x").await.outcomes[0].status,
        PluginStatus::Failed
    );
}

#[tokio::test]
async fn service_account_token_mode_is_skipped_as_per_pod() {
    let s = Setup::new();
    s.plugin("sa", "r.io", "pod", "\"cacheKeyType\":\"Image\",");
    let p = s.plugins(&format!(
        "{}  tokenAttributes:\n    serviceAccountTokenAudience: sts.amazonaws.com\n    cacheType: ServiceAccount\n    requireServiceAccount: true\n",
        provider("sa", "r.io", "1h")
    ));
    let run = p.provide("r.io/x").await;
    assert_eq!(run.outcomes[0].status, PluginStatus::Skipped);
    let why = run.outcomes[0].reason.as_deref().unwrap();
    assert!(
        why.contains("per-pod identity, not the node's") && why.contains("sts.amazonaws.com"),
        "{why}"
    );
    assert_eq!(s.runs("sa"), 0);
    assert!(run.keyring.is_empty());
}

#[test]
fn debug_shows_env_names_only() {
    let s = Setup::new();
    let mut p = s.plugins(&provider("x", "r.io", "1h"));
    p.env.push(("TOKEN".into(), "s3cr3t-env".into()));
    let dbg = format!("{p:?}");
    assert!(dbg.contains("TOKEN") && !dbg.contains("s3cr3t"), "{dbg}");
}
