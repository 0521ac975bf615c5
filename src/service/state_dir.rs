//! The state directory the probers share (`--state-dir`, [`StateDir`]): the manifest store, or
//! why there is none, and what `/v1/node` shows of it and of the registry cost ([`StateDoc`]). A
//! directory that cannot be opened leaves the probes on memory only, with the reason kept.

use crate::probe::cost;
use crate::probe::store::{self, Store};
use std::sync::Arc;

/// The state directory the probers share (`--state-dir`): the store, or why there is none.
pub struct StateDir {
    /// The store.
    pub store: Option<Arc<Store>>,
    /// Why the configured directory is not used.
    pub error: Option<String>,
}

impl StateDir {
    /// Opens `dir` (`None`: not configured).
    pub fn open(dir: Option<&std::path::Path>) -> Self {
        let Some(dir) = dir else {
            return StateDir {
                store: None,
                error: None,
            };
        };
        match Store::open(dir, store::DEFAULT_LIMIT) {
            Ok(s) => {
                if let Some(e) = &s.stats().write_error {
                    tracing::warn!(error = %e, "the state directory does not take writes: probes read it, and keep new digests in memory only");
                }
                StateDir {
                    store: Some(Arc::new(s)),
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no state directory: manifests are kept in memory only, and a restart reads them again with GET");
                StateDir {
                    store: None,
                    error: Some(e.to_string()),
                }
            }
        }
    }
}

/// The state directory and the registry cost, for `/v1/node`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDoc {
    /// The state directory's contents (`None`: not configured, or not usable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<store::Stats>,
    /// Why the configured state directory is not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir_error: Option<String>,
    /// Manifest requests sent since start, per registry host.
    pub spent: Vec<cost::HostSpent>,
}
