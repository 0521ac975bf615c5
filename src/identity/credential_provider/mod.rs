//! Kubelet credential-provider exec plugins: the config ([`config`], [`validate`]), one run
//! ([`run`]), the response cache ([`cache`]) and [`Plugins::provide`], which does for one image
//! what the kubelet's plugin keyring does — every plugin in config order whose `matchImages`
//! matches, its response (cached or fresh) added to one shared keyring, failures reported and
//! contributing nothing. Plugins in service-account token mode are skipped: they would run
//! with the pod's identity, not the node's.

pub mod cache;
pub mod config;
pub mod decode;
mod process;
pub mod run;
pub mod validate;

use crate::identity::keyring::{Keyring, Origin};
use crate::identity::kubelet::EnvSource;
use crate::identity::url_match::urls_match;
use cache::ResponseCache;
use config::{Provider, ProviderConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What happened to one plugin for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PluginStatus {
    /// None of its `matchImages` matches the image: not run.
    NotMatched,
    /// Service-account token mode: per-pod identity, not run.
    Skipped,
    /// Run, or its cached response used: it provided these keys.
    Provided,
    /// Its cached response was used.
    Cached,
    /// It failed: no credentials from it.
    Failed,
}

/// One plugin's outcome, for reports (keys and counts only, never credentials).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginOutcome {
    /// The plugin's name.
    pub name: String,
    /// What happened.
    pub status: PluginStatus,
    /// Why (failure, skip), naming the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `auth` keys it returned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// How long its response is cached (`None`: not cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_for: Option<String>,
}

/// Every plugin's contribution for one image.
#[derive(Debug, Clone, Default)]
pub struct PluginRun {
    /// All responses together, as the kubelet merges them.
    pub keyring: Keyring,
    /// Per plugin, in config order.
    pub outcomes: Vec<PluginOutcome>,
}

/// The node's configured plugins, ready to run.
pub struct Plugins {
    config: ProviderConfig,
    bin_dir: PathBuf,
    env: Vec<(String, String)>,
    env_source: EnvSource,
    timeout: Duration,
    cache: Mutex<ResponseCache>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The inherited environment may hold secrets: names only.
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Plugins")
            .field("config", &self.config)
            .field("bin_dir", &self.bin_dir)
            .field("env_names", &names)
            .field("env_source", &self.env_source)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Plugins {
    /// Plugins from a validated config, run from `bin_dir` with `env` (the kubelet's) and a
    /// time limit.
    pub fn new(
        config: ProviderConfig,
        bin_dir: &Path,
        env: Vec<(String, String)>,
        env_source: EnvSource,
        timeout: Duration,
    ) -> Self {
        Plugins {
            config,
            bin_dir: bin_dir.to_path_buf(),
            env,
            env_source,
            timeout,
            cache: Mutex::new(ResponseCache::default()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The bin dir.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Whose environment plugins get.
    pub fn env_source(&self) -> &EnvSource {
        &self.env_source
    }

    /// Runs (or reads from cache) every matching plugin for `repo` (`registry/repository`,
    /// no tag), in config order.
    pub async fn provide(&self, repo: &str) -> PluginRun {
        let mut out = PluginRun::default();
        for p in &self.config.providers {
            out.outcomes
                .push(self.provide_one(p, repo, &mut out.keyring).await);
        }
        out
    }

    async fn provide_one(&self, p: &Provider, repo: &str, keyring: &mut Keyring) -> PluginOutcome {
        let outcome = |status, reason: Option<String>| PluginOutcome {
            name: p.name.clone(),
            status,
            reason,
            keys: Vec::new(),
            cached_for: None,
        };
        if !p.match_images.iter().any(|m| urls_match(m, repo)) {
            return outcome(PluginStatus::NotMatched, None);
        }
        if let Some(t) = &p.token_attributes {
            return outcome(
                PluginStatus::Skipped,
                Some(format!(
                    "plugin {}: per-pod identity, not the node's: its tokenAttributes (audience {:?}) make the kubelet run it with the pod's service-account token; skipped",
                    p.name, t.service_account_token_audience
                )),
            );
        }
        let origin = Origin::Plugin {
            name: p.name.clone(),
        };
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(&p.name, repo, Instant::now()));
        if let Some(auth) = cached {
            let mut o = outcome(PluginStatus::Cached, None);
            for a in &auth {
                keyring.add_entry(origin.clone(), &a.key, &a.username, &a.password);
                o.keys.push(crate::identity::url_match::display_key(&a.key));
            }
            return o;
        }
        let env = run::ExecEnv {
            bin_dir: &self.bin_dir,
            base_env: &self.env,
            timeout: self.timeout,
        };
        match run::exec(p, repo, &env).await {
            Err(e) => outcome(
                PluginStatus::Failed,
                Some(format!(
                    "plugin {}: {} (the kubelet uses no credentials from it)",
                    p.name,
                    crate::error_text::error_chain(&e)
                )),
            ),
            Ok(response) => {
                let mut o = outcome(PluginStatus::Provided, None);
                for a in &response.auth {
                    keyring.add_entry(origin.clone(), &a.key, &a.username, &a.password);
                    o.keys.push(crate::identity::url_match::display_key(&a.key));
                }
                let default = p.default_cache_duration.unwrap_or_default();
                o.cached_for = self.cache.lock().ok().and_then(|mut c| {
                    c.put(&p.name, repo, &response, default, Instant::now())
                        .map(|d| humantime::format_duration(d).to_string())
                });
                if response.auth.is_empty() {
                    o.reason = Some(format!("plugin {}: returned no credentials", p.name));
                }
                o
            }
        }
    }
}

#[cfg(test)]
mod tests;
