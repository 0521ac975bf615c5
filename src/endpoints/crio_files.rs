//! Where a CRI-O node's pull configuration lives: one set of paths, filled by the CLI's flags
//! and by the agent's configuration alike (`None` everywhere: CRI-O's own defaults).

use std::path::PathBuf;

/// The files CRI-O (containers/image) reads for a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrioFiles {
    /// registries.conf (`--registries-conf`; default /etc/containers/registries.conf, its
    /// drop-ins in `FILE.d/`).
    pub registries_conf: Option<PathBuf>,
    /// certs.d (`--containers-certs-dir`; default /etc/containers/certs.d, then
    /// /etc/docker/certs.d).
    pub containers_certs_dir: Option<PathBuf>,
    /// CRI-O's `global_auth_file` (`--crio-auth-file`; default: what /etc/crio/crio.conf and
    /// crio.conf.d/ set).
    pub crio_auth_file: Option<PathBuf>,
    /// The signature policy (`--signature-policy`; default /etc/containers/policy.json).
    pub signature_policy: Option<PathBuf>,
    /// registries.d (`--registries-d`; default /etc/containers/registries.d).
    pub registries_d: Option<PathBuf>,
    /// The machine-generated short-name alias file (`--short-name-aliases`; default
    /// /var/cache/containers/short-name-aliases.conf).
    pub short_name_aliases: Option<PathBuf>,
}
